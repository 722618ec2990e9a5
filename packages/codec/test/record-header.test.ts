import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ContentType, decodeRecordHeader, encodeRecordHeader } from '../src/index.js';
import { expectError, expectWellFormedError } from './helpers.js';

const typeArb = fc.constantFrom<ContentType>(21, 22, 23);

function header(type: number, version: number, length: number): Uint8Array {
  return Uint8Array.of(type, version >> 8, version & 0xff, length >> 8, length & 0xff);
}

describe('encodeRecordHeader and decodeRecordHeader', () => {
  it('round-trip type, legacy_record_version 0x0303 and every length up to 2^14 + 256, at any offset', () => {
    fc.assert(
      fc.property(
        typeArb,
        fc.integer({ min: 0, max: 2 ** 14 + 256 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        (contentType, length, offset, after) => {
          const out = new Uint8Array(offset + 5 + after).fill(0xee);
          encodeRecordHeader(out, offset, contentType, length);
          expect([...out.subarray(offset, offset + 5)]).toEqual([
            contentType,
            0x03,
            0x03,
            length >> 8,
            length & 0xff,
          ]);
          // Nothing outside the 5 bytes is touched.
          expect(out.subarray(0, offset).every((b) => b === 0xee)).toBe(true);
          expect(out.subarray(offset + 5).every((b) => b === 0xee)).toBe(true);
          expect(decodeRecordHeader(out, offset)).toEqual({
            contentType,
            legacyVersion: 0x0303,
            length,
          });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('accepts legacy_record_version 0x0301, 0x0302 and 0x0303 on input', () => {
    for (const version of [0x0301, 0x0302, 0x0303]) {
      expect(decodeRecordHeader(header(22, version, 10))).toEqual({
        contentType: 22,
        legacyVersion: version,
        length: 10,
      });
    }
  });

  it('accepts a record length of exactly 2^14 + 256 and of 0', () => {
    expect(decodeRecordHeader(header(23, 0x0303, 16640)).length).toBe(16640);
    expect(decodeRecordHeader(header(23, 0x0303, 0)).length).toBe(0);
  });
});

describe('decodeRecordHeader on hostile input', () => {
  it('throws nothing but a well-formed MlsTlsError for any byte array', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), (bytes) => {
        try {
          const h = decodeRecordHeader(bytes);
          expect([h.contentType, h.legacyVersion >> 8, h.legacyVersion & 0xff]).toEqual([
            ...bytes.subarray(0, 3),
          ]);
          expect(h.length).toBe((bytes[3]! << 8) | bytes[4]!);
        } catch (error) {
          expectWellFormedError(error);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('throws nothing but a well-formed MlsTlsError for any header of a known type', () => {
    fc.assert(
      fc.property(
        typeArb,
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (type, version, length) => {
          try {
            expect(decodeRecordHeader(header(type, version, length))).toEqual({
              contentType: type,
              legacyVersion: version,
              length,
            });
            expect(version >= 0x0301 && version <= 0x0303 && length <= 16640).toBe(true);
          } catch (error) {
            expectWellFormedError(error);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('rejects a truncated record header with decode_error', () => {
    for (let n = 0; n < 5; n++) {
      expectError(
        () => decodeRecordHeader(header(22, 0x0303, 1).subarray(0, n)),
        'ERR_MLSTLS_DECODE',
        50,
      );
    }
    // Five bytes in the array, but only four after the offset.
    expectError(() => decodeRecordHeader(header(22, 0x0303, 1), 1), 'ERR_MLSTLS_DECODE', 50);
  });

  it('rejects an outer content type other than alert, handshake and application_data with unexpected_message', () => {
    for (const type of [0, 20, 24, 255]) {
      expectError(
        () => decodeRecordHeader(header(type, 0x0303, 1)),
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        10,
      );
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), (type) => {
        fc.pre(type < 21 || type > 23);
        expectError(
          () => decodeRecordHeader(header(type, 0x0303, 1)),
          'ERR_MLSTLS_UNEXPECTED_MESSAGE',
          10,
        );
      }),
    );
  });

  it('rejects a record length of 2^14 + 257 or more with record_overflow', () => {
    expectError(
      () => decodeRecordHeader(header(23, 0x0303, 16641)),
      'ERR_MLSTLS_RECORD_OVERFLOW',
      22,
    );
    expectError(
      () => decodeRecordHeader(header(22, 0x0301, 0xffff)),
      'ERR_MLSTLS_RECORD_OVERFLOW',
      22,
    );
  });

  it('rejects a legacy_record_version outside 0x0301..0x0303 with decode_error', () => {
    for (const version of [0x0200, 0x0304, 0x0300, 0x0000, 0x0403, 0x4745, 0xffff]) {
      expectError(() => decodeRecordHeader(header(22, version, 1)), 'ERR_MLSTLS_DECODE', 50);
    }
  });
});

describe('encodeRecordHeader refuses what it cannot write with ERR_MLSTLS_ENCODE', () => {
  it('refuses a length over 2^14 + 256, negative or fractional', () => {
    for (const length of [16641, 0x10000, -1, 1.5]) {
      expectError(
        () => encodeRecordHeader(new Uint8Array(5), 0, 23, length),
        'ERR_MLSTLS_ENCODE',
        80,
      );
    }
  });

  it('refuses a content type the decoder would reject (invalid, change_cipher_spec)', () => {
    for (const type of [0, 20, 24]) {
      expectError(
        () => encodeRecordHeader(new Uint8Array(5), 0, type as ContentType, 1),
        'ERR_MLSTLS_ENCODE',
        80,
      );
    }
  });

  it('refuses a header that does not fit in the output at the offset, writing nothing', () => {
    for (const [size, offset] of [
      [4, 0],
      [5, 1],
      [10, 6],
      [10, -1],
    ] as const) {
      const out = new Uint8Array(size);
      expectError(() => encodeRecordHeader(out, offset, 22, 1), 'ERR_MLSTLS_ENCODE', 80);
      expect(out.every((b) => b === 0)).toBe(true);
    }
  });
});
