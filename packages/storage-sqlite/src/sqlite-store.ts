import { MlsTlsError } from '@mlstls/codec';
import {
  checkTtl,
  isAtVersion,
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
  type StoreOptions,
} from '@mlstls/storage';
import Database from 'better-sqlite3';

export interface SqliteStoreOptions extends StoreOptions {
  /** The database file to open (created when missing), or `':memory:'`. Give this or `database`. */
  readonly path?: string;
  /**
   * An open better-sqlite3 database to use instead of `path`. The caller owns it: the store
   * sets none of its pragmas and `close()` leaves it open.
   */
  readonly database?: Database.Database;
  /** The table to keep records in, created when missing (default `mlstls_sessions`). */
  readonly table?: string;
  /** The clock for `ttl`, in milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /**
   * How long one call may wait for a lock another connection holds, in ms (default 1000). The
   * store never waits inside SQLite (busy_timeout 0): it tries again after 1, 2, 4 ... 20 ms
   * timers, so the event loop runs meanwhile, and a call still locked out at its deadline
   * rejects with `ERR_MLSTLS_STORAGE_TIMEOUT`. The constructor, which is synchronous, waits
   * inside SQLite instead, up to this long for each lock it needs.
   */
  readonly deadline?: number;
  /**
   * `PRAGMA synchronous` (default `'FULL'`): `'FULL'` survives power loss, `'NORMAL'` survives a
   * process crash and may lose the last commits when the machine stops.
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
}

interface Row {
  readonly format: unknown;
  readonly epoch: unknown;
  readonly expires: number | null;
  readonly pending: unknown;
}

interface FullRow extends Row {
  readonly peer: unknown;
  readonly state: unknown;
}

type Statement<Params extends unknown[], Result = unknown> = Database.Statement<Params, Result>;
type WriteParams = [
  Uint8Array,
  number,
  Uint8Array,
  number | null,
  Uint8Array | null,
  Uint8Array,
  Uint8Array,
];

const DEFAULT_TABLE = 'mlstls_sessions';
const DEFAULT_DEADLINE = 1_000;
// The pauses between attempts of a locked-out call: 1, 2, 4, 8, 16, then 20 ms.
const FIRST_PAUSE = 1;
const MAX_PAUSE = 20;
// SQLite reserves `sqlite_`; the length bound keeps the derived index name short.
const TABLE_NAME = /^(?!sqlite_)[A-Za-z_][A-Za-z0-9_]{0,62}$/i;
// Expired rows deleted per write, so that one write never pays for a backlog.
const SWEEP_LIMIT = 64;
// Expired rows deleted per statement of `prune()`, between which the event loop runs.
const PRUNE_BATCH = 128;
const U64_MAX = (1n << 64n) - 1n;

/**
 * A session store in one SQLite table, through better-sqlite3. Each compare-and-set is one
 * `BEGIN IMMEDIATE` transaction, so stores in several processes on one file serialize their
 * writes. Epochs are kept as 8 big-endian bytes: SQLite integers are signed 64-bit.
 *
 * better-sqlite3 is synchronous: a statement that waited for a lock inside SQLite would stop
 * the event loop, and with it every connection of the process. So every statement of the store
 * runs with busy_timeout 0, and a call that finds the database locked tries again after a
 * timer, until its `deadline`.
 */
export class SqliteStore implements SessionStore {
  readonly #db: Database.Database;
  readonly #owned: boolean;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #deadline: number;
  readonly #select: Statement<[Uint8Array], FullRow>;
  readonly #selectVersion: Statement<[Uint8Array], Row>;
  readonly #write: Statement<WriteParams>;
  readonly #remove: Statement<[Uint8Array]>;
  readonly #sweep: Statement<[number, number]>;
  readonly #compareAndSet: Database.Transaction<
    (id: Uint8Array, expected: SessionVersion | null, next: SessionRecord) => boolean
  >;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    this.#ttl = checkTtl(options.ttl);
    this.#now = checkNow(options.now);
    const table = checkTable(options.table);
    this.#deadline = checkDeadline(options.deadline);
    const synchronous = checkSynchronous(options.synchronous);
    if ('busyTimeout' in options) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        'busyTimeout is gone: give deadline, the ms a call may wait for a lock',
      );
    }
    if ((options.path === undefined) === (options.database === undefined)) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'give exactly one of path and database');
    }
    if (options.database !== undefined) {
      if (options.synchronous !== undefined) {
        throw new MlsTlsError(
          'ERR_MLSTLS_INVALID_ARGUMENT',
          'synchronous applies to a database the store opens, not to one passed in',
        );
      }
      this.#db = options.database;
      this.#owned = false;
    } else {
      if (typeof options.path !== 'string' || options.path === '') {
        throw new MlsTlsError(
          'ERR_MLSTLS_INVALID_ARGUMENT',
          'path must be a file name or :memory:',
        );
      }
      this.#db = storageStep('open the database', () => new Database(options.path, { timeout: 0 }));
      this.#owned = true;
    }
    try {
      // Synchronous, so the one place that waits inside SQLite: up to the deadline per lock.
      if (this.#owned) {
        const db = this.#db;
        storageStep('configure the database', () =>
          withBusyTimeout(db, this.#deadline, () => configure(db, synchronous)),
        );
      }
      const t = `"${table}"`;
      const prepare = () =>
        withBusyTimeout(this.#db, this.#deadline, () => {
          // Small columns first: a compare-and-set reads up to `pending` and never loads `state`.
          // A rowid table, not WITHOUT ROWID: states of kilobytes would fill its interior pages.
          this.#db.exec(
            `CREATE TABLE IF NOT EXISTS ${t} (
            id BLOB PRIMARY KEY NOT NULL,
            format INTEGER NOT NULL,
            epoch BLOB NOT NULL CHECK (length(epoch) = 8),
            expires INTEGER,
            pending BLOB,
            peer BLOB NOT NULL,
            state BLOB NOT NULL
          ) STRICT;
          CREATE INDEX IF NOT EXISTS "${table}_expires" ON ${t} (expires) WHERE expires IS NOT NULL;`,
          );
          return [
            this.#db.prepare<[Uint8Array], FullRow>(
              `SELECT format, epoch, expires, pending, peer, state FROM ${t} WHERE id = ?`,
            ),
            this.#db.prepare<[Uint8Array], Row>(
              `SELECT format, epoch, expires, pending FROM ${t} WHERE id = ?`,
            ),
            this.#db.prepare<WriteParams>(
              `INSERT INTO ${t} (id, format, epoch, expires, pending, peer, state)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET format = excluded.format, epoch = excluded.epoch,
               expires = excluded.expires, pending = excluded.pending, peer = excluded.peer,
               state = excluded.state`,
            ),
            this.#db.prepare<[Uint8Array]>(`DELETE FROM ${t} WHERE id = ?`),
            this.#db.prepare<[number, number]>(
              `DELETE FROM ${t} WHERE rowid IN (SELECT rowid FROM ${t}
               WHERE expires IS NOT NULL AND expires <= ? LIMIT ?)`,
            ),
          ] as const;
        });
      const [select, selectVersion, write, remove, sweep] = storageStep(
        'prepare the table',
        prepare,
      );
      this.#select = select;
      this.#selectVersion = selectVersion;
      this.#write = write;
      this.#remove = remove;
      this.#sweep = sweep;
    } catch (error) {
      if (this.#owned) this.#db.close();
      throw error;
    }
    this.#compareAndSet = this.#db.transaction((id, expected, next) => {
      const now = this.#now();
      const row = this.#selectVersion.get(id);
      const stored = row === undefined || isExpired(row, now) ? undefined : readVersion(row);
      if (!isAtVersion(stored, expected)) return false;
      this.#sweep.run(now, SWEEP_LIMIT);
      const expires = this.#ttl === Number.POSITIVE_INFINITY ? null : expiry(now, this.#ttl);
      this.#write.run(
        id,
        next.format,
        encodeEpoch(next.epoch),
        expires,
        next.pending ?? null,
        next.peer,
        next.state,
      );
      return true;
    });
  }

  async get(id: Uint8Array): Promise<SessionRecord | undefined> {
    checkId(id);
    const row = await this.#call('read a session', () => this.#select.get(id));
    if (row === undefined || isExpired(row, this.#now())) return undefined;
    const format = readFormat(row);
    const { epoch, pending } = readVersion(row);
    const state = readBlob(row.state);
    const peer = readBlob(row.peer);
    return pending === undefined
      ? { format, epoch, state, peer }
      : { format, epoch, state, pending, peer };
  }

  async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    checkId(id);
    if (expected !== null) checkVersion(expected);
    checkRecord(next);
    // A locked-out attempt changed nothing (better-sqlite3 rolled it back): the next one runs
    // the whole transaction again, from BEGIN IMMEDIATE.
    return this.#call('write a session', () => this.#compareAndSet.immediate(id, expected, next));
  }

  async delete(id: Uint8Array): Promise<void> {
    checkId(id);
    await this.#call('delete a session', () => this.#remove.run(id));
  }

  /**
   * Deletes every expired row, a batch of 128 rows per statement with the event loop running
   * between batches (writes also delete up to 64 each). Resolves how many it deleted. Like
   * every call, each batch may wait up to `deadline` for a lock.
   */
  async prune(): Promise<number> {
    let pruned = 0;
    for (;;) {
      const now = this.#now();
      const { changes } = await this.#call('prune expired sessions', () =>
        this.#sweep.run(now, PRUNE_BATCH),
      );
      pruned += changes;
      if (changes < PRUNE_BATCH) return pruned;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) storageStep('close the database', () => this.#db.close());
  }

  /**
   * Runs `run` (one statement or one transaction) until it is not locked out, with timers in
   * between, for at most `deadline` ms. Never waits inside SQLite: a store's own connection has
   * busy_timeout 0, and one passed in is given 0 for the length of each attempt.
   */
  async #call<T>(what: string, run: () => T): Promise<T> {
    const started = performance.now();
    let pause = FIRST_PAUSE;
    for (;;) {
      if (this.#closed) throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'the store is closed');
      try {
        return this.#owned ? run() : withBusyTimeout(this.#db, 0, run);
      } catch (error) {
        if (error instanceof MlsTlsError) throw error;
        if (!isLockedOut(error)) {
          throw new MlsTlsError('ERR_MLSTLS_STORAGE', `SQLite could not ${what}`, {
            cause: error,
          });
        }
        const left = this.#deadline - (performance.now() - started);
        if (left <= 0) throw timedOut(what, this.#deadline, error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
        pause = Math.min(2 * pause, MAX_PAUSE);
      }
    }
  }
}

/**
 * Runs one SQLite step of the constructor, with its errors as `ERR_MLSTLS_STORAGE` (the
 * driver's as the cause), or `ERR_MLSTLS_STORAGE_TIMEOUT` for a lock that outlasted the wait.
 */
function storageStep<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof MlsTlsError) throw error;
    if (isLockedOut(error)) throw timedOut(what, undefined, error);
    throw new MlsTlsError('ERR_MLSTLS_STORAGE', `SQLite could not ${what}`, { cause: error });
  }
}

