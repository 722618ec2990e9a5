// One responder of a fleet, run as a child process (`startResponder` in responder-fleet.ts):
// an mlstls echo server on 127.0.0.1 with a shared credential and a shared store, that reports
// what happens to its connections over the IPC channel. It imports the built packages, as a
// deployed server would.
import {
  createServer,
  type EndpointCredential,
  MlsTlsError,
  type MlsTlsServer,
  type MlsTlsSocket,
} from '@mlstls/node';
import type { SessionRecord, SessionStore } from '@mlstls/storage';
import { RedisStore } from '@mlstls/storage-redis';
import { SqliteStore } from '@mlstls/storage-sqlite';

/** Where the responder keeps its sessions. */
export type ResponderStoreConfig =
  | { readonly kind: 'redis'; readonly url: string; readonly prefix: string }
  | { readonly kind: 'sqlite'; readonly path: string };

/** The first IPC message a responder process receives. */
export interface ResponderConfig {
  readonly credential: EndpointCredential;
  readonly store: ResponderStoreConfig;
  /** The label of the keying material each secure connection reports. */
  readonly exporterLabel: string;
}

/**
 * What the parent may tell a running responder. `holdReads` arms a read barrier: from then on
 * every session read is made, reported (`read`) and held until `releaseReads`, which also
 * disarms it. With every racer's read held, all of them load the same stored version before
 * any of them writes: the worst case a compare-and-set has to decide.
 */
export type ResponderCommand = { readonly type: 'holdReads' } | { readonly type: 'releaseReads' };

/**
 * What a responder process reports, in order. `connection` numbers the server-side sockets of
 * this process from 1.
 */
export type ResponderReport =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'holdingReads' }
  /** A session read, made and held at the barrier: the epoch it found. */
  | { readonly type: 'read'; readonly epoch: bigint | undefined }
  | {
      readonly type: 'secureConnection';
      readonly connection: number;
      readonly resumed: boolean;
      /** `exportKeyingMaterial(32, exporterLabel)` at `'secureConnection'`. */
      readonly exporter: Uint8Array;
    }
  | { readonly type: 'data'; readonly connection: number; readonly length: number }
  | {
      readonly type: 'epoch';
      readonly connection: number;
      readonly epoch: bigint;
      readonly cause: string;
    }
  /** A connection that failed before its handshake completed (`'tlsClientError'`). */
  | {
      readonly type: 'clientError';
      readonly code: string;
      readonly alert: number | undefined;
      readonly message: string;
    }
  | { readonly type: 'socketError'; readonly connection: number; readonly code: string }
  | { readonly type: 'closed'; readonly connection: number }
  /** Something escaped every handler: the process exits after this. */
  | { readonly type: 'fatal'; readonly message: string };

function report(message: ResponderReport): void {
  process.send?.(message);
}

function codeOf(error: Error): string {
  return error instanceof MlsTlsError ? error.code : ((error as { code?: string }).code ?? 'none');
}

function alertOf(error: Error): number | undefined {
  return error instanceof MlsTlsError ? error.alert : undefined;
}

async function openStore(config: ResponderStoreConfig): Promise<SessionStore> {
  if (config.kind === 'redis')
    return RedisStore.connect({ url: config.url, prefix: config.prefix });
  return new SqliteStore({ path: config.path });
}

/** The read barrier of `ResponderCommand`: resolves held reads on release. */
let barrier: { readonly released: Promise<void>; readonly release: () => void } | undefined;

function onCommand(command: ResponderCommand): void {
  if (command.type === 'holdReads') {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    barrier = { released, release };
    report({ type: 'holdingReads' });
  } else {
    barrier?.release();
    barrier = undefined;
  }
}

/** `store` with its reads held at the barrier while it is armed; writes pass straight on. */
function behindReadBarrier(store: SessionStore): SessionStore {
  return {
    get: async (id: Uint8Array): Promise<SessionRecord | undefined> => {
      const held = barrier;
      const record = await store.get(id);
      if (held !== undefined) {
        report({ type: 'read', epoch: record?.epoch });
        await held.released;
      }
      return record;
    },
    compareAndSet: (id, expected, next) => store.compareAndSet(id, expected, next),
    delete: (id) => store.delete(id),
    close: () => store.close(),
  };
}

async function serve(config: ResponderConfig): Promise<MlsTlsServer> {
  const store = behindReadBarrier(await openStore(config.store));
  let connections = 0;
  const server = createServer({ store, credential: config.credential }, (socket: MlsTlsSocket) => {
    const connection = ++connections;
    socket.on('error', (error) => report({ type: 'socketError', connection, code: codeOf(error) }));
    socket.on('epoch', (epoch: bigint, cause: string) =>
      report({ type: 'epoch', connection, epoch, cause }),
    );
    socket.on('close', () => report({ type: 'closed', connection }));
    socket.on('data', (data: Buffer) => {
      report({ type: 'data', connection, length: data.length });
      socket.write(data);
    });
    report({
      type: 'secureConnection',
      connection,
      resumed: socket.isSessionReused(),
      exporter: new Uint8Array(socket.exportKeyingMaterial(32, config.exporterLabel)),
    });
  });
  server.on('tlsClientError', (error: Error) =>
    report({
      type: 'clientError',
      code: codeOf(error),
      alert: alertOf(error),
      message: error.message,
    }),
  );
  server.listen(0, '127.0.0.1', () => {
    report({ type: 'listening', port: (server.address() as { port: number }).port });
  });
  return server;
}

process.on('uncaughtException', (error) => {
  report({ type: 'fatal', message: `${error.name}: ${error.message}` });
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  report({ type: 'fatal', message: `unhandled rejection: ${String(reason)}` });
  process.exit(1);
});
// The parent's end is this process's end: no orphan keeps a port.
process.on('disconnect', () => process.exit(0));
process.once('message', (config: ResponderConfig) => {
  void serve(config);
  process.on('message', onCommand);
});
