import {
  ContentType,
  encodeHandshake,
  type HandshakeMessage,
  HandshakeType,
  type KeyUpdateRequest,
} from '@mlstls/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fragmentHandshake,
  HandshakeReassembler,
  openPlaintextRecord,
  sealPlaintextRecord,
} from '../src/index.js';
import { errorWith } from './craft.js';

const mls = (wireFormat: number, size: number, fill = 0x5a) => {
  const body = new Uint8Array(4 + size).fill(fill);
  body.set([0, 1, 0, wireFormat]);
  return body;
};

const messageArb: fc.Arbitrary<HandshakeMessage> = fc.oneof(
  fc
    .integer({ min: 0, max: 20_000 })
    .map((n) => ({ msgType: HandshakeType.client_hello, keyPackage: mls(5, n) })),
  fc
    .integer({ min: 0, max: 40_000 })
    .map((n) => ({ msgType: HandshakeType.server_hello, welcome: mls(3, n) })),
  fc
    .integer({ min: 0, max: 2000 })
    .map((n) => ({ msgType: HandshakeType.connection_update, update: mls(2, n) })),
  fc
    .integer({ min: 0, max: 2000 })
    .map((n) => ({ msgType: HandshakeType.resumption, commit: mls(2, n) })),
  fc
    .constantFrom(0, 1)
    .map((r) => ({ msgType: HandshakeType.key_update, requestUpdate: r as KeyUpdateRequest })),
  fc
    .integer({ min: 0, max: 2 ** 32 - 1 })
    .map((epoch) => ({ msgType: HandshakeType.epoch_key_update, epoch })),
);

describe('fragmentHandshake and HandshakeReassembler', () => {
  it('reassemble any flight, whatever the fragment size', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 5 }),
        fc.oneof(fc.integer({ min: 16, max: 300 }), fc.integer({ min: 300, max: 2 ** 14 })),
        (messages, maxFragment) => {
          const fragments = fragmentHandshake(messages.map(encodeHandshake), maxFragment);
          const reassembler = new HandshakeReassembler();
          const out = fragments.flatMap((fragment) => {
            expect(fragment.length).toBeLessThanOrEqual(maxFragment);
            return reassembler.push(fragment);
          });
          // Compared as encodings: a deep equal of 40 KB arrays element by element is slow.
          const encode = (list: HandshakeMessage[]) => Buffer.concat(list.map(encodeHandshake));
          expect(out.map((m) => m.msgType)).toEqual(messages.map((m) => m.msgType));
          expect(encode(out).equals(encode(messages))).toBe(true);
          expect(reassembler.hasPartialMessage).toBe(false);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reassembles messages delivered one byte per record', () => {
    const messages: HandshakeMessage[] = [
      { msgType: HandshakeType.client_hello, keyPackage: mls(5, 300) },
      { msgType: HandshakeType.epoch_key_update, epoch: 2 ** 32 - 1 },
    ];
    const reassembler = new HandshakeReassembler();
    const out = fragmentHandshake(messages.map(encodeHandshake), 1).flatMap((f) =>
      reassembler.push(f),
    );
    expect(out).toEqual(messages);
  });

  it('lets messages larger than 2^14 span records and several small ones share one', () => {
    const big: HandshakeMessage = { msgType: HandshakeType.server_hello, welcome: mls(3, 40_000) };
    expect(fragmentHandshake([encodeHandshake(big)]).length).toBe(3);
    const small = [
      encodeHandshake({ msgType: HandshakeType.epoch_key_update, epoch: 1 }),
      encodeHandshake({ msgType: HandshakeType.epoch_key_update, epoch: 2 }),
    ];
    // Each key-changing message ends its fragment.
    expect(fragmentHandshake(small).map((f) => f.length)).toEqual([8, 8]);
  });

  it('never lets two messages share a record: every message type of the profile changes keys', () => {
    const reassembler = new HandshakeReassembler();
    const two = Buffer.concat([
      encodeHandshake({ msgType: HandshakeType.key_update, requestUpdate: 0 }),
      encodeHandshake({ msgType: HandshakeType.key_update, requestUpdate: 1 }),
    ]);
    expect(() => reassembler.push(new Uint8Array(two))).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
    );
  });

  it('a key-changing message followed by anything in its record is unexpected_message', () => {
    for (const message of [
      { msgType: HandshakeType.client_hello, keyPackage: mls(5, 3) },
      { msgType: HandshakeType.server_hello, welcome: mls(3, 3) },
      { msgType: HandshakeType.key_update, requestUpdate: 1 },
      { msgType: HandshakeType.connection_update, update: mls(2, 3) },
      { msgType: HandshakeType.epoch_key_update, epoch: 9 },
      { msgType: HandshakeType.resumption, commit: mls(2, 3) },
    ] as HandshakeMessage[]) {
      const encoded = encodeHandshake(message);
      const record = new Uint8Array(Buffer.concat([encoded, Uint8Array.of(24)]));
      expect(() => new HandshakeReassembler().push(record), String(message.msgType)).toThrowError(
        errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
      );
      expect(new HandshakeReassembler().push(encoded)).toEqual([message]);
    }
  });

  it('a handshake message cut by a key change is unexpected_message', () => {
    const reassembler = new HandshakeReassembler();
    const message = encodeHandshake({
      msgType: HandshakeType.connection_update,
      update: mls(2, 100),
    });
    expect(reassembler.push(message.subarray(0, 50))).toEqual([]);
    expect(reassembler.hasPartialMessage).toBe(true);
    expect(() => reassembler.checkBoundary()).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
    );
  });

  it('a partial header counts as a partial message', () => {
    const reassembler = new HandshakeReassembler();
    reassembler.push(Uint8Array.of(HandshakeType.epoch_key_update, 0));
    expect(() => reassembler.checkBoundary()).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
    );
    expect(reassembler.push(Uint8Array.of(0, 4, 0, 0))).toEqual([]);
    expect(reassembler.push(Uint8Array.of(0, 7))).toEqual([
      { msgType: HandshakeType.epoch_key_update, epoch: 7 },
    ]);
    reassembler.checkBoundary();
  });

  it('a zero-length handshake fragment is unexpected_message', () => {
    expect(() => new HandshakeReassembler().push(new Uint8Array(0))).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
    );
  });

  it('a handshake body with trailing bytes is decode_error', () => {
    const record = Uint8Array.of(HandshakeType.epoch_key_update, 0, 0, 5, 0, 0, 0, 1, 9);
    expect(() => new HandshakeReassembler().push(record)).toThrowError(
      errorWith('ERR_MLSTLS_DECODE', 50),
    );
    const keyUpdate = Uint8Array.of(HandshakeType.key_update, 0, 0, 2, 0, 0);
    expect(() => new HandshakeReassembler().push(keyUpdate)).toThrowError(
      errorWith('ERR_MLSTLS_DECODE', 50),
    );
  });

  it('a uint24 length beyond the message is refused once over the limit, from the header alone', () => {
    const reassembler = new HandshakeReassembler({ maxMessageLength: 1000 });
    expect(() =>
      reassembler.push(Uint8Array.of(HandshakeType.server_hello, 0xff, 0xff, 0xff, 0, 1)),
    ).toThrowError(errorWith('ERR_MLSTLS_HANDSHAKE_TOO_LARGE', 47));
    // Within the limit, the reassembler waits for the rest; a cut at a key change then fails.
    const waiting = new HandshakeReassembler();
    expect(waiting.push(Uint8Array.of(HandshakeType.server_hello, 0, 0x10, 0, 0, 1, 0, 3))).toEqual(
      [],
    );
    expect(() => waiting.checkBoundary()).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
    );
  });

  it('an unknown msg_type is unexpected_message, refused from its header', () => {
    expect(() => new HandshakeReassembler().push(Uint8Array.of(4, 0, 0, 1, 0))).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
    );
  });

  it('refuses to fragment an empty message or into fragments outside 1..2^14', () => {
    expect(() => fragmentHandshake([new Uint8Array(0)])).toThrowError(
      errorWith('ERR_MLSTLS_INVALID_ARGUMENT', 80),
    );
    expect(() => fragmentHandshake([Uint8Array.of(1)], 2 ** 14 + 1)).toThrowError(
      errorWith('ERR_MLSTLS_INVALID_ARGUMENT', 80),
    );
  });
});

