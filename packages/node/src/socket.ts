import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { MlsTlsError } from '@mlstls/codec';
import { Initiator, type PeerCredential, type Responder } from '@mlstls/state-machine';
import { encodeSessionRecord } from '@mlstls/storage';
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

/** Makes the state machine, given the questions it asks about key logging and persist outputs. */
export type EndpointFactory<T extends Initiator | Responder> = (hooks: {
  readonly keyLog: () => boolean;
  readonly persist: () => boolean;
}) => T;

/** How `connect()` and the server make a socket; not for applications. */
export interface SocketSetup {
  /** The connected transport, usually a `net.Socket`. */
  readonly transport: Duplex;
  readonly createEndpoint: EndpointFactory<Initiator | Responder>;
  /**
   * A client's way on when the server refuses its resumption (PROFILE.md section 6): a new
   * transport and a state machine for a full handshake. Absent with `fallback: false`.
   */
  readonly fallback?:
    | (() => { transport: Duplex; createEndpoint: EndpointFactory<Initiator> })
    | undefined;
  readonly handshakeTimeout: number;
  readonly allowHalfOpen: boolean;
  readonly signal?: AbortSignal | undefined;
  /** The file `MLSTLS_KEYLOGFILE` names, if set. */
  readonly keyLogFile?: string | undefined;
  /** Another emitter that gets `'keylog'` (line, socket): the server, as in node:tls. */
  readonly keyLogAlso?: EventEmitter | undefined;
  /** Called once the handshake is complete, before any data is delivered. */
  readonly onSecure: (socket: MlsTlsSocket) => void;
  /** Called once, synchronously, when the socket is destroyed (before its 'close'). */
  readonly onDestroy?: (() => void) | undefined;
}

/**
 * The core may hold this many transport chunks not yet processed before the transport is
 * paused: it bounds what a fast peer can queue while an MLS operation (a commit) runs.
 */
const MAX_RECEIVES_IN_FLIGHT = 2;

