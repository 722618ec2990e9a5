import type { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { MlsTlsError } from '@mlstls/codec';
import {
  ConnectionDriver,
  type ConnectionEnd,
  duplexTransport,
  type EndpointFactory,
} from '@mlstls/driver';
import type { Initiator, PeerCredential, Responder } from '@mlstls/state-machine';
import type { PeerCertificate } from '@mlstls/x509';
import { appendKeyLogLine } from './key-log-file.js';

/** What `getCipher()` reports, shaped like node:tls's. */
export interface CipherInfo {
  /** The MLS ciphersuite, such as `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`. */
  readonly name: string;
  /** The TLS 1.3 suite with the same AEAD and hash, such as `TLS_AES_128_GCM_SHA256`. */
  readonly standardName: string;
  readonly version: 'TLSv1.3';
}

/** How `connect()` and the server make a socket; not for applications. */
export interface SocketSetup {
  /** The connected transport, usually a `net.Socket`. */
  readonly transport: Duplex;
  readonly createEndpoint: EndpointFactory<Initiator | Responder>;
  /**
   * A client's way on when the server refuses its resumption (section 6): a new transport and
   * a state machine for a full handshake. Absent with `fallback: false`.
   */
  readonly fallback?:
    | { readonly transport: () => Duplex; readonly createEndpoint: EndpointFactory<Initiator> }
    | undefined;
  readonly handshakeTimeout: number | undefined;
  readonly allowHalfOpen: boolean;
  /** A truncation after the handshake is an `ERR_MLSTLS_TRUNCATED` error (default: `'end'` only). */
  readonly rejectTruncation?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
  /** The file `MLSTLS_KEYLOGFILE` names, if set. */
  readonly keyLogFile?: string | undefined;
  /** Another emitter that gets `'keylog'` (line, socket): the server, as in node:tls. */
  readonly keyLogAlso?: EventEmitter | undefined;
  /** Another emitter that gets `'storeError'` (error, socket): the server. */
  readonly storeErrorAlso?: EventEmitter | undefined;
  /** Called once the handshake is complete, before any data is delivered. */
  readonly onSecure: (socket: MlsTlsSocket) => void;
  /** Called once, synchronously, when the socket is destroyed (before its 'close'). */
  readonly onDestroy?: (() => void) | undefined;
}

/**
 * An mlstls connection as a `stream.Duplex`, shaped like node:tls's `TLSSocket`. It adapts a
 * Node stream to the binding driver (`@mlstls/driver`), which holds every rule: bytes in go to
 * the state machine, writes to its `write()`, and its outputs come back as events.
 *
 * Events besides the stream's: `'secureConnect'` (client), `'epoch'` (epoch, cause),
 * `'keyUpdate'` (direction, generation), `'keylog'` (line), `'session'` (bytes), `'timeout'`,
 * `'storeError'` (an `MlsTlsError`: the session store failed, the connection goes on unstored),
 * `'error'` (an `MlsTlsError`).
 */
export class MlsTlsSocket extends Duplex {
  readonly encrypted = true;
  /** Whether the peer's credential was verified (false with `rejectUnauthorized: false`). */
  authorized = false;
  /** Why the peer was not authorized, when `rejectUnauthorized: false` let it through. */
  authorizationError: MlsTlsError | undefined;
  /**
   * The protocol ALPN agreed: `null` before the handshake, `false` when none was (node:tls's
   * values).
   */
  alpnProtocol: string | false | null = null;
  /**
   * The name of mlstls_server_name: the one sent (client) or asked for (server), `false` when
   * there was none or the connection resumed, `null` before the handshake.
   */
  servername: string | false | null = null;
  /**
   * True when the transport ended without the peer's close_notify after the handshake: the
   * readable side ended (`'end'`, no `'error'`, as node:tls), but what was read may be cut
   * short. `rejectTruncation: true` makes it an `ERR_MLSTLS_TRUNCATED` error instead.
   */
  truncated = false;
  /**
   * The session store's failure, when it failed or missed its deadline during this connection
   * (also emitted as `'storeError'`): the connection goes on, but cannot be resumed from its
   * latest state; the next connection makes a full handshake. `undefined` while all is well.
   */
  storeError: MlsTlsError | undefined;

  readonly #driver: ConnectionDriver;
  #transport: Duplex;
  readonly #onSecure: (socket: MlsTlsSocket) => void;
  readonly #onDestroy: (() => void) | undefined;
  readonly #keyLogFile: string | undefined;
  readonly #keyLogAlso: EventEmitter | undefined;
  readonly #storeErrorAlso: EventEmitter | undefined;
  #readableEnded = false;

  /** @internal Made by `connect` and `createServer`. */
  constructor(setup: SocketSetup) {
    super({ allowHalfOpen: setup.allowHalfOpen });
    this.#keyLogFile = setup.keyLogFile;
    this.#keyLogAlso = setup.keyLogAlso;
    this.#storeErrorAlso = setup.storeErrorAlso;
    this.#onSecure = setup.onSecure;
    this.#onDestroy = setup.onDestroy;
    this.#transport = setup.transport;
    const { fallback } = setup;
    this.#driver = new ConnectionDriver({
      transport: duplexTransport(setup.transport),
      createEndpoint: setup.createEndpoint,
      reconnect:
        fallback === undefined
          ? undefined
          : {
              transport: () => {
                this.#transport = fallback.transport();
                return duplexTransport(this.#transport);
              },
              createEndpoint: fallback.createEndpoint,
            },
      events: {
        secure: (info) => {
          this.authorized = info.authorized;
          this.authorizationError = info.authorizationError;
          this.alpnProtocol = info.alpnProtocol ?? false;
          this.servername = info.serverName ?? false;
          this.#onSecure(this);
        },
        data: (chunk) => this.push(chunk),
        peerClosed: () => this.#endReadable(),
        closed: (end) => this.#closed(end),
        epoch: (epoch, cause) => this.emit('epoch', epoch, cause),
        keyUpdate: (direction, generation) => this.emit('keyUpdate', direction, generation),
        keyLog: (line) => this.#logKey(line),
        session: (session) => this.emit('session', Buffer.from(session)),
        timeout: () => this.emit('timeout'),
        storeError: (error) => {
          this.storeError = error;
          this.emit('storeError', error);
          this.#storeErrorAlso?.emit('storeError', error, this);
        },
      },
      wantsKeyLog: () =>
        this.#keyLogFile !== undefined ||
        this.listenerCount('keylog') > 0 ||
        (this.#keyLogAlso?.listenerCount('keylog') ?? 0) > 0,
      wantsSession: () => this.listenerCount('session') > 0,
      handshakeTimeout: setup.handshakeTimeout,
      rejectTruncation: setup.rejectTruncation === true,
      signal: setup.signal,
    });
  }

  // ---- the node:tls-shaped surface ------------------------------------------------------

  /** The epoch both directions have reached (0 before the handshake), still known after close. */
  get epoch(): bigint {
    return this.#driver.epoch;
  }

  /**
   * A post-compromise-security update (section 5). Resolves when the peer's epoch_key_update
   * confirms a commit made after the call, with `epoch` and the `'epoch'` event current.
   */
  update(): Promise<void> {
    return this.#driver.update();
  }

  /** A TLS KeyUpdate of the sending direction; resolves once it is handed to the transport. */
  keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    return this.#driver.keyUpdate(options);
  }

  /**
   * As `net.Socket.setTimeout`: `'timeout'` after `ms` without a byte sent or received (the
   * socket stays open: end or destroy it there). 0 turns it off; `callback` becomes a
   * `'timeout'` listener (removed with 0).
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.#driver.setIdleTimeout(ms);
    if (callback !== undefined) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    return this;
  }

  /** Whether the connection resumed a stored session instead of a full handshake (node:tls's). */
  isSessionReused(): boolean {
    return this.#handshake?.resumed === true;
  }

  /** The peer's credential and signature key, once the handshake is complete. */
  getPeerCredential(): PeerCredential | undefined {
    return this.#handshake?.peer;
  }

  /**
   * The peer's leaf certificate as node:tls describes it (`subject`, `issuer`,
   * `subjectaltname`, `valid_from`, `fingerprint256`, `raw`, ...); with `detailed`, its
   * `issuerCertificate` chain up to the trust anchor. `{}` when the peer presented no X.509
   * credential, `null` before the handshake, as node:tls.
   */
  getPeerCertificate(detailed = false): PeerCertificate | Record<string, never> | null {
    const handshake = this.#handshake;
    if (handshake === undefined) return null;
    const certificate = handshake.peerCertificate;
    if (certificate === undefined) return {};
    if (detailed) return certificate;
    const { issuerCertificate: _chain, ...leaf } = certificate;
    return leaf;
  }

  /** The suite in use, once the handshake is complete. */
  getCipher(): CipherInfo | undefined {
    const suite = this.#handshake === undefined ? undefined : this.#driver.endpoint.suite;
    if (suite === undefined) return undefined;
    return { name: suite.name, standardName: suite.tlsName, version: 'TLSv1.3' };
  }

  /** RFC 8446 7.5 keying material of the current epoch, as node:tls's. */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Buffer {
    const material = this.#driver.endpoint.exportKeyingMaterial(length, label, context);
    return Buffer.from(material.buffer, material.byteOffset, material.byteLength);
  }

  get remoteAddress(): string | undefined {
    return (this.#transport as Partial<Socket>).remoteAddress;
  }

  get remotePort(): number | undefined {
    return (this.#transport as Partial<Socket>).remotePort;
  }

  get #handshake() {
    return this.#driver.secure ? this.#driver.endpoint.handshake : undefined;
  }

  // ---- stream.Duplex -------------------------------------------------------------------

  override _read(): void {
    this.#driver.resumeReading();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.#write(chunk, callback);
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    // One write of the whole batch fills records instead of sealing each small chunk alone.
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    this.#write(data, callback);
  }

  /** Hands `data` to the driver; `callback` once the transport has room (at once if it has). */
  #write(data: Uint8Array, callback: (error?: Error | null) => void): void {
    const room = this.#driver.writeNow(data, this.#transportIdle());
    if (room === undefined) callback();
    else room.then(() => callback(), callback);
  }

  /**
   * Whether the transport holds none of the bytes written to it: a TCP or IPC socket whose
   * every write has reached the kernel (`writableLength` 0) keeps no reference to them, so the
   * state machine may seal the next records into the same memory. Any other stream (a pair of
   * in-memory streams passes the very buffers on) is never idle.
   */
  #transportIdle(): boolean {
    const transport = this.#transport;
    return transport instanceof Socket && !transport.connecting && transport.writableLength === 0;
  }

  /** close_notify, then the transport's own end (a TCP half-close); reading goes on. */
  override _final(callback: (error?: Error | null) => void): void {
    this.#driver.close().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#onDestroy?.();
    // Erases every key and cuts the transport. Once the driver has ended there is nothing to
    // do (and no error worth its stack trace to make).
    if (!this.#driver.ended) {
      this.#driver.abort(
        error instanceof MlsTlsError
          ? error
          : error === null
            ? new MlsTlsError('ERR_MLSTLS_ABORTED', 'destroyed')
            : new MlsTlsError('ERR_MLSTLS_ABORTED', 'destroyed', { cause: error }),
      );
    }
    callback(error);
  }

  // ---- from the driver -----------------------------------------------------------------

  #endReadable(): void {
    if (this.#readableEnded) return;
    this.#readableEnded = true;
    this.push(null);
  }

  /**
   * The connection ended. An error destroys the socket with it. A clean close or a truncation
   * ends the readable side; the socket closes once that is read, as a `net.Socket` would.
   */
  #closed({ error, truncated }: ConnectionEnd): void {
    this.truncated = truncated;
    if (error !== undefined) {
      this.destroy(error);
      return;
    }
    this.#endReadable();
    // Nothing can be written any more. Once the application has read the end, a writable side
    // still open (allowHalfOpen) is closed; an ended one finishes and closes by itself.
    const settle = (): void => {
      if (!this.writableEnded) this.destroy();
    };
    if (this.readableEnded) settle();
    else this.once('end', settle);
  }

  #logKey(text: string): void {
    const line = Buffer.from(text, 'latin1');
    if (this.#keyLogFile !== undefined) appendKeyLogLine(this.#keyLogFile, line);
    this.emit('keylog', line);
    this.#keyLogAlso?.emit('keylog', line, this);
  }
}
