// How a connection's state becomes a stored `SessionRecord` and back (PROFILE.md sections 5
// and 6). The store keeps the bytes; only this module reads them.
import { MlsTlsError, Reader, Writer } from '@mlstls/codec';
import { SESSION_FORMAT, type SessionRecord } from '@mlstls/storage';
import { type ClientState, decodeGroupState } from 'ts-mls';
import { encodeCredential } from 'ts-mls/credential.js';
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
        : new Writer()
            .opaque(4, snapshot.pending.commit)
            .opaque(4, snapshot.pending.group)
            .finish();
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
 * A stored group state, ready to use; `undefined` for one this version cannot read. It is
 * decoded from a copy: ts-mls's secrets are views of the bytes they were decoded from, and
 * erasing them must not change the record a later compare-and-set compares.
 */
export function decodeGroup(stored: Uint8Array): ClientState | undefined {
  const bytes = stored.slice();
  try {
    const decoded = decodeGroupState(bytes, 0);
    if (decoded === undefined || decoded[1] !== bytes.length) return undefined;
    return { ...decoded[0], clientConfig: CLIENT_CONFIG };
  } catch {
    return undefined;
  }
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

/** Runs a store call; whatever it throws becomes `ERR_MLSTLS_STORAGE`. */
export async function callStore<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof MlsTlsError && error.code === 'ERR_MLSTLS_STORAGE') throw error;
    throw new MlsTlsError('ERR_MLSTLS_STORAGE', `the session store failed to ${what}`, {
      cause: error,
    });
  }
}
