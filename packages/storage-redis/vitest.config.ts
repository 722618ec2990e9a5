import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sourceAliases() },
  test: {
    include: ['test/**/*.test.ts'],
    // A redis-server for the run, or REDIS_URL's: inject('redisUrl').
    globalSetup: ['../../vitest.redis.ts'],
    testTimeout: 30_000,
  },
});