/** Whether SQLite refused a step because another connection holds a lock. */
function isLockedOut(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

function timedOut(what: string, deadline: number | undefined, cause: unknown): MlsTlsError {
  const within = deadline === undefined ? '' : ` within ${deadline} ms`;
  return new MlsTlsError(
    'ERR_MLSTLS_STORAGE_TIMEOUT',
    `SQLite could not ${what}${within}: another connection holds a lock on the database`,
    { cause },
  );
}

/** `run` with the connection's busy_timeout at `ms`, restored afterwards. */
function withBusyTimeout<T>(db: Database.Database, ms: number, run: () => T): T {
  const saved = db.pragma('busy_timeout', { simple: true });
  if (saved === ms) return run();
  db.pragma(`busy_timeout = ${ms}`);
  try {
    return run();
  } finally {
    db.pragma(`busy_timeout = ${Number(saved)}`);
  }
}

function configure(db: Database.Database, synchronous: 'NORMAL' | 'FULL'): void {
  storageStep('configure the database', () => {
    // WAL persists in the file; asking only when it is off spares the exclusive lock that
    // changing it takes while another process has the file open.
    if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    // A deleted or replaced state is overwritten in the file, not left in a free page: old
    // epochs' keys must not outlive their deletion (forward secrecy).
    db.pragma('secure_delete = ON');
  });
}

function isExpired(row: Row, now: number): boolean {
  return row.expires !== null && row.expires <= now;
}

function expiry(now: number, ttl: number): number {
  return Math.min(now + ttl, Number.MAX_SAFE_INTEGER);
}

/** A row's format, any uint16: the state machine, not the store, decides what it can read. */
function readFormat(row: Row): number {
  const format = row.format;
  if (typeof format !== 'number' || !Number.isInteger(format) || format < 0 || format > 0xffff) {
    throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'bad session record');
  }
  return format;
}