/**
 * An mlstls connection as a `stream.Duplex`, shaped like node:tls's `TLSSocket`. It translates
 * between a transport and the sans-IO state machine and holds no protocol rule of its own:
 * bytes in go to `receive()`, writes to `write()`, and the outputs are acted on in order.
 *
 * Events besides the stream's: `'secureConnect'` (client), `'epoch'` (epoch, cause),
 * `'keyUpdate'` (direction, generation), `'keylog'` (line), `'error'` (an `MlsTlsError`, or the
 * transport's own error).
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

  #endpoint: Initiator | Responder;
  #transport: Duplex;
  #fallback: SocketSetup['fallback'];
  /** Writes made before the handshake completes: a fallback hands them to its new endpoint. */
  #held: { data: Uint8Array; callback: (error?: Error | null) => void }[] = [];
  readonly #onSecure: (socket: MlsTlsSocket) => void;
  readonly #onDestroy: (() => void) | undefined;
  readonly #keyLogFile: string | undefined;
  readonly #keyLogAlso: EventEmitter | undefined;
  readonly #signal: AbortSignal | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #secure = false;
  /** The last epoch entered; kept after close, when the core has erased its keys. */
  #epoch = 0n;
  #receivesInFlight = 0;
  /** `push()` said the reader is full: the transport stays paused until `_read()`. */
  #readBlocked = false;
  /** The transport's `write()` said it is full: write callbacks wait for its `'drain'`. */
  #transportBlocked = false;
  #writeCallback: ((error?: Error | null) => void) | undefined;
  #finalCallback: ((error?: Error | null) => void) | undefined;
  /** The core's `close()` has run, so its close_notify is queued once keys exist. */
  #closeRan = false;
  #transportEnded = false;
  /** A fatal error's alert is in the transport's buffer: end it gently instead of cutting it. */
  #flushBeforeDestroy = false;

  constructor(setup: SocketSetup) {
    super({ allowHalfOpen: setup.allowHalfOpen });
    this.#keyLogFile = setup.keyLogFile;
    this.#keyLogAlso = setup.keyLogAlso;
    this.#onSecure = setup.onSecure;
    this.#onDestroy = setup.onDestroy;
    this.#fallback = setup.fallback;
    this.#endpoint = setup.createEndpoint(this.#hooks);
    this.#transport = setup.transport;
    this.#attach(setup.transport);
    if (setup.handshakeTimeout > 0) {
      this.#handshakeTimer = setTimeout(this.#onHandshakeTimeout, setup.handshakeTimeout);
      this.#handshakeTimer.unref();
    }
    this.#signal = setup.signal;
    if (setup.signal?.aborted) process.nextTick(this.#onAbort);
    else setup.signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (this.#endpoint instanceof Initiator) void this.#endpoint.start().then(this.#drain);
  }

  #hooks = {
    keyLog: (): boolean =>
      this.#keyLogFile !== undefined ||
      this.listenerCount('keylog') > 0 ||
      (this.#keyLogAlso?.listenerCount('keylog') ?? 0) > 0,
    persist: (): boolean => this.listenerCount('session') > 0,
  };

  /** What the socket listens to on its transport, for `#attach` and a fallback's detach. */
  #transportListeners() {
    return [
      ['data', this.#onTransportData],
      ['end', this.#onTransportEnd],
      ['close', this.#onTransportClose],
      ['error', this.#onTransportError],
      ['drain', this.#onTransportDrain],
    ] as const;
  }

  #attach(transport: Duplex): void {
    for (const [event, listener] of this.#transportListeners()) transport.on(event, listener);
  }

  /**
   * The server refused the resumption: the stored session is gone, and a full handshake on a
   * new transport takes over, with the writes made so far (PROFILE.md section 6).
   */
  #fallBack(make: NonNullable<SocketSetup['fallback']>): void {
    this.#fallback = undefined;
    const old = this.#transport;
    for (const [event, listener] of this.#transportListeners()) old.off(event, listener);
    old.on('error', () => {}); // its end is of no interest any more
    old.destroy();
    const next = make();
    this.#receivesInFlight = 0;
    this.#transportBlocked = false;
    this.#transportEnded = false;
    this.#transport = next.transport;
    const endpoint = next.createEndpoint(this.#hooks);
    this.#endpoint = endpoint;
    this.#attach(next.transport);
    void endpoint.start().then(this.#drain);
    if (this.#finalCallback !== undefined) {
      void endpoint.close().then(() => {
        this.#closeRan = true;
        this.#drain();
      });
    }
  }

  // ---- the node:tls-shaped surface ------------------------------------------------------

  /** The epoch both directions have reached (0 before the handshake), still known after close. */
  get epoch(): bigint {
    return this.#epoch;
  }

  /**
   * A post-compromise-security update (PROFILE.md section 5). Resolves when the peer's
   * epoch_key_update confirms a commit made after the call.
   */
  update(): Promise<void> {
    const confirmed = this.#endpoint.update();
    void this.#endpoint.settled().then(this.#drain);
    // The confirmation resolves inside the core's receive; act on the epoch change it has
    // already queued, so that `epoch` and the 'epoch' event are current when this resolves.
    return confirmed.then(this.#drain);
  }

  /** A TLS KeyUpdate of the sending direction; resolves once it is handed to the transport. */
  keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    return this.#endpoint.keyUpdate(options).then(this.#drain);
  }

  /** Whether the connection resumed a stored session instead of a full handshake (node:tls's). */
  isSessionReused(): boolean {
    return this.#endpoint.handshake?.resumed === true;
  }

  /** The peer's credential and signature key, once the handshake is complete. */
  getPeerCredential(): PeerCredential | undefined {
    return this.#endpoint.handshake?.peer;
  }

  /**
   * The peer's leaf certificate as node:tls describes it (`subject`, `issuer`,
   * `subjectaltname`, `valid_from`, `fingerprint256`, `raw`, ...); with `detailed`, its
   * `issuerCertificate` chain up to the trust anchor. `{}` when the peer presented no X.509
   * credential, `null` before the handshake, as node:tls.
   */
  getPeerCertificate(detailed = false): PeerCertificate | Record<string, never> | null {
    const handshake = this.#endpoint.handshake;
    if (handshake === undefined) return null;
    const certificate = handshake.peerCertificate;
    if (certificate === undefined) return {};
    if (detailed) return certificate;
    const { issuerCertificate: _chain, ...leaf } = certificate;
    return leaf;
  }

  /** The suite in use, once the handshake is complete. */
  getCipher(): CipherInfo | undefined {
    const suite = this.#endpoint.handshake === undefined ? undefined : this.#endpoint.suite;
    if (suite === undefined) return undefined;
    return { name: suite.name, standardName: suite.tlsName, version: 'TLSv1.3' };
  }

  /** RFC 8446 7.5 keying material of the current epoch, as node:tls's. */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Buffer {
    const material = this.#endpoint.exportKeyingMaterial(length, label, context);
    return Buffer.from(material.buffer, material.byteOffset, material.byteLength);
  }

  get remoteAddress(): string | undefined {
    return (this.#transport as Partial<Socket>).remoteAddress;
  }

  get remotePort(): number | undefined {
    return (this.#transport as Partial<Socket>).remotePort;
  }

  // ---- stream.Duplex -------------------------------------------------------------------

  override _read(): void {
    this.#readBlocked = false;
    this.#updateTransportFlow();
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

  /** close_notify, then the transport's own end (a TCP half-close); reading goes on. */
  override _final(callback: (error?: Error | null) => void): void {
    this.#finalCallback = callback;
    void this.#endpoint.close().then(() => {
      this.#closeRan = true;
      this.#drain();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#onDestroy?.();
    clearTimeout(this.#handshakeTimer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    // Erases every key; a no-op when the core has already failed.
    this.#endpoint.abort(
      error instanceof MlsTlsError
        ? error
        : error === null
          ? new MlsTlsError('ERR_MLSTLS_ABORTED', 'destroyed')
          : new MlsTlsError('ERR_MLSTLS_ABORTED', 'the transport failed', { cause: error }),
    );
    while (this.#endpoint.poll() !== undefined) {
      // Nothing the core says after destroy() reaches the transport or the application.
    }
    const held = this.#held;
    this.#held = [];
    for (const write of held)
      write.callback(error ?? new MlsTlsError('ERR_MLSTLS_ABORTED', 'destroyed'));
    const transport = this.#transport;
    if (this.#flushBeforeDestroy && transport.writable) transport.end(() => transport.destroy());
    else transport.destroy();
    callback(error);
  }

  // ---- from the transport and the core -------------------------------------------------

  /**
   * The write callback waits while the transport is full: that is the backpressure. Before the
   * handshake completes, writes wait here (a fallback may still replace the endpoint).
   */
  #write(data: Uint8Array, callback: (error?: Error | null) => void): void {
    if (!this.#secure) {
      this.#held.push({ data, callback });
      return;
    }
    this.#endpoint.write(data).then(() => {
      this.#drain();
      if (this.#transportBlocked) this.#writeCallback = callback;
      else callback();
    }, callback);
  }

  #onTransportData = (chunk: Buffer): void => {
    const endpoint = this.#endpoint;
    this.#receivesInFlight++;
    void endpoint.receive(chunk).then(() => {
      if (endpoint !== this.#endpoint) return; // replaced by a fallback meanwhile
      this.#receivesInFlight--;
      this.#drain();
    });
    this.#updateTransportFlow();
  };

  #onTransportEnd = (): void => {
    this.#transportEnded = true;
    // Without the peer's close_notify the core reports ERR_MLSTLS_TRUNCATED.
    void this.#endpoint.receiveEnd().then(this.#drain);
  };

  #onTransportClose = (): void => {
    if (!this.#transportEnded) this.#onTransportEnd();
  };

  #onTransportError = (error: Error): void => {
    this.destroy(error);
  };

  #onTransportDrain = (): void => {
    this.#transportBlocked = false;
    const callback = this.#writeCallback;
    this.#writeCallback = undefined;
    callback?.();
  };

  #onHandshakeTimeout = (): void => {
    if (this.#secure) return;
    this.destroy(
      new MlsTlsError(
        'ERR_MLSTLS_HANDSHAKE_TIMEOUT',
        'the handshake did not complete within handshakeTimeout',
      ),
    );
  };

  #onAbort = (): void => {
    this.destroy(
      new MlsTlsError('ERR_MLSTLS_ABORTED', 'aborted by the signal', {
        cause: this.#signal?.reason,
      }),
    );
  };

  /** Acts on every output the core has, in its order. */
  #drain = (): void => {
    const endpoint = this.#endpoint;
    for (let output = endpoint.poll(); output !== undefined; output = endpoint.poll()) {
      if (this.destroyed) continue;
      switch (output.type) {
        case 'send':
          if (!this.#transport.write(output.data)) this.#transportBlocked = true;
          break;
        case 'persist':
          // The store (if any) has the state already; an application that keeps its own
          // session gets it here, before the sends behind it (PROFILE.md section 5).
          this.emit('session', Buffer.from(encodeSessionRecord(output.snapshot.record)));
          break;
        case 'data':
          if (!this.push(output.data)) this.#readBlocked = true;
          break;
        case 'handshakeComplete':
          clearTimeout(this.#handshakeTimer);
          this.#secure = true;
          this.authorized = output.info.authorized;
          this.authorizationError = output.info.authorizationError;
          this.alpnProtocol = output.info.alpnProtocol ?? false;
          this.servername = output.info.serverName ?? false;
          // The 'epoch' event follows; the listeners of 'secureConnect' already see the epoch.
          this.#epoch = output.info.epoch;
          this.#onSecure(this);
          this.#releaseHeldWrites();
          break;
        case 'epochChanged':
          this.#epoch = output.epoch;
          this.emit('epoch', output.epoch, output.cause);
          break;
        case 'keyUpdated':
          this.emit('keyUpdate', output.direction, output.generation);
          break;
        case 'keyLog':
          this.#logKey(output.line);
          break;
        case 'peerClosed':
          this.push(null);
          break;
        case 'error':
          if (
            this.#fallback !== undefined &&
            endpoint instanceof Initiator &&
            !this.#secure &&
            (endpoint.resumptionRefused || output.error.code === 'ERR_MLSTLS_SESSION_SUPERSEDED')
          ) {
            this.#fallBack(this.#fallback);
            return;
          }
          // Its alert is already written above; let the transport flush it.
          this.#flushBeforeDestroy = true;
          this.destroy(output.error);
          break;
      }
    }
    if (this.destroyed) return;
    this.#updateTransportFlow();
    this.#endTransportAfterCloseNotify();
  };

  #releaseHeldWrites(): void {
    const held = this.#held;
    this.#held = [];
    for (const { data, callback } of held) this.#write(data, callback);
  }

  #logKey(text: string): void {
    const line = Buffer.from(`${text}\n`, 'latin1');
    if (this.#keyLogFile !== undefined) appendKeyLogLine(this.#keyLogFile, line);
    this.emit('keylog', line);
    this.#keyLogAlso?.emit('keylog', line, this);
  }

  #updateTransportFlow(): void {
    const transport = this.#transport;
    if (this.destroyed) return;
    const flowing = !this.#readBlocked && this.#receivesInFlight < MAX_RECEIVES_IN_FLIGHT;
    if (flowing === transport.isPaused()) {
      if (flowing) transport.resume();
      else transport.pause();
    }
  }

  /** Ends the transport once close_notify has gone out (it waits for the handshake's keys). */
  #endTransportAfterCloseNotify(): void {
    const callback = this.#finalCallback;
    if (callback === undefined || !this.#closeRan || !this.#secure) return;
    this.#finalCallback = undefined;
    this.#transport.end(callback);
  }
}
