import { expect, it } from 'vitest';
import { runDemo } from '../src/demo.js';

it('carries data both ways over real TCP through key updates and close_notify', async () => {
  const { ok, lines } = await runDemo({ bytes: 3 * 2 ** 20 + 12_345 });
  expect(lines.at(-1)).toContain('OK');
  expect(ok).toBe(true);
});
