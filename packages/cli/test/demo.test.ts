import { afterEach, expect, it } from 'vitest';
import { runDemo } from '../src/demo.js';
import { killAll, mlstls } from './cli-process.js';

afterEach(killAll);

it('runs the handshake, data both ways, two PCS updates and a key update, breaks the transport, resumes from SQLite, and closes with close_notify over real TCP', async () => {
  const { ok, lines } = await runDemo({ bytes: 3 * 2 ** 20 + 12_345 });
  expect(lines.at(-1)).toContain('OK');
  expect(lines.some((line) => line.includes('epoch 3 (local)'))).toBe(true);
  expect(
    lines.some((line) =>
      /connection lost \((truncated: no close_notify|ERR_MLSTLS_ABORTED)\)/.test(line),
    ),
  ).toBe(true);
  expect(lines.some((line) => line.includes('isSessionReused() === true (responder: true)'))).toBe(
    true,
  );
  expect(lines.some((line) => line.includes('initiator: epoch 4 (resumption)'))).toBe(true);
  expect(lines.some((line) => line.includes('initiator: epoch 5 (local)'))).toBe(true);
  expect(ok).toBe(true);
});

it('is what `mlstls demo` runs: its trace on stdout, exit code 0', async () => {
  const demo = mlstls('demo');
  expect(await demo.exitCode(90_000)).toBe(0);
  expect(demo.stdout).toContain('isSessionReused() === true');
  expect(demo.stdout.trimEnd().split('\n').at(-1)).toContain('OK');
}, 100_000);
