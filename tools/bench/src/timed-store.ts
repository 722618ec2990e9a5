/**
 * A `SessionStore` that passes every call to another and adds up the wall-clock time each kind
 * of call took: the share of a connection spent waiting on its store, measured where the state
 * machine calls it, without touching the protocol code.
 */
import type { SessionRecord, SessionStore, SessionVersion } from '@mlstls/storage';

/** Calls made and milliseconds spent, per method, since the store was made. */
export interface StoreTiming {
  readonly gets: number;
  readonly getMs: number;
  readonly writes: number;
  readonly writeMs: number;
  readonly deletes: number;
  readonly deleteMs: number;
}

export const NO_STORE_TIME: StoreTiming = {
  gets: 0,
  getMs: 0,
  writes: 0,
  writeMs: 0,
  deletes: 0,
  deleteMs: 0,
};

/** `a + b`, method by method. */
export function addTiming(a: StoreTiming, b: StoreTiming): StoreTiming {
  return {
    gets: a.gets + b.gets,
    getMs: a.getMs + b.getMs,
    writes: a.writes + b.writes,
    writeMs: a.writeMs + b.writeMs,
    deletes: a.deletes + b.deletes,
    deleteMs: a.deleteMs + b.deleteMs,
  };
}

/** `later - earlier`, method by method. */
export function timingSince(later: StoreTiming, earlier: StoreTiming): StoreTiming {
  return {
    gets: later.gets - earlier.gets,
    getMs: later.getMs - earlier.getMs,
    writes: later.writes - earlier.writes,
    writeMs: later.writeMs - earlier.writeMs,
    deletes: later.deletes - earlier.deletes,
    deleteMs: later.deleteMs - earlier.deleteMs,
  };
}

const elapsedMs = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

export class TimedStore implements SessionStore {
  readonly #inner: SessionStore;
  #timing: StoreTiming = NO_STORE_TIME;

  constructor(inner: SessionStore) {
    this.#inner = inner;
  }

  get timing(): StoreTiming {
    return this.#timing;
  }

  async get(id: Uint8Array): Promise<SessionRecord | undefined> {
    const start = process.hrtime.bigint();
    try {
      return await this.#inner.get(id);
    } finally {
      const t = this.#timing;
      this.#timing = { ...t, gets: t.gets + 1, getMs: t.getMs + elapsedMs(start) };
    }
  }

  async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const start = process.hrtime.bigint();
    try {
      return await this.#inner.compareAndSet(id, expected, next);
    } finally {
      const t = this.#timing;
      this.#timing = { ...t, writes: t.writes + 1, writeMs: t.writeMs + elapsedMs(start) };
    }
  }

  async delete(id: Uint8Array): Promise<void> {
    const start = process.hrtime.bigint();
    try {
      await this.#inner.delete(id);
    } finally {
      const t = this.#timing;
      this.#timing = { ...t, deletes: t.deletes + 1, deleteMs: t.deleteMs + elapsedMs(start) };
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
