import { once } from 'node:events';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { MlsTlsError } from '@mlstls/codec';
import {
  DEFAULT_SESSION_TTL,
  SESSION_FORMAT,
  type SessionRecord,
  versionOf,
} from '@mlstls/storage';
import { describeSessionStore } from '@mlstls/storage/conformance';
import { type RedisServer, redisServer } from '@mlstls/test-support';
import { createClient, type RedisClientType, TimeoutError } from '@redis/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisStore, type RedisStoreOptions } from '../src/index.js';

const url = inject('redisUrl');
/** Every key of this run starts so, on a server other runs may share (REDIS_URL). */
const runPrefix = `mlstls-test:${hex(randomBytes(6))}:`;

let raw: RedisClientType;
const opened: RedisStore[] = [];

beforeAll(async () => {
  raw = createClient({ url });
  raw.on('error', () => {});
  await raw.connect();
});

afterAll(async () => {
  for (const store of opened) await store.close();
  for await (const keys of raw.scanIterator({ MATCH: `${runPrefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) await raw.del(keys);
  }
  raw.destroy();
});

async function open(options: RedisStoreOptions = {}): Promise<RedisStore> {
  const store = await RedisStore.connect({ url, prefix: `${runPrefix}default:`, ...options });
  opened.push(store);
  return store;
}

function record(epoch: bigint, pending?: Uint8Array): SessionRecord {
  const base = { format: SESSION_FORMAT, epoch, state: randomBytes(64), peer: randomBytes(32) };
  return pending === undefined ? base : { ...base, pending };
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

async function rejection(call: Promise<unknown>): Promise<MlsTlsError> {
  const error = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(MlsTlsError);
  return error as MlsTlsError;
}

describeSessionStore('RedisStore', (options) =>
  RedisStore.connect({ url, prefix: `${runPrefix}conformance:`, ...options }),
);

describe('RedisStore', () => {
  it('keys a session at prefix + hex(id), a hash whose pending field goes when a write has none', async () => {
    const prefix = `${runPrefix}layout:`;
    const store = await open({ prefix });
    const id = Uint8Array.of(0x00, 0xff, 0x10, 0x80);
    const first = record(7n, Uint8Array.of(1, 2, 3));
    expect(await store.compareAndSet(id, null, first)).toBe(true);
    const key = `${prefix}00ff1080`;
    expect(await raw.hGetAll(key)).toMatchObject({ format: String(SESSION_FORMAT), epoch: '7' });
    expect(await raw.hExists(key, 'pending')).toBe(1);

    expect(await store.compareAndSet(id, versionOf(first), record(8n))).toBe(true);
    expect(await raw.hExists(key, 'pending')).toBe(0);
    expect(await raw.hGet(key, 'epoch')).toBe('8');
  });

  it('loads a format-1 hash written field by field, the layout every later version must read', async () => {
    const prefix = `${runPrefix}fixture:`;
    const store = await open({ prefix });
    const id = Uint8Array.of(0x6d, 0x6c, 0x73);
    await raw.hSet(`${prefix}6d6c73`, {
      format: '1',
      epoch: '18446744073709551615',
      state: Buffer.from('00ff0d0a', 'hex'),
      pending: Buffer.alloc(0),
      peer: Buffer.from('c0ffee', 'hex'),
    });
    expect(await store.get(id)).toEqual({
      format: 1,
      epoch: 2n ** 64n - 1n,
      state: Uint8Array.of(0x00, 0xff, 0x0d, 0x0a),
      pending: new Uint8Array(0),
      peer: Uint8Array.of(0xc0, 0xff, 0xee),
    });
  });

  it('keeps stores with different prefixes apart on one server', async () => {
    const a = await open({ prefix: `${runPrefix}a:` });
    const b = await open({ prefix: `${runPrefix}b:` });
    const id = randomBytes(16);
    const inA = record(1n);
    expect(await a.compareAndSet(id, null, inA)).toBe(true);
    expect(await b.get(id)).toBeUndefined();
    const inB = record(5n);
    expect(await b.compareAndSet(id, null, inB)).toBe(true);
    expect((await a.get(id))?.epoch).toBe(1n);
    await b.delete(id);
    expect((await a.get(id))?.epoch).toBe(1n);
  });

  it('gives a key a PTTL of DEFAULT_SESSION_TTL (7 days) without a ttl', async () => {
    const prefix = `${runPrefix}default-ttl:`;
    const store = await open({ prefix });
    const id = randomBytes(8);
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    const pttl = await raw.pTTL(prefix + hex(id));
    expect(pttl).toBeGreaterThan(DEFAULT_SESSION_TTL - 60_000);
    expect(pttl).toBeLessThanOrEqual(DEFAULT_SESSION_TTL);
  });

  it('reads a hash of any uint16 format as it is', async () => {
    const prefix = `${runPrefix}formats:`;
    const store = await open({ prefix });
    for (const format of ['0', '7', '65535']) {
      const id = randomBytes(8);
      await raw.hSet(prefix + hex(id), { format, epoch: '3', state: 'state', peer: 'peer' });
      expect((await store.get(id))?.format).toBe(Number(format));
    }
  });

  it('gives a key a PTTL of ttl on every write, and none with ttl Infinity', async () => {
    const prefix = `${runPrefix}ttl:`;
    const expiring = await open({ prefix, ttl: 60_000 });
    const lasting = await open({ prefix, ttl: Number.POSITIVE_INFINITY });
    const id = randomBytes(8);
    const key = prefix + hex(id);
    const first = record(1n);
    expect(await expiring.compareAndSet(id, null, first)).toBe(true);
    const pttl = await raw.pTTL(key);
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);

    const second = record(2n);
    expect(await lasting.compareAndSet(id, versionOf(first), second)).toBe(true);
    expect(await raw.pTTL(key)).toBe(-1);
    expect(await expiring.compareAndSet(id, versionOf(second), record(3n))).toBe(true);
    expect(await raw.pTTL(key)).toBeGreaterThan(50_000);
  });

  it('round-trips every byte value in ids, states, pending commits and peers', async () => {
    const store = await open();
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    const reversed = everyByte.slice().reverse();
    const written: SessionRecord = {
      format: SESSION_FORMAT,
      epoch: 2n ** 64n - 1n,
      state: everyByte,
      pending: reversed,
      peer: Uint8Array.of(0, 0x0d, 0x0a, 0),
    };
    expect(await store.compareAndSet(everyByte, null, written)).toBe(true);
    const read = await store.get(everyByte);
    expect(read).toEqual({
      format: SESSION_FORMAT,
      epoch: written.epoch,
      state: everyByte,
      pending: reversed,
      peer: written.peer,
    });
    expect(await store.get(reversed)).toBeUndefined();
  });

  it('lets exactly one of 50 concurrent compare-and-sets over two connections win', async () => {
    const prefix = `${runPrefix}race:`;
    const one = await open({ prefix });
    const two = await open({ prefix });
    const id = randomBytes(32);
    const start = record(1n);
    expect(await one.compareAndSet(id, null, start)).toBe(true);
    const nexts = Array.from({ length: 50 }, () => record(2n, randomBytes(24)));
    const results = await Promise.all(
      nexts.map((next, i) => (i % 2 === 0 ? one : two).compareAndSet(id, versionOf(start), next)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = nexts[results.indexOf(true)]!;
    expect(await two.get(id)).toEqual(await one.get(id));
    expect(hex((await one.get(id))!.pending!)).toBe(hex(winner.pending!));
  });

  it('lets exactly one of 50 concurrent creators over two connections win', async () => {
    const prefix = `${runPrefix}create-race:`;
    const one = await open({ prefix });
    const two = await open({ prefix });
    const id = randomBytes(32);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 === 0 ? one : two).compareAndSet(id, null, record(BigInt(i))),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await one.get(id))?.epoch).toBe(BigInt(results.indexOf(true)));
  });

  it('sends the script in full to a server whose script cache was flushed', async () => {
    const store = await open();
    const id = randomBytes(8);
    const first = record(1n);
    expect(await store.compareAndSet(id, null, first)).toBe(true);
    await raw.scriptFlush();
    expect(await store.compareAndSet(id, versionOf(first), record(2n))).toBe(true);
    expect((await store.get(id))?.epoch).toBe(2n);
  });

  describe('reads a malformed stored session as ERR_MLSTLS_STORAGE', () => {
    const prefix = `${runPrefix}malformed:`;
    const good = { format: '1', epoch: '3', state: 'state', peer: 'peer' };
    const cases: [string, Record<string, string>][] = [
      ['no format', { epoch: '3', state: 'state', peer: 'peer' }],
      ['a format that is not decimal', { ...good, format: 'x1' }],
      ['a format with a leading zero', { ...good, format: '01' }],
      ['a format beyond 65535', { ...good, format: '65536' }],
      ['no state', { format: '1', epoch: '3', peer: 'peer' }],
      ['no peer', { format: '1', epoch: '3', state: 'state' }],
      ['an epoch that is not decimal', { ...good, epoch: '0x10' }],
      ['an epoch with a leading zero', { ...good, epoch: '03' }],
      ['an epoch beyond 2^64 - 1', { ...good, epoch: (2n ** 64n).toString() }],
      ['an unknown field', { ...good, extra: 'x' }],
    ];
    for (const [what, fields] of cases) {
      it(what, async () => {
        const store = await open({ prefix });
        const id = randomBytes(8);
        await raw.hSet(prefix + hex(id), fields);
        const error = await rejection(store.get(id));
        expect(error.code).toBe('ERR_MLSTLS_STORAGE');
        expect(error.message).not.toContain('state');
      });
    }

    it('a key of another type, for every call', async () => {
      const store = await open({ prefix });
      const id = randomBytes(8);
      await raw.set(prefix + hex(id), 'not a hash');
      expect((await rejection(store.get(id))).code).toBe('ERR_MLSTLS_STORAGE');
      expect((await rejection(store.compareAndSet(id, { epoch: 1n }, record(2n)))).code).toBe(
        'ERR_MLSTLS_STORAGE',
      );
      // Creation only tests existence, and the key exists.
      expect(await store.compareAndSet(id, null, record(1n))).toBe(false);
    });
  });

  it('refuses options it cannot use with ERR_MLSTLS_INVALID_ARGUMENT', async () => {
    const refused: RedisStoreOptions[] = [
      {},
      { url, client: raw },
      { url: 'http://127.0.0.1:6379' },
      { url, ttl: 0 },
      { url, ttl: 1.5 },
      { url, ttl: Number.NaN },
      { url, deadline: 0 },
      { url, deadline: 1.5 },
      { url, deadline: 2 ** 31 },
      { url, commandTimeout: 300 } as RedisStoreOptions,
      { url, prefix: 7 as unknown as string },
    ];
    for (const options of refused) {
      const error = await rejection(RedisStore.connect(options));
      expect(error.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    }
  });

  it('uses a client it is given and leaves it open on close', async () => {
    const store = await RedisStore.connect({ client: raw, prefix: `${runPrefix}given:` });
    const id = randomBytes(8);
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    expect((await store.get(id))?.epoch).toBe(1n);
    await store.close();
    expect((await rejection(store.get(id))).code).toBe('ERR_MLSTLS_STORAGE');
    expect(await raw.ping()).toBe('PONG');
  });

  it('reads the same bytes through a RESP2 client of the caller as through RESP3', async () => {
    const resp2 = createClient({ url, RESP: 2 });
    resp2.on('error', () => {});
    await resp2.connect();
    const prefix = `${runPrefix}resp2:`;
    const overResp2 = await RedisStore.connect({ client: resp2, prefix });
    const overResp3 = await open({ prefix });
    const id = randomBytes(8);
    const written = record(4n, randomBytes(16));
    expect(await overResp2.compareAndSet(id, null, written)).toBe(true);
    expect(await overResp2.get(id)).toEqual(written);
    expect(await overResp3.get(id)).toEqual(written);
    await overResp2.close();
    resp2.destroy();
  });

  it('closes idempotently, and then rejects every call', async () => {
    const store = await RedisStore.connect({ url });
    await store.close();
    await store.close();
    expect((await rejection(store.get(randomBytes(4)))).code).toBe('ERR_MLSTLS_STORAGE');
    expect((await rejection(store.delete(randomBytes(4)))).code).toBe('ERR_MLSTLS_STORAGE');
  });

  it('rejects a connection to a closed port with ERR_MLSTLS_STORAGE at once', async () => {
    const port = await closedPort();
    const started = performance.now();
    const error = await rejection(RedisStore.connect({ url: `redis://127.0.0.1:${port}` }));
    expect(error.code).toBe('ERR_MLSTLS_STORAGE');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('rejects calls while the server is gone, in bounded time and with no unhandled error event, then recovers', async () => {
    const proxy = await RedisProxy.start(url);
    const store = await open({ url: proxy.url });
    const id = randomBytes(8);
    const first = record(1n);
    expect(await store.compareAndSet(id, null, first)).toBe(true);

    await proxy.down();
    for (const call of [
      store.get(id),
      store.compareAndSet(id, versionOf(first), record(2n)),
      store.delete(id),
    ]) {
      const started = performance.now();
      const error = await rejection(call);
      expect(error.code).toBe('ERR_MLSTLS_STORAGE');
      expect(error.cause).toBeDefined();
      expect(performance.now() - started).toBeLessThan(1_000);
    }

    await proxy.up();
    const deadline = Date.now() + 10_000;
    let read: SessionRecord | undefined;
    while (read === undefined && Date.now() < deadline) {
      read = await store.get(id).catch(() => undefined);
      if (read === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(read?.epoch).toBe(1n);
    expect(await store.compareAndSet(id, versionOf(first), record(2n))).toBe(true);
    await proxy.down();
  });

  it('rejects a call that a stalled relay never answers at the deadline, and closes within it', async () => {
    const proxy = await RedisProxy.start(url);
    const store = await open({ url: proxy.url, deadline: 300 });
    const id = randomBytes(8);
    expect(await store.get(id)).toBeUndefined();
    proxy.stall();
    const started = performance.now();
    const error = await rejection(store.compareAndSet(id, null, record(1n)));
    expect(error.code).toBe('ERR_MLSTLS_STORAGE_TIMEOUT');
    expect(error.cause).toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(performance.now() - started).toBeLessThan(800);
    const closing = performance.now();
    await store.close();
    expect(performance.now() - closing).toBeLessThan(1_500);
    await proxy.down();
  });
});

describe('RedisStore on a hung redis-server (SIGSTOP)', () => {
  // A server of this test's own, never REDIS_URL's: other packages' tests share that one.
  let server: RedisServer;
  let pid: number;
  const DEADLINE = 1_000;

  beforeAll(async () => {
    server = await redisServer(undefined);
    const probe = createClient({ url: server.url });
    probe.on('error', () => {});
    await probe.connect();
    const info = await probe.info('server');
    probe.destroy();
    pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
    expect(Number.isSafeInteger(pid) && pid > 0).toBe(true);
  });

  afterAll(async () => {
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {}
    }
    await server?.stop();
  });

  it('rejects calls with ERR_MLSTLS_STORAGE_TIMEOUT at the deadline (1 s by default) without blocking the event loop, then recovers', async () => {
    const store = await RedisStore.connect({ url: server.url });
    const id = randomBytes(8);
    const first = record(1n, randomBytes(8));
    const second = record(2n);
    expect(await store.compareAndSet(id, null, first)).toBe(true);

    process.kill(pid, 'SIGSTOP');
    try {
      const probe = stallProbe();
      const timed = async (call: Promise<unknown>) => {
        const started = performance.now();
        const error = await rejection(call);
        return { error, took: performance.now() - started };
      };
      const outcomes = [
        await timed(store.get(id)),
        await timed(store.compareAndSet(id, versionOf(first), second)),
        // Calls at once time out together, each at its own deadline.
        ...(await Promise.all(Array.from({ length: 10 }, () => timed(store.get(randomBytes(8)))))),
        // So does a new connection: the kernel accepts it, the server never answers.
        await timed(RedisStore.connect({ url: server.url })),
      ];
      const longestStall = probe.stop();
      for (const { error, took } of outcomes) {
        expect(error.code).toBe('ERR_MLSTLS_STORAGE_TIMEOUT');
        expect(error.cause).toBeInstanceOf(TimeoutError);
        expect(took).toBeGreaterThanOrEqual(DEADLINE - 1);
        expect(took).toBeLessThan(DEADLINE + 500);
      }
      expect(longestStall, 'the longest event loop delay, ms').toBeLessThan(50);
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    // The same connection works again. The compare-and-set that timed out was already on the
    // wire, and the server ran it when it woke: a timeout says nothing about what happened.
    expect(await store.get(id)).toEqual(second);
    expect(await store.compareAndSet(id, versionOf(first), record(3n))).toBe(false);
    expect(await store.compareAndSet(id, versionOf(second), record(3n))).toBe(true);
    expect((await store.get(id))?.epoch).toBe(3n);
    await store.close();
  });
});

/**
 * The longest the event loop went without running a 5 ms interval timer, from now until
 * `stop()`: the gap before `stop()` counts too, so a stall right before it is not missed.
 */
function stallProbe(): { stop(): number } {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(longest, performance.now() - last);
    },
  };
}

/** A port on which nothing listens. */
async function closedPort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  return port;
}

/**
 * A TCP relay to the test server that can go away and come back on the same port, or stop
 * answering: an outage, without stopping a server that other test runs may share.
 */
class RedisProxy {
  readonly #target: URL;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;
  #stalled = false;

  private constructor(target: URL) {
    this.#target = target;
  }

  static async start(target: string): Promise<RedisProxy> {
    const proxy = new RedisProxy(new URL(target));
    await proxy.up();
    return proxy;
  }

  get url(): string {
    const target = new URL(this.#target);
    target.hostname = '127.0.0.1';
    target.port = String(this.#port);
    return target.toString();
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(Number(this.#target.port || 6379), this.#target.hostname);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.on('data', (data) => this.#stalled || upstream.write(data));
      upstream.on('data', (data) => this.#stalled || client.write(data));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server.listen(this.#port, '127.0.0.1');
    await once(server, 'listening');
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Refuses new connections and resets the open ones, as a stopped server does. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server === undefined) return;
    server.close();
    await once(server, 'close');
  }

  /** Keeps connections open but forwards nothing more, as a hung server does. */
  stall(): void {
    this.#stalled = true;
  }
}