function readVersion(row: Row): SessionVersion {
  const epochBytes = readBlob(row.epoch);
  if (epochBytes.length !== 8) throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'bad session record');
  const epoch = new DataView(epochBytes.buffer).getBigUint64(0);
  return row.pending === null ? { epoch } : { epoch, pending: readBlob(row.pending) };
}

// A copy in a buffer of its own: better-sqlite3 hands out Node Buffers, which may share one.
function readBlob(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'bad session record');
  }
  return new Uint8Array(value);
}

function encodeEpoch(epoch: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, epoch);
  return bytes;
}

function checkTable(table: string | undefined): string {
  if (table === undefined) return DEFAULT_TABLE;
  if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      'table must be a letter or _ then up to 62 letters, digits or _, not starting sqlite_',
    );
  }
  return table;
}

function checkNow(now: (() => number) | undefined): () => number {
  if (now === undefined) return Date.now;
  if (typeof now !== 'function') {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'now must be a function');
  }
  return now;
}

function checkDeadline(deadline: number | undefined): number {
  if (deadline === undefined) return DEFAULT_DEADLINE;
  if (!Number.isSafeInteger(deadline) || deadline <= 0 || deadline > 0x7fffffff) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      'deadline must be an integer from 1 to 2147483647 (ms)',
    );
  }
  return deadline;
}

function checkSynchronous(synchronous: string | undefined): 'NORMAL' | 'FULL' {
  if (synchronous === undefined) return 'FULL';
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', "synchronous must be 'NORMAL' or 'FULL'");
  }
  return synchronous;
}

function checkId(id: Uint8Array): void {
  if (!(id instanceof Uint8Array)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'a session id must be a Uint8Array');
  }
}

function checkVersion(version: SessionVersion): void {
  checkEpoch(version.epoch);
  if (version.pending !== undefined && !(version.pending instanceof Uint8Array)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'pending must be a Uint8Array');
  }
}

function checkRecord(record: SessionRecord): void {
  if (!Number.isInteger(record.format) || record.format < 0 || record.format > 0xffff) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'format must be a uint16');
  }
  checkVersion(record);
  if (!(record.state instanceof Uint8Array) || !(record.peer instanceof Uint8Array)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'state and peer must be Uint8Arrays');
  }
}

function checkEpoch(epoch: bigint): void {
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch > U64_MAX) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'an epoch must be a uint64 bigint');
  }
}
