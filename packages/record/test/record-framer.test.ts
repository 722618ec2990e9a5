import { ContentType } from '@mlstls/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordFramer, RecordProtector } from '../src/index.js';
import { errorWith, SECRET } from './craft.js';

function sealedStream(sizes: readonly number[]): { records: Uint8Array[]; stream: Uint8Array } {
  const sealer = new RecordProtector({
    aead: 'aes-128-gcm',
    hash: 'sha256',
    trafficSecret: SECRET,
  });
  const records = sizes.map((size, i) =>
    sealer.seal(ContentType.application_data, new Uint8Array(size).fill(i)),
  );
  return { records, stream: new Uint8Array(Buffer.concat(records)) };
}

function drain(framer: RecordFramer): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let record = framer.next(); record; record = framer.next()) out.push(record);
  return out;
}

describe('RecordFramer', () => {
  it('cuts a stream split anywhere into the same records', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 ** 14 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 30 }),
        (sizes, cuts) => {
          const { records, stream } = sealedStream(sizes);
          const framer = new RecordFramer();
          const out: Uint8Array[] = [];
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const next = Math.min(stream.length, at + cuts[i % cuts.length]!);
            framer.push(stream.subarray(at, next));
            out.push(...drain(framer));
            at = next;
          }
          expect(out.map((r) => Buffer.from(r).toString('hex'))).toEqual(
            records.map((r) => Buffer.from(r).toString('hex')),
          );
          expect(framer.bufferedBytes).toBe(0);
          expect(framer.hasPartialRecord).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('takes a stream one byte at a time', () => {
    const { records, stream } = sealedStream([0, 1, 300, 17]);
    const framer = new RecordFramer();
    const out: Uint8Array[] = [];
    for (const byte of stream) {
      framer.push(Uint8Array.of(byte));
      out.push(...drain(framer));
    }
    expect(out).toEqual(records);
  });

  it('returns a record that lies in one chunk as a view, without copying', () => {
    const { stream } = sealedStream([10, 10]);
    const framer = new RecordFramer();
    framer.push(stream);
    const first = framer.next()!;
    expect(first.buffer).toBe(stream.buffer);
    expect(first.byteOffset).toBe(stream.byteOffset);
  });

  it('reports a transport that ended inside a record', () => {
    const { stream } = sealedStream([10]);
    const framer = new RecordFramer();
    framer.push(stream.subarray(0, stream.length - 1));
    expect(framer.next()).toBeUndefined();
    expect(framer.hasPartialRecord).toBe(true);
  });

  it('refuses an oversized record from its header, before its body arrives', () => {
    const framer = new RecordFramer();
    framer.push(Uint8Array.of(23, 3, 3, 0x41, 0x01));
    expect(() => framer.next()).toThrowError(errorWith('ERR_MLSTLS_RECORD_OVERFLOW', 22));
    expect(() => framer.next()).toThrowError(errorWith('ERR_MLSTLS_RECORD_OVERFLOW', 22));
  });

  it('an unknown outer content type is unexpected_message, even split across chunks', () => {
    for (const type of [0, 20, 24, 0x80]) {
      const framer = new RecordFramer();
      framer.push(Uint8Array.of(type, 3));
      framer.push(Uint8Array.of(3, 0));
      expect(framer.next()).toBeUndefined();
      framer.push(Uint8Array.of(1, 0));
      expect(() => framer.next()).toThrowError(errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10));
    }
  });

  it('a truncated header yields nothing until the rest arrives', () => {
    const framer = new RecordFramer();
    framer.push(Uint8Array.of(22, 3, 3));
    expect(framer.next()).toBeUndefined();
    framer.push(Uint8Array.of(0, 1, 9));
    expect(framer.next()).toEqual(Uint8Array.of(22, 3, 3, 0, 1, 9));
  });

  it('a legacy version outside 0x0301..0x0303 is decode_error (not TLS at all)', () => {
    const framer = new RecordFramer();
    framer.push(Uint8Array.of(22, 0x47, 0x45, 0x54, 0x20));
    expect(() => framer.next()).toThrowError(errorWith('ERR_MLSTLS_DECODE', 50));
  });
});
