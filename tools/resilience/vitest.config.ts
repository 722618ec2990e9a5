import { defineProject } from 'vitest/config';

// Child processes run the built packages (turbo builds them before this task), so the tests
// import them the same way rather than through source aliases.
export default defineProject({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    globalSetup: ['../../vitest.redis.ts'],
  },
});
