import { type ChildProcess, fork } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlsTlsError } from '@mlstls/codec';
import {
  DEFAULT_SESSION_TTL,
  SESSION_FORMAT,
  type SessionRecord,
  versionOf,
} from '@mlstls/storage';
import { describeSessionStore } from '@mlstls/storage/conformance';
import { stallProbe } from '@mlstls/test-support';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'mlstls-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A new database file name in the test directory. */
function newPath(): string {
  return join(dir, `store-${files++}.db`);
}

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

function record(epoch: bigint, fill = 1, pending?: Uint8Array): SessionRecord {
  return {
    format: SESSION_FORMAT,
    epoch,
    state: new Uint8Array(32).fill(fill),
    ...(pending === undefined ? {} : { pending }),
    peer: Uint8Array.of(0xee, fill),
  };
}

async function rejection(promise: Promise<unknown>): Promise<MlsTlsError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(MlsTlsError);
  return error as MlsTlsError;
}

function refusal(open: () => unknown): MlsTlsError {
  try {
    open();
  } catch (error) {
    expect(error).toBeInstanceOf(MlsTlsError);
    return error as MlsTlsError;
  }
  throw new Error('expected a refusal');
}

const id = new TextEncoder().encode('group-1');

const sharedFile = newPath();
describeSessionStore(
  'SqliteStore on a file',
  (options) => new SqliteStore({ ...options, path: sharedFile }),
);
describeSessionStore(
  'SqliteStore in memory',
  (options) => new SqliteStore({ ...options, path: ':memory:' }),
);

