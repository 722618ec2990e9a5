/**
 * The load of the Deno and browser benchmarks (`bench:deno`), on Web Streams alone: no `node:`
 * import, so that it runs under Deno (deno-child.ts) and in Chromium (streams-page.ts) as it
 * is. Both ends of every connection are in the same process; connections are sequential.
 *
 * - A handshake: connect, both ends' handshakes complete, both ends closed. No byte of data:
 *   neither `Deno.connectTls` nor `@mlstls/deno` sets TCP_NODELAY, and one byte sent right after
 *   a handshake waits for a delayed ACK (40 ms; a one-byte echo after `Deno.connectTls`'s
 *   handshake took 90 ms on 127.0.0.1), which would time Nagle's algorithm, not the stacks.
 * - A bulk transfer: `totalBytes` in writes of `writeBytes` from the client, read to the last
 *   byte by the server, timed from the first write to the last byte read.
 */

/** One end of a connection: `Deno.TlsConn`, `@mlstls/deno`'s `MlsTlsConn`, or streams'. */
/** What a run of `bench:deno` gives the Deno child and the page alike. */
export interface LoadConfig {
  /** The server's chain, leaf first, PEM, and its PKCS#8 key. */
  readonly cert: string;
  readonly key: string;
  /** The root the client trusts, PEM. */
  readonly ca: string;
  readonly warmupMs: number;
  readonly roundMs: number;
  readonly rounds: number;
  readonly bulkBytes: number;
  readonly writeBytes: number;
  readonly bulkConnections: number;
}

export interface End {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves once this end's handshake is complete. */
  handshake(): Promise<unknown>;
  close(): void;
  /**
   * `Deno.Conn`'s read into the caller's buffer: where an end has it, the bulk transfer reads
   * by it rather than by `readable` (Deno's TLS reads 32 MiB through `readable` at about half
   * the speed).
   */
  read?(buffer: Uint8Array): Promise<number | null>;
}

/** A new connection: both of its ends, their handshake under way. */
export interface Pair {
  readonly client: End;
  readonly server: End;
}

export interface LoadStack {
  readonly name: string;
  open(): Promise<Pair>;
}

/** What every timed round or connection waits for first, untimed. */
interface Settle {
  /** Resolves when the process is ready for the next timed run. */
  readonly settle?: () => Promise<void>;
}

export interface HandshakeOptions extends Settle {
  /** Warm-up of each stack before timing, in two interleaved halves, in milliseconds. */
  readonly warmupMs: number;
  /** Length of one timed round, in milliseconds. */
  readonly roundMs: number;
  readonly rounds: number;
}

export interface BulkOptions extends Settle {
  readonly totalBytes: number;
  readonly writeBytes: number;
  /** Timed connections of each stack. */
  readonly connections: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Collects garbage (with V8's --expose-gc) so that no round pays for another's. */
function collectGarbage(): void {
  gc?.();
}

/** `stacks`, the `i`th first: each stack leads in turn, so that drift hits all alike. */
function rotated<T>(stacks: readonly T[], i: number): T[] {
  const first = i % stacks.length;
  return [...stacks.slice(first), ...stacks.slice(0, first)];
}

/** One whole connection: connect, both ends' handshakes complete, both ends closed. */
async function handshakeOnce(stack: LoadStack): Promise<void> {
  const { client, server } = await stack.open();
  try {
    await Promise.all([client.handshake(), server.handshake()]);
  } finally {
    client.close();
    server.close();
  }
}

/** Sequential handshakes for `ms`; returns how many per second. */
async function handshakesFor(stack: LoadStack, ms: number): Promise<number> {
  const start = performance.now();
  let count = 0;
  let elapsed = 0;
  do {
    await handshakeOnce(stack);
    count++;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (count * 1e3) / elapsed;
}

/**
 * Sequential handshakes/s of each stack, one sample per round, after an interleaved warm-up;
 * the stacks take turns to go first.
 */
export async function handshakeRates(
  stacks: readonly LoadStack[],
  options: HandshakeOptions,
): Promise<number[][]> {
  for (let half = 0; half < 2; half++) {
    for (const stack of stacks) await handshakesFor(stack, options.warmupMs / 2);
  }
  const rates = stacks.map((): number[] => []);
  for (let i = 0; i < options.rounds; i++) {
    for (const stack of rotated(stacks, i)) {
      collectGarbage();
      await options.settle?.();
      rates[stacks.indexOf(stack)]!.push(await handshakesFor(stack, options.roundMs));
    }
  }
  return rates;
}

/** Reads `totalBytes` from `end`: by `read()` into one buffer where it has it, else `readable`. */
async function readAll(end: End, totalBytes: number, bufferBytes: number): Promise<void> {
  let bytes = 0;
  const ended = () => new Error(`the stream ended after ${bytes} of ${totalBytes} bytes`);
  if (end.read !== undefined) {
    const buffer = new Uint8Array(bufferBytes);
    while (bytes < totalBytes) {
      const read = await end.read(buffer);
      if (read === null) throw ended();
      bytes += read;
    }
    return;
  }
  const reader = end.readable.getReader();
  while (bytes < totalBytes) {
    const { value, done } = await reader.read();
    if (done) throw ended();
    bytes += value.length;
  }
  reader.releaseLock();
}

/** One bulk transfer over a new connection; returns MB/s (10^6 bytes per second). */
async function bulkOnce(stack: LoadStack, totalBytes: number, writeBytes: number): Promise<number> {
  const chunk = new Uint8Array(writeBytes);
  for (let at = 0; at < writeBytes; at += 65536) {
    crypto.getRandomValues(chunk.subarray(at, Math.min(writeBytes, at + 65536)));
  }
  const { client, server } = await stack.open();
  try {
    await Promise.all([client.handshake(), server.handshake()]);
    const writer = client.writable.getWriter();
    const start = performance.now();
    const received = readAll(server, totalBytes, writeBytes).then(() => performance.now());
    received.catch(() => {}); // awaited below, unless a write failed first
    for (let sent = 0; sent < totalBytes; sent += writeBytes) {
      await writer.write(
        sent + writeBytes <= totalBytes ? chunk : chunk.subarray(0, totalBytes - sent),
      );
    }
    const end = await received;
    writer.releaseLock();
    return totalBytes / 1e3 / (end - start);
  } finally {
    client.close();
    server.close();
  }
}

/**
 * MB/s of `options.connections` bulk transfers of each stack, after one of a quarter of the
 * size each; the stacks take turns to go first.
 */
export async function bulkRates(
  stacks: readonly LoadStack[],
  options: BulkOptions,
): Promise<number[][]> {
  const warmup = Math.max(options.writeBytes, Math.floor(options.totalBytes / 4));
  for (const stack of stacks) await bulkOnce(stack, warmup, options.writeBytes);
  const rates = stacks.map((): number[] => []);
  for (let i = 0; i < options.connections; i++) {
    for (const stack of rotated(stacks, i)) {
      collectGarbage();
      await options.settle?.();
      rates[stacks.indexOf(stack)]!.push(
        await bulkOnce(stack, options.totalBytes, options.writeBytes),
      );
    }
  }
  return rates;
}
