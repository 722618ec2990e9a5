// Store faults degrade resumption, never availability (docs/protocol.md section 6): with the
// Redis behind a server or a client stopped or hung, or its SQLite file locked by another
// process, full handshakes complete in the time of a normal handshake plus at most the store's
// deadline, reported by 'storeError', and the server's event loop never stalls.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MemoryStore, type SessionStore } from '@mlstls/storage';
import { RedisStore } from '@mlstls/storage-redis';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { type RedisServer, redisServer, stallProbe, within } from '@mlstls/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MlsTlsError, MlsTlsServer, MlsTlsSocket } from '../src/index.js';
import { closeAll, connectPinned, errorsOf, portOf, startServer } from './loopback.js';

afterEach(closeAll);

/**
 * @mlstls/storage-sqlite's own test process that holds a database locked (`BEGIN EXCLUSIVE`
 * and a write) for a given time: `{ locked }`, then `{ released }`.
 */
const LOCK_HOLDER = join(
  import.meta.dirname,
  '..',
  '..',
  'storage-sqlite',
  'test',
  'fixtures',
  'lock-holder.mjs',
);

/** The store deadline of these tests: short, so that a hung store shows in the timings. */
const DEADLINE = 400;
/** What a loaded 2-core runner may add to a measured handshake. */
const SLACK = 400;

let redis: RedisServer;
beforeAll(async () => {
  // A private server: these tests stop and pause it, which the shared one must not see.
  redis = await redisServer(undefined);
});
afterAll(async () => {
  if (redis.pid !== undefined) process.kill(redis.pid, 'SIGCONT');
  await redis.stop();
});

function signal(name: 'SIGSTOP' | 'SIGCONT'): void {
  if (redis.pid === undefined) throw new Error('the test needs a redis-server it started');
  process.kill(redis.pid, name);
}

/** One full handshake; resolves with its time and both ends once both report it. */
async function handshake(
  server: MlsTlsServer,
  clientStore: SessionStore | undefined,
): Promise<{ ms: number; client: MlsTlsSocket; serverSide: MlsTlsSocket }> {
  const start = performance.now();
  const accepted = once(server, 'secureConnection') as Promise<[MlsTlsSocket]>;
  const client = connectPinned(server, {
    ...(clientStore === undefined ? {} : { store: clientStore }),
    sessionId: `store-faults-${Math.random()}`,
  });
  await once(client, 'secureConnect');
  // The server reports the connection once the client's key confirmation is in, after its
  // own write of the session: its 'secureConnection' ends the measured time.
  const [serverSide] = await accepted;
  return { ms: performance.now() - start, client, serverSide };
}

async function normalHandshakeMs(): Promise<number> {
  const server = await startServer({ store: new MemoryStore() });
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await handshake(server, new MemoryStore())).ms);
  return Math.max(...times.slice(1));
}

async function redisStore(): Promise<RedisStore> {
  return RedisStore.connect({
    url: redis.url,
    deadline: DEADLINE,
    prefix: `faults:${Math.random()}:`,
  });
}

describe('a server whose Redis fails', () => {
  for (const fault of ['stopped', 'hung'] as const) {
    it(`completes full handshakes with its Redis ${fault}, within a normal handshake plus the deadline, and says so`, async () => {
      const normal = await normalHandshakeMs();
      const store = await redisStore();
      const server = await startServer({ store });
      const reported: MlsTlsError[] = [];
      server.on('storeError', (error: MlsTlsError) => reported.push(error));
      const healthy = await handshake(server, undefined);
      expect(healthy.serverSide.storeError).toBeUndefined();
      if (fault === 'hung') signal('SIGSTOP');
      else await redis.stop();
      try {
        for (let i = 0; i < 3; i++) {
          const { ms, client, serverSide } = await handshake(server, undefined);
          expect(ms).toBeLessThan(normal + DEADLINE + SLACK);
          expect(serverSide.storeError?.code).toBe(
            fault === 'hung' ? 'ERR_MLSTLS_STORAGE_TIMEOUT' : 'ERR_MLSTLS_STORAGE',
          );
          // The connection goes on: data and an update.
          client.write('ping');
          const [data] = (await once(serverSide, 'data')) as [Buffer];
          expect(data.toString()).toBe('ping');
          await client.update();
          expect(errorsOf(client)).toEqual([]);
          expect(errorsOf(serverSide)).toEqual([]);
        }
        expect(reported).toHaveLength(3);
      } finally {
        if (fault === 'hung') signal('SIGCONT');
        else redis = await redisServer(undefined);
        await store.close();
      }
    });
  }

  it('with strictStore, a hung Redis fails the handshake after the deadline', async () => {
    const store = await redisStore();
    const server = await startServer({ store, strictStore: true });
    const failed = once(server, 'tlsClientError') as Promise<[MlsTlsError]>;
    signal('SIGSTOP');
    try {
      const client = connectPinned(server);
      client.on('error', () => {});
      const [error] = await failed;
      expect(error.code).toBe('ERR_MLSTLS_STORAGE_TIMEOUT');
    } finally {
      signal('SIGCONT');
      await store.close();
    }
  });
});