describe('SqliteStore on a file', () => {
  it('keeps records across close and reopen', async () => {
    const path = newPath();
    const first = new SqliteStore({ path });
    expect(await first.compareAndSet(id, null, record(7n, 3, Uint8Array.of(9)))).toBe(true);
    await first.close();
    const second = new SqliteStore({ path });
    expect(await second.get(id)).toEqual(record(7n, 3, Uint8Array.of(9)));
    await second.close();
  });

  it('puts the file in WAL mode', async () => {
    const path = newPath();
    await new SqliteStore({ path }).close();
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('keeps epochs as 8 big-endian bytes, so 2^64-1 round-trips exactly', async () => {
    const path = newPath();
    const store = new SqliteStore({ path });
    const max = 2n ** 64n - 1n;
    expect(await store.compareAndSet(id, null, record(max))).toBe(true);
    expect((await store.get(id))?.epoch).toBe(max);
    await store.close();
    const db = new Database(path);
    const row = db.prepare('SELECT hex(epoch) AS epoch FROM mlstls_sessions').get();
    expect(row).toEqual({ epoch: 'FFFFFFFFFFFFFFFF' });
    db.close();
  });

  it('loads the record a format-1 store wrote (test/fixtures/format-1.db)', async () => {
    const path = newPath();
    copyFileSync(join(fixtures, 'format-1.db'), path);
    const store = new SqliteStore({ path });
    expect(await store.get(new TextEncoder().encode('mlstls format 1'))).toEqual({
      format: 1,
      epoch: 2n ** 64n - 2n,
      state: Uint8Array.from({ length: 256 }, (_, i) => i),
      pending: Uint8Array.of(1, 2, 3),
      peer: new TextEncoder().encode('peer'),
    });
    await store.close();
  });

  it('serializes two stores on one file: of 50 writes from one version, one wins', async () => {
    const path = newPath();
    const a = new SqliteStore({ path });
    const b = new SqliteStore({ path });
    expect(await a.compareAndSet(id, null, record(1n))).toBe(true);
    const expected = versionOf(record(1n));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 === 0 ? a : b).compareAndSet(id, expected, record(2n, i)),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await b.get(id))?.state).toEqual(new Uint8Array(32).fill(results.indexOf(true)));
    await a.close();
    await b.close();
  });

  it('loses no write when two processes race 200 compare-and-sets each on one id', async () => {
    const path = newPath();
    const store = new SqliteStore({ path });
    expect(await store.compareAndSet(id, null, record(0n))).toBe(true);
    const children = [0, 1].map(() =>
      fork(join(fixtures, 'cas-racer.mjs'), [path, Buffer.from(id).toString('hex'), '200'], {
        execArgv: ['--import', join(fixtures, 'register-source-hooks.mjs')],
        stdio: 'inherit',
      }),
    );
    await Promise.all(children.map((child) => nextMessage(child)));
    const results = children.map((child) => nextMessage(child));
    for (const child of children) child.send('go');
    const wins = (await Promise.all(results)).map((result) => (result as { wins: number }).wins);
    const stored = await store.get(id);
    expect(stored?.epoch).toBe(BigInt(wins[0]! + wins[1]!));
    // Each process wins some: the writes did interleave.
    expect(wins[0]).toBeGreaterThan(0);
    expect(wins[1]).toBeGreaterThan(0);
    await store.close();
  }, 60_000);

  it.each(['NORMAL', 'FULL'])(
    'keeps every resolved write of a process killed with SIGKILL mid-write (synchronous %s)',
    async (synchronous) => {
      const path = newPath();
      const child = fork(
        join(fixtures, 'killed-writer.mjs'),
        [path, Buffer.from(id).toString('hex'), synchronous],
        {
          execArgv: ['--import', join(fixtures, 'register-source-hooks.mjs')],
          stdio: 'inherit',
        },
      );
      let resolved = -1n;
      await new Promise<void>((done, fail) => {
        child.on('exit', (code) => fail(new Error(`the writer exited with ${code}`)));
        child.on('message', (epoch) => {
          resolved = BigInt(epoch as string);
          if (resolved === 100n) done();
        });
      });
      child.removeAllListeners('exit').removeAllListeners('message');
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGKILL');
      await exited;
      const store = new SqliteStore({ path });
      const stored = await store.get(id);
      // The write in flight at the kill may have committed or not; none before it is lost.
      expect(stored?.epoch).toBeGreaterThanOrEqual(resolved);
      expect(stored?.state).toEqual(new Uint8Array(4096).fill(7));
      await store.close();
      const db = new Database(path);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    },
    60_000,
  );

  it('retries a locked-out write on timers until its deadline, then rejects with ERR_MLSTLS_STORAGE_TIMEOUT and writes nothing', async () => {
    const path = newPath();
    const store = new SqliteStore({ path, deadline: 200 });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    let timerRan = false;
    setTimeout(() => {
      timerRan = true;
    }, 20);
    const started = performance.now();
    const error = await rejection(store.compareAndSet(id, versionOf(record(1n)), record(2n)));
    const took = performance.now() - started;
    expect(error.code).toBe('ERR_MLSTLS_STORAGE_TIMEOUT');
    expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
    expect(took).toBeGreaterThanOrEqual(200);
    expect(took).toBeLessThan(700);
    // The event loop ran while the write waited.
    expect(timerRan).toBe(true);
    other.exec('ROLLBACK');
    other.close();
    expect((await store.get(id))?.epoch).toBe(1n);
    await store.close();
  });

  it('completes a locked-out write once the lock goes, before its deadline', async () => {
    const path = newPath();
    const store = new SqliteStore({ path });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    setTimeout(() => other.exec('ROLLBACK'), 150);
    const started = performance.now();
    expect(await store.compareAndSet(id, versionOf(record(1n)), record(2n))).toBe(true);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(900);
    expect((await store.get(id))?.epoch).toBe(2n);
    other.close();
    await store.close();
  });

  it('leaves no copy of a deleted or replaced state in the database file (secure_delete)', async () => {
    const path = newPath();
    const deleted = new TextEncoder().encode('a state that must not outlive its deletion');
    const replaced = new TextEncoder().encode('a state that must not outlive its epoch');
    const other = Uint8Array.of(2);
    const store = new SqliteStore({ path });
    expect(await store.compareAndSet(id, null, { ...record(1n), state: deleted })).toBe(true);
    expect(await store.compareAndSet(other, null, { ...record(1n), state: replaced })).toBe(true);
    await store.delete(id);
    expect(await store.compareAndSet(other, versionOf(record(1n)), record(2n))).toBe(true);
    await store.close();
    const file = Buffer.from(readFileSync(path));
    expect(file.includes(Buffer.from(deleted))).toBe(false);
    expect(file.includes(Buffer.from(replaced))).toBe(false);
  });
});

