// What the soak (the parent, all the clients) and its server process (soak-server.ts) say to
// each other over the IPC channel of `spawn(..., { stdio: [..., 'ipc'], serialization:
// 'advanced' })`: byte arrays cross it as they are.

/** Errors seen by code (an `MlsTlsError`'s `code`, a system error's `code`, else its name). */
export type Counts = Record<string, number>;

/** What the server process has seen so far. */
export interface ServerCounters {
  /** `'secureConnection'`: handshakes the server completed, full or resumed. */
  readonly handshakes: number;
  /** Of those, the ones that resumed a stored session (`isSessionReused()`). */
  readonly resumed: number;
  /** `'epoch'` events on server sockets, by cause (`peer` is a client's update). */
  readonly epochs: Counts;
  /** `'keyUpdate'` events on server sockets, by direction (`receive`, `send`). */
  readonly keyUpdates: Counts;
  /** Bytes the server echoed. */
  readonly bytesEchoed: number;
  /** `'error'` on server sockets, by code. */
  readonly socketErrors: Counts;
  /** `'tlsClientError'` (a connection that failed before its handshake completed), by code. */
  readonly clientErrors: Counts;
  /** Server sockets that closed with `truncated === true` (the transport ended without close_notify). */
  readonly truncated: number;
  /** Server sockets whose `truncated` was a boolean at 'close' (0: the binding has none yet). */
  readonly truncatedKnown: number;
  /** Server sockets closed so far. */
  readonly closed: number;
  /** `uncaughtException` and `unhandledRejection` in the server process, by code. */
  readonly uncaught: Counts;
}

export interface ServerStats {
  /** `process.memoryUsage()` right after a full garbage collection (`--expose-gc`). */
  readonly memory: {
    readonly rss: number;
    readonly heapUsed: number;
    readonly heapTotal: number;
    readonly external: number;
    readonly arrayBuffers: number;
  };
  /** Server sockets that completed a handshake and have not closed yet. */
  readonly openSockets: number;
  /** TCP connections the listener holds (`server.getConnections()`), handshaking or not. */
  readonly tcpConnections: number;
  readonly counters: ServerCounters;
}

/** Parent to server process. */
export type ServerCommand =
  | { readonly type: 'stats'; readonly id: number }
  /** Stop listening, wait (bounded) for the last sockets to close, report, exit. */
  | { readonly type: 'stop'; readonly id: number; readonly waitMs: number };

/** Server process to parent. */
export type ServerReport =
  | {
      readonly type: 'listening';
      readonly port: number;
      /** The generated basic credential's key, which every client pins. */
      readonly signaturePublicKey: Uint8Array;
    }
  | { readonly type: 'stats'; readonly id: number; readonly stats: ServerStats }
  | { readonly type: 'stopped'; readonly id: number; readonly stats: ServerStats };

/** `error.code` when it is a string, else the error's name: the key errors are counted by. */
export function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (typeof name === 'string' && name !== '') return name;
  }
  return typeof error;
}

/**
 * The key an error is counted under: its code, and the code of its `cause` when it has one
 * (`ERR_MLSTLS_ABORTED (ECONNRESET)`: a binding that wraps the transport's error).
 */
export function errorKey(error: unknown): string {
  const code = codeOf(error);
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause === undefined || cause === null) return code;
  const causeCode = (cause as { code?: unknown }).code;
  return typeof causeCode === 'string' && causeCode !== '' ? `${code} (${causeCode})` : code;
}

/** Adds `n` to `counts[key]`. */
export function bump(counts: Counts, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}
