// One piece of code, three session stores: the same server, client and resumption run on
// MemoryStore (@mlstls/storage), on SQLite (@mlstls/storage-sqlite) and on Redis
// (@mlstls/storage-redis, at REDIS_URL). Each time the client connects, the transport breaks
// without close_notify, and the next connection resumes the stored session: no new handshake,
// `isSessionReused() === true` on both ends. `REDIS_URL=redis://127.0.0.1:6379 node main.mjs`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from '@mlstls/node';
import { MemoryStore } from '@mlstls/storage';
import { RedisStore } from '@mlstls/storage-redis';
import { SqliteStore } from '@mlstls/storage-sqlite';

const STEP_TIMEOUT_MS = 10_000;

/** `promise`, or a rejection naming `what` after STEP_TIMEOUT_MS. */
function within(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${STEP_TIMEOUT_MS} ms`)),
      STEP_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Connects and waits for the handshake; rejects with the socket's error. */
async function connected(options) {
  const socket = connect(options);
  await within('connect', once(socket, 'secureConnect'));
  return socket;
}

/**
 * The code that does not change: a server and a client, each with its own store, a
 * connection, a broken transport and a resumption.
 */
async function resume(name, serverStore, clientStore) {
  const serverSockets = [];
  const server = createServer({ store: serverStore }, (socket) => {
    serverSockets.push(socket);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await within('listen', once(server, 'listening'));
  const options = {
    host: '127.0.0.1',
    port: server.address().port,
    store: clientStore,
    peerSignaturePublicKey: server.credential.signaturePublicKey,
  };
  try {
    const first = await connected(options);
    assert.equal(first.isSessionReused(), false);
    console.log(`${name}: connected, epoch ${first.epoch}, session stored`);
    first.destroy(); // the transport breaks: no close_notify
    await within('close', once(first, 'close'));

    const next = await connected(options);
    const echoed = within('echo', once(next, 'data'));
    next.write('hello again');
    assert.equal(`${(await echoed)[0]}`, 'hello again');
    const reused = next.isSessionReused();
    const serverReused = serverSockets.at(-1).isSessionReused();
    console.log(
      `${name}: reconnected, isSessionReused() === ${reused} (server: ${serverReused}), epoch ${next.epoch}`,
    );
    assert.equal(reused, true);
    assert.equal(serverReused, true);
    next.end();
    await within('close', once(next, 'close'));
  } finally {
    server.close();
    await Promise.all([serverStore.close(), clientStore.close()]);
  }
}

async function main() {
  await resume('memory', new MemoryStore(), new MemoryStore());

  const dir = await mkdtemp(join(tmpdir(), 'mlstls-storage-swap-'));
  try {
    await resume(
      'sqlite',
      new SqliteStore({ path: join(dir, 'server.db') }),
      new SqliteStore({ path: join(dir, 'client.db') }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const url = process.env.REDIS_URL;
  if (!url) throw new Error('set REDIS_URL to a Redis server, e.g. redis://127.0.0.1:6379');
  // Keys of this run only, gone a minute after their last write.
  const prefix = `mlstls-example:${randomBytes(6).toString('hex')}:`;
  const ttl = 60_000;
  await resume(
    'redis',
    await RedisStore.connect({ url, prefix: `${prefix}server:`, ttl }),
    await RedisStore.connect({ url, prefix: `${prefix}client:`, ttl }),
  );
  console.log('storage-swap: OK');
}

// Every step is bounded; so is the whole run.
setTimeout(() => {
  console.error('timed out after 60 s');
  process.exit(1);
}, 60_000).unref();

await main();
