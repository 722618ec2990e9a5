/**
 * The server side of the binding conformance suite: a process (Node or Deno) that runs one
 * binding's server and answers the suite on its standard streams. A binding provides the
 * `ConformanceBinding` (a dozen lines over its own API) and calls `serveConformance` from a
 * script that the suite starts (`spawnConformanceServer`).
 *
 * Protocol: the script takes a JSON `ConformanceConfig` as its last argument, prints
 * `{"ready":{"port":…,"key":"<hex>"}}` once listening, answers each `stats` line on its standard
 * input with `{"stats":…}`, and exits when its standard input ends.
 */
import process from 'node:process';
import { createInterface } from 'node:readline';
import { type EndpointCredential, generateCredential } from '@mlstls/state-machine';
import {
  MemoryStore,
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
} from '@mlstls/storage';

/**
 * The application the binding's server runs, each written in the binding's own idiom:
 *
 * - `echo`: echoes every connection, and reports every error it sees;
 * - `unguarded`: echoes with no error handling beyond what the runtime's idiom requires (Node:
 *   `createServer(options, (s) => s.pipe(s))`, no `'error'` listener at all);
 * - `flood`: writes `FLOOD_BYTES` to every connection as soon as it is reported, and reads and
 *   drops what comes in.
 */
export type ConformanceApp = 'echo' | 'unguarded' | 'flood';

/** What the application writes to each connection in the `flood` app. */
export const FLOOD_BYTES = 8 * 1024 * 1024;

export interface ConformanceConfig {
  readonly app: ConformanceApp;
  /** Milliseconds of idleness after which the application ends a connection; 0 never. */
  readonly idleTimeout: number;
}

/** What the binding's server tells the harness, as its application would see it. */
export interface ConformanceReport {
  /** The application was handed a connection (Node's `'secureConnection'`, a settled handshake). */
  secureConnection(): void;
  /** A handshake failed: never a connection of the application (Node's `'tlsClientError'`). */
  clientError(error: unknown): void;
  /** A connection the application holds failed. */
  connectionError(error: unknown): void;
  /** A connection the application holds ended without the peer's close_notify, with no error. */
  truncated(): void;
}

export interface ConformanceListen extends ConformanceConfig {
  readonly credential: EndpointCredential;
  readonly store: SessionStore;
  readonly report: ConformanceReport;
}

/** One binding, as the conformance harness drives it. */
export interface ConformanceBinding {
  /** Starts the binding's server on 127.0.0.1, port 0, running `setup.app`. */
  listen(setup: ConformanceListen): Promise<{ readonly port: number }>;
}

/** What the harness reports on `stats`. */
export interface ConformanceStats {
  readonly secureConnections: number;
  /** Failed handshakes by error code. */
  readonly clientErrors: Record<string, number>;
  /** Failed connections of the application by error code. */
  readonly connectionErrors: Record<string, number>;
  readonly truncated: number;
  /** Sessions in the server's store. */
  readonly storedSessions: number;
  /** Bytes, after a garbage collection where the runtime allows one. */
  readonly rss: number;
  /** Used heap and external memory (ArrayBuffers, native memory reported to V8). */
  readonly heap: number;
  /**
   * Heap pages V8 holds but no object uses (`heapTotal - heapUsed`): counted in `rss`, sized by
   * V8's own heuristics, and handed back when V8 decides.
   */
  readonly heapFree: number;
}

/** A MemoryStore that counts the ids it holds. */
class CountingStore implements SessionStore {
  readonly #store = new MemoryStore();
  readonly #ids = new Set<string>();

  get size(): number {
    return this.#ids.size;
  }

  get(id: Uint8Array): Promise<SessionRecord | undefined> {
    return this.#store.get(id);
  }

  async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const written = await this.#store.compareAndSet(id, expected, next);
    if (written) this.#ids.add(hex(id));
    return written;
  }

  async delete(id: Uint8Array): Promise<void> {
    await this.#store.delete(id);
    this.#ids.delete(hex(id));
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}

function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'uncoded';
}

function count(counts: Record<string, number>, error: unknown): void {
  const code = codeOf(error);
  counts[code] = (counts[code] ?? 0) + 1;
}

/** What `runStreamsApp` needs of a connection: `@mlstls/streams`'s and `@mlstls/deno`'s shape. */
export interface StreamsConnection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly handshake: Promise<unknown>;
  readonly closed: Promise<void>;
  readonly truncated: boolean;
}

/**
 * The apps of a Web Streams binding, as a Web application writes them: the binding's own
 * promises never reject unhandled, and a `pipeTo` is caught as every promise must be.
 */
export function runStreamsApp(
  app: ConformanceApp,
  stream: StreamsConnection,
  report: ConformanceReport,
): void {
  let secure = false;
  stream.handshake.then(() => {
    secure = true;
    report.secureConnection();
    if (app === 'flood') void flood(stream);
  }, report.clientError);
  if (app === 'unguarded') {
    stream.readable.pipeTo(stream.writable).catch(() => {});
    return;
  }
  stream.closed.then(
    () => {
      if (stream.truncated) report.truncated();
    },
    (error: unknown) => {
      if (secure) report.connectionError(error);
    },
  );
  if (app === 'echo') stream.readable.pipeTo(stream.writable).catch(() => {});
  else stream.readable.pipeTo(new WritableStream()).catch(() => {});
}

/** FLOOD_BYTES to the peer, as fast as the transport takes them. */
async function flood(stream: StreamsConnection): Promise<void> {
  const writer = stream.writable.getWriter();
  const chunk = new Uint8Array(65_536).fill(7);
  try {
    for (let sent = 0; sent < FLOOD_BYTES; sent += chunk.length) {
      await writer.ready;
      void writer.write(chunk).catch(() => {});
    }
  } catch {
    // The connection ended: reported through `closed`.
  }
}

/** Runs `binding` as the suite's server until standard input ends. */
export async function serveConformance(binding: ConformanceBinding): Promise<void> {
  const config = JSON.parse(process.argv.at(-1)!) as ConformanceConfig;
  const credential = await generateCredential({ ciphersuite: 1 });
  const store = new CountingStore();
  let secureConnections = 0;
  let truncated = 0;
  const clientErrors: Record<string, number> = {};
  const connectionErrors: Record<string, number> = {};
  const { port } = await binding.listen({
    ...config,
    credential,
    store,
    report: {
      secureConnection: () => secureConnections++,
      clientError: (error) => count(clientErrors, error),
      connectionError: (error) => count(connectionErrors, error),
      truncated: () => truncated++,
    },
  });
  const say = (value: unknown): void => {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  };
  say({ ready: { port, key: hex(credential.signaturePublicKey) } });
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line !== 'stats') return;
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    const stats: ConformanceStats = {
      secureConnections,
      clientErrors,
      connectionErrors,
      truncated,
      storedSessions: store.size,
      rss: memory.rss,
      heap: memory.heapUsed + memory.external,
      heapFree: memory.heapTotal - memory.heapUsed,
    };
    say({ stats });
  });
  lines.on('close', () => process.exit(0));
}
