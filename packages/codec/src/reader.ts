import { MlsTlsError } from './errors.js';

/** Length prefixes of the TLS presentation language: `<0..2^8-1>` up to `<0..2^32-1>`. */
export type LengthBytes = 1 | 2 | 3 | 4;

/** The largest length an RFC 9420 variable-length prefix holds (its 4-byte form). */
export const MAX_VARINT = 2 ** 30 - 1;

/** The smallest length each longer prefix may carry, indexed by size / 2: 2 bytes, 4 bytes. */
const VARINT_LIMITS = [0, 64, 16384] as const;

/**
 * Reads the TLS presentation language from a byte array without copying. Every read that runs
 * past the end, and every length outside its bounds, is `decode_error`; `end()` rejects
 * trailing bytes.
 */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #what: string;
  #offset = 0;

  /** `what` names the structure in error messages, such as `"Alert"`. */
  constructor(bytes: Uint8Array, what = 'message') {
    this.#bytes = bytes;
    this.#what = what;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  u8(): number {
    this.#need(1);
    return this.#bytes[this.#offset++]!;
  }

  u16(): number {
    this.#need(2);
    const b = this.#bytes;
    const o = this.#offset;
    this.#offset = o + 2;
    return (b[o]! << 8) | b[o + 1]!;
  }

  u24(): number {
    this.#need(3);
    const b = this.#bytes;
    const o = this.#offset;
    this.#offset = o + 3;
    return (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
  }

  u32(): number {
    this.#need(4);
    const b = this.#bytes;
    const o = this.#offset;
    this.#offset = o + 4;
    return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  u64(): bigint {
    const high = this.u32();
    const low = this.u32();
    return (BigInt(high) << 32n) | BigInt(low);
  }

  /** The next `length` bytes, as a view into the input. */
  bytes(length: number): Uint8Array {
    this.#need(length);
    const start = this.#offset;
    this.#offset = start + length;
    return this.#bytes.subarray(start, this.#offset);
  }

  /** `opaque data<min..max>` with a `lengthBytes`-byte length prefix, as a view. */
  opaque(lengthBytes: LengthBytes, min = 0, max = 2 ** (8 * lengthBytes) - 1): Uint8Array {
    const length = this.#length(lengthBytes);
    if (length < min || length > max) {
      throw new MlsTlsError(
        'ERR_MLSTLS_DECODE',
        `${this.#what}: vector length ${length} outside ${min}..${max}`,
      );
    }
    return this.bytes(length);
  }

  /**
   * `opaque data<V>` (RFC 9420 2.1.2): a variable-length integer prefix of 1, 2 or 4 bytes
   * whose top two bits give its size. A prefix longer than needed, or the reserved 8-byte
   * form, is `decode_error`.
   */
  opaqueV(min = 0, max = MAX_VARINT): Uint8Array {
    const first = this.u8();
    const size = 1 << (first >> 6);
    let length = first & 0x3f;
    if (size === 8) {
      throw new MlsTlsError('ERR_MLSTLS_DECODE', `${this.#what}: reserved 8-byte length prefix`);
    }
    for (let i = 1; i < size; i++) length = length * 256 + this.u8();
    if (size > 1 && length < VARINT_LIMITS[size >> 1]!) {
      throw new MlsTlsError('ERR_MLSTLS_DECODE', `${this.#what}: length prefix not minimal`);
    }
    if (length < min || length > max) {
      throw new MlsTlsError(
        'ERR_MLSTLS_DECODE',
        `${this.#what}: vector length ${length} outside ${min}..${max}`,
      );
    }
    return this.bytes(length);
  }

  /** A reader over the vector that starts here: for vectors of structures. */
  vector(lengthBytes: LengthBytes): Reader {
    return new Reader(this.bytes(this.#length(lengthBytes)), this.#what);
  }

  /** Everything not yet read, as a view. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** Asserts that the input has been read exactly: trailing bytes are `decode_error`. */
  end(): void {
    if (this.remaining !== 0) {
      throw new MlsTlsError(
        'ERR_MLSTLS_DECODE',
        `${this.#what}: ${this.remaining} trailing byte(s)`,
      );
    }
  }

  #length(lengthBytes: LengthBytes): number {
    switch (lengthBytes) {
      case 1:
        return this.u8();
      case 2:
        return this.u16();
      case 3:
        return this.u24();
      case 4:
        return this.u32();
    }
  }

  #need(length: number): void {
    if (!Number.isInteger(length) || length < 0) {
      // A caller's bug, never the peer's: a negative length would move the offset backwards.
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        `${this.#what}: read of ${length} bytes`,
      );
    }
    if (this.#offset + length > this.#bytes.length) {
      throw new MlsTlsError(
        'ERR_MLSTLS_DECODE',
        `${this.#what}: truncated (needs ${length} more byte(s), has ${this.remaining})`,
      );
    }
  }
}
