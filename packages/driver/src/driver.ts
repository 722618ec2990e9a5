import { MlsTlsError } from '@mlstls/codec';
import {
  type EpochCause,
  type HandshakeInfo,
  Initiator,
  type Output,
  type Responder,
} from '@mlstls/state-machine';
import { encodeSessionRecord } from '@mlstls/storage';
import type { DriverTransport, OpenTransport } from './transport.js';

/** Makes the state machine, given the questions it asks about key log lines and persist outputs. */
export type EndpointFactory<T extends Initiator | Responder> = (hooks: {
  readonly keyLog: () => boolean;
  readonly persist: () => boolean;
}) => T;

/** How a connection ended, once. */
export interface ConnectionEnd {
  /** The error that ended it; absent for a clean close, a truncation (unless refused) or `close()`. */
  readonly error?: MlsTlsError;
  /**
   * The transport ended without the peer's close_notify after the handshake (RFC 8446 6.1):
   * what was received may be cut short. With `rejectTruncation` this is an error instead.
   */
  readonly truncated: boolean;
}

/**
 * What the driver tells its binding, in the order of the state machine's outputs. A callback
 * that throws ends the connection with `ERR_MLSTLS_ABORTED` (the thrown value as `cause`).
 */
export interface ConnectionEvents {
  /** The handshake is complete: the peer proved it holds the keys (section 4). */
  secure(info: HandshakeInfo): void;
  /** Application data. Return false when the application holds enough: reading stops until `resumeReading()`. */
  data(chunk: Uint8Array): boolean;
  /** The peer's close_notify: it sends nothing more. */
  peerClosed(): void;
  /** The connection ended; called once, last. Its transport is being released. */
  closed(end: ConnectionEnd): void;
  readonly epoch?: ((epoch: bigint, cause: EpochCause) => void) | undefined;
  readonly keyUpdate?: ((direction: 'send' | 'receive', generation: number) => void) | undefined;
  /** A section 9 key log line, with its newline. */
  readonly keyLog?: ((line: string) => void) | undefined;
  /** The state to resume from, encoded (`encodeSessionRecord`), before the bytes that depend on it. */
  readonly session?: ((session: Uint8Array) => void) | undefined;
  /** Nothing was sent or received for the idle timeout (`setIdleTimeout`). */
  readonly timeout?: (() => void) | undefined;
  /**
   * The session store failed or missed its deadline: the connection goes on unstored and cannot
   * be resumed from its latest state (docs/protocol.md section 6). Once per connection.
   */
  readonly storeError?: ((error: MlsTlsError) => void) | undefined;
}

