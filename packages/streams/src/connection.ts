import { MlsTlsError } from '@mlstls/codec';
import { type HandshakeInfo, Initiator, type Responder } from '@mlstls/state-machine';
import { encodeSessionRecord } from '@mlstls/storage';
import type { ConnectionCallbacks, StreamTransport } from './options.js';

/** Makes the state machine, given the questions it asks about key logging and persist outputs. */
export type EndpointFactory<T extends Initiator | Responder> = (hooks: {
  readonly keyLog: () => boolean;
  readonly persist: () => boolean;
}) => T;

/** How `secureClient()` and `secureServer()` make a connection; not for applications. */
export interface ConnectionSetup {
  readonly transport: StreamTransport;
  readonly createEndpoint: EndpointFactory<Initiator | Responder>;
  /** A client's way on when the server refuses its resumption (PROFILE.md section 6). */
  readonly fallback?:
    | {
        readonly reconnect: () => Promise<StreamTransport>;
        readonly createEndpoint: EndpointFactory<Initiator>;
      }
    | undefined;
  readonly callbacks: ConnectionCallbacks;
  readonly handshakeTimeout: number;
  readonly signal?: AbortSignal | undefined;
  /** Called once when the connection ends, cleanly or not. */
  readonly onEnd?: (() => void) | undefined;
}

/**
 * The core may hold this many transport chunks not yet processed before reading pauses: it
 * bounds what a fast peer can queue while an MLS operation (a commit) runs.
 */
const MAX_RECEIVES_IN_FLIGHT = 2;

/** Bytes of application data the readable buffers before the transport is no longer read. */
const READABLE_HIGH_WATER_MARK = 65_536;

/**
 * How long a failed or closed connection waits for its last records (an alert, close_notify)
 * to reach the transport before cutting it: a peer that reads nothing cannot hold it open.
 */
const FLUSH_TIMEOUT = 5_000;

/** One transport and the state machine speaking over it; a fallback replaces both. */
interface Link {
  readonly endpoint: Initiator | Responder;
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Replaced by a fallback: nothing it reads or says matters any more. */
  retired: boolean;
}

const ignore = (): void => {};

/**
 * An mlstls connection over Web Streams: `readable` and `writable` carry the application's
 * bytes, secured on the transport. It translates between the transport and the sans-IO state
 * machine and holds no protocol rule of its own: transport chunks go to `receive()`, writes to
 * `write()`, and the outputs are acted on in their order (a persist before the sends behind it).
 *
 * Closing `writable` sends close_notify after the data written, then closes the transport's
 * writable. `readable` ends at the peer's close_notify, and errors with an `MlsTlsError`
 * (`ERR_MLSTLS_TRUNCATED` when the transport ends without close_notify). Every failure is an
 * `MlsTlsError` with a `code` and the `alert` sent (or received).
 */
export class MlsTlsStream implements StreamTransport {
  /** The peer's application data. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Application data to the peer; written before the handshake completes, it waits for it. */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Resolves once the handshake is complete (with what it settled: `resumed`, `alpnProtocol`,
   * `authorized`, `peerCertificate`, `crypto`, ...); rejects with the `MlsTlsError` that ended
   * the connection before. Always handled: not awaiting it is no unhandled rejection.
   */
  readonly handshake: Promise<HandshakeInfo>;
  /**
   * Resolves once both sides have sent close_notify or `close()` ran, rejects with the error
   * that ended the connection otherwise. Always handled, as `handshake`.
   */
  readonly closed: Promise<void>;

  #link: Link;
  #fallback: ConnectionSetup['fallback'];
  readonly #callbacks: ConnectionCallbacks;
  readonly #signal: AbortSignal | undefined;
  readonly #onEnd: (() => void) | undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;
  #settleHandshake!: { resolve: (info: HandshakeInfo) => void; reject: (error: unknown) => void };
  #settleClosed!: { resolve: () => void; reject: (error: unknown) => void };
  #secure = false;
  /** The last epoch entered; kept after the end, when the core has erased its keys. */
  #epoch = 0n;
  #receivesInFlight = 0;
  /** Wakes the transport reader: room in `readable`, or a receive done. */
  #wake: (() => void) | undefined;
  /** The application cancelled `readable`: data is dropped, the protocol goes on. */
  #readCancelled = false;
  #peerClosed = false;
  /** close_notify went out, and the transport's writable is closing. */
  #writeClosed = false;
  #transportClosing: Promise<void> | undefined;
  /** The connection has ended, cleanly or not; nothing more reaches the application. */
  #ended = false;

