import { expect, inject, it } from 'vitest';
import { runFleetDemo } from '../src/fleet-demo.js';

// The responders are child processes that run the built packages: turbo builds them first.
it('resumes on responder process B a session made with process A, both on one Redis', async () => {
  const { ok, lines } = await runFleetDemo({ redisUrl: inject('redisUrl') });
  expect(lines.at(-1)).toContain('OK');
  expect(lines.some((line) => line.includes('initiator -> A: handshake complete, epoch 1'))).toBe(
    true,
  );
  expect(
    lines.some((line) =>
      line.includes('initiator -> B: isSessionReused() === true, epoch 2; B: resumed true'),
    ),
  ).toBe(true);
  expect(lines.some((line) => line.includes('exporters of the initiator and B match'))).toBe(true);
  expect(ok).toBe(true);
});
