import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeProtocolNameList,
  decodeServerName,
  encodeProtocolNameList,
  encodeServerName,
  MAX_VARINT,
  Reader,
  Writer,
} from '../src/index.js';
import { expectError } from './helpers.js';

const bytes = (...values: number[]) => new Uint8Array(values);
const ascii = (text: string) => new TextEncoder().encode(text);

describe('opaque<V> (RFC 9420 2.1.2)', () => {
  it('writes and reads the shortest prefix for every length class (RFC 9000 A.1: 15293 = 0x7bbd)', () => {
    for (const [length, prefix] of [
      [0, [0x00]],
      [37, [0x25]],
      [63, [0x3f]],
      [64, [0x40, 0x40]],
      [15293, [0x7b, 0xbd]],
      [16383, [0x7f, 0xff]],
      [16384, [0x80, 0x00, 0x40, 0x00]],
      [70000, [0x80, 0x01, 0x11, 0x70]],
    ] as const) {
      const data = new Uint8Array(length).fill(7);
      const written = new Writer().opaqueV(data).finish();
      expect(Array.from(written.subarray(0, prefix.length))).toEqual(prefix);
      expect(written.length).toBe(prefix.length + length);
      const reader = new Reader(written);
      expect(reader.opaqueV()).toEqual(data);
      reader.end();
    }
    expect(MAX_VARINT).toBe(2 ** 30 - 1);
  });

  it('refuses a longer prefix than needed (0x4025 for 37) and the reserved 8-byte form', () => {
    const padded = new Uint8Array(2 + 37);
    padded.set([0x40, 0x25]);
    expectError(() => new Reader(padded).opaqueV(), 'ERR_MLSTLS_DECODE', 50);
    expectError(
      () => new Reader(bytes(0xc0, 0, 0, 0, 0, 0, 0, 1, 9)).opaqueV(),
      'ERR_MLSTLS_DECODE',
      50,
    );
  });

  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20000 }), (data) => {
        const reader = new Reader(new Writer().opaqueV(data).finish());
        expect(reader.opaqueV()).toEqual(data);
        reader.end();
      }),
      { numRuns: 60 },
    );
  });
});

describe('mlstls_server_name: opaque host_name<V>', () => {
  it('encodes a host name as its <V> vector', () => {
    expect(encodeServerName('example.com')).toEqual(bytes(11, ...ascii('example.com')));
    expect(decodeServerName(bytes(11, ...ascii('example.com')))).toBe('example.com');
  });

  it('refuses to send an IP literal or a name that is not 1 to 255 printable ASCII bytes', () => {
    for (const name of ['', '127.0.0.1', '::1', 'a b', 'é.example', 'a'.repeat(256)]) {
      expectError(() => encodeServerName(name), 'ERR_MLSTLS_INVALID_ARGUMENT', 80);
    }
  });

  it('answers a received IP literal, control byte or empty name with illegal_parameter', () => {
    for (const name of [ascii('10.0.0.1'), ascii('[::1]'), bytes(0x61, 0x00), bytes()]) {
      const data = new Writer().opaqueV(name).finish();
      expectError(() => decodeServerName(data), 'ERR_MLSTLS_ILLEGAL_PARAMETER', 47);
    }
  });

  it('answers trailing or missing bytes with decode_error', () => {
    expectError(() => decodeServerName(bytes(1, 0x61, 0)), 'ERR_MLSTLS_DECODE', 50);
    expectError(() => decodeServerName(bytes(3, 0x61)), 'ERR_MLSTLS_DECODE', 50);
  });
});

describe('mlstls_alpn: opaque protocol_name_list<V> of RFC 7301 ProtocolNames', () => {
  it('encodes h2 and http/1.1 with one-byte name prefixes inside a <V> list', () => {
    const encoded = encodeProtocolNameList([ascii('h2'), ascii('http/1.1')]);
    expect(encoded).toEqual(bytes(12, 2, ...ascii('h2'), 8, ...ascii('http/1.1')));
    expect(decodeProtocolNameList(encoded)).toEqual([ascii('h2'), ascii('http/1.1')]);
  });

  it('refuses an empty list, an empty name and a name over 255 bytes', () => {
    expectError(() => encodeProtocolNameList([]), 'ERR_MLSTLS_INVALID_ARGUMENT', 80);
    expectError(() => encodeProtocolNameList([bytes()]), 'ERR_MLSTLS_INVALID_ARGUMENT', 80);
    const long = new Uint8Array(256);
    expectError(() => encodeProtocolNameList([long]), 'ERR_MLSTLS_INVALID_ARGUMENT', 80);
    expectError(() => decodeProtocolNameList(bytes(0)), 'ERR_MLSTLS_DECODE', 50);
    expectError(() => decodeProtocolNameList(bytes(1, 0)), 'ERR_MLSTLS_DECODE', 50);
    expectError(() => decodeProtocolNameList(bytes(3, 2, 0x68)), 'ERR_MLSTLS_DECODE', 50);
    expectError(() => decodeProtocolNameList(bytes(3, 2, 0x68, 0x32, 0)), 'ERR_MLSTLS_DECODE', 50);
  });

  it('round-trips any list of names', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 255 }), { minLength: 1, maxLength: 20 }),
        (names) => {
          const decoded = decodeProtocolNameList(encodeProtocolNameList(names));
          expect(decoded).toHaveLength(names.length);
          for (const [i, name] of decoded.entries()) expect(name).toEqual(names[i]);
        },
      ),
      { numRuns: 100 },
    );
  });
});
