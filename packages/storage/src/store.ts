/**
 * The storage interface of mlstls (docs/protocol.md sections 5 and 6): group state as bytes in
 * and out, keyed by a session id, written only by an atomic compare-and-set.
 */

/**
 * The format of a `SessionRecord` this version writes. Format 2 is a group state without its
 * MLS exporter secret (docs/protocol.md section 3, revision 2); format 1, written by earlier
 * versions, holds it. Stores keep and return any format as it was given: the state machine,
 * not the store, refuses a record it can neither read nor migrate.
 */
export const SESSION_FORMAT = 2;

/**
 * The `ttl` a store applies when none is given: 7 days in milliseconds, the longest lifetime
 * RFC 8446 4.6.1 allows a session ticket. Stored sessions are bounded by default; pass
 * `ttl: Infinity` to keep records until they are deleted.
 */
export const DEFAULT_SESSION_TTL = 7 * 24 * 60 * 60 * 1000;

/**
 * One stored session. Stores keep the fields as they are: only the state machine reads
 * `state`, `pending` and `peer`.
 */
export interface SessionRecord {
  /**
   * The format `state` and `pending` are in, a uint16: `SESSION_FORMAT` when this version wrote
   * them. Stores keep whatever format they are given and never judge it.
   */
  readonly format: number;
  /** The MLS epoch `state` is in. */
  readonly epoch: bigint;
  /** The encoded ts-mls group state. */
  readonly state: Uint8Array;
  /**
   * The commits not yet confirmed, encoded by the state machine: the responder's own pending
   * commit with the state it leads to, or the initiator's unconfirmed commits. Absent when none.
   */
  readonly pending?: Uint8Array | undefined;
  /** The peer's identity: its credential and signature key, encoded by the state machine. */
  readonly peer: Uint8Array;
}

/**
 * What a compare-and-set compares: the stored epoch and pending commit. Both only move forward
 * (an epoch never comes back, and a pending commit is made once per epoch), so equal versions
 * mean an unchanged record.
 */
export interface SessionVersion {
  readonly epoch: bigint;
  readonly pending?: Uint8Array | undefined;
}

/** Options every adapter takes. */
export interface StoreOptions {
  /**
   * How long a record lives after its last write, in milliseconds: a positive integer, or
   * `Infinity` to keep records until deleted (default `DEFAULT_SESSION_TTL`, 7 days). An
   * expired record reads as absent, so its next connection makes a full handshake.
   */
  readonly ttl?: number;
}

/**
 * A session store. The id is the group_id at a responder and the responder's name at an
 * initiator. Every method may reject with `ERR_MLSTLS_STORAGE`, and a store with a deadline
 * with `ERR_MLSTLS_STORAGE_TIMEOUT` (its backend did not answer in time: what the call asked
 * may or may not have happened).
 */
export interface SessionStore {
  /** The record stored under `id`, or `undefined` when there is none (or it expired). */
  get(id: Uint8Array): Promise<SessionRecord | undefined>;
  /**
   * Writes `next` if the stored record is at `expected` (`null`: if none is stored), as one
   * atomic step. Resolves `true` when written, `false` when another writer got there first;
   * nothing is changed then.
   */
  compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean>;
  /** Removes the record under `id`, if any. */
  delete(id: Uint8Array): Promise<void>;
  /** Releases the store's resources (connections, file handles). Further calls reject. */
  close(): Promise<void>;
}

/** The version a record is at, to pass as a later `expected`. */
export function versionOf(record: SessionRecord): SessionVersion {
  // A copy: the version must not change with the record's arrays.
  return record.pending === undefined
    ? { epoch: record.epoch }
    : { epoch: record.epoch, pending: record.pending.slice() };
}

/** Whether a stored record (or its version) is at `expected` (`null`: whether none is stored). */
export function isAtVersion(
  stored: SessionVersion | undefined,
  expected: SessionVersion | null,
): boolean {
  if (expected === null || stored === undefined) return expected === null && stored === undefined;
  return stored.epoch === expected.epoch && sameBytes(stored.pending, expected.pending);
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
