import { MlsTlsError } from '@mlstls/codec';
import {
  ConnectionDriver,
  type ConnectionEnd,
  type EndpointFactory,
  type OpenTransport,
} from '@mlstls/driver';
import type { HandshakeInfo, Initiator, Responder } from '@mlstls/state-machine';
import type { ConnectionCallbacks, StreamTransport } from './options.js';

/** How `secureClient()` and `secureServer()` make a connection; not for applications. */
export interface ConnectionSetup {
  readonly transport: StreamTransport;
  readonly createEndpoint: EndpointFactory<Initiator | Responder>;
  /** A client's way on when the server refuses its resumption (section 6). */
  readonly fallback?:
    | {
        readonly reconnect: () => Promise<StreamTransport>;
        readonly createEndpoint: EndpointFactory<Initiator>;
      }
    | undefined;
  readonly callbacks: ConnectionCallbacks;
  readonly handshakeTimeout: number | undefined;
  /** Milliseconds without a byte sent or received before `ERR_MLSTLS_IDLE_TIMEOUT`; 0 never. */
  readonly idleTimeout: number;
  readonly rejectTruncation: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Called once when the connection ends, cleanly or not. */
  readonly onEnd?: (() => void) | undefined;
}

/** Bytes of application data the readable buffers before the transport is no longer read. */
const READABLE_HIGH_WATER_MARK = 65_536;

const ignore = (): void => {};

/** A `{ readable, writable }` pair as the driver's transport. */
function webTransport(transport: StreamTransport): OpenTransport {
  return (listener) => {
    const reader = transport.readable.getReader();
    const writer = transport.writable.getWriter();
    let reading = true;
    let destroyed = false;
    let waitingForRoom = false;
    let wake: (() => void) | undefined;
    void (async () => {
      try {
        for (;;) {
          while (!reading && !destroyed) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
          if (destroyed) return;
          const { value, done } = await reader.read();
          if (destroyed) return;
          if (done) {
            listener.end();
            return;
          }
          listener.data(value);
        }
      } catch (error) {
        if (!destroyed) listener.error(error);
      }
    })();
    writer.closed.catch((error: unknown) => {
      if (!destroyed) listener.error(error);
    });
    return {
      write: (data) => {
        // A failed write shows on `writer.closed`.
        writer.write(data).catch(ignore);
        if ((writer.desiredSize ?? 0) > 0) return true;
        if (!waitingForRoom) {
          waitingForRoom = true;
          writer.ready.then(() => {
            waitingForRoom = false;
            if (!destroyed) listener.drain();
          }, ignore);
        }
        return false;
      },
      end: () => writer.close(),
      destroy: () => {
        if (destroyed) return;
        destroyed = true;
        wake?.();
        writer.abort().catch(ignore);
        reader.cancel().catch(ignore);
      },
      setReading: (next) => {
        reading = next;
        if (next) {
          const resume = wake;
          wake = undefined;
          resume?.();
        }
      },
    };
  };
}