describe('plaintext records', () => {
  it('carry handshake fragments and alerts, and read back', () => {
    const fragment = encodeHandshake({
      msgType: HandshakeType.client_hello,
      keyPackage: mls(5, 10),
    });
    const record = sealPlaintextRecord(ContentType.handshake, fragment);
    expect(Array.from(record.subarray(0, 5))).toEqual([22, 3, 3, 0, fragment.length]);
    expect(openPlaintextRecord(record)).toEqual({ contentType: 22, content: fragment });
    expect(
      openPlaintextRecord(sealPlaintextRecord(ContentType.alert, Uint8Array.of(2, 115))),
    ).toEqual({
      contentType: 21,
      content: Uint8Array.of(2, 115),
    });
  });

  it('application data in plaintext is unexpected_message; the sender refuses to write it', () => {
    expect(() => openPlaintextRecord(Uint8Array.of(23, 3, 3, 0, 1, 0))).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
    );
    expect(() => sealPlaintextRecord(ContentType.application_data, Uint8Array.of(1))).toThrowError(
      errorWith('ERR_MLSTLS_INVALID_ARGUMENT', 80),
    );
  });

  it('a zero-length handshake or alert fragment is unexpected_message', () => {
    for (const type of [21, 22]) {
      expect(() => openPlaintextRecord(Uint8Array.of(type, 3, 3, 0, 0))).toThrowError(
        errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
      );
    }
  });

  it('a plaintext fragment over 2^14 bytes is record_overflow', () => {
    const record = new Uint8Array(5 + 2 ** 14 + 1);
    record.set([22, 3, 3, 0x40, 0x01]);
    expect(() => openPlaintextRecord(record)).toThrowError(
      errorWith('ERR_MLSTLS_RECORD_OVERFLOW', 22),
    );
  });

  it('accepts the legacy versions of an initial ClientHello record (0x0301)', () => {
    expect(openPlaintextRecord(Uint8Array.of(21, 3, 1, 0, 2, 1, 0)).contentType).toBe(21);
  });
});
