import { MlsTlsError } from '@mlstls/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSessionRecord,
  encodeSessionRecord,
  isAtVersion,
  SESSION_FORMAT,
  type SessionRecord,
  versionOf,
} from '../src/index.js';

const withoutPending: SessionRecord = {
  format: SESSION_FORMAT,
  epoch: 5n,
  state: Uint8Array.of(1, 2, 3),
  peer: Uint8Array.of(4, 5),
};
const withPending: SessionRecord = { ...withoutPending, pending: Uint8Array.of(6, 7, 8, 9) };

/** Asserts that `fn` throws an MlsTlsError with this code. */
function expectCode(fn: () => unknown, code: string): void {
  let error: unknown;
  try {
    fn();
  } catch (thrown) {
    error = thrown;
  }
  expect(error).toBeInstanceOf(MlsTlsError);
  expect((error as MlsTlsError).code).toBe(code);
}

/** A record's fields as plain values, so that views and copies compare equal. */
function plain(record: SessionRecord): unknown {
  return {
    format: record.format,
    epoch: record.epoch,
    state: Array.from(record.state),
    pending: record.pending === undefined ? 'absent' : Array.from(record.pending),
    peer: Array.from(record.peer),
  };
}

const recordArb: fc.Arbitrary<SessionRecord> = fc
  .record({
    format: fc.integer({ min: 0, max: 0xffff }),
    epoch: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    state: fc.uint8Array({ maxLength: 300 }),
    pending: fc.option(fc.uint8Array({ maxLength: 100 }), { nil: undefined }),
    peer: fc.uint8Array({ maxLength: 100 }),
  })
  .map(({ format, epoch, state, pending, peer }) =>
    pending === undefined
      ? { format, epoch, state, peer }
      : { format, epoch, state, pending, peer },
  );

describe('encodeSessionRecord / decodeSessionRecord', () => {
  it('writes format, epoch, state, a presence byte, pending and peer', () => {
    expect(Array.from(encodeSessionRecord(withPending))).toEqual([
      0, 2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 1, 2, 3, 1, 0, 0, 0, 4, 6, 7, 8, 9, 0, 2, 4, 5,
    ]);
    expect(Array.from(encodeSessionRecord(withoutPending))).toEqual([
      0, 2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 1, 2, 3, 0, 0, 2, 4, 5,
    ]);
  });

  it('round-trips a record with and without a pending commit', () => {
    for (const record of [withoutPending, withPending]) {
      const decoded = decodeSessionRecord(encodeSessionRecord(record));
      expect(plain(decoded)).toEqual(plain(record));
      expect(decoded.state).toBeInstanceOf(Uint8Array);
    }
    expect('pending' in decodeSessionRecord(encodeSessionRecord(withoutPending))).toBe(false);
  });

  it('keeps an empty pending commit apart from none', () => {
    const empty = { ...withoutPending, pending: new Uint8Array(0) };
    expect(decodeSessionRecord(encodeSessionRecord(empty)).pending).toEqual(new Uint8Array(0));
  });

  it('round-trips any record', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        expect(plain(decodeSessionRecord(encodeSessionRecord(record)))).toEqual(plain(record));
      }),
    );
  });

  it('writes format 2, a state without its exporter secret', () => {
    expect(SESSION_FORMAT).toBe(2);
  });

  it('keeps any uint16 format as it is: the state machine, not the codec, judges it', () => {
    for (const format of [0, 1, 2, 7, 0xffff]) {
      const bytes = encodeSessionRecord({ ...withPending, format });
      expect(Array.from(bytes.subarray(0, 2))).toEqual([format >> 8, format & 0xff]);
      expect(plain(decodeSessionRecord(bytes))).toEqual(plain({ ...withPending, format }));
    }
  });

  it('decodes the bytes a format-1 writer made', () => {
    const bytes = Uint8Array.of(
      ...[0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 1, 2, 3, 1, 0, 0, 0, 4, 6, 7, 8, 9, 0, 2, 4, 5],
    );
    expect(plain(decodeSessionRecord(bytes))).toEqual(plain({ ...withPending, format: 1 }));
  });

  it('refuses every truncation and trailing bytes', () => {
    for (const record of [withoutPending, withPending]) {
      const bytes = encodeSessionRecord(record);
      for (let length = 0; length < bytes.length; length++) {
        expectCode(() => decodeSessionRecord(bytes.subarray(0, length)), 'ERR_MLSTLS_STORAGE');
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expectCode(() => decodeSessionRecord(longer), 'ERR_MLSTLS_STORAGE');
    }
  });

  it('refuses a presence byte other than 0 or 1', () => {
    const bytes = encodeSessionRecord(withoutPending);
    const presence = 2 + 8 + 4 + withoutPending.state.length;
    expect(bytes[presence]).toBe(0);
    for (const value of [2, 0xff]) {
      bytes[presence] = value;
      expectCode(() => decodeSessionRecord(bytes), 'ERR_MLSTLS_STORAGE');
    }
  });

  it('throws nothing but ERR_MLSTLS_STORAGE on random or mutated bytes', () => {
    const valid = encodeSessionRecord(withPending);
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 40 }).map((tail) => Uint8Array.of(0, SESSION_FORMAT, ...tail)),
      fc
        .tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }))
        .map(([at, value]) => {
          const mutated = valid.slice();
          mutated[at] = value;
          return mutated;
        }),
    );
    fc.assert(
      fc.property(inputs, (bytes) => {
        try {
          decodeSessionRecord(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(MlsTlsError);
          expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_STORAGE');
        }
      }),
    );
  });
});

