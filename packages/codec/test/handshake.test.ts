import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeHandshake,
  decodeHandshakeBody,
  decodeHandshakeHeader,
  encodeHandshake,
  HANDSHAKE_HEADER_LENGTH,
  type HandshakeMessage,
  type HandshakeType,
  MlsTlsError,
} from '../src/index.js';
import {
  concat,
  expectError,
  expectedBody,
  expectWellFormedError,
  handshakeArb,
} from './helpers.js';

const KNOWN_TYPES = [1, 2, 24, 192, 193, 194, 195];
const MLS_TYPES = [
  { msgType: 1, field: 'keyPackage', wireFormat: 5 },
  { msgType: 2, field: 'welcome', wireFormat: 3 },
  { msgType: 192, field: 'update', wireFormat: 2 },
  { msgType: 194, field: 'commit', wireFormat: 2 },
] as const;

/** A Handshake structure built by hand: msg_type, uint24 length, body. */
function frame(msgType: number, body: ArrayLike<number>): Uint8Array {
  const n = body.length;
  return concat([msgType, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff], body);
}

function mlsMessage(msgType: number, body: Uint8Array): HandshakeMessage {
  const spec = MLS_TYPES.find((t) => t.msgType === msgType)!;
  return { msgType: spec.msgType, [spec.field]: body } as unknown as HandshakeMessage;
}

describe('encodeHandshake and decodeHandshake', () => {
  it('round-trip every message type, framed as msg_type, uint24 length, body', () => {
    const seen = new Set<number>();
    fc.assert(
      fc.property(handshakeArb, (message) => {
        seen.add(message.msgType);
        const bytes = encodeHandshake(message);
        const body = expectedBody(message);
        expect([...bytes]).toEqual([...frame(message.msgType, body)]);
        expect(decodeHandshake(bytes)).toEqual(message);
      }),
      { numRuns: 1000 },
    );
    expect([...seen].sort((a, b) => a - b)).toEqual(KNOWN_TYPES);
  });

  it('encodes the example messages byte for byte', () => {
    expect([...encodeHandshake({ msgType: 24, requestUpdate: 1 })]).toEqual([24, 0, 0, 1, 1]);
    expect([...encodeHandshake({ msgType: 24, requestUpdate: 0 })]).toEqual([24, 0, 0, 1, 0]);
    expect([...encodeHandshake({ msgType: 193, epoch: 0x01020304 })]).toEqual([
      193, 0, 0, 4, 1, 2, 3, 4,
    ]);
    expect([...encodeHandshake({ msgType: 193, epoch: 0xffffffff })]).toEqual([
      193, 0, 0, 4, 0xff, 0xff, 0xff, 0xff,
    ]);
    expect([...encodeHandshake({ msgType: 1, keyPackage: Uint8Array.of(0, 1, 0, 5) })]).toEqual([
      1, 0, 0, 4, 0, 1, 0, 5,
    ]);
    expect([...encodeHandshake({ msgType: 2, welcome: Uint8Array.of(0, 1, 0, 3, 9) })]).toEqual([
      2, 0, 0, 5, 0, 1, 0, 3, 9,
    ]);
  });

  it('decodes an EpochKeyUpdate epoch of 2^31 and above as a positive number', () => {
    expect(decodeHandshake(Uint8Array.of(193, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe))).toEqual({
      msgType: 193,
      epoch: 0xfffffffe,
    });
  });

  it('decodes a body longer than 2^16 bytes (uint24 length)', () => {
    const body = concat([0, 1, 0, 3], new Uint8Array(70_000).fill(0x5a));
    const bytes = encodeHandshake({ msgType: 2, welcome: body });
    expect([...bytes.subarray(0, 4)]).toEqual([2, 0x01, 0x11, 0x74]);
    expect(decodeHandshake(bytes)).toEqual({ msgType: 2, welcome: body });
  });

  it('returns MLSMessage bodies as views into the input', () => {
    const bytes = frame(192, [0, 1, 0, 2, 42]);
    const message = decodeHandshake(bytes) as { update: Uint8Array };
    expect(message.update.buffer).toBe(bytes.buffer);
    expect(message.update.byteOffset).toBe(HANDSHAKE_HEADER_LENGTH);
  });
});

