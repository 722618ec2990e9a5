// Resumption over real TCP (docs/protocol.md section 6): a transport broken in each state a
// connection can break in, then resumed from a real store, on each kind of store.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore, type SessionStore } from '@mlstls/storage';
import { RedisStore } from '@mlstls/storage-redis';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { MlsTlsServer, MlsTlsSocket } from '../src/index.js';
import {
  closeAll,
  closed,
  connectPinned,
  errorsOf,
  nextError,
  type Relay,
  startRelay,
  startServer,
} from './loopback.js';

afterEach(closeAll);

interface Stores {
  readonly client: SessionStore;
  readonly server: SessionStore;
  close(): Promise<void>;
}

const backends: { name: string; open: () => Promise<Stores> }[] = [
  {
    name: 'memory',
    open: async () => {
      const client = new MemoryStore();
      const server = new MemoryStore();
      return { client, server, close: async () => {} };
    },
  },
  {
    name: 'SQLite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mlstls-resume-'));
      const client = new SqliteStore({ path: join(dir, 'client.db') });
      const server = new SqliteStore({ path: join(dir, 'server.db') });
      return {
        client,
        server,
        close: async () => {
          await client.close();
          await server.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'Redis',
    open: async () => {
      const prefix = `mlstls-test:${process.pid}:${Math.random().toString(36).slice(2)}:`;
      const url = inject('redisUrl');
      const client = await RedisStore.connect({ url, prefix: `${prefix}client:` });
      const server = await RedisStore.connect({ url, prefix: `${prefix}server:` });
      return {
        client,
        server,
        close: async () => {
          await client.close();
          await server.close();
        },
      };
    },
  },
];

/** A server with a store behind a relay, its server-side sockets, and a client maker. */
async function world(stores: Stores) {
  const accepted: MlsTlsSocket[] = [];
  const server: MlsTlsServer = await startServer({ store: stores.server }, (socket) => {
    accepted.push(socket);
    socket.on('data', (data: Buffer) => socket.write(data)); // echo
  });
  const relay: Relay = await startRelay((server.address() as { port: number }).port);
  const client = () =>
    connectPinned(server, {
      host: '127.0.0.1',
      port: relay.port,
      store: stores.client,
      sessionId: 'the server',
    });
  return { server, relay, accepted, client };
}

async function secure(socket: MlsTlsSocket): Promise<MlsTlsSocket> {
  await once(socket, 'secureConnect');
  return socket;
}

async function echoes(socket: MlsTlsSocket): Promise<void> {
  const message = Buffer.from(`ping ${Math.random()}`);
  socket.write(message);
  const [answer] = (await once(socket, 'data')) as [Buffer];
  expect(answer.toString()).toBe(message.toString());
}

async function untilEpoch(socket: MlsTlsSocket, epoch: bigint): Promise<void> {
  while (socket.epoch < epoch) await once(socket, 'epoch');
}

/** The ways a transport breaks: each leaves the two ends in the states named. */
const breaks: {
  name: string;
  resumedEpoch: bigint;
  before: (w: Awaited<ReturnType<typeof world>>, client: MlsTlsSocket) => Promise<void>;
}[] = [
  { name: 'SYNCED (I1, R1)', resumedEpoch: 2n, before: async () => {} },
  {
    name: 'I2: its connection_update lost',
    resumedEpoch: 3n,
    before: async ({ relay }, client) => {
      relay.hold('toServer');
      client.update().catch(() => {});
      await relay.untilHeld('toServer');
    },
  },
  {
    name: 'I2: its commit applied, the epoch_key_update lost',
    resumedEpoch: 3n,
    before: async ({ relay, accepted }, client) => {
      relay.hold('toClient');
      client.update().catch(() => {});
      await untilEpoch(accepted.at(-1)!, 2n);
      await relay.untilHeld('toClient');
    },
  },
  {
    name: "I3: the server's commit applied, the epoch_key_update lost (t == m + 2 over P)",
    resumedEpoch: 3n,
    before: async ({ relay, accepted }) => {
      relay.hold('toServer');
      accepted
        .at(-1)!
        .update()
        .catch(() => {});
      await relay.untilHeld('toServer');
    },
  },
  {
    name: 'R2: its connection_update lost',
    resumedEpoch: 2n,
    before: async ({ relay, accepted }) => {
      relay.hold('toClient');
      accepted
        .at(-1)!
        .update()
        .catch(() => {});
      await relay.untilHeld('toClient');
    },
  },
];

for (const backend of backends) {
  describe(`resumption on ${backend.name}`, () => {
    for (const broken of breaks) {
      it(`after a break in ${broken.name}`, async () => {
        const stores = await backend.open();
        try {
          const w = await world(stores);
          const first = await secure(w.client());
          expect(first.isSessionReused()).toBe(false);
          await echoes(first);
          await broken.before(w, first);
          const oldServerSide = w.accepted.at(-1)!;
          w.relay.cut();
          await closed(first);

          const second = await secure(w.client());
          expect(errorsOf(second)).toEqual([]);
          expect(second.isSessionReused()).toBe(true);
          expect(second.epoch).toBe(broken.resumedEpoch);
          // The server reports the connection once it has opened the client's key
          // confirmation, which goes out with the client's first data.
          await echoes(second);
          const serverSide = w.accepted.at(-1)!;
          expect(serverSide).not.toBe(oldServerSide);
          expect(serverSide.isSessionReused()).toBe(true);
          // It goes on as a connection: an update from each side.
          await second.update();
          await serverSide.update();
          await untilEpoch(second, broken.resumedEpoch + 2n);
          await echoes(second);
          expect(errorsOf(second)).toEqual([]);
        } finally {
          closeAll();
          await stores.close();
        }
      });
    }
  });
}