describe('SqliteStore rows', () => {
  it('returns a row of any uint16 format as stored, and updates it by its version', async () => {
    const db = new Database(':memory:');
    const store = new SqliteStore({ database: db });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    for (const format of [1, 99, 0xffff]) {
      db.prepare('UPDATE mlstls_sessions SET format = ?').run(format);
      expect(await store.get(id)).toEqual({ ...record(1n), format });
    }
    expect(await store.compareAndSet(id, versionOf(record(1n)), record(2n))).toBe(true);
    expect(await store.get(id)).toEqual(record(2n));
    await store.close();
    db.close();
  });

  it('refuses a row whose format is not a uint16 with ERR_MLSTLS_STORAGE', async () => {
    const db = new Database(':memory:');
    const store = new SqliteStore({ database: db });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    for (const format of [-1, 0x10000]) {
      db.prepare('UPDATE mlstls_sessions SET format = ?').run(format);
      const read = await rejection(store.get(id));
      expect(read.code).toBe('ERR_MLSTLS_STORAGE');
      expect(read.message).toBe('bad session record');
    }
    await store.close();
    db.close();
  });

  it('returns arrays of their own, not views of a shared buffer', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    expect(await store.compareAndSet(id, null, record(1n, 5, Uint8Array.of(4)))).toBe(true);
    const stored = await store.get(id);
    for (const bytes of [stored!.state, stored!.pending!, stored!.peer]) {
      expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
      expect(bytes.byteOffset).toBe(0);
      expect(bytes.buffer.byteLength).toBe(bytes.length);
    }
    await store.close();
  });

  it('keeps tables apart', async () => {
    const db = new Database(':memory:');
    const a = new SqliteStore({ database: db, table: 'a' });
    const b = new SqliteStore({ database: db, table: 'b' });
    expect(await a.compareAndSet(id, null, record(1n))).toBe(true);
    expect(await b.get(id)).toBeUndefined();
    db.close();
  });
});

