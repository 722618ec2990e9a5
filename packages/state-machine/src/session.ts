// How a connection's state becomes a stored `SessionRecord` and back (docs/protocol.md sections 5
// and 6). The store keeps the bytes; only this module reads them.
import { MlsTlsError, Reader, Writer } from '@mlstls/codec';
import { SESSION_FORMAT, type SessionRecord } from '@mlstls/storage';
import { type ClientState, decodeGroupState } from 'ts-mls';
import { encodeCredential } from 'ts-mls/credential.js';
import { encodeGroup, withoutExporterSecret } from './group.js';
import { CLIENT_CONFIG, equalBytes } from './mls.js';
import type { SessionSnapshot } from './output.js';

/** Unconfirmed commits an initiator holds at most; with this many it makes a full handshake. */
export const MAX_UNCONFIRMED_COMMITS = 8;

/** The record a snapshot is stored as. */
export function sessionRecord(snapshot: Omit<SessionSnapshot, 'record'>): SessionRecord {
  const pending =
    snapshot.role === 'initiator'
      ? encodeCommitList(snapshot.groupId, snapshot.unconfirmedCommits)
      : snapshot.pending === undefined
        ? undefined
        : encodeResponderPending(snapshot.pending.commit, snapshot.pending.group);
  const peer = new Writer()
    .opaque(2, snapshot.peer.signaturePublicKey)
    .opaque(4, encodeCredential(snapshot.peer.credential))
    .finish();
  return {
    format: SESSION_FORMAT,
    epoch: snapshot.epoch,
    state: snapshot.group,
    ...(pending === undefined ? {} : { pending }),
    peer,
  };
}

/**
 * The record formats this version reads. Format 1 (earlier versions) stored each group state
 * with its epoch's MLS exporter secret; it is read by erasing that secret, and the next write
 * is format 2, which never holds one (docs/protocol.md section 3).
 */
const READABLE_FORMATS: ReadonlySet<number> = new Set([1, SESSION_FORMAT]);

/** Whether this version can read a record of `format`. */
export function isReadableFormat(format: number): boolean {
  return READABLE_FORMATS.has(format);
}

/**
 * A stored group state, ready to be the base of a new commit (never to carry records: it has no
 * exporter secret); `undefined` for one this version cannot read. It is decoded from a copy:
 * ts-mls's secrets are views of the bytes they were decoded from, and erasing them must not
 * change the record a later compare-and-set compares.
 */
export function decodeGroup(stored: Uint8Array): ClientState | undefined {
  const bytes = stored.slice();
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    decoded = decodeGroupState(bytes, 0);
  } catch {
    return undefined;
  }
  if (decoded === undefined || decoded[1] !== bytes.length) return undefined;
  return withoutExporterSecret({ ...decoded[0], clientConfig: CLIENT_CONFIG });
}

/**
 * A record of an earlier format rewritten as this version writes it: its group states without
 * their exporter secrets. A format-2 record comes back as it is; one this version cannot read
 * is `undefined`. Records are migrated one by one as their sessions are used; this scrubs a
 * whole store at once (read each record, write the result back).
 */
export function migrateSessionRecord(record: SessionRecord): SessionRecord | undefined {
  if (record.format === SESSION_FORMAT) return record;
  if (!isReadableFormat(record.format)) return undefined;
  const group = decodeGroup(record.state);
  if (group === undefined) return undefined;
  let pending = record.pending;
  if (pending !== undefined) {
    // A responder's pending commit carries the state it leads to; an initiator's names its group.
    const own = decodeResponderPending(pending);
    const ownGroup = own === undefined ? undefined : decodeGroup(own.group);
    if (own !== undefined && ownGroup !== undefined) {
      pending = encodeResponderPending(own.commit, encodeGroup(ownGroup));
    } else if (decodeCommitList(pending, group.groupContext.groupId) === undefined) {
      return undefined;
    }
  }
  return {
    format: SESSION_FORMAT,
    epoch: record.epoch,
    state: encodeGroup(group),
    ...(pending === undefined ? {} : { pending }),
    peer: record.peer,
  };
}

/**
 * An initiator's stored unconfirmed commits, oldest first, if they are of `groupId`'s group.
 *
 * An initiator's `pending` always names its group first. Its records share one id (the
 * responder's name) across connections, and two groups can be at the same epoch with no
 * commit pending; with the group_id in it, a compare-and-set of one connection's version can
 * never match another connection's record.
 */
export function decodeCommitList(
  pending: Uint8Array | undefined,
  groupId: Uint8Array,
): Uint8Array[] | undefined {
  if (pending === undefined) return undefined;
  return readAll(pending, (reader) => {
    if (!equalBytes(reader.opaque(1), groupId)) return undefined;
    const list = reader.vector(4);
    const commits: Uint8Array[] = [];
    while (list.remaining > 0) commits.push(list.opaque(4));
    return commits;
  });
}

/** A responder's stored own pending commit and the state it leads to. */
export function decodeResponderPending(
  pending: Uint8Array,
): { commit: Uint8Array; group: Uint8Array } | undefined {
  return readAll(pending, (reader) => ({ commit: reader.opaque(4), group: reader.opaque(4) }));
}

function encodeResponderPending(commit: Uint8Array, group: Uint8Array): Uint8Array {
  return new Writer().opaque(4, commit).opaque(4, group).finish();
}

function encodeCommitList(groupId: Uint8Array, commits: readonly Uint8Array[]): Uint8Array {
  return new Writer()
    .opaque(1, groupId)
    .vector(4, (list) => {
      for (const commit of commits) list.opaque(4, commit);
    })
    .finish();
}

function readAll<T>(bytes: Uint8Array, read: (reader: Reader) => T): T | undefined {
  try {
    const reader = new Reader(bytes, 'session record');
    const value = read(reader);
    reader.end();
    return value;
  } catch (error) {
    if (error instanceof MlsTlsError) return undefined;
    throw error;
  }
}

/** Whether `error` is a failure of the session store (not a refusal or a lost race). */
export function isStoreFault(error: unknown): error is MlsTlsError {
  return (
    error instanceof MlsTlsError &&
    (error.code === 'ERR_MLSTLS_STORAGE' || error.code === 'ERR_MLSTLS_STORAGE_TIMEOUT')
  );
}

/**
 * Runs a store call; whatever it throws becomes `ERR_MLSTLS_STORAGE` (a store's own
 * `ERR_MLSTLS_STORAGE_TIMEOUT` stays what it is).
 */
export async function callStore<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isStoreFault(error)) throw error;
    throw new MlsTlsError('ERR_MLSTLS_STORAGE', `the session store failed to ${what}`, {
      cause: error,
    });
  }
}