  constructor(setup: ConnectionSetup) {
    this.#callbacks = setup.callbacks;
    this.#fallback = setup.fallback;
    this.#signal = setup.signal;
    this.#onEnd = setup.onEnd;
    this.handshake = new Promise((resolve, reject) => {
      this.#settleHandshake = { resolve, reject };
    });
    this.handshake.catch(ignore);
    this.closed = new Promise((resolve, reject) => {
      this.#settleClosed = { resolve, reject };
    });
    this.closed.catch(ignore);
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#readController = controller;
        },
        pull: () => this.#wakeReader(),
        cancel: () => {
          this.#readCancelled = true;
          this.#wakeReader();
        },
      },
      { highWaterMark: READABLE_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
    );
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#closeWrite(),
      abort: (reason) => this.abort(reason),
    });
    this.#link = this.#attach(setup.transport, setup.createEndpoint);
    if (setup.handshakeTimeout > 0) {
      this.#handshakeTimer = setTimeout(this.#onHandshakeTimeout, setup.handshakeTimeout);
    }
    if (setup.signal?.aborted) queueMicrotask(this.#onAbort);
    else setup.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The epoch both directions have reached (0 before the handshake), still known after the end. */
  get epoch(): bigint {
    return this.#epoch;
  }

  /**
   * A post-compromise-security update (PROFILE.md section 5), after the handshake. Resolves
   * when the peer's epoch_key_update confirms a commit made after the call, with `epoch`
   * already current.
   */
  async update(): Promise<void> {
    await this.handshake;
    const link = this.#link;
    const confirmed = link.endpoint.update();
    void link.endpoint.settled().then(() => this.#drain(link));
    await confirmed;
    this.#drain(link);
  }

  /**
   * A TLS KeyUpdate of the sending keys, after the handshake, asking the peer for one too with
   * `requestPeer`. Resolves once it is handed to the transport.
   */
  async keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    await this.handshake;
    const link = this.#link;
    await link.endpoint.keyUpdate(options);
    this.#drain(link);
  }

  /** RFC 8446 7.5 keying material of the current epoch (`ERR_MLSTLS_INVALID_STATE` before). */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    return this.#link.endpoint.exportKeyingMaterial(length, label, context);
  }

  /**
   * Closes at once, as `Deno.Conn.close()`: close_notify if the handshake is complete (after
   * what `writable` has already handed over; chunks still queued in it are dropped), then the
   * transport. `readable` ends, `writable` errors, the keys are erased. For a graceful end
   * close `writable` and read `readable` to its end instead.
   */
  async close(): Promise<void> {
    if (this.#ended) return;
    const link = this.#link;
    if (this.#secure && !this.#writeClosed) {
      await link.endpoint.close();
      this.#drain(link);
    }
    if (this.#ended) return; // failed meanwhile
    this.#end(undefined, true);
  }

  /**
   * Ends the connection at once without close_notify and aborts the transport: the keys are
   * erased, `readable` and `writable` error, `handshake` and `closed` reject with `reason` (an
   * `MlsTlsError`) or `ERR_MLSTLS_ABORTED` with `reason` as its `cause`.
   */
  abort(reason?: unknown): void {
    this.#end(
      reason instanceof MlsTlsError
        ? reason
        : new MlsTlsError('ERR_MLSTLS_ABORTED', 'aborted', { cause: reason }),
      false,
    );
  }

  // ---- the transport ---------------------------------------------------------------------

  #attach(
    transport: StreamTransport,
    createEndpoint: EndpointFactory<Initiator | Responder>,
  ): Link {
    const callbacks = this.#callbacks;
    const endpoint = createEndpoint({
      keyLog: () => callbacks.onKeyLog !== undefined,
      persist: () => callbacks.onSession !== undefined,
    });
    const link: Link = {
      endpoint,
      reader: transport.readable.getReader(),
      writer: transport.writable.getWriter(),
      retired: false,
    };
    link.writer.closed.catch((error: unknown) => this.#onTransportError(link, error));
    void this.#readTransport(link);
    if (endpoint instanceof Initiator) void endpoint.start().then(() => this.#drain(link));
    return link;
  }

  /**
   * Reads the transport into the core while `readable` has room and fewer than
   * MAX_RECEIVES_IN_FLIGHT chunks wait in the core: that is the backpressure towards the peer.
   */
  async #readTransport(link: Link): Promise<void> {
    const current = () => !link.retired && !this.#ended && !this.#peerClosed;
    try {
      for (;;) {
        while (
          current() &&
          (this.#receivesInFlight >= MAX_RECEIVES_IN_FLIGHT || this.#readFull())
        ) {
          await new Promise<void>((wake) => {
            this.#wake = wake;
          });
        }
        if (!current()) return;
        const { value, done } = await link.reader.read();
        if (!current()) return;
        if (done) {
          // Without the peer's close_notify the core reports ERR_MLSTLS_TRUNCATED.
          await link.endpoint.receiveEnd();
          this.#drain(link);
          return;
        }
        this.#receivesInFlight++;
        const received = (): void => {
          if (link.retired) return;
          this.#receivesInFlight--;
          this.#drain(link);
          this.#wakeReader();
        };
        void link.endpoint.receive(value).then(received, received);
      }
    } catch (error) {
      this.#onTransportError(link, error);
    }
  }

  #readFull(): boolean {
    return !this.#readCancelled && (this.#readController.desiredSize ?? 0) <= 0;
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #onTransportError(link: Link, error: unknown): void {
    if (link.retired || this.#ended) return;
    this.#end(
      new MlsTlsError('ERR_MLSTLS_ABORTED', 'the transport failed', { cause: error }),
      false,
    );
  }

  /**
   * Hands the transport back: gently after close_notify or a fatal alert (its writable closes
   * once the records queued reach it, within FLUSH_TIMEOUT), else at once.
   */
  #release(link: Link, flush: boolean): void {
    const { reader, writer } = link;
    if (!flush) {
      writer.abort().catch(ignore);
      reader.cancel().catch(ignore);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        writer.abort().catch(ignore);
        resolve();
      }, FLUSH_TIMEOUT);
    });
    const flushed = this.#transportClosing ?? writer.close().catch(ignore);
    void Promise.race([flushed, cut]).then(() => {
      clearTimeout(timer);
      reader.cancel().catch(ignore);
    });
  }

  // ---- from the application --------------------------------------------------------------

  async #write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'writable takes Uint8Array chunks');
    }
    // Before the handshake completes writes wait here: a fallback may still replace the endpoint.
    await this.handshake;
    const link = this.#link;
    await link.endpoint.write(chunk);
    this.#drain(link);
    await this.#transportReady(link);
  }

  /**
   * close_notify after the data written, then the transport's own end (a TCP half-close).
   * Resolves once close_notify is handed to the transport: some transports (Node's
   * `Duplex.toWeb`) finish closing only when their read side has ended too.
   */
  async #closeWrite(): Promise<void> {
    await this.handshake;
    const link = this.#link;
    await link.endpoint.close();
    this.#drain(link);
    if (this.#ended) return;
    this.#writeClosed = true;
    // A failure shows on `writer.closed`.
    this.#transportClosing = link.writer.close().catch(ignore);
    if (this.#peerClosed) this.#end(undefined, true);
  }

  /** The write resolves once the transport has room again: that is the backpressure. */
  async #transportReady(link: Link): Promise<void> {
    try {
      await link.writer.ready;
    } catch (error) {
      throw new MlsTlsError('ERR_MLSTLS_ABORTED', 'the transport failed', { cause: error });
    }
  }

  // ---- from the core ---------------------------------------------------------------------

  /** Acts on every output the core has, in its order. */
  #drain(link: Link): void {
    const { endpoint, writer } = link;
    for (let output = endpoint.poll(); output !== undefined; output = endpoint.poll()) {
      if (link.retired || this.#ended) continue;
      try {
        switch (output.type) {
          case 'send':
            // Rejections surface through `writer.closed` and `writer.ready`.
            writer.write(output.data).catch(ignore);
            break;
          case 'persist':
            // The store (if any) has the state already; the application that keeps its own
            // session gets it here, before the sends behind it (PROFILE.md section 5).
            this.#callbacks.onSession?.(encodeSessionRecord(output.snapshot.record));
            break;
          case 'data':
            if (!this.#readCancelled) this.#readController.enqueue(output.data);
            break;
          case 'handshakeComplete':
            clearTimeout(this.#handshakeTimer);
            this.#secure = true;
            this.#epoch = output.info.epoch;
            this.#fallback = undefined;
            this.#settleHandshake.resolve(output.info);
            break;
          case 'epochChanged':
            this.#epoch = output.epoch;
            this.#callbacks.onEpoch?.(output.epoch, output.cause);
            break;
          case 'keyUpdated':
            this.#callbacks.onKeyUpdate?.(output.direction, output.generation);
            break;
          case 'keyLog':
            this.#callbacks.onKeyLog?.(`${output.line}\n`);
            break;
          case 'peerClosed':
            this.#peerClosed = true;
            if (!this.#readCancelled) this.#readController.close();
            if (this.#writeClosed) this.#end(undefined, true);
            break;
          case 'error': {
            const fallback = this.#fallback;
            if (
              fallback !== undefined &&
              endpoint instanceof Initiator &&
              !this.#secure &&
              (endpoint.resumptionRefused || output.error.code === 'ERR_MLSTLS_SESSION_SUPERSEDED')
            ) {
              void this.#fallBack(link, fallback);
              return;
            }
            // Its alert is already queued on the transport: let it through.
            this.#end(output.error, true);
            break;
          }
        }
      } catch (error) {
        this.#end(
          new MlsTlsError(
            'ERR_MLSTLS_ABORTED',
            `the ${output.type} output could not be delivered`,
            {
              cause: error,
            },
          ),
          false,
        );
      }
    }
  }

  /**
   * The server refused the resumption: the stored session is gone, and a full handshake on a
   * new transport takes over, with the writes made so far (they wait for the handshake).
   */
  async #fallBack(old: Link, fallback: NonNullable<ConnectionSetup['fallback']>): Promise<void> {
    this.#fallback = undefined;
    old.retired = true;
    this.#release(old, false);
    this.#receivesInFlight = 0;
    let transport: StreamTransport;
    try {
      transport = await fallback.reconnect();
    } catch (error) {
      this.#end(
        error instanceof MlsTlsError
          ? error
          : new MlsTlsError('ERR_MLSTLS_ABORTED', 'reconnect() failed', { cause: error }),
        false,
      );
      return;
    }
    if (this.#ended) {
      transport.readable.cancel().catch(ignore);
      transport.writable.abort().catch(ignore);
      return;
    }
    this.#link = this.#attach(transport, fallback.createEndpoint);
  }

  #onHandshakeTimeout = (): void => {
    if (this.#secure) return;
    this.#end(
      new MlsTlsError(
        'ERR_MLSTLS_HANDSHAKE_TIMEOUT',
        'the handshake did not complete within handshakeTimeout',
      ),
      false,
    );
  };

  #onAbort = (): void => {
    this.#end(
      new MlsTlsError('ERR_MLSTLS_ABORTED', 'aborted by the signal', {
        cause: this.#signal?.reason,
      }),
      false,
    );
  };

  /**
   * The end, once: the core is aborted (it erases every key) and what it says afterwards is
   * dropped; the application's streams and promises settle; the transport is handed back.
   */
  #end(error: MlsTlsError | undefined, flush: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#handshakeTimer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const link = this.#link;
    link.endpoint.abort(error ?? new MlsTlsError('ERR_MLSTLS_ABORTED', 'closed'));
    while (link.endpoint.poll() !== undefined) {
      // Nothing the core says after the end reaches the transport or the application.
    }
    const reason =
      error ??
      (this.#secure
        ? new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'the connection is closed')
        : new MlsTlsError('ERR_MLSTLS_ABORTED', 'closed before the handshake completed'));
    this.#settleHandshake.reject(reason);
    if (error === undefined) this.#settleClosed.resolve();
    else this.#settleClosed.reject(error);
    if (error === undefined) {
      if (!this.#peerClosed && !this.#readCancelled) this.#readController.close();
    } else {
      this.#readController.error(error);
    }
    // Erroring the writable is a no-op once it is closed.
    this.#writeController.error(reason);
    this.#wakeReader();
    this.#release(link, flush);
    this.#onEnd?.();
  }
}