describe('decodeHandshake on hostile input', () => {
  it('throws nothing but a well-formed MlsTlsError for any byte array', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const message = decodeHandshake(bytes);
          expect([...encodeHandshake(message)]).toEqual([...bytes]);
        } catch (error) {
          expectWellFormedError(error);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('throws nothing but a well-formed MlsTlsError for any body under a known msg_type', () => {
    // Random bodies under a correct header reach every body decoder; a decoded message must
    // re-encode to exactly the input (the encoding is canonical).
    fc.assert(
      fc.property(
        fc.constantFrom(...KNOWN_TYPES),
        fc.oneof(
          fc.uint8Array({ maxLength: 12 }),
          fc.uint8Array({ maxLength: 40 }).map((rest) => concat([0, 1], rest)),
          fc
            .tuple(fc.constantFrom(1, 2, 3, 4, 5), fc.uint8Array({ maxLength: 8 }))
            .map(([format, rest]) => concat([0, 1, 0, format], rest)),
        ),
        fc.integer({ min: -2, max: 2 }),
        (msgType, body, lengthSkew) => {
          const bytes = frame(msgType, body);
          const claimed = body.length + lengthSkew;
          if (claimed >= 0) {
            bytes[1] = (claimed >> 16) & 0xff;
            bytes[2] = (claimed >> 8) & 0xff;
            bytes[3] = claimed & 0xff;
          }
          try {
            const message = decodeHandshake(bytes);
            expect(message.msgType).toBe(msgType);
            expect([...encodeHandshake(message)]).toEqual([...bytes]);
          } catch (error) {
            expectWellFormedError(error);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('rejects every proper prefix of a valid message with decode_error', () => {
    fc.assert(
      fc.property(handshakeArb, (message) => {
        const bytes = encodeHandshake(message);
        for (let length = 0; length < bytes.length; length++) {
          expectError(() => decodeHandshake(bytes.slice(0, length)), 'ERR_MLSTLS_DECODE', 50);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('rejects trailing bytes after any valid message with decode_error', () => {
    fc.assert(
      fc.property(
        handshakeArb,
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        (message, extra) => {
          const bytes = concat(encodeHandshake(message), extra);
          expectError(() => decodeHandshake(bytes), 'ERR_MLSTLS_DECODE', 50);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects trailing bytes after a KeyUpdate body with decode_error', () => {
    expectError(() => decodeHandshake(frame(24, [1, 0])), 'ERR_MLSTLS_DECODE', 50);
    expectError(() => decodeHandshakeBody(24, Uint8Array.of(0, 0)), 'ERR_MLSTLS_DECODE', 50);
  });

  it('rejects an empty KeyUpdate body with decode_error', () => {
    expectError(() => decodeHandshake(frame(24, [])), 'ERR_MLSTLS_DECODE', 50);
  });

  it('rejects a uint24 length running past the end of the message with decode_error', () => {
    expectError(() => decodeHandshake(Uint8Array.of(24, 0, 0, 2, 1)), 'ERR_MLSTLS_DECODE', 50);
    expectError(
      () => decodeHandshake(Uint8Array.of(1, 0xff, 0xff, 0xff, 0, 1, 0, 5)),
      'ERR_MLSTLS_DECODE',
      50,
    );
  });

  it('rejects a truncated 4-byte header with decode_error, even of an unknown type', () => {
    for (const bytes of [[], [1], [1, 0], [1, 0, 0], [99, 0, 0]]) {
      expectError(() => decodeHandshake(Uint8Array.from(bytes)), 'ERR_MLSTLS_DECODE', 50);
    }
  });

  it('rejects every unknown msg_type with unexpected_message', () => {
    const unknown = Array.from({ length: 256 }, (_, i) => i).filter(
      (t) => !KNOWN_TYPES.includes(t),
    );
    expect(unknown).toHaveLength(249);
    for (const msgType of unknown) {
      expectError(() => decodeHandshake(frame(msgType, [0])), 'ERR_MLSTLS_UNEXPECTED_MESSAGE', 10);
      expectError(
        () => decodeHandshakeHeader(Uint8Array.of(msgType, 0, 0, 0)),
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        10,
      );
      expectError(
        () => decodeHandshakeBody(msgType as HandshakeType, Uint8Array.of(0)),
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        10,
      );
    }
  });

  it('rejects a KeyUpdate request_update other than 0 and 1 with illegal_parameter', () => {
    for (let request = 2; request < 256; request++) {
      expectError(() => decodeHandshake(frame(24, [request])), 'ERR_MLSTLS_ILLEGAL_PARAMETER', 47);
    }
  });

  it('rejects an EpochKeyUpdate body of other than 4 bytes with decode_error', () => {
    for (const length of [0, 1, 2, 3, 5, 8]) {
      expectError(
        () => decodeHandshake(frame(193, new Uint8Array(length))),
        'ERR_MLSTLS_DECODE',
        50,
      );
    }
    expect(decodeHandshake(frame(193, [0, 0, 0, 7]))).toEqual({ msgType: 193, epoch: 7 });
  });

  it('rejects a ResumptionAccept body of other than 32 bytes with decode_error', () => {
    for (const length of [0, 1, 31, 33, 64]) {
      expectError(
        () => decodeHandshake(frame(195, new Uint8Array(length))),
        'ERR_MLSTLS_DECODE',
        50,
      );
    }
    const random = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(decodeHandshake(frame(195, random))).toEqual({ msgType: 195, responderRandom: random });
  });

  it('rejects an MLSMessage whose version is not mls10 with illegal_parameter', () => {
    for (const { msgType, wireFormat } of MLS_TYPES) {
      for (const version of [0, 2, 0x0100, 0xffff]) {
        expectError(
          () => decodeHandshake(frame(msgType, [version >> 8, version & 0xff, 0, wireFormat, 1])),
          'ERR_MLSTLS_ILLEGAL_PARAMETER',
          47,
        );
      }
    }
  });

  it('rejects an MLSMessage of the wrong wire format for its msg_type with illegal_parameter', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MLS_TYPES),
        fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 0xffff })),
        fc.uint8Array({ maxLength: 10 }),
        ({ msgType, wireFormat }, format, rest) => {
          fc.pre(format !== wireFormat);
          const body = concat([0, 1, format >> 8, format & 0xff], rest);
          expectError(
            () => decodeHandshake(frame(msgType, body)),
            'ERR_MLSTLS_ILLEGAL_PARAMETER',
            47,
          );
        },
      ),
    );
    // A Welcome posing as a KeyPackage, a KeyPackage posing as a commit.
    expectError(() => decodeHandshake(frame(1, [0, 1, 0, 3])), 'ERR_MLSTLS_ILLEGAL_PARAMETER', 47);
    expectError(
      () => decodeHandshake(frame(194, [0, 1, 0, 5])),
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      47,
    );
    expectError(
      () => decodeHandshake(frame(192, [0, 1, 0, 1])),
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      47,
    );
  });

  it('rejects an MLSMessage body shorter than 4 bytes with decode_error', () => {
    for (const { msgType } of MLS_TYPES) {
      for (const body of [[], [0], [0, 1], [0, 1, 0]]) {
        expectError(() => decodeHandshake(frame(msgType, body)), 'ERR_MLSTLS_DECODE', 50);
      }
    }
  });

  it('accepts an MLSMessage of exactly its 4-byte header', () => {
    for (const { msgType, field, wireFormat } of MLS_TYPES) {
      const message = decodeHandshake(frame(msgType, [0, 1, 0, wireFormat])) as unknown as Record<
        string,
        unknown
      >;
      expect(message.msgType).toBe(msgType);
      expect([...(message[field] as Uint8Array)]).toEqual([0, 1, 0, wireFormat]);
    }
  });
});

describe('decodeHandshakeHeader', () => {
  it('reads msg_type and the uint24 length at an offset, without needing the body', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KNOWN_TYPES),
        fc.integer({ min: 0, max: 0xffffff }),
        fc.uint8Array({ maxLength: 8 }),
        (msgType, length, before) => {
          const bytes = concat(before, [
            msgType,
            length >> 16,
            (length >> 8) & 0xff,
            length & 0xff,
          ]);
          expect(decodeHandshakeHeader(bytes, before.length)).toEqual({ msgType, length });
        },
      ),
    );
  });

  it('rejects fewer than 4 bytes after the offset with decode_error', () => {
    expectError(
      () => decodeHandshakeHeader(Uint8Array.of(0, 0, 24, 0, 0), 2),
      'ERR_MLSTLS_DECODE',
      50,
    );
  });
});

describe('encodeHandshake refuses what the profile forbids with ERR_MLSTLS_ENCODE', () => {
  it('refuses an MLSMessage body of the wrong wire format for its msg_type', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MLS_TYPES),
        fc.integer({ min: 0, max: 6 }),
        ({ msgType, wireFormat }, format) => {
          fc.pre(format !== wireFormat);
          const error = expectError(
            () => encodeHandshake(mlsMessage(msgType, Uint8Array.of(0, 1, 0, format, 7))),
            'ERR_MLSTLS_ENCODE',
            80,
          );
          expect(error.cause).toBeInstanceOf(MlsTlsError);
        },
      ),
    );
  });

  it('refuses an MLSMessage body whose version is not mls10 or that is shorter than 4 bytes', () => {
    for (const { msgType, wireFormat } of MLS_TYPES) {
      for (const body of [[0, 2, 0, wireFormat], [], [0, 1, 0]]) {
        expectError(
          () => encodeHandshake(mlsMessage(msgType, Uint8Array.from(body))),
          'ERR_MLSTLS_ENCODE',
          80,
        );
      }
    }
  });

  it('refuses a KeyUpdate request_update other than 0 and 1', () => {
    for (const request of [2, 255, 256, -1]) {
      expectError(
        () =>
          encodeHandshake({ msgType: 24, requestUpdate: request } as unknown as HandshakeMessage),
        'ERR_MLSTLS_ENCODE',
        80,
      );
    }
  });

  it('refuses an EpochKeyUpdate epoch outside uint32', () => {
    for (const epoch of [2 ** 32, -1, 1.5]) {
      expectError(() => encodeHandshake({ msgType: 193, epoch }), 'ERR_MLSTLS_ENCODE', 80);
    }
  });

  it('refuses a responder_random of other than 32 bytes', () => {
    for (const length of [0, 31, 33]) {
      expectError(
        () => encodeHandshake({ msgType: 195, responderRandom: new Uint8Array(length) }),
        'ERR_MLSTLS_ENCODE',
        80,
      );
    }
  });

  it('refuses an unknown msg_type', () => {
    expectError(
      () => encodeHandshake({ msgType: 3, epoch: 0 } as unknown as HandshakeMessage),
      'ERR_MLSTLS_ENCODE',
      80,
    );
  });

  it('refuses a body longer than the uint24 length allows', () => {
    const body = concat([0, 1, 0, 3], new Uint8Array(2 ** 24 - 4));
    expectError(() => encodeHandshake({ msgType: 2, welcome: body }), 'ERR_MLSTLS_ENCODE', 80);
  });
});