describe('versionOf / isAtVersion', () => {
  it('takes the epoch, and the pending commit only when there is one', () => {
    expect(versionOf(withoutPending)).toStrictEqual({ epoch: 5n });
    expect(versionOf(withPending)).toStrictEqual({ epoch: 5n, pending: withPending.pending });
  });

  it('matches null only to no record, and no record only to null', () => {
    expect(isAtVersion(undefined, null)).toBe(true);
    expect(isAtVersion(withoutPending, null)).toBe(false);
    expect(isAtVersion(undefined, { epoch: 5n })).toBe(false);
  });

  it('matches a record to its own version', () => {
    expect(isAtVersion(withoutPending, versionOf(withoutPending))).toBe(true);
    expect(isAtVersion(withPending, versionOf(withPending))).toBe(true);
    expect(isAtVersion(withoutPending, { epoch: 5n, pending: undefined })).toBe(true);
    expect(isAtVersion(withPending, { epoch: 5n, pending: Uint8Array.of(6, 7, 8, 9) })).toBe(true);
  });

  it('tells apart another epoch, another pending commit, and none from one', () => {
    expect(isAtVersion(withoutPending, { epoch: 4n })).toBe(false);
    expect(isAtVersion(withoutPending, { epoch: 6n })).toBe(false);
    expect(isAtVersion(withPending, { epoch: 6n, pending: withPending.pending })).toBe(false);
    expect(isAtVersion(withPending, { epoch: 5n })).toBe(false);
    expect(isAtVersion(withoutPending, { epoch: 5n, pending: new Uint8Array(0) })).toBe(false);
    expect(isAtVersion(withPending, { epoch: 5n, pending: Uint8Array.of(6, 7, 8) })).toBe(false);
    expect(isAtVersion(withPending, { epoch: 5n, pending: Uint8Array.of(6, 7, 8, 9, 0) })).toBe(
      false,
    );
    expect(isAtVersion(withPending, { epoch: 5n, pending: Uint8Array.of(6, 7, 8, 8) })).toBe(false);
    expect(isAtVersion(withPending, { epoch: 5n, pending: Uint8Array.of(7, 7, 8, 9) })).toBe(false);
  });
});
