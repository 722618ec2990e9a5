// Each side's session store: a MemoryStore of @mlstls/storage behind a wrapper that lets the
// simulator crash the side at any compare-and-set (before or after the write lands), snapshot
// and restore the whole store (a responder restored from an old backup), and, for the tests
// that show the checker can fail, misbehave on purpose.
import { createHash } from 'node:crypto';
import {
  MemoryStore,
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
} from '@mlstls/storage';

/** When a planned crash happens relative to its compare-and-set. */
export type CrashPoint = 'before' | 'after';

/** A crash at the `write`-th compare-and-set (from 1) of the current event. */
export interface CrashPlan {
  readonly write: number;
  readonly point: CrashPoint;
}

/** A broken store, for the tests that show the checker catches one. */
export type StoreFault = 'drop-writes';

/** The whole content of a store: every record by id (hex). */
export type StoreSnapshot = ReadonlyMap<string, SessionRecord>;

export class SimStore implements SessionStore {
  readonly #inner: MemoryStore;
  /** Every id the store was asked about, by hex: what a snapshot reads back. */
  readonly #ids = new Map<string, Uint8Array>();
  /** Ids whose writes the store acknowledged, or that landed before a crash. */
  readonly #acknowledged = new Set<string>();
  readonly #fault: StoreFault | undefined;
  #plan: CrashPlan | undefined;
  #onCrash: (() => void) | undefined;
  /** Compare-and-sets since `beginEvent`. */
  #writes = 0;

  /** `now` is the run's fixed clock, so that records expire (or not) the same way every run. */
  constructor(now: () => number, fault?: StoreFault) {
    this.#inner = new MemoryStore({ now });
    this.#fault = fault;
  }

  /** Starts counting the compare-and-sets of one event; `plan` crashes at one of them. */
  beginEvent(plan?: CrashPlan, onCrash?: () => void): void {
    this.#writes = 0;
    this.#plan = plan;
    this.#onCrash = onCrash;
  }

  /** The compare-and-sets of the current event so far: the crash points it offers. */
  get writes(): number {
    return this.#writes;
  }

  /** The ids of every acknowledged write, for the world's fingerprint. */
  get acknowledgedIds(): string {
    return [...this.#acknowledged].sort().join(',');
  }

  /** Whether a write under `id` was ever acknowledged (or landed) in this store. */
  acknowledged(id: Uint8Array): boolean {
    return this.#acknowledged.has(hex(id));
  }

  async get(id: Uint8Array): Promise<SessionRecord | undefined> {
    this.#remember(id);
    return this.#inner.get(id);
  }

  async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    this.#remember(id);
    this.#writes++;
    const plan = this.#plan;
    if (plan !== undefined && plan.write === this.#writes) {
      this.#plan = undefined;
      if (plan.point === 'after' && (await this.#inner.compareAndSet(id, expected, next))) {
        this.#acknowledged.add(hex(id));
      }
      this.#onCrash?.();
      // The process is gone: its write never returns, and nothing after it runs.
      return new Promise<boolean>(() => {});
    }
    if (this.#fault === 'drop-writes') {
      this.#acknowledged.add(hex(id));
      return true;
    }
    const written = await this.#inner.compareAndSet(id, expected, next);
    if (written) this.#acknowledged.add(hex(id));
    return written;
  }

  async delete(id: Uint8Array): Promise<void> {
    this.#remember(id);
    await this.#inner.delete(id);
  }

  async close(): Promise<void> {
    await this.#inner.close();
  }

  #remember(id: Uint8Array): void {
    const key = hex(id);
    if (!this.#ids.has(key)) this.#ids.set(key, id.slice());
  }

  /** Every stored record, by id. */
  async snapshot(): Promise<StoreSnapshot> {
    const out = new Map<string, SessionRecord>();
    for (const [key, id] of [...this.#ids].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const record = await this.#inner.get(id);
      if (record !== undefined) out.set(key, record);
    }
    return out;
  }

  /** Puts the store back to `snapshot`, as a restore from a backup would. */
  async restore(snapshot: StoreSnapshot): Promise<void> {
    for (const id of this.#ids.values()) await this.#inner.delete(id);
    for (const [key, record] of snapshot) {
      const id = this.#ids.get(key)!;
      await this.#inner.compareAndSet(id, null, record);
    }
  }
}

/** A digest of a snapshot: every record's fields and bytes. */
export function snapshotDigest(snapshot: StoreSnapshot): string {
  const hash = createHash('sha256');
  for (const [key, record] of snapshot) {
    hash.update(`${key}|${record.format}|${record.epoch}|`);
    hash.update(record.state);
    hash.update(record.pending === undefined ? '|-|' : `|${record.pending.length}|`);
    if (record.pending !== undefined) hash.update(record.pending);
    hash.update(record.peer);
  }
  return hash.digest('hex');
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
