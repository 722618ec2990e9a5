import fc from 'fast-check';
import { expect, it } from 'vitest';
import { formatKeyLogLine, parseKeyLogLine } from '../src/index.js';

it('formats the docs/protocol.md section 9 line: label, group_id hex, decimal epoch, secret hex', () => {
  const line = formatKeyLogLine({
    groupId: Uint8Array.of(0x00, 0xab, 0xff),
    epoch: 42n,
    masterSecret: Uint8Array.of(0x01, 0x02),
  });
  expect(line).toBe('MLSTLS_MASTER_SECRET 00abff 42 0102\n');
});

it('reads back every line it writes, epochs up to 2^64 - 1 included', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.uint8Array({ minLength: 32, maxLength: 64 }),
      (groupId, epoch, masterSecret) => {
        const entry = parseKeyLogLine(formatKeyLogLine({ groupId, epoch, masterSecret }));
        expect(entry).toEqual({ groupId, epoch, masterSecret });
      },
    ),
  );
});

it('passes over lines of other labels, such as TLS key log lines in the same file', () => {
  expect(parseKeyLogLine('CLIENT_TRAFFIC_SECRET_0 aa bb')).toBeUndefined();
  expect(parseKeyLogLine('# comment')).toBeUndefined();
});

it('rejects malformed mlstls lines with decode_error', () => {
  for (const line of [
    'MLSTLS_MASTER_SECRET',
    'MLSTLS_MASTER_SECRET 00ab 1',
    'MLSTLS_MASTER_SECRET 0g 1 00',
    'MLSTLS_MASTER_SECRET 0 1 00',
    'MLSTLS_MASTER_SECRET 00 -1 00',
    'MLSTLS_MASTER_SECRET 00 01 00',
    'MLSTLS_MASTER_SECRET 00 1 00 extra',
    'MLSTLS_MASTER_SECRET 00 1 0A',
  ]) {
    expect(() => parseKeyLogLine(line), line).toThrowError(
      expect.objectContaining({ code: 'ERR_MLSTLS_DECODE', alert: 50 }),
    );
  }
});
