import {
  decodeHandshakeBody,
  decodeHandshakeHeader,
  HANDSHAKE_HEADER_LENGTH,
  type HandshakeMessage,
  type HandshakeType,
  KEY_CHANGING_HANDSHAKE_TYPES,
  MlsTlsError,
} from '@mlstls/codec';

export interface HandshakeReassemblerOptions {
  /**
   * Largest handshake message body accepted, in bytes (default 2^18). A larger one is refused
   * from its header, before it is buffered (`ERR_MLSTLS_HANDSHAKE_TOO_LARGE`).
   */
  readonly maxMessageLength?: number;
}

/** Default of `maxMessageLength`: room for a Welcome with a ratchet tree and X.509 chains. */
export const DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH = 2 ** 18;

/**
 * Turns the fragments of handshake records back into messages (RFC 8446 5.1): a message may
 * span records and several may share one. The rules of docs/protocol.md section 1 are enforced here:
 * an empty fragment, anything after a key-changing message in the same record, and a partial
 * message at a key change or before a record of another content type are `unexpected_message`.
 */
export class HandshakeReassembler {
  readonly #maxMessageLength: number;
  /** The message being assembled: 4 bytes while its header is incomplete, then whole. */
  #buffer: Uint8Array | undefined;
  #filled = 0;
  #awaitingHeader = false;

  constructor(options: HandshakeReassemblerOptions = {}) {
    this.#maxMessageLength = options.maxMessageLength ?? DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH;
  }

  /** Whether part of a message is buffered. */
  get hasPartialMessage(): boolean {
    return this.#buffer !== undefined;
  }

  /**
   * Call when the receiving key changes or a record of another content type arrives: a
   * message cut there is `unexpected_message`.
   */
  checkBoundary(): void {
    if (this.#buffer !== undefined) {
      throw new MlsTlsError(
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        'handshake message cut by a key change or another content type',
      );
    }
  }

  /** Takes the content of one handshake record; returns the messages it completes, in order. */
  push(fragment: Uint8Array): HandshakeMessage[] {
    if (fragment.length === 0) {
      throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', 'empty handshake fragment');
    }
    const messages: HandshakeMessage[] = [];
    let at = 0;
    while (at < fragment.length) {
      let complete: Uint8Array | undefined;
      const available = fragment.length - at;
      if (this.#buffer === undefined) {
        const total =
          available >= HANDSHAKE_HEADER_LENGTH ? this.#messageLength(fragment, at) : undefined;
        if (total !== undefined && available >= total) {
          complete = fragment.subarray(at, at + total);
          at += total;
        } else {
          this.#awaitingHeader = total === undefined;
          this.#buffer = new Uint8Array(total ?? HANDSHAKE_HEADER_LENGTH);
          this.#buffer.set(fragment.subarray(at));
          this.#filled = available;
          at = fragment.length;
        }
      } else {
        const take = Math.min(this.#buffer.length - this.#filled, available);
        this.#buffer.set(fragment.subarray(at, at + take), this.#filled);
        this.#filled += take;
        at += take;
        if (this.#filled === this.#buffer.length && this.#awaitingHeader) {
          this.#awaitingHeader = false;
          const total = this.#messageLength(this.#buffer, 0);
          if (total > HANDSHAKE_HEADER_LENGTH) {
            const grown = new Uint8Array(total);
            grown.set(this.#buffer);
            this.#buffer = grown;
          }
        }
        if (this.#filled === this.#buffer.length) {
          complete = this.#buffer;
          this.#buffer = undefined;
        }
      }
      if (complete === undefined) continue;
      const msgType = complete[0]! as HandshakeType;
      messages.push(decodeHandshakeBody(msgType, complete.subarray(HANDSHAKE_HEADER_LENGTH)));
      if (KEY_CHANGING_HANDSHAKE_TYPES.has(msgType) && at < fragment.length) {
        throw new MlsTlsError(
          'ERR_MLSTLS_UNEXPECTED_MESSAGE',
          `data after handshake message ${msgType} in the record that must end with it`,
        );
      }
    }
    return messages;
  }

  /** The whole length (header included) of the message whose header is at `offset`. */
  #messageLength(bytes: Uint8Array, offset: number): number {
    const { msgType, length } = decodeHandshakeHeader(bytes, offset);
    if (length > this.#maxMessageLength) {
      throw new MlsTlsError(
        'ERR_MLSTLS_HANDSHAKE_TOO_LARGE',
        `handshake message ${msgType} of ${length} bytes exceeds ${this.#maxMessageLength}`,
      );
    }
    return HANDSHAKE_HEADER_LENGTH + length;
  }
}
