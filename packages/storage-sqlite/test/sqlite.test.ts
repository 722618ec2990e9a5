import { type ChildProcess, fork } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlsTlsError } from '@mlstls/codec';
import { SESSION_FORMAT, type SessionRecord, versionOf } from '@mlstls/storage';
import { describeSessionStore } from '@mlstls/storage/conformance';
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

  it('waits busyTimeout for a lock, then rejects with ERR_MLSTLS_STORAGE and writes nothing', async () => {
    const path = newPath();
    const store = new SqliteStore({ path, busyTimeout: 50 });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const error = await rejection(store.compareAndSet(id, versionOf(record(1n)), record(2n)));
    expect(error.code).toBe('ERR_MLSTLS_STORAGE');
    expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
    other.exec('ROLLBACK');
    other.close();
    expect((await store.get(id))?.epoch).toBe(1n);
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
  it('refuses a row of an unknown format with ERR_MLSTLS_STORAGE', async () => {
    const db = new Database(':memory:');
    const store = new SqliteStore({ database: db });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    db.prepare('UPDATE mlstls_sessions SET format = 99').run();
    const read = await rejection(store.get(id));
    expect(read.code).toBe('ERR_MLSTLS_STORAGE');
    expect(read.message).toBe('session record format 99');
    // A writer does not overwrite what it cannot read.
    const write = await rejection(store.compareAndSet(id, null, record(1n)));
    expect(write.code).toBe('ERR_MLSTLS_STORAGE');
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
      { database: db, busyTimeout: 10 },
      { database: db, synchronous: 'FULL' as const },
      { path: ':memory:', busyTimeout: -1 },
      { path: ':memory:', busyTimeout: 1.5 },
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
