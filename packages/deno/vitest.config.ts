import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sourceAliases() },
  // Generous: turbo runs packages in parallel on 2 cores.
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    // A real redis-server for the Redis test under Deno: REDIS_URL's, or one started for the run.
    globalSetup: ['../../vitest.redis.ts'],
  },
});
