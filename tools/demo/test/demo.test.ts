import { expect, it } from 'vitest';
import { runDemo } from '../src/demo.js';

it('runs the handshake, data both ways, two PCS updates, a key update and close_notify over real TCP', async () => {
  const { ok, lines } = await runDemo({ bytes: 3 * 2 ** 20 + 12_345 });
  expect(lines.at(-1)).toContain('OK');
  expect(lines.some((line) => line.includes('epoch 3 (local)'))).toBe(true);
  expect(ok).toBe(true);
});
