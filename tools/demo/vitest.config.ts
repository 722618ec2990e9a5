import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sourceAliases() },
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: turbo runs packages in parallel on 2 cores, and property tests share them;
    // the fleet demo also starts two child processes.
    testTimeout: 60_000,
    // The fleet demo's Redis: REDIS_URL's server, or one started for the run.
    globalSetup: ['../../vitest.redis.ts'],
  },
});