describe('resumption in the binding', () => {
  it('a refused resumption falls back to a full handshake on a new connection', async () => {
    const stores = await backends[0]!.open();
    const w = await world(stores);
    const first = await secure(w.client());
    first.destroy();
    // The server forgets every session (a new store): the stored one is refused.
    const forgetful = await startServer(
      { store: new MemoryStore(), credential: w.server.credential! },
      (socket) => socket.pipe(socket),
    );
    const relay = await startRelay((forgetful.address() as { port: number }).port);
    const second = connectPinned(forgetful, {
      host: '127.0.0.1',
      port: relay.port,
      store: stores.client,
      sessionId: 'the server',
    });
    second.write('written before the handshake');
    await secure(second);
    const [echoed] = (await once(second, 'data')) as [Buffer];
    expect(echoed.toString()).toBe('written before the handshake');
    expect(second.isSessionReused()).toBe(false);
    expect(second.epoch).toBe(1n);
    expect(errorsOf(second)).toEqual([]);
    expect((await stores.client.get(new TextEncoder().encode('the server')))?.epoch).toBe(1n);
  });

  it('with fallback: false a refused resumption is ERR_MLSTLS_UNKNOWN_PSK_IDENTITY', async () => {
    const stores = await backends[0]!.open();
    const w = await world(stores);
    (await secure(w.client())).destroy();
    const forgetful = await startServer({ credential: w.server.credential! });
    const second = connectPinned(forgetful, {
      host: '127.0.0.1',
      store: stores.client,
      sessionId: 'the server',
      fallback: false,
    });
    const error = await nextError(second);
    expect(error).toMatchObject({ code: 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY', alert: 115 });
    expect(await stores.client.get(new TextEncoder().encode('the server'))).toBeUndefined();
  });

  it('`sessionId` as bytes and the deprecated `sessionName` name the same stored session', async () => {
    const stores = await backends[0]!.open();
    const server = await startServer({ store: stores.server }, (socket) => socket.pipe(socket));
    const id = 'one session, three spellings';
    const first = await secure(connectPinned(server, { store: stores.client, sessionId: id }));
    expect(first.isSessionReused()).toBe(false);
    first.destroy();
    const bytes = new TextEncoder().encode(id);
    const second = await secure(connectPinned(server, { store: stores.client, sessionId: bytes }));
    expect(second.isSessionReused()).toBe(true);
    second.destroy();
    const third = await secure(connectPinned(server, { store: stores.client, sessionName: id }));
    expect(third.isSessionReused()).toBe(true);
    expect(third.epoch).toBe(3n);
    await echoes(third);
  });

  it("an application's own session ('session' event, `session` option) resumes without a store", async () => {
    const stores = await backends[0]!.open();
    const server = await startServer({ store: stores.server }, (socket) => socket.pipe(socket));
    const first = connectPinned(server);
    let kept: Buffer | undefined;
    first.on('session', (session: Buffer) => {
      kept = session;
    });
    await secure(first);
    expect(kept).toBeInstanceOf(Buffer);
    first.destroy();
    const second = await secure(connectPinned(server, { session: kept! }));
    expect(second.isSessionReused()).toBe(true);
    expect(second.epoch).toBe(2n);
    await echoes(second);
  });

  it('a second connection while the first holds the session makes a full handshake; both live', async () => {
    const stores = await backends[0]!.open();
    const w = await world(stores);
    const first = await secure(w.client());
    const second = await secure(w.client());
    expect(second.isSessionReused()).toBe(false);
    await echoes(first);
    await echoes(second);
    await first.update();
    await echoes(first);
    expect(errorsOf(first)).toEqual([]);
  });

  it('a connection made right after destroy() of the one holding the session resumes it', async () => {
    const stores = await backends[0]!.open();
    const w = await world(stores);
    const first = await secure(w.client());
    first.destroy();
    // No tick in between: the session is free once destroy() has returned.
    const second = await secure(w.client());
    expect(second.isSessionReused()).toBe(true);
    await echoes(second);
  });

  it('a live server connection whose session another connection resumed closes itself', async () => {
    const stores = await backends[0]!.open();
    const accepted: MlsTlsSocket[] = [];
    const server = await startServer({ store: stores.server }, (socket) => {
      accepted.push(socket);
      socket.pipe(socket);
    });
    const first = connectPinned(server);
    let kept: Buffer | undefined;
    first.on('session', (session: Buffer) => {
      kept = session;
    });
    await secure(first);
    // The server reports the connection once the client's key confirmation arrives (section 4).
    if (accepted.length === 0) await once(server, 'secureConnection');
    const oldServerSide = accepted[0]!;
    // The session is resumed elsewhere while the first connection still lives.
    const second = await secure(connectPinned(server, { session: kept! }));
    expect(second.isSessionReused()).toBe(true);
    const failed = nextError(oldServerSide);
    oldServerSide.update().catch(() => {});
    expect(await failed).toMatchObject({ code: 'ERR_MLSTLS_SESSION_SUPERSEDED' });
    await echoes(second);
  });
});