export interface DriverOptions {
  readonly transport: OpenTransport;
  readonly createEndpoint: EndpointFactory<Initiator | Responder>;
  /**
   * A client's way on when the state machine says a full handshake on a new transport is due
   * (a refused resumption): a new transport and an initiator for a full handshake. Without it
   * such a connection fails with the refusal.
   */
  readonly reconnect?:
    | {
        readonly transport: () => OpenTransport | Promise<OpenTransport>;
        readonly createEndpoint: EndpointFactory<Initiator>;
      }
    | undefined;
  readonly events: ConnectionEvents;
  /** Whether the binding wants key log lines now (asked at each epoch). */
  readonly wantsKeyLog?: () => boolean;
  /** Whether the binding wants `session` events now (asked at each persist point). */
  readonly wantsSession?: () => boolean;
  /**
   * Milliseconds the handshake may take (`ERR_MLSTLS_HANDSHAKE_TIMEOUT`; default 120000, as
   * node:tls servers); 0 waits forever.
   */
  readonly handshakeTimeout?: number | undefined;
  /** Whether a truncation after the handshake is an `ERR_MLSTLS_TRUNCATED` error (default false). */
  readonly rejectTruncation?: boolean;
  /** Aborting it ends the connection with `ERR_MLSTLS_ABORTED` (the reason as `cause`). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The core may hold this many transport chunks not yet processed before reading stops: it
 * bounds what a fast peer can queue while an MLS operation (a commit) runs.
 */
const MAX_RECEIVES_IN_FLIGHT = 2;

/** node:tls's default handshake timeout for servers; the driver's for both ends. */
const DEFAULT_HANDSHAKE_TIMEOUT = 120_000;

/**
 * Answers the peer asked for (key_update replies) that may wait in a full transport before
 * reading stops: a peer that requests key updates and reads nothing gains nothing past this.
 */
const MAX_STUCK_REPLY_BYTES = 16_384;

/**
 * How long a failed connection waits for its last records (the alert) to leave before its
 * transport is cut: a peer that reads nothing cannot hold a failed connection.
 */
export const FLUSH_DEADLINE = 1_000;

/** One transport and the state machine speaking over it; a fallback replaces both. */
interface Link {
  readonly endpoint: Initiator | Responder;
  transport: DriverTransport;
  /** Replaced by a fallback: nothing it reports matters any more. */
  retired: boolean;
}

/** A timer that does not keep a Node process alive; other runtimes have no such notion. */
function backgroundTimer(callback: () => void, ms: number): ReturnType<typeof setTimeout> {
  const timer = setTimeout(callback, ms);
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/**
 * The one connection driver under every binding. It translates between a transport and the
 * sans-IO state machine and holds every rule a binding would otherwise repeat:
 *
 * - the output loop, in the core's order (a persist before the sends behind it);
 * - backpressure: reading stops while the application holds enough, while answers the peer
 *   asked for (key_update replies) pile up in a full transport, or while two chunks wait in
 *   the core; writes resolve once the transport has room;
 * - writes made before the handshake wait for it (a fallback may still replace the endpoint);
 * - the fallback to a full handshake when the core says so (a refused resumption);
 * - the handshake timeout, the idle timeout and the abort signal;
 * - the end: a clean close once both close_notify are through, a truncation reported as the
 *   binding chose, and a failure whose alert gets `FLUSH_DEADLINE` to leave before the
 *   transport is cut, whatever the peer does.
 */
export class ConnectionDriver {
  #link: Link;
  #reconnect: DriverOptions['reconnect'];
  readonly #events: ConnectionEvents;
  readonly #options: DriverOptions;
  #secure = false;
  #settleSecured!: (secure: boolean) => void;
  /** Resolves true at the handshake, false if the connection ends first. */
  readonly #secured: Promise<boolean>;
  #ended = false;
  #endError: MlsTlsError | undefined;
  #epoch = 0n;
  #receivesInFlight = 0;
  #reading = true;
  /** The application said it holds enough: reading waits for `resumeReading()`. */
  #applicationFull = false;
  /** The transport said it holds enough: writes wait for its drain. */
  #transportFull = false;
  /**
   * Reply bytes written since the transport became full. Reading stops past
   * MAX_STUCK_REPLY_BYTES, not merely on a full transport: two ends that both write more than
   * they read would otherwise stop reading each other for good.
   */
  #stuckReplyBytes = 0;
  #drainWaiters: (() => void)[] = [];
  #peerClosed = false;
  #closing: Promise<void> | undefined;
  /** Resolves once the transport's sending side has ended and flushed. */
  #transportEnded: Promise<void> | undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimeout = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** What listens to `options.signal`, to remove at the end. */
  #abortListener: (() => void) | undefined;
  #lastActivity = 0;

  constructor(options: DriverOptions) {
    this.#options = options;
    this.#events = options.events;
    this.#reconnect = options.reconnect;
    this.#secured = new Promise((resolve) => {
      this.#settleSecured = resolve;
    });
    this.#link = this.#open(options.transport, options.createEndpoint);
    this.#start(this.#link);
    const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    if (handshakeTimeout > 0) {
      this.#handshakeTimer = backgroundTimer(() => this.#onHandshakeTimeout(), handshakeTimeout);
    }
    // The listener exists only with a signal: an idle connection holds no closure it needs not.
    const { signal } = options;
    if (signal !== undefined) {
      const onAbort = (): void => this.#onAbort();
      this.#abortListener = onAbort;
      if (signal.aborted) queueMicrotask(onAbort);
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  // ---- what the binding reads ---------------------------------------------------------------

  /** The state machine of the current transport. */
  get endpoint(): Initiator | Responder {
    return this.#link.endpoint;
  }

  /** The epoch both directions have reached (0 before the handshake), still known after the end. */
  get epoch(): bigint {
    return this.#epoch;
  }

  get secure(): boolean {
    return this.#secure;
  }

  get ended(): boolean {
    return this.#ended;
  }

  // ---- what the binding asks ----------------------------------------------------------------

  /**
   * Application data. Before the handshake it waits for it. Resolves once the transport has
   * room again (the backpressure); rejects once the connection has ended.
   */
  async write(data: Uint8Array): Promise<void> {
    const link = await this.#current();
    this.#touch();
    await link.endpoint.write(data);
    this.#drain(link);
    await this.#waitForRoom();
  }

  /**
   * `write()` without a promise where none is needed: once the handshake is complete, with
   * nothing queued in the core and room in the transport, `data` is sealed and handed to the
   * transport before this returns, and the result is `undefined` when the transport still has
   * room. Otherwise the promise `write()` would return. `data` may change once this returns
   * `undefined` (or its promise settles). `transportIdle`: the transport holds none of the bytes
   * written to it so far (a socket whose writes all went to the kernel), so the core may reuse
   * the memory of its earlier records.
   */
  writeNow(data: Uint8Array, transportIdle = false): Promise<void> | undefined {
    const link = this.#link;
    if (!this.#secure || this.#ended || this.#transportFull) return this.write(data);
    if (!link.endpoint.writeNow(data, transportIdle)) return this.write(data);
    this.#touch();
    this.#drain(link);
    if (!this.#transportFull || this.#ended) return undefined;
    return this.#waitForRoom();
  }

  /** Resolves once the transport has room, or the connection has ended. */
  async #waitForRoom(): Promise<void> {
    while (this.#transportFull && !this.#ended) {
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    }
  }

  /**
   * close_notify after what was written, then the transport's half-close; reading goes on
   * until the peer's close_notify. Resolves once both are handed to the transport.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /**
   * Ends the connection now without an error, as `Deno.Conn.close()`: close_notify after what
   * was written if the handshake is complete, then the transport, which gets FLUSH_DEADLINE to
   * flush before it is cut. Nothing the peer sends afterwards is read.
   */
  async closeNow(): Promise<void> {
    if (this.#ended) return;
    if (this.#secure) await this.close();
    this.#finish(undefined, false, 'flush');
  }

  /** A post-compromise-security update; resolves once the peer confirmed it (section 5). */
  async update(): Promise<void> {
    const link = await this.#current();
    const confirmed = link.endpoint.update();
    void link.endpoint.settled().then(() => this.#drain(link));
    await confirmed;
    this.#drain(link);
  }

  /** A TLS KeyUpdate of the sending keys; resolves once it is handed to the transport. */
  async keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    const link = await this.#current();
    await link.endpoint.keyUpdate(options);
    this.#drain(link);
  }

  /** Ends the connection at once: nothing more is sent, the transport is cut, the keys erased. */
  abort(error: MlsTlsError = new MlsTlsError('ERR_MLSTLS_ABORTED', 'aborted')): void {
    this.#finish(error, false, 'cut');
  }

  /** The application has room again after `data` returned false. */
  resumeReading(): void {
    this.#applicationFull = false;
    this.#updateReading();
  }

  /**
   * `timeout` after `ms` without a byte sent or received, as `net.Socket.setTimeout`; again
   * after each later idle period. 0 turns it off.
   */
  setIdleTimeout(ms: number): void {
    this.#idleTimeout = ms;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (ms > 0 && !this.#ended) {
      this.#lastActivity = Date.now();
      this.#idleTimer = backgroundTimer(() => this.#onIdleTimer(), ms);
    }
  }

  // ---- the transport ------------------------------------------------------------------------

  #open(open: OpenTransport, createEndpoint: EndpointFactory<Initiator | Responder>): Link {
    const endpoint = createEndpoint({
      keyLog: () => this.#options.wantsKeyLog?.() ?? false,
      persist: () => this.#options.wantsSession?.() ?? false,
    });
    const link: Link = {
      endpoint,
      transport: undefined as unknown as DriverTransport,
      retired: false,
    };
    link.transport = open({
      data: (chunk) => this.#onData(link, chunk),
      end: () => this.#onTransportEnd(link),
      error: (error) => this.#onTransportError(link, error),
      drain: () => this.#onDrain(link),
    });
    // A new transport starts reading.
    this.#reading = true;
    return link;
  }

  /** Once `link` is the current one: reading as the connection allows, the initiator's first flight. */
  #start(link: Link): void {
    this.#updateReading();
    const { endpoint } = link;
    if (endpoint instanceof Initiator) void endpoint.start().then(() => this.#drain(link));
  }

  #onData(link: Link, chunk: Uint8Array): void {
    if (link.retired || this.#ended) return;
    this.#touch();
    const receiving = link.endpoint.receive(chunk);
    if (link.endpoint.idle) {
      // The core took the whole chunk at once (application data): its outputs are ready.
      this.#drain(link);
      return;
    }
    this.#receivesInFlight++;
    const received = (): void => {
      if (link.retired) return;
      this.#receivesInFlight--;
      this.#drain(link);
    };
    void receiving.then(received, received);
    this.#updateReading();
  }

  #onTransportEnd(link: Link): void {
    if (link.retired || this.#ended) return;
    // Without the peer's close_notify the core reports ERR_MLSTLS_TRUNCATED.
    void link.endpoint.receiveEnd().then(() => this.#drain(link));
  }

  #onTransportError(link: Link, error: unknown): void {
    if (link.retired || this.#ended) return;
    // After the peer's close_notify nothing more was to come from it: a reset then (a relay
    // that closed, a peer gone) loses nothing the application was promised.
    if (this.#peerClosed) {
      this.#finish(undefined, false, 'cut');
      return;
    }
    // The transport's own words (`connect ECONNREFUSED 127.0.0.1:4433`) carry no secret.
    const reason = error instanceof Error ? error.message : undefined;
    this.#finish(
      new MlsTlsError(
        'ERR_MLSTLS_ABORTED',
        reason ? `the transport failed: ${reason}` : 'the transport failed',
        { cause: error },
      ),
      false,
      'cut',
    );
  }

  #onDrain(link: Link): void {
    if (link.retired) return;
    this.#transportFull = false;
    this.#stuckReplyBytes = 0;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
    this.#updateReading();
  }

  #updateReading(): void {
    const reading =
      !this.#ended &&
      !this.#applicationFull &&
      this.#stuckReplyBytes <= MAX_STUCK_REPLY_BYTES &&
      this.#receivesInFlight < MAX_RECEIVES_IN_FLIGHT;
    if (reading === this.#reading) return;
    this.#reading = reading;
    this.#link.transport.setReading(reading);
  }

  // ---- the core's outputs -------------------------------------------------------------------

  /** Acts on every output the core has, in its order. */
  #drain(link: Link): void {
    const { endpoint } = link;
    for (let output = endpoint.poll(); output !== undefined; output = endpoint.poll()) {
      if (link.retired || this.#ended) continue;
      try {
        if (this.#act(link, output) === 'replaced') return;
      } catch (error) {
        this.#finish(
          new MlsTlsError(
            'ERR_MLSTLS_ABORTED',
            `the ${output.type} output could not be delivered`,
            {
              cause: error,
            },
          ),
          false,
          'cut',
        );
      }
    }
    this.#updateReading();
  }

  #act(link: Link, output: Output): 'replaced' | undefined {
    const events = this.#events;
    switch (output.type) {
      case 'send':
        this.#touch();
        if (output.reply === true && this.#transportFull) {
          this.#stuckReplyBytes += output.data.length;
        }
        if (!link.transport.write(output.data)) this.#transportFull = true;
        break;
      case 'persist':
        events.session?.(encodeSessionRecord(output.snapshot.record));
        break;
      case 'data':
        if (!events.data(output.data)) this.#applicationFull = true;
        break;
      case 'handshakeComplete':
        clearTimeout(this.#handshakeTimer);
        this.#handshakeTimer = undefined;
        this.#secure = true;
        this.#reconnect = undefined;
        this.#epoch = output.info.epoch;
        events.secure(output.info);
        this.#settleSecured(true);
        break;
      case 'epochChanged':
        this.#epoch = output.epoch;
        events.epoch?.(output.epoch, output.cause);
        break;
      case 'keyUpdated':
        events.keyUpdate?.(output.direction, output.generation);
        break;
      case 'keyLog':
        events.keyLog?.(`${output.line}\n`);
        break;
      case 'storeError':
        events.storeError?.(output.error);
        break;
      case 'peerClosed':
        this.#peerClosed = true;
        events.peerClosed();
        this.#finishIfClosed();
        break;
      case 'error': {
        const reconnect = this.#reconnect;
        if (output.reconnect && reconnect !== undefined && !this.#secure) {
          void this.#fallBack(link, reconnect);
          return 'replaced';
        }
        const { error } = output;
        // A truncation of an established connection is reported as the binding chose; before
        // the handshake it is a failed handshake like any other.
        const truncated = error.code === 'ERR_MLSTLS_TRUNCATED' && this.#secure;
        const reported = truncated && this.#options.rejectTruncation !== true ? undefined : error;
        // Its alert, if any, is already written: let it leave, within FLUSH_DEADLINE.
        this.#finish(reported, truncated, 'flush');
        break;
      }
    }
    return undefined;
  }

  /**
   * The state machine says a full handshake on a new transport is the way on: the old
   * transport goes, the writes made so far wait for the new handshake.
   */
  async #fallBack(old: Link, reconnect: NonNullable<DriverOptions['reconnect']>): Promise<void> {
    this.#reconnect = undefined;
    old.retired = true;
    old.transport.destroy();
    this.#receivesInFlight = 0;
    this.#transportFull = false;
    this.#stuckReplyBytes = 0;
    let open: OpenTransport;
    try {
      open = await reconnect.transport();
    } catch (error) {
      this.#finish(
        new MlsTlsError('ERR_MLSTLS_ABORTED', 'the new transport of a fallback failed', {
          cause: error,
        }),
        false,
        'cut',
      );
      return;
    }
    if (this.#ended) {
      open({ data() {}, end() {}, error() {}, drain() {} }).destroy();
      return;
    }
    this.#link = this.#open(open, reconnect.createEndpoint);
    this.#start(this.#link);
  }

