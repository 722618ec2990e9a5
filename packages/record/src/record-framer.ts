import { decodeRecordHeader, type MlsTlsError, RecordLimits } from '@mlstls/codec';

/**
 * Cuts a byte stream, split anywhere, into whole records (header and body). Each header is
 * checked as soon as its 5 bytes are in (`decodeRecordHeader`): an oversized length is
 * `record_overflow` before its body is buffered. A record that lies inside one pushed chunk is
 * returned as a view of it, without copying: do not reuse a chunk's memory after `push`.
 */
export class RecordFramer {
  readonly #chunks: Uint8Array[] = [];
  /** Bytes already taken from `#chunks[0]`. */
  #head = 0;
  #buffered = 0;
  #failure: MlsTlsError | undefined;

  /** Bytes pushed but not yet returned as records. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#chunks.push(data);
    this.#buffered += data.length;
  }

  /**
   * The next whole record, or `undefined` until more bytes arrive. After a malformed header
   * the framer is broken: every later call throws the same error.
   */
  next(): Uint8Array | undefined {
    if (this.#failure) throw this.#failure;
    if (this.#buffered < RecordLimits.headerLength) return undefined;
    let length: number;
    try {
      length = RecordLimits.headerLength + decodeRecordHeader(this.#peekHeader()).length;
    } catch (error) {
      this.#failure = error as MlsTlsError;
      throw error;
    }
    if (this.#buffered < length) return undefined;
    return this.#take(length);
  }

  /** Whether the stream ended inside a record: a truncation the application should see. */
  get hasPartialRecord(): boolean {
    return this.#buffered > 0;
  }

  #peekHeader(): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= RecordLimits.headerLength) {
      return first.subarray(this.#head, this.#head + RecordLimits.headerLength);
    }
    return this.#copy(RecordLimits.headerLength, false);
  }

  #take(length: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= length) {
      const record = first.subarray(this.#head, this.#head + length);
      this.#head += length;
      this.#buffered -= length;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
      return record;
    }
    return this.#copy(length, true);
  }

  /** Copies the next `length` bytes out of the chunks, consuming them if `consume`. */
  #copy(length: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(length);
    let filled = 0;
    let index = 0;
    let head = this.#head;
    while (filled < length) {
      const chunk = this.#chunks[index]!;
      const take = Math.min(chunk.length - head, length - filled);
      out.set(chunk.subarray(head, head + take), filled);
      filled += take;
      head += take;
      if (head === chunk.length) {
        index++;
        head = 0;
      }
    }
    if (consume) {
      this.#chunks.splice(0, index);
      this.#head = head;
      this.#buffered -= length;
    }
    return out;
  }
}
