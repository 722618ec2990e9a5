import { MlsTlsError } from './errors.js';
import { type LengthBytes, MAX_VARINT } from './reader.js';

/**
 * Writes the TLS presentation language into a growing buffer. Values out of range and vectors
 * too long for their length prefix are `ERR_MLSTLS_ENCODE`: they are local bugs, never sent.
 */
export class Writer {
  #buffer: Uint8Array;
  #length = 0;

  constructor(initialCapacity = 64) {
    this.#buffer = new Uint8Array(initialCapacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  u8(value: number): this {
    this.#check(value, 0xff, 'uint8');
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  u16(value: number): this {
    this.#check(value, 0xffff, 'uint16');
    this.#reserve(2);
    const b = this.#buffer;
    const o = this.#length;
    b[o] = value >>> 8;
    b[o + 1] = value;
    this.#length = o + 2;
    return this;
  }

  u24(value: number): this {
    this.#check(value, 0xffffff, 'uint24');
    this.#reserve(3);
    const b = this.#buffer;
    const o = this.#length;
    b[o] = value >>> 16;
    b[o + 1] = value >>> 8;
    b[o + 2] = value;
    this.#length = o + 3;
    return this;
  }

  u32(value: number): this {
    this.#check(value, 0xffffffff, 'uint32');
    this.#reserve(4);
    const b = this.#buffer;
    const o = this.#length;
    b[o] = value >>> 24;
    b[o + 1] = value >>> 16;
    b[o + 2] = value >>> 8;
    b[o + 3] = value;
    this.#length = o + 4;
    return this;
  }

  u64(value: bigint): this {
    if (value < 0n || value > 0xffffffffffffffffn) {
      throw new MlsTlsError('ERR_MLSTLS_ENCODE', 'uint64 out of range');
    }
    return this.u32(Number(value >> 32n)).u32(Number(value & 0xffffffffn));
  }

  bytes(data: Uint8Array): this {
    this.#reserve(data.length);
    this.#buffer.set(data, this.#length);
    this.#length += data.length;
    return this;
  }

  /** `opaque data<min..max>` with a `lengthBytes`-byte length prefix. */
  opaque(
    lengthBytes: LengthBytes,
    data: Uint8Array,
    min = 0,
    max = 2 ** (8 * lengthBytes) - 1,
  ): this {
    if (data.length < min || data.length > max) {
      throw new MlsTlsError(
        'ERR_MLSTLS_ENCODE',
        `vector length ${data.length} outside ${min}..${max}`,
      );
    }
    return this.#prefix(lengthBytes, data.length).bytes(data);
  }

  /** `opaque data<V>` (RFC 9420 2.1.2): the shortest variable-length prefix, then the bytes. */
  opaqueV(data: Uint8Array, min = 0, max = MAX_VARINT): this {
    const length = data.length;
    if (length < min || length > max) {
      throw new MlsTlsError('ERR_MLSTLS_ENCODE', `vector length ${length} outside ${min}..${max}`);
    }
    if (length < 64) this.u8(length);
    else if (length < 16384) this.u16(0x4000 | length);
    else this.u32((0x80000000 | length) >>> 0);
    return this.bytes(data);
  }

  /** A vector of structures: writes its length prefix after `write` has written its body. */
  vector(lengthBytes: LengthBytes, write: (writer: this) => void): this {
    const lengthAt = this.#length;
    this.#reserve(lengthBytes);
    this.#length += lengthBytes;
    write(this);
    const length = this.#length - lengthAt - lengthBytes;
    const end = this.#length;
    this.#length = lengthAt;
    this.#prefix(lengthBytes, length);
    this.#length = end;
    return this;
  }

  /** The bytes written, as a view of the internal buffer. */
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  #prefix(lengthBytes: LengthBytes, length: number): this {
    switch (lengthBytes) {
      case 1:
        return this.u8(length);
      case 2:
        return this.u16(length);
      case 3:
        return this.u24(length);
      case 4:
        return this.u32(length);
    }
  }

  #check(value: number, max: number, type: string): void {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw new MlsTlsError('ERR_MLSTLS_ENCODE', `${type} out of range: ${value}`);
    }
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}
