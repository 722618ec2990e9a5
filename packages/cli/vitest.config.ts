import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sourceAliases() },
  // Generous: each test drives several child processes, and turbo runs every package's tests
  // at once on 2 cores.
  test: { include: ['test/**/*.test.ts'], testTimeout: 180_000 },
});