/**
 * An mlstls connection over Web Streams: `readable` and `writable` carry the application's
 * bytes, secured on the transport. It adapts the transport to the binding driver
 * (`@mlstls/driver`), which holds every rule of the connection.
 *
 * Closing `writable` sends close_notify after the data written, then closes the transport's
 * writable. `readable` ends at the peer's close_notify, and errors with an `MlsTlsError`
 * (`ERR_MLSTLS_TRUNCATED` when the transport ends without close_notify, unless
 * `rejectTruncation: false`). Every failure is an `MlsTlsError` with a `code` and the `alert`
 * sent (or received).
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

  readonly #driver: ConnectionDriver;
  readonly #onEnd: (() => void) | undefined;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;
  #settleHandshake!: { resolve: (info: HandshakeInfo) => void; reject: (error: unknown) => void };
  #settleClosed!: { resolve: () => void; reject: (error: unknown) => void };
  /** The application cancelled `readable`: data is dropped, the protocol goes on. */
  #readCancelled = false;
  #readClosed = false;
  #truncated = false;
  #storeError: MlsTlsError | undefined;

  /** @internal Made by `secureClient` and `secureServer`. */
  constructor(setup: ConnectionSetup) {
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
        pull: () => this.#driver.resumeReading(),
        cancel: () => {
          this.#readCancelled = true;
          this.#driver.resumeReading();
        },
      },
      { highWaterMark: READABLE_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
    );
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => this.#write(chunk),
      // Resolves once close_notify is handed to the transport: some transports (Node's
      // `Duplex.toWeb`) finish closing only when their read side has ended too.
      close: () => this.#driver.close(),
      abort: (reason) => this.abort(reason),
    });
    const { callbacks, fallback } = setup;
    this.#driver = new ConnectionDriver({
      transport: webTransport(setup.transport),
      createEndpoint: setup.createEndpoint,
      reconnect:
        fallback === undefined
          ? undefined
          : {
              transport: async () => webTransport(await fallback.reconnect()),
              createEndpoint: fallback.createEndpoint,
            },
      events: {
        secure: (info) => this.#settleHandshake.resolve(info),
        data: (chunk) => this.#deliver(chunk),
        peerClosed: () => this.#closeReadable(),
        closed: (end) => this.#closed(end),
        epoch: callbacks.onEpoch,
        keyUpdate: callbacks.onKeyUpdate,
        keyLog: callbacks.onKeyLog,
        session: callbacks.onSession,
        storeError: (error) => {
          this.#storeError = error;
          callbacks.onStoreError?.(error);
        },
        timeout: () =>
          this.abort(
            new MlsTlsError(
              'ERR_MLSTLS_IDLE_TIMEOUT',
              'nothing was sent or received within idleTimeout',
            ),
          ),
      },
      wantsKeyLog: () => callbacks.onKeyLog !== undefined,
      wantsSession: () => callbacks.onSession !== undefined,
      handshakeTimeout: setup.handshakeTimeout,
      rejectTruncation: setup.rejectTruncation,
      signal: setup.signal,
    });
    if (setup.idleTimeout > 0) this.#driver.setIdleTimeout(setup.idleTimeout);
  }

  /** The epoch both directions have reached (0 before the handshake), still known after the end. */
  get epoch(): bigint {
    return this.#driver.epoch;
  }

  /**
   * Whether the transport ended without the peer's close_notify after the handshake (with
   * `rejectTruncation: false`; otherwise that is an `ERR_MLSTLS_TRUNCATED` error).
   */
  get truncated(): boolean {
    return this.#truncated;
  }

  /**
   * The session store's failure, when it failed or missed its deadline during this connection:
   * the connection goes on, but the next one makes a full handshake. `undefined` while all is
   * well.
   */
  get storeError(): MlsTlsError | undefined {
    return this.#storeError;
  }

  /**
   * A post-compromise-security update (section 5), after the handshake. Resolves when the
   * peer's epoch_key_update confirms a commit made after the call, with `epoch` already current.
   */
  update(): Promise<void> {
    return this.#driver.update();
  }

  /**
   * A TLS KeyUpdate of the sending keys, after the handshake, asking the peer for one too with
   * `requestPeer`. Resolves once it is handed to the transport.
   */
  keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    return this.#driver.keyUpdate(options);
  }

  /** RFC 8446 7.5 keying material of the current epoch (`ERR_MLSTLS_INVALID_STATE` before). */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    return this.#driver.endpoint.exportKeyingMaterial(length, label, context);
  }

  /**
   * Closes at once, as `Deno.Conn.close()`: close_notify if the handshake is complete (after
   * what `writable` has already handed over; chunks still queued in it are dropped), then the
   * transport. `readable` ends, `writable` errors, the keys are erased. For a graceful end
   * close `writable` and read `readable` to its end instead.
   */
  close(): Promise<void> {
    return this.#driver.closeNow();
  }

  /**
   * Ends the connection at once without close_notify and aborts the transport: the keys are
   * erased, `readable` and `writable` error, `handshake` and `closed` reject with `reason` (an
   * `MlsTlsError`) or `ERR_MLSTLS_ABORTED` with `reason` as its `cause`.
   */
  abort(reason?: unknown): void {
    this.#driver.abort(
      reason instanceof MlsTlsError
        ? reason
        : new MlsTlsError('ERR_MLSTLS_ABORTED', 'aborted', { cause: reason }),
    );
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'writable takes Uint8Array chunks');
    }
    await this.#driver.write(chunk);
  }

  /** Hands data to `readable`; false once it holds its high-water mark. */
  #deliver(chunk: Uint8Array): boolean {
    if (this.#readCancelled || this.#readClosed) return true;
    this.#readController.enqueue(chunk);
    return (this.#readController.desiredSize ?? 0) > 0;
  }

  #closeReadable(): void {
    if (this.#readClosed) return;
    this.#readClosed = true;
    if (!this.#readCancelled) this.#readController.close();
  }

  /** The end, once: the application's streams and promises settle. */
  #closed({ error, truncated }: ConnectionEnd): void {
    this.#truncated = truncated;
    const reason =
      error ??
      (this.#driver.secure
        ? new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'the connection is closed')
        : new MlsTlsError('ERR_MLSTLS_ABORTED', 'closed before the handshake completed'));
    this.#settleHandshake.reject(reason);
    if (error === undefined) {
      this.#settleClosed.resolve();
      this.#closeReadable();
    } else {
      this.#settleClosed.reject(error);
      if (!this.#readClosed) {
        this.#readClosed = true;
        this.#readController.error(error);
      }
    }
    // Erroring the writable is a no-op once it is closed.
    this.#writeController.error(reason);
    this.#onEnd?.();
  }
}
