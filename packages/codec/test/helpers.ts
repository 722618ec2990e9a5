import fc from 'fast-check';
import { expect } from 'vitest';
import { ErrorCode, type HandshakeMessage, MlsTlsError } from '../src/index.js';

/** The error `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw, but the call returned');
}

/** Asserts that `fn` throws an MlsTlsError with this code and this numeric alert. */
export function expectError(fn: () => unknown, code: string, alert: number): MlsTlsError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(MlsTlsError);
  const e = error as MlsTlsError;
  expect({ code: e.code, alert: e.alert }).toEqual({ code, alert });
  return e;
}

/**
 * Asserts that `error` is what a decoder may throw: an MlsTlsError whose code is a key of
 * ErrorCode and whose alert is the one that code sends.
 */
export function expectWellFormedError(error: unknown): void {
  expect(error).toBeInstanceOf(MlsTlsError);
  const e = error as MlsTlsError;
  expect(Object.keys(ErrorCode)).toContain(e.code);
  expect(e.alert).toBe(ErrorCode[e.code]);
}

export function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** An MLSMessage: version mls10 (0x0001), `wireFormat`, then anything. */
function mlsArb(wireFormat: number, maxLength = 300): fc.Arbitrary<Uint8Array> {
  return fc
    .uint8Array({ maxLength })
    .map((rest) => concat([0x00, 0x01, wireFormat >> 8, wireFormat & 0xff], rest));
}

/** Every message of docs/protocol.md section 2, with literal msg_type values. */
export const handshakeArb: fc.Arbitrary<HandshakeMessage> = fc.oneof(
  mlsArb(5).map((keyPackage): HandshakeMessage => ({ msgType: 1, keyPackage })),
  mlsArb(3).map((welcome): HandshakeMessage => ({ msgType: 2, welcome })),
  fc
    .constantFrom(0 as const, 1 as const)
    .map((requestUpdate): HandshakeMessage => ({ msgType: 24, requestUpdate })),
  mlsArb(2).map((update): HandshakeMessage => ({ msgType: 192, update })),
  fc
    .integer({ min: 0, max: 2 ** 32 - 1 })
    .map((epoch): HandshakeMessage => ({ msgType: 193, epoch })),
  mlsArb(2).map((commit): HandshakeMessage => ({ msgType: 194, commit })),
  fc
    .uint8Array({ minLength: 32, maxLength: 32 })
    .map((responderRandom): HandshakeMessage => ({ msgType: 195, responderRandom })),
);

/** The body bytes a message must encode to, computed independently of the codec. */
export function expectedBody(message: HandshakeMessage): Uint8Array {
  switch (message.msgType) {
    case 1:
      return message.keyPackage;
    case 2:
      return message.welcome;
    case 24:
      return Uint8Array.of(message.requestUpdate);
    case 192:
      return message.update;
    case 193: {
      const e = message.epoch;
      return Uint8Array.of(
        Math.floor(e / 2 ** 24) & 0xff,
        (e >> 16) & 0xff,
        (e >> 8) & 0xff,
        e & 0xff,
      );
    }
    case 194:
      return message.commit;
    case 195:
      return message.responderRandom;
  }
}