describe('SqliteStore ttl', () => {
  it('reads an expired row as absent, creates it again, and deletes expired rows on writes', async () => {
    let now = 1_000;
    const db = new Database(':memory:');
    const store = new SqliteStore({ database: db, ttl: 100, now: () => now });
    const other = Uint8Array.of(2);
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    expect(await store.compareAndSet(other, null, record(1n))).toBe(true);
    now = 1_099;
    expect(await store.compareAndSet(other, versionOf(record(1n)), record(2n))).toBe(true);
    now = 1_100;
    expect(await store.get(id)).toBeUndefined();
    expect(await store.compareAndSet(id, versionOf(record(1n)), record(2n))).toBe(false);
    expect((await store.get(other))?.epoch).toBe(2n);
    now = 1_150;
    expect(await store.compareAndSet(id, null, record(5n))).toBe(true);
    expect(db.prepare('SELECT count(*) AS n FROM mlstls_sessions').get()).toEqual({ n: 2 });
    now = 1_300;
    expect(await store.compareAndSet(Uint8Array.of(3), null, record(1n))).toBe(true);
    expect(db.prepare('SELECT count(*) AS n FROM mlstls_sessions').get()).toEqual({ n: 1 });
    db.close();
  });

  it('expires a row DEFAULT_SESSION_TTL (7 days) after its write without a ttl, and never with ttl Infinity', async () => {
    let now = 1_000;
    const db = new Database(':memory:');
    const byDefault = new SqliteStore({ database: db, now: () => now });
    const forever = new SqliteStore({
      database: db,
      table: 'forever',
      ttl: Number.POSITIVE_INFINITY,
      now: () => now,
    });
    expect(await byDefault.compareAndSet(id, null, record(1n))).toBe(true);
    expect(await forever.compareAndSet(id, null, record(1n))).toBe(true);
    expect(db.prepare('SELECT expires FROM mlstls_sessions').get()).toEqual({
      expires: 1_000 + DEFAULT_SESSION_TTL,
    });
    expect(db.prepare('SELECT expires FROM forever').get()).toEqual({ expires: null });
    now = 1_000 + DEFAULT_SESSION_TTL - 1;
    expect(await byDefault.get(id)).toBeDefined();
    now = 1_000 + DEFAULT_SESSION_TTL;
    expect(await byDefault.get(id)).toBeUndefined();
    now = Number.MAX_SAFE_INTEGER;
    expect(await forever.get(id)).toEqual(record(1n));
    db.close();
  });

  it('stays bounded: writes delete expired rows, and prune() deletes the rest in batches', async () => {
    let now = 1_000_000;
    const path = newPath();
    const store = new SqliteStore({ path, ttl: 1_000, now: () => now });
    const db = new Database(path);
    const rows = () =>
      (db.prepare('SELECT count(*) AS n FROM mlstls_sessions').get() as { n: number }).n;
    const written = 1_000;
    for (let i = 0; i < written; i++) {
      const each = Uint8Array.of(i >> 8, i & 0xff);
      expect(await store.compareAndSet(each, null, record(1n))).toBe(true);
    }
    expect(rows()).toBe(written);
    expect(await store.prune()).toBe(0);

    now += 1_000;
    // Each write deletes up to 64 expired rows.
    for (let i = 0; i < 10; i++) {
      expect(await store.compareAndSet(Uint8Array.of(0xff, i), null, record(1n))).toBe(true);
    }
    expect(rows()).toBe(written - 640 + 10);

    // prune() deletes every expired row, letting the event loop run between its batches.
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    expect(await store.prune()).toBe(written - 640);
    counting = false;
    expect(turns).toBeGreaterThanOrEqual(2);
    expect(rows()).toBe(10);
    now += 1_000;
    expect(await store.prune()).toBe(10);
    expect(rows()).toBe(0);
    await store.close();
    db.close();
  });
});