  // ---- the end ------------------------------------------------------------------------------

  /** The link to act on once the handshake is complete; rejects once the connection has ended. */
  async #current(): Promise<Link> {
    if (!this.#secure && !(await this.#secured)) throw this.#endReason();
    if (this.#ended) throw this.#endReason();
    return this.#link;
  }

  #endReason(): MlsTlsError {
    return (
      this.#endError ??
      (this.#secure
        ? new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'the connection is closed')
        : new MlsTlsError('ERR_MLSTLS_ABORTED', 'closed before the handshake completed'))
    );
  }

  async #close(): Promise<void> {
    if (!(await this.#secured) || this.#ended) return;
    const link = this.#link;
    await link.endpoint.close();
    this.#drain(link);
    if (this.#ended) return;
    const transport = link.transport;
    const ended = transport.end();
    // A transport that fails to flush reports it through `error`.
    this.#transportEnded = ended.catch(() => {});
    this.#finishIfClosed();
  }

  /** Both close_notify are through: a clean end. */
  #finishIfClosed(): void {
    if (this.#peerClosed && this.#transportEnded !== undefined) {
      this.#finish(undefined, false, 'graceful');
    }
  }

  /**
   * The end, once: the core is aborted (it erases every key) and what it says afterwards is
   * dropped; the transport is released as `release` says; the binding hears `closed`.
   *
   * - `graceful`: the sending side is ended already; cut once it has flushed.
   * - `flush`: end the sending side (the alert leaves), cut within FLUSH_DEADLINE.
   * - `cut`: at once.
   */
  #finish(
    error: MlsTlsError | undefined,
    truncated: boolean,
    release: 'graceful' | 'flush' | 'cut',
  ): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endError = error;
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#idleTimer);
    this.#handshakeTimer = undefined;
    this.#idleTimer = undefined;
    if (this.#abortListener !== undefined) {
      this.#options.signal?.removeEventListener('abort', this.#abortListener);
      this.#abortListener = undefined;
    }
    const link = this.#link;
    link.endpoint.abort(error ?? new MlsTlsError('ERR_MLSTLS_ABORTED', 'closed'));
    while (link.endpoint.poll() !== undefined) {
      // Nothing the core says after the end reaches the transport or the application.
    }
    this.#settleSecured(false);
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
    const { transport } = link;
    if (release === 'cut') {
      transport.destroy();
    } else {
      const flushed = this.#transportEnded ?? transport.end();
      const deadline =
        release === 'flush'
          ? backgroundTimer(() => transport.destroy(), FLUSH_DEADLINE)
          : undefined;
      void flushed.then(
        () => {
          clearTimeout(deadline);
          transport.destroy();
        },
        () => transport.destroy(),
      );
    }
    this.#events.closed(error === undefined ? { truncated } : { error, truncated });
  }

  // ---- timers -------------------------------------------------------------------------------

  #touch(): void {
    if (this.#idleTimeout === 0) return;
    this.#lastActivity = Date.now();
    if (this.#idleTimer === undefined && !this.#ended) {
      this.#idleTimer = backgroundTimer(() => this.#onIdleTimer(), this.#idleTimeout);
    }
  }

  #onIdleTimer(): void {
    this.#idleTimer = undefined;
    if (this.#ended || this.#idleTimeout === 0) return;
    const idle = Date.now() - this.#lastActivity;
    if (idle < this.#idleTimeout) {
      this.#idleTimer = backgroundTimer(() => this.#onIdleTimer(), this.#idleTimeout - idle);
      return;
    }
    // Fires once per idle period: the next activity arms it again.
    this.#events.timeout?.();
  }

  #onHandshakeTimeout(): void {
    if (this.#secure) return;
    this.#finish(
      new MlsTlsError(
        'ERR_MLSTLS_HANDSHAKE_TIMEOUT',
        'the handshake did not complete within handshakeTimeout',
      ),
      false,
      'cut',
    );
  }

  #onAbort(): void {
    this.#finish(
      new MlsTlsError('ERR_MLSTLS_ABORTED', 'aborted by the signal', {
        cause: this.#options.signal?.reason,
      }),
      false,
      'cut',
    );
  }
}
