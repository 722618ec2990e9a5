import type { MlsTlsError } from '@mlstls/codec';
import type { HandshakeInfo, MlsTlsStream } from '@mlstls/streams';
import type { DenoConn, NetAddr } from './deno-types.js';

/** What `handshake()` resolves with: `Deno.TlsHandshakeInfo`'s `alpnProtocol`, and mlstls's. */
export interface MlsTlsHandshakeInfo extends Omit<HandshakeInfo, 'alpnProtocol'> {
  /** The protocol ALPN agreed, or `null` (as Deno). */
  readonly alpnProtocol: string | null;
}

/**
 * An mlstls connection shaped like `Deno.TlsConn`: `readable` and `writable`, `handshake()`,
 * `close()`, `localAddr` and `remoteAddr`; and mlstls's own `update()`, `keyUpdate()`, `epoch`,
 * `exportKeyingMaterial()`. Closing `writable` sends close_notify, then a TCP half-close;
 * `readable` ends at the peer's close_notify and errors with an `MlsTlsError` otherwise.
 */
export class MlsTlsConn {
  readonly #stream: MlsTlsStream;
  readonly #conn: () => DenoConn;

  /**
   * @internal Made by `connect` and `listen`.
   * @param conn the current TCP connection (a refused resumption moves to a new one)
   */
  constructor(stream: MlsTlsStream, conn: () => DenoConn) {
    this.#stream = stream;
    this.#conn = conn;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#stream.readable;
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#stream.writable;
  }

  get localAddr(): NetAddr {
    return this.#conn().localAddr;
  }

  get remoteAddr(): NetAddr {
    return this.#conn().remoteAddr;
  }

  /** The MLS epoch both directions have reached (0 before the handshake). */
  get epoch(): bigint {
    return this.#stream.epoch;
  }

  /**
   * Whether the transport ended without the peer's close_notify after the handshake, with
   * `rejectTruncation: false` (by default that is an `ERR_MLSTLS_TRUNCATED` error, as Deno's
   * TLS reports an unexpected end).
   */
  get truncated(): boolean {
    return this.#stream.truncated;
  }

  /**
   * The session store's failure, when it failed or missed its deadline during this connection
   * (`onStoreError` is called with it too): the connection goes on, but the next one makes a
   * full handshake. `undefined` while all is well.
   */
  get storeError(): MlsTlsError | undefined {
    return this.#stream.storeError;
  }

  /**
   * Resolves once both sides have sent close_notify or `close()` ran; rejects with the
   * `MlsTlsError` that ended the connection otherwise.
   */
  get closed(): Promise<void> {
    return this.#stream.closed;
  }

  /**
   * Waits for the handshake, as `Deno.TlsConn.handshake()`; rejects with its `MlsTlsError`
   * (`code`, `alert`).
   */
  async handshake(): Promise<MlsTlsHandshakeInfo> {
    const info = await this.#stream.handshake;
    return { ...info, alpnProtocol: info.alpnProtocol ?? null };
  }

  /** A post-compromise-security update; resolves when the peer has confirmed it. */
  update(): Promise<void> {
    return this.#stream.update();
  }

  /** A TLS KeyUpdate of the sending keys, asking the peer for one too with `requestPeer`. */
  keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    return this.#stream.keyUpdate(options);
  }

  /** RFC 8446 7.5 keying material of the current epoch. */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    return this.#stream.exportKeyingMaterial(length, label, context);
  }

  /**
   * Closes at once, as `Deno.Conn.close()`: close_notify if the handshake is complete, then
   * the TCP connection; the keys are erased. `closed` settles when it is done.
   */
  close(): void {
    void this.#stream.close();
  }

  /** Ends at once without close_notify; the keys are erased. */
  abort(reason?: unknown): void {
    this.#stream.abort(reason);
  }
}