describe('SqliteStore options and lifecycle', () => {
  it.each(['x; drop table', 'sqlite_master', '1abc', 'a"b', '', 'a'.repeat(64)])(
    'refuses the table name %j',
    (table) => {
      expect(refusal(() => new SqliteStore({ path: ':memory:', table })).code).toBe(
        'ERR_MLSTLS_INVALID_ARGUMENT',
      );
    },
  );

  it('refuses bad options with ERR_MLSTLS_INVALID_ARGUMENT', () => {
    const db = new Database(':memory:');
    for (const options of [
      {},
      { path: '' },
      { path: ':memory:', database: db },
      { database: db, synchronous: 'FULL' as const },
      { path: ':memory:', busyTimeout: 5000 } as { path: string },
      { path: ':memory:', deadline: 0 },
      { path: ':memory:', deadline: -1 },
      { path: ':memory:', deadline: 1.5 },
      { path: ':memory:', deadline: 2 ** 31 },
      { path: ':memory:', ttl: Number.NaN },
      { path: ':memory:', synchronous: 'OFF' as 'FULL' },
      { path: ':memory:', ttl: 0 },
      { path: ':memory:', now: 5 as unknown as () => number },
    ]) {
      expect(refusal(() => new SqliteStore(options)).code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    }
    db.close();
  });

  it('refuses epochs outside uint64 with ERR_MLSTLS_INVALID_ARGUMENT', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    for (const epoch of [-1n, 2n ** 64n]) {
      const error = await rejection(store.compareAndSet(id, null, record(epoch)));
      expect(error.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    }
    await store.close();
  });

  it('wraps a failure to open as ERR_MLSTLS_STORAGE with the cause', () => {
    const error = refusal(() => new SqliteStore({ path: join(dir, 'missing', 'x.db') }));
    expect(error.code).toBe('ERR_MLSTLS_STORAGE');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('leaves a database passed in open, and rejects once its owner closed it', async () => {
    const db = new Database(':memory:');
    const store = new SqliteStore({ database: db });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    await store.close();
    expect(db.open).toBe(true);
    const again = new SqliteStore({ database: db });
    expect((await again.get(id))?.epoch).toBe(1n);
    db.close();
    expect((await rejection(again.get(id))).code).toBe('ERR_MLSTLS_STORAGE');
  });

  it('closes once and rejects every later call with ERR_MLSTLS_STORAGE', async () => {
    const store = new SqliteStore({ path: newPath() });
    await store.close();
    await store.close();
    for (const call of [
      store.get(id),
      store.compareAndSet(id, null, record(1n)),
      store.delete(id),
    ]) {
      expect((await rejection(call)).code).toBe('ERR_MLSTLS_STORAGE');
    }
  });
});

/** Milliseconds on the wall clock, comparable with lock-holder.mjs's times. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

interface LockTimes {
  readonly locked: number;
  readonly released: Promise<number>;
  readonly exited: Promise<unknown>;
}

/** Starts test/fixtures/lock-holder.mjs on `path`; resolves once it holds the lock. */
async function holdLock(path: string, holdMs: number): Promise<LockTimes> {
  const child = fork(join(fixtures, 'lock-holder.mjs'), [path, String(holdMs)], {
    stdio: 'inherit',
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const { locked } = (await nextMessage(child)) as { locked: number };
  const released = nextMessage(child).then((message) => (message as { released: number }).released);
  return { locked, released, exited };
}

interface Timed {
  readonly started: number;
  readonly ended: number;
  readonly outcome: { value: unknown } | { error: unknown };
}

/** Calls `call` again and again, a millisecond apart, until `until` settles; times each. */
async function callUntil(until: Promise<unknown>, call: () => Promise<unknown>): Promise<Timed[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const calls: Timed[] = [];
  while (!done) {
    const started = wallClock();
    const outcome = await call().then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    calls.push({ started, ended: wallClock(), outcome });
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return calls;
}

describe('SqliteStore while another process holds the database locked', () => {
  const DEADLINE = 1_000;
  const HOLD = 5_000;

  it('keeps the event loop running, rejects locked-out calls with ERR_MLSTLS_STORAGE_TIMEOUT at the deadline, and loses nothing', async () => {
    // A store's own file, in WAL mode: the other process's lock keeps writers out, not readers.
    const walPath = newPath();
    const wal = new SqliteStore({ path: walPath });
    // A database passed in, in rollback-journal mode, with better-sqlite3's default busy
    // timeout of 5 s: the lock keeps readers out too, and the store must not wait those 5 s.
    const rollbackPath = newPath();
    const rollbackDb = new Database(rollbackPath);
    rollbackDb.pragma('journal_mode = DELETE');
    const rollback = new SqliteStore({ database: rollbackDb });
    expect(rollbackDb.pragma('busy_timeout', { simple: true })).toBe(5_000);

    const stored = record(3n, 7, Uint8Array.of(1, 2));
    for (const store of [wal, rollback]) {
      expect(await store.compareAndSet(id, null, record(2n, 6))).toBe(true);
      expect(await store.compareAndSet(id, versionOf(record(2n, 6)), stored)).toBe(true);
    }
    const next = record(4n, 8);

    const [walLock, rollbackLock] = await Promise.all([
      holdLock(walPath, HOLD),
      holdLock(rollbackPath, HOLD),
    ]);
    const probe = stallProbe();
    const [walGets, walWrites, rollbackGets, rollbackWrites] = await Promise.all([
      callUntil(walLock.released, () => wal.get(id)),
      callUntil(walLock.released, () => wal.compareAndSet(id, versionOf(stored), next)),
      callUntil(rollbackLock.released, () => rollback.get(id)),
      callUntil(rollbackLock.released, () => rollback.compareAndSet(id, versionOf(stored), next)),
    ]);
    const stalls = probe.stop();
    await Promise.all([walLock.exited, rollbackLock.exited]);

    // No call stopped the event loop: better-sqlite3 never waited for the lock inside SQLite.
    // (`own`: less the time a loaded runner kept this process off the CPUs.)
    expect(stalls.own, `the longest event loop delay, ms (raw ${stalls.longest})`).toBeLessThan(50);

    const during = async (calls: Timed[], lock: LockTimes) => {
      const released = await lock.released;
      return calls.filter((call) => call.started >= lock.locked && call.ended < released);
    };
    // Readers of the WAL file were never kept out.
    const walReads = await during(walGets, walLock);
    expect(walReads.length).toBeGreaterThan(100);
    for (const call of walReads) {
      expect(call.outcome).toHaveProperty('value');
      expect((call.outcome as { value: SessionRecord }).value).toEqual(stored);
      expect(call.ended - call.started).toBeLessThan(50);
    }
    // Every call the lock kept out waited its deadline, no more, and then timed out.
    for (const [calls, lock] of [
      [walWrites, walLock],
      [rollbackGets, rollbackLock],
      [rollbackWrites, rollbackLock],
    ] as const) {
      const lockedOut = await during(calls, lock);
      expect(lockedOut.length).toBeGreaterThanOrEqual(3);
      for (const call of lockedOut) {
        expect(call.outcome).toHaveProperty('error');
        const error = (call.outcome as { error: unknown }).error as MlsTlsError;
        expect(error).toBeInstanceOf(MlsTlsError);
        expect(error.code).toBe('ERR_MLSTLS_STORAGE_TIMEOUT');
        expect((error.cause as { code?: string }).code).toMatch(/^SQLITE_BUSY/);
        expect(call.ended - call.started).toBeGreaterThanOrEqual(DEADLINE);
        expect(call.ended - call.started).toBeLessThan(DEADLINE + 500);
      }
    }

    // Afterwards: what was stored is there, unchanged or replaced by the one write that may
    // have landed as the lock went; the other process's row is there; the files are sound.
    for (const [store, writes, path] of [
      [wal, walWrites, walPath],
      [rollback, rollbackWrites, rollbackPath],
    ] as const) {
      const won = writes.filter(
        (call) => 'value' in call.outcome && call.outcome.value === true,
      ).length;
      expect(won).toBeLessThanOrEqual(1);
      const current = won === 1 ? next : stored;
      expect(await store.get(id)).toEqual(current);
      expect(await store.compareAndSet(id, versionOf(current), record(5n, 9))).toBe(true);
      expect(await store.get(id)).toEqual(record(5n, 9));
      const other = await store.get(new TextEncoder().encode('lock-holder'));
      expect(other?.epoch).toBe(1n);
      const check = new Database(path, { readonly: true });
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
      check.close();
    }
    // The caller's busy timeout is as it was.
    expect(rollbackDb.pragma('busy_timeout', { simple: true })).toBe(5_000);
    await wal.close();
    await rollback.close();
    rollbackDb.close();
  }, 30_000);

  it('bounds the constructor by the deadline when the lock keeps it from reading the schema', async () => {
    const path = newPath();
    const db = new Database(path);
    db.pragma('journal_mode = DELETE');
    await new SqliteStore({ database: db }).close();
    const lock = await holdLock(path, 1_500);
    const started = performance.now();
    const error = refusal(() => new SqliteStore({ database: db, table: 'another', deadline: 300 }));
    const took = performance.now() - started;
    expect(error.code).toBe('ERR_MLSTLS_STORAGE_TIMEOUT');
    expect((error.cause as { code?: string }).code).toMatch(/^SQLITE_BUSY/);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(800);
    await lock.released;
    await lock.exited;
    const store = new SqliteStore({ database: db, table: 'another' });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    db.close();
  }, 30_000);
});

function nextMessage(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`child exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message);
    });
  });
}
