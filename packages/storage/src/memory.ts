import { MlsTlsError } from '@mlstls/codec';
import {
  DEFAULT_SESSION_TTL,
  isAtVersion,
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
  type StoreOptions,
} from './store.js';

export interface MemoryStoreOptions extends StoreOptions {
  /** The clock for `ttl`, in milliseconds (default `Date.now`). */
  readonly now?: () => number;
}

interface Entry {
  readonly record: SessionRecord;
  readonly expires: number;
}

/**
 * A store in this process's memory: for tests, and for one process that need not survive a
 * restart. Records are copied in and out, so no caller can change a stored one.
 */
export class MemoryStore implements SessionStore {
  readonly #entries = new Map<string, Entry>();
  readonly #ttl: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#ttl = checkTtl(options.ttl);
    this.#now = options.now ?? Date.now;
  }

  async get(id: Uint8Array): Promise<SessionRecord | undefined> {
    const record = this.#live(id)?.record;
    return record === undefined ? undefined : copy(record);
  }

  async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    if (!isAtVersion(this.#live(id)?.record, expected)) return false;
    this.#entries.set(key(id), { record: copy(next), expires: this.#now() + this.#ttl });
    return true;
  }

  async delete(id: Uint8Array): Promise<void> {
    this.#check();
    this.#entries.delete(key(id));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
  }

  #live(id: Uint8Array): Entry | undefined {
    this.#check();
    const entry = this.#entries.get(key(id));
    if (entry !== undefined && entry.expires <= this.#now()) {
      this.#entries.delete(key(id));
      return undefined;
    }
    return entry;
  }

  #check(): void {
    if (this.#closed) throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'the store is closed');
  }
}

/**
 * A `ttl` option checked, as milliseconds: `DEFAULT_SESSION_TTL` when absent, `Infinity` when
 * given as `Infinity` (keep records until deleted).
 */
export function checkTtl(ttl: number | undefined): number {
  if (ttl === undefined) return DEFAULT_SESSION_TTL;
  if (ttl === Number.POSITIVE_INFINITY) return ttl;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      'ttl must be a positive integer (ms) or Infinity',
    );
  }
  return ttl;
}

function key(id: Uint8Array): string {
  let text = '';
  for (const byte of id) text += byte.toString(16).padStart(2, '0');
  return text;
}

// `new Uint8Array(bytes)`, not `bytes.slice()`: a Buffer's slice is a view of the same memory.
function copy(record: SessionRecord): SessionRecord {
  return {
    format: record.format,
    epoch: record.epoch,
    state: new Uint8Array(record.state),
    ...(record.pending === undefined ? {} : { pending: new Uint8Array(record.pending) }),
    peer: new Uint8Array(record.peer),
  };
}
