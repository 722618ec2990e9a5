import { MlsTlsError } from '@mlstls/codec';
import type { StreamTransport } from './options.js';

/**
 * The part of a WHATWG `WebSocket` that `fromWebSocket()` uses: a browser's, Deno's, Bun's,
 * Node 22's global one, or the `ws` package's. The adapter sets `binaryType` to
 * `'arraybuffer'`.
 */
export interface WebSocketLike {
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes handed to `send()` that have not gone to the network yet. */
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** `'message'` events carry `data`: an `ArrayBuffer`, or a string for a text message. */
  addEventListener(type: 'open' | 'message' | 'close', listener: (event: object) => void): void;
  removeEventListener(type: 'open' | 'message' | 'close', listener: (event: object) => void): void;
}

/** What `fromWebSocket()` takes besides the socket. */
export interface FromWebSocketOptions {
  /**
   * Bytes that may wait in the socket's `bufferedAmount` before a write waits (default 65536):
   * a WebSocket has no drain event, so the adapter looks again every `pollInterval` ms.
   */
  readonly highWaterMark?: number;
  /** Milliseconds between two looks at `bufferedAmount` while a write waits (default 10). */
  readonly pollInterval?: number;
}

const CONNECTING = 0;
const OPEN = 1;
/** A normal closure (RFC 6455 section 7.4.1): every end of the adapter's own making. */
const NORMAL_CLOSURE = 1000;
/** The peer sent data this end cannot accept (RFC 6455 section 7.4.1): a text message. */
const UNSUPPORTED_DATA = 1003;

const DEFAULT_HIGH_WATER_MARK = 65_536;
const DEFAULT_POLL_INTERVAL = 10;

/**
 * A WebSocket as the `{ readable, writable }` byte transport that `secureClient()` and
 * `secureServer()` take: each binary message is a chunk of the byte stream, split anywhere
 * (mlstls records need no message boundaries), and each chunk written is sent as one binary
 * message.
 *
 * - Opening: writes wait for the socket to open; a socket that closes before it opened errors
 *   both streams (the connection fails with `ERR_MLSTLS_ABORTED`).
 * - Backpressure: a write resolves once `bufferedAmount` is back under `highWaterMark`. A
 *   WebSocket cannot tell its peer to stop sending: received messages queue in `readable`.
 * - The end: a WebSocket has no half-close, so closing `writable` (after this end's
 *   close_notify) leaves the socket open for the peer's close_notify; the socket closes once
 *   reading is over too: the peer closed it, or `readable` was cancelled (as the connection
 *   does once both close_notify are through). Aborting `writable` closes it at once.
 * - A socket that closes without the peer's close_notify ends `readable`: after the handshake
 *   the connection reports that as `ERR_MLSTLS_TRUNCATED` (docs/protocol.md section 8), as over
 *   TCP. A text message errors `readable` (`ERR_MLSTLS_UNEXPECTED_MESSAGE` as the cause of the
 *   connection's `ERR_MLSTLS_ABORTED`) and closes the socket with 1003.
 *
 * `WebSocketStream` (Chromium) is not used: its readable yields `ArrayBuffer`s and closing its
 * writable closes the whole socket, before the peer's close_notify can arrive.
 */
export function fromWebSocket(
  socket: WebSocketLike,
  options: FromWebSocketOptions = {},
): StreamTransport {
  const { highWaterMark = DEFAULT_HIGH_WATER_MARK, pollInterval = DEFAULT_POLL_INTERVAL } = options;
  if (socket.readyState !== CONNECTING && socket.readyState !== OPEN) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'the WebSocket is closing or closed');
  }
  socket.binaryType = 'arraybuffer';

  let opened = socket.readyState === OPEN;
  let socketClosed = false;
  let readingDone = false;
  let writingDone = false;
  let readController!: ReadableStreamDefaultController<Uint8Array>;
  let settleOpen: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const open = opened
    ? Promise.resolve()
    : new Promise<void>((resolve, reject) => {
        settleOpen = { resolve, reject };
      });
  // Rejected only for `start`, which hands the rejection to the writable.
  open.catch(() => {});

  const closeSocket = (code = NORMAL_CLOSURE): void => {
    if (socketClosed) return;
    socketClosed = true;
    socket.close(code);
  };
  /** Closes the socket once neither direction has more to do. */
  const closeIfDone = (): void => {
    if (readingDone && writingDone) closeSocket();
  };

  const onOpen = (): void => {
    opened = true;
    settleOpen?.resolve();
  };
  const onMessage = (event: object): void => {
    if (readingDone) return;
    const { data } = event as { readonly data: unknown };
    if (data instanceof ArrayBuffer) {
      readController.enqueue(new Uint8Array(data));
    } else if (ArrayBuffer.isView(data)) {
      // A runtime that ignored binaryType (a Node Buffer, say): copied, not kept.
      readController.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
    } else {
      readingDone = true;
      readController.error(
        new MlsTlsError(
          'ERR_MLSTLS_UNEXPECTED_MESSAGE',
          'a WebSocket text message: mlstls travels in binary messages',
        ),
      );
      closeSocket(UNSUPPORTED_DATA);
    }
  };
  const onClose = (): void => {
    socketClosed = true;
    socket.removeEventListener('open', onOpen);
    socket.removeEventListener('message', onMessage);
    socket.removeEventListener('close', onClose);
    if (!opened) {
      const error = new MlsTlsError('ERR_MLSTLS_ABORTED', 'the WebSocket closed before it opened');
      settleOpen?.reject(error);
      if (!readingDone) readController.error(error);
    } else if (!readingDone) {
      // Without the peer's close_notify the connection calls this a truncation.
      readController.close();
    }
    readingDone = true;
  };
  socket.addEventListener('open', onOpen);
  socket.addEventListener('message', onMessage);
  socket.addEventListener('close', onClose);

  /** Resolves once `bufferedAmount` is at most `limit`, or the socket has closed. */
  const drained = async (limit: number): Promise<void> => {
    while (!socketClosed && socket.bufferedAmount > limit) {
      await new Promise((resolve) => setTimeout(resolve, pollInterval));
    }
  };

  const readable = new ReadableStream<Uint8Array>({
    start: (controller) => {
      readController = controller;
    },
    cancel: () => {
      readingDone = true;
      closeSocket();
    },
  });
  const writable = new WritableStream<Uint8Array>(
    {
      start: () => open,
      write: async (chunk) => {
        if (socketClosed) throw new MlsTlsError('ERR_MLSTLS_ABORTED', 'the WebSocket is closed');
        socket.send(chunk);
        await drained(highWaterMark);
      },
      close: async () => {
        // What was sent leaves before the socket may close.
        await drained(0);
        writingDone = true;
        closeIfDone();
      },
      abort: () => {
        writingDone = true;
        closeSocket();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark }),
  );
  return { readable, writable };
}
