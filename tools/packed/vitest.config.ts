import { defineProject } from 'vitest/config';

// The test packs the built packages (turbo builds every public package before this task) and
// installs the tarballs with npm, better-sqlite3 and @mlstls/crypto-native compiling from
// source: minutes on 2 cores, hence the generous timeouts. No source aliases: nothing here
// imports a workspace package, everything runs in the installed project.
export default defineProject({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    // The storage-swap example's Redis: REDIS_URL's server, or one started for the run.
    globalSetup: ['../../vitest.redis.ts'],
  },
});
