import type { StreamTransport } from '@mlstls/streams';
import type { DenoConn } from './deno-types.js';

/** The largest TLS ciphertext record and its header: one read takes a whole record. */
const READ_SIZE = 16_384 + 256 + 5;

/**
 * A `Deno.Conn` as the transport of `@mlstls/streams`, by `read()`, `write()` and
 * `closeWrite()`. Not `conn.readable` and `conn.writable`: closing the one, or reading the
 * other to its end, closes the whole connection, and mlstls needs each direction to close on
 * its own (this side's close_notify, then the peer's). The connection is closed once both
 * directions are done, or at once when either stream is cancelled or aborted.
 */
export function connTransport(conn: DenoConn): StreamTransport {
  let closed = false;
  let readDone = false;
  let writeDone = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  const closeIfDone = (): void => {
    if (readDone && writeDone) close();
  };
  const readable = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const buffer = new Uint8Array(READ_SIZE);
        let read: number | null;
        try {
          read = await conn.read(buffer);
        } catch (error) {
          if (closed) controller.close();
          else controller.error(error);
          return;
        }
        if (read === null) {
          readDone = true;
          controller.close();
          closeIfDone();
          return;
        }
        controller.enqueue(buffer.subarray(0, read));
      },
      cancel() {
        close();
      },
    },
    // Read only when the binding asks: it bounds what it takes in.
    { highWaterMark: 0 },
  );
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let offset = 0; offset < chunk.length; )
        offset += await conn.write(chunk.subarray(offset));
    },
    async close() {
      await conn.closeWrite();
      writeDone = true;
      closeIfDone();
    },
    abort() {
      close();
    },
  });
  return { readable, writable };
}
