import type { Socket } from 'node:net';
import { parseKeyLogLine } from '@mlstls/key-schedule';
import {
  type CaptureChunk,
  type CaptureDirection,
  CaptureWriter,
  tapTransport,
} from './capture.js';
import { CaptureDecoder, type DecodedRecord } from './capture-decoder.js';
import { formatRecord } from './record-format.js';

/** What `-capture` and `-trace` ask of one connection. */
export interface TapOptions {
  /** The capture file of this connection (`-capture`). */
  readonly capturePath?: string | undefined;
  /** Where `-trace` prints each line; absent without `-trace`. */
  readonly trace?: ((line: string) => void) | undefined;
}

/**
 * `-capture` and `-trace` for one connection: every transport chunk goes to the capture file
 * and to a `CaptureDecoder` fed with the connection's `'keylog'` lines, whose records are
 * printed as `decode` prints them (one decoder for both). The decoder holds the epoch secrets
 * in memory only; nothing secret is printed.
 */
export class ConnectionTap {
  readonly #capture: CaptureWriter | undefined;
  readonly #decoder: CaptureDecoder | undefined;
  readonly #trace: ((line: string) => void) | undefined;

  constructor(options: TapOptions) {
    this.#capture =
      options.capturePath === undefined ? undefined : new CaptureWriter(options.capturePath);
    this.#trace = options.trace;
    this.#decoder = options.trace === undefined ? undefined : new CaptureDecoder();
  }

  /** Starts tapping `transport`, whose writes go in direction `sent`. */
  attach(transport: Socket, sent: CaptureDirection): void {
    tapTransport(transport, sent, this.#chunk);
  }

  /** A `'keylog'` line of this connection. */
  keyLog(line: Buffer): void {
    if (this.#decoder === undefined) return;
    const entry = parseKeyLogLine(line.toString('latin1'));
    if (entry !== undefined) this.#print(this.#decoder.addKeyLogEntry(entry));
  }

  /** The connection is over: reports what the decoder could not finish, closes the file. */
  close(): void {
    this.#capture?.close();
    if (this.#decoder !== undefined) this.#print(this.#decoder.finish());
  }

  #chunk = (chunk: CaptureChunk): void => {
    this.#capture?.write(chunk);
    if (this.#decoder !== undefined) this.#print(this.#decoder.push(chunk));
  };

  #print(records: DecodedRecord[]): void {
    for (const record of records) {
      for (const line of formatRecord(record)) this.#trace!(line);
    }
  }
}

/** `-capture FILE` of the `n`th connection (from 1): `FILE`, then `FILE.2`, `FILE.3`, ... */
export function capturePathOf(path: string | undefined, n: number): string | undefined {
  if (path === undefined) return undefined;
  return n === 1 ? path : `${path}.${n}`;
}
