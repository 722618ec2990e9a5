// One end of the crash test's connection (test/crash.test.ts), driven by commands: an mlstls
// server or client on a SqliteStore. The role that is killed runs this in a child process
// (test/fixtures/crash-child.ts); the role that survives runs it in the test process. It
// imports the built packages, as a deployed endpoint would.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import {
  connect,
  createServer,
  type EndpointCredential,
  MlsTlsError,
  type MlsTlsServer,
  type MlsTlsSocket,
} from '@mlstls/node';
import type { SessionRecord, SessionStore, SessionVersion } from '@mlstls/storage';
import { SqliteStore } from '@mlstls/storage-sqlite';

/** What an agent is: the role, its database file, and what the role needs besides. */
export type CrashAgentConfig =
  | {
      readonly role: 'server';
      readonly dbPath: string;
      readonly credential: EndpointCredential;
    }
  | {
      readonly role: 'client';
      readonly dbPath: string;
      readonly sessionId: string;
      /** The server's signature key, pinned. */
      readonly peerSignaturePublicKey: Uint8Array;
    };

/** One compare-and-set of the agent's state machine: a persist point, in the order made. */
interface PersistPoint {
  /** The record written. */
  readonly record: SessionRecord;
  /** Whether the store took it. */
  readonly written: boolean;
}

/**
 * The agent's commands, by name: the argument and the result. Each rejects with the code of
 * the error that ended the connection it waits on.
 */
export interface CrashCommands {
  /**
   * Client: a connection to `port` that resumes a stored session, falling back to a full
   * handshake only with `fallback` (the server never completed the stored handshake).
   */
  readonly connect: [
    { readonly port: number; readonly fallback?: boolean },
    { readonly resumed: boolean; readonly epoch: bigint },
  ];
  /** Client: writes `text`, resolves once the server has sent it back. */
  readonly echo: [{ readonly text: string }, { readonly epoch: bigint }];
  /** Either role: `update()` on its latest connection, resolved by the peer's confirmation. */
  readonly update: [Record<string, never>, { readonly epoch: bigint }];
  /** Client: destroys its connection, a transport break, and waits for its close. */
  readonly break: [Record<string, never>, Record<string, never>];
  /** Either role: resolves once none of its connections is open, with every error seen. */
  readonly settle: [Record<string, never>, { readonly errors: readonly string[] }];
  /** Either role: every compare-and-set made so far. */
  readonly persistPoints: [Record<string, never>, readonly PersistPoint[]];
}

export type CrashCommandName = keyof CrashCommands;

/** What drives an agent: the same calls in the test process and across IPC. */
export interface CrashAgentHandle {
  /** The server's port (0 for a client). */
  readonly port: number;
  call<K extends CrashCommandName>(
    name: K,
    argument: CrashCommands[K][0],
  ): Promise<CrashCommands[K][1]>;
}

/** Called around each compare-and-set with its number in this process, from 1. */
export interface PersistHooks {
  readonly beforeWrite?: (count: number) => void;
  readonly afterWrite?: (count: number) => void;
}

/** How long a handshake may take before the socket gives up: no wait is unbounded. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * A store that numbers the state machine's compare-and-sets (one per state change, each
 * before the bytes that depend on it) and calls the hooks around the real one.
 */
class CountingStore implements SessionStore {
  readonly points: PersistPoint[] = [];
  readonly #inner: SessionStore;
  readonly #hooks: PersistHooks;
  #calls = 0;

  constructor(inner: SessionStore, hooks: PersistHooks) {
    this.#inner = inner;
    this.#hooks = hooks;
  }

  get(id: Uint8Array): Promise<SessionRecord | undefined> {
    return this.#inner.get(id);
  }

