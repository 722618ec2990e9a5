import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

// The checker drives the state machines' sources (no build needed), as the packages' tests do.
export default defineProject({
  resolve: { alias: sourceAliases() },
  test: {
    include: ['test/**/*.test.ts'],
    // The CI bound takes about 20 s of one core; a 2-core runner that turbo shares with other
    // packages can stretch that several times.
    testTimeout: 240_000,
  },
});
