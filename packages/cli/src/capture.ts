import { closeSync, openSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { MlsTlsError, Reader } from '@mlstls/codec';

/**
 * Which way a chunk of a connection went: `C` from the client (initiator) to the server
 * (responder), `S` the other way. The capture format writes the letter as its byte.
 */
export type CaptureDirection = 'C' | 'S';

/** One chunk of transport bytes, as the TCP socket delivered or was given it. */
export interface CaptureChunk {
  readonly direction: CaptureDirection;
  readonly data: Uint8Array;
}

/**
 * The first line of a capture file. The format, version 1: this line, then for each chunk in
 * the order it was seen, one byte `C` or `S` (its direction), a uint32 big-endian length and
 * that many bytes of the transport (TCP payload, records as the peers framed them).
 */
export const CAPTURE_MAGIC = 'mlstls-capture 1\n';

const magic = new TextEncoder().encode(CAPTURE_MAGIC);
const DIRECTION_BYTES = { C: 0x43, S: 0x53 } as const;

/** Reads a whole capture file; a wrong first line or a cut chunk is `ERR_MLSTLS_DECODE`. */
export function readCapture(bytes: Uint8Array): CaptureChunk[] {
  if (bytes.length < magic.length || magic.some((byte, i) => bytes[i] !== byte)) {
    throw new MlsTlsError(
      'ERR_MLSTLS_DECODE',
      `not an mlstls capture: it does not start with ${JSON.stringify(CAPTURE_MAGIC)}`,
    );
  }
  const reader = new Reader(bytes.subarray(magic.length), 'capture');
  const chunks: CaptureChunk[] = [];
  while (reader.remaining > 0) {
    const byte = reader.u8();
    const direction =
      byte === DIRECTION_BYTES.C ? 'C' : byte === DIRECTION_BYTES.S ? 'S' : undefined;
    if (direction === undefined) {
      throw new MlsTlsError(
        'ERR_MLSTLS_DECODE',
        `capture: chunk ${chunks.length + 1} has direction byte ${byte}, not C or S`,
      );
    }
    chunks.push({ direction, data: reader.bytes(reader.u32()) });
  }
  return chunks;
}

/**
 * Writes one connection's capture file, synchronously so that chunks land in the order they
 * were seen and a crash loses nothing already seen.
 */
export class CaptureWriter {
  readonly #fd: number;
  #closed = false;

  constructor(path: string) {
    this.#fd = openSync(path, 'w', 0o600);
    writeSync(this.#fd, magic);
  }

  write(chunk: CaptureChunk): void {
    if (this.#closed) return;
    const header = new Uint8Array(5);
    header[0] = DIRECTION_BYTES[chunk.direction];
    new DataView(header.buffer).setUint32(1, chunk.data.length);
    writeSync(this.#fd, header);
    writeSync(this.#fd, chunk.data);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }
}

/**
 * Calls `onChunk` with every chunk that `transport` receives and every chunk written to it, in
 * the order they happen, without changing either: a `'data'` listener (attach it before the
 * mlstls socket attaches its own, so a chunk is seen before it is processed) and a wrapper of
 * `write`. Pausing and resuming, which the mlstls socket does for backpressure, are untouched.
 * `sent` is the direction of what this end writes. Call it once the socket is connecting:
 * `net.Socket.connect()` puts back the prototype's `write`.
 */
export function tapTransport(
  transport: Socket,
  sent: CaptureDirection,
  onChunk: (chunk: CaptureChunk) => void,
): void {
  const received: CaptureDirection = sent === 'C' ? 'S' : 'C';
  transport.on('data', (data: Buffer) => onChunk({ direction: received, data: copy(data) }));
  const write = transport.write;
  transport.write = function tappedWrite(this: Socket, data: unknown, ...rest: unknown[]) {
    if (data instanceof Uint8Array) onChunk({ direction: sent, data: copy(data) });
    return (write as (...args: unknown[]) => boolean).call(this, data, ...rest);
  } as Socket['write'];
}

/** The tap's own copy: the decoder keeps views of what it is given. */
function copy(data: Uint8Array): Uint8Array {
  return new Uint8Array(data);
}
