import { defineProject } from 'vitest/config';

// The test runs the built soak (dist/soak.js) in a child process, which starts the server in
// a process of its own: turbo builds this package and its dependencies before this task.
export default defineProject({
  test: {
    include: ['test/**/*.test.ts'],
    // The soak runs for 60 s, then closes every connection; its own waits are all bounded.
    testTimeout: 150_000,
  },
});