  async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const count = ++this.#calls;
    // better-sqlite3 writes inside the call; a networked store takes a round trip. A turn of
    // the event loop before the write opens that window, so bytes handed to the transport
    // before the write has finished would leave, and a kill before it would catch them.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#hooks.beforeWrite?.(count);
    const written = await this.#inner.compareAndSet(id, expected, next);
    this.points.push({ record: next, written });
    this.#hooks.afterWrite?.(count);
    return written;
  }

  delete(id: Uint8Array): Promise<void> {
    return this.#inner.delete(id);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A running agent, in this process. */
export interface CrashAgent extends CrashAgentHandle {
  /** Destroys its connections, stops listening and closes its store. */
  close(): Promise<void>;
}

export async function openCrashAgent(
  config: CrashAgentConfig,
  hooks: PersistHooks = {},
): Promise<CrashAgent> {
  const store = new CountingStore(new SqliteStore({ path: config.dbPath }), hooks);
  return config.role === 'server' ? serverAgent(config, store) : clientAgent(config, store);
}

/** The commands a role answers. */
type CommandTable = Partial<{
  [K in CrashCommandName]: (argument: CrashCommands[K][0]) => Promise<CrashCommands[K][1]>;
}>;

/** Wakes whoever waits for the next change of something. */
class Notifier {
  #waiters: (() => void)[] = [];

  next(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  notify(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

function codeOf(error: unknown): string {
  if (error instanceof MlsTlsError) return error.code;
  return (error as { code?: string } | undefined)?.code ?? String(error);
}

/** An error carrying the code of the one that ended a connection, across IPC too. */
export class CrashCommandError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'CrashCommandError';
    this.code = code;
  }
}

function failed(what: string, error: unknown): CrashCommandError {
  const message = error instanceof Error ? error.message : String(error);
  return new CrashCommandError(codeOf(error), `${what}: ${codeOf(error)} (${message})`);
}

/** A socket's close, whether or not an error came before it (`events.once` would reject). */
function closed(socket: MlsTlsSocket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The connection's end as a rejection: for a wait that only its peer's bytes can end. */
function closing(socket: MlsTlsSocket): Promise<never> {
  return new Promise((_, reject) => {
    socket.once('error', reject);
    socket.once('close', () => reject(new CrashCommandError('CLOSED', 'the connection closed')));
  });
}

async function serverAgent(
  config: Extract<CrashAgentConfig, { role: 'server' }>,
  store: CountingStore,
): Promise<CrashAgent> {
  const errors: string[] = [];
  const open = new Set<Socket>();
  let latest: MlsTlsSocket | undefined;
  const server: MlsTlsServer = createServer(
    { store, credential: config.credential, handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
    (socket) => {
      latest = socket;
      socket.on('error', (error) => errors.push(codeOf(error)));
      socket.on('data', (data: Buffer) => socket.write(data));
    },
  );
  server.on('tlsClientError', (error: Error) => errors.push(codeOf(error)));
  const transportClosed = new Notifier();
  server.on('connection', (transport: Socket) => {
    open.add(transport);
    transport.once('close', () => {
      open.delete(transport);
      transportClosed.notify();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;

  const commands: CommandTable = {
    update: async () => {
      const socket = latest;
      if (socket === undefined) throw new CrashCommandError('NO_CONNECTION', 'no connection');
      await Promise.race([socket.update(), closing(socket)]).catch((error: unknown) => {
        throw failed('update', error);
      });
      return { epoch: socket.epoch };
    },
    settle: async () => {
      while (open.size > 0) await transportClosed.next();
      return { errors: [...errors] };
    },
    persistPoints: async () => [...store.points],
  };
  return {
    port,
    call: (name, argument) => dispatch(commands, name, argument),
    close: async () => {
      for (const transport of open) transport.destroy();
      server.close();
      await store.close();
    },
  };
}

function clientAgent(
  config: Extract<CrashAgentConfig, { role: 'client' }>,
  store: CountingStore,
): CrashAgent {
  const errors: string[] = [];
  let socket: MlsTlsSocket | undefined;
  /** What the current connection has received and no echo has consumed yet. */
  let received = '';
  const arrived = new Notifier();

  const current = (): MlsTlsSocket => {
    if (socket === undefined || socket.destroyed) {
      throw new CrashCommandError('NO_CONNECTION', 'no open connection');
    }
    return socket;
  };

  const commands: CommandTable = {
    connect: async ({ port, fallback }) => {
      const next = connect({
        host: '127.0.0.1',
        port,
        store,
        sessionId: config.sessionId,
        fallback: fallback === true,
        peerSignaturePublicKey: config.peerSignaturePublicKey,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      });
      socket = next;
      received = '';
      next.on('error', (error) => errors.push(codeOf(error)));
      next.on('data', (data: Buffer) => {
        received += data.toString('utf8');
        arrived.notify();
      });
      next.on('close', () => arrived.notify());
      await Promise.race([once(next, 'secureConnect'), closing(next)]).catch((error: unknown) => {
        throw failed('connect', error);
      });
      return { resumed: next.isSessionReused(), epoch: next.epoch };
    },
    echo: async ({ text }) => {
      const connection = current();
      connection.write(text);
      while (!received.includes(text)) {
        if (connection.destroyed) {
          const code = errors.at(-1) ?? 'CLOSED';
          throw new CrashCommandError(code, `echo: ${code} before the echo came back`);
        }
        await arrived.next();
      }
      received = received.slice(received.indexOf(text) + text.length);
      return { epoch: connection.epoch };
    },
    update: async () => {
      const connection = current();
      await Promise.race([connection.update(), closing(connection)]).catch((error: unknown) => {
        throw failed('update', error);
      });
      return { epoch: connection.epoch };
    },
    break: async () => {
      const connection = current();
      const ended = closed(connection);
      connection.destroy();
      await ended;
      return {};
    },
    settle: async () => {
      if (socket !== undefined && !socket.closed) await closed(socket);
      return { errors: [...errors] };
    },
    persistPoints: async () => [...store.points],
  };
  return {
    port: 0,
    call: (name, argument) => dispatch(commands, name, argument),
    close: async () => {
      socket?.destroy();
      await store.close();
    },
  };
}

function dispatch<K extends CrashCommandName>(
  commands: CommandTable,
  name: K,
  argument: CrashCommands[K][0],
): Promise<CrashCommands[K][1]> {
  const command = commands[name] as
    | ((argument: CrashCommands[K][0]) => Promise<CrashCommands[K][1]>)
    | undefined;
  if (command === undefined) {
    return Promise.reject(new CrashCommandError('UNKNOWN_COMMAND', `no command ${name} here`));
  }
  return command(argument);
}