describe('a client whose Redis fails', () => {
  it('completes a full handshake with its Redis hung, within a normal handshake plus the deadline', async () => {
    const normal = await normalHandshakeMs();
    const store = await redisStore();
    const server = await startServer({ store: new MemoryStore() });
    signal('SIGSTOP');
    try {
      const { ms, client } = await handshake(server, store);
      expect(ms).toBeLessThan(normal + DEADLINE + SLACK);
      expect(client.isSessionReused()).toBe(false);
      expect(client.storeError?.code).toBe('ERR_MLSTLS_STORAGE_TIMEOUT');
    } finally {
      signal('SIGCONT');
      await store.close();
    }
  });
});

describe('a server whose SQLite file another process holds locked', () => {
  it('never stalls its event loop while the lock is held for 5 s: handshakes complete unstored within the deadline, then store again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlstls-locked-'));
    const path = join(dir, 'server.db');
    const store = new SqliteStore({ path, deadline: DEADLINE });
    const reported: MlsTlsError[] = [];
    const server = await startServer({ store }, (socket) => {
      socket.on('data', (data: Buffer) => socket.write(data));
    });
    server.on('storeError', (error: MlsTlsError) => reported.push(error));
    const port = portOf(server);
    const pinned = Buffer.from(server.credential!.signaturePublicKey).toString('hex');
    // The clients run in a process of their own, as they would: this process's event loop is
    // the server's alone.
    const clients = fork(
      join(import.meta.dirname, 'fixtures', 'handshake-loop.ts'),
      [String(port), pinned],
      { execArgv: ['--import', import.meta.resolve('tsx')] },
    );
    const times: { ms?: number; error?: string; locked: boolean }[] = [];
    let locked = false;
    clients.on('message', (message: { ms?: number; error?: string }) =>
      times.push({ ...message, locked }),
    );
    try {
      await within(
        new Promise<void>((resolve) => clients.once('message', () => resolve())),
        10_000,
        'the first handshake',
      );
      await new Promise((resolve) => setTimeout(resolve, 500)); // warm
      const normal = Math.max(...times.map((time) => time.ms ?? 0));
      const holder = fork(LOCK_HOLDER, [path, '5000']);
      const released = new Promise<void>((resolve, reject) => {
        holder.on('message', (message: { released?: true }) => {
          if (message.released) resolve();
        });
        holder.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
      });
      try {
        await within(
          new Promise<void>((resolve) => holder.once('message', () => resolve())),
          5_000,
          'the lock',
        );
        locked = true;
        const probe = stallProbe();
        await within(released, 10_000, 'the release');
        const stalls = probe.stop();
        locked = false;
        const during = times.filter((time) => time.locked);
        expect(during.length).toBeGreaterThanOrEqual(5);
        expect(during.filter((time) => time.error !== undefined)).toEqual([]);
        for (const { ms } of during) expect(ms).toBeLessThan(normal + DEADLINE + SLACK);
        expect(reported.length).toBeGreaterThanOrEqual(during.length - 1);
        expect(reported.every((error) => error.code === 'ERR_MLSTLS_STORAGE_TIMEOUT')).toBe(true);
        // `own`: less the time a loaded runner kept this process off the CPUs (the raw gap is in
        // the message).
        expect(stalls.own, `event loop stall, ms (raw ${stalls.longest})`).toBeLessThan(50);
      } finally {
        holder.kill('SIGKILL');
      }
      // The lock is gone: connections are stored again.
      const count = reported.length;
      const stored = times.length;
      await within(
        new Promise<void>((resolve) => {
          const check = () => (times.length >= stored + 3 ? resolve() : setTimeout(check, 20));
          check();
        }),
        10_000,
        'handshakes after the release',
      );
      expect(reported.length).toBeLessThanOrEqual(count + 1);
    } finally {
      clients.send('stop');
      await within(once(clients, 'exit'), 10_000, 'the clients to stop').catch(() =>
        clients.kill('SIGKILL'),
      );
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
