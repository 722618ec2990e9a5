import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sourceAliases() },
  // Generous: turbo runs packages in parallel on 2 cores.
  test: { include: ['test/**/*.test.ts'], testTimeout: 30_000 },
});
