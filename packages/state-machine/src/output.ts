import type { MlsTlsError } from '@mlstls/codec';
import type { SessionRecord } from '@mlstls/storage';
import type { PeerCertificate } from '@mlstls/x509';
import type { Credential } from 'ts-mls';
import type { MlsImplementation } from './mls.js';
import type { Role } from './traffic.js';

/** The peer as its leaf in the group names it. */
export interface PeerCredential {
  readonly credential: Credential;
  readonly signaturePublicKey: Uint8Array;
}

/** What the handshake settled, reported with `handshakeComplete`. */
export interface HandshakeInfo {
  readonly ciphersuite: string;
  readonly epoch: bigint;
  readonly groupId: Uint8Array;
  readonly peer: PeerCredential;
  /** Whether the peer's credential was verified; false only with `rejectUnauthorized: false`. */
  readonly authorized: boolean;
  readonly authorizationError?: MlsTlsError;
  /** Whether the connection resumed a stored session (docs/protocol.md section 6). */
  readonly resumed: boolean;
  /**
   * The MLS crypto the connection runs on: node:crypto (`node`), WebCrypto (`webcrypto`, the
   * default in Deno and browsers), or ts-mls's portable WebCrypto and `@noble` implementation
   * (`portable`), which runs the suites the others lack (the post-quantum suites everywhere, D93)
   * and `provider: 'noble'`. The record layer runs on the same provider (D54, D94).
   */
  readonly crypto: MlsImplementation;
  /**
   * The peer's leaf certificate as node:tls's `getPeerCertificate(true)` describes it, when
   * the peer presented an X.509 credential that parses (verified or not: see `authorized`).
   */
  readonly peerCertificate?: PeerCertificate;
  /** The application protocol agreed by ALPN (mlstls_alpn), if any. */
  readonly alpnProtocol?: string;
  /** The host name the initiator sent in mlstls_server_name (not known on a resumption). */
  readonly serverName?: string;
}

/**
 * Everything a connection must keep to resume (docs/protocol.md sections 5 and 6). It is handed out
 * before the bytes that depend on it: a binding stores it first, then sends.
 */
export interface SessionSnapshot {
  readonly role: Role;
  readonly groupId: Uint8Array;
  /** The epoch `group` is in. */
  readonly epoch: bigint;
  /** The group state, encoded by ts-mls (`decodeGroupState`). */
  readonly group: Uint8Array;
  /** The initiator's unconfirmed commits (encoded MLSMessages), oldest first. */
  readonly unconfirmedCommits: readonly Uint8Array[];
  /** The responder's own pending commit and the state it leads to, if it holds one. */
  readonly pending?: { readonly commit: Uint8Array; readonly group: Uint8Array };
  readonly peer: PeerCredential;
  /** All of the above as the store keeps it. */
  readonly record: SessionRecord;
}

/** Why the connection's epoch changed. */
export type EpochCause = 'handshake' | 'resumption' | 'local' | 'peer';

/**
 * The outputs of a state machine, in the order a binding must act on them: send bytes to the
 * transport, store a snapshot (before any later `send`), hand data to the application, report
 * events.
 */
export type Output =
  /**
   * Bytes for the transport. `reply` marks an answer the peer asked for at no cost to itself
   * (a key_update answering update_requested): a binding stops reading while such answers pile
   * up unsent, so that a peer that writes and never reads cannot grow this end's memory.
   */
  | { readonly type: 'send'; readonly data: Uint8Array; readonly reply?: true }
  | { readonly type: 'persist'; readonly snapshot: SessionSnapshot }
  | { readonly type: 'data'; readonly data: Uint8Array }
  | { readonly type: 'handshakeComplete'; readonly info: HandshakeInfo }
  | { readonly type: 'epochChanged'; readonly epoch: bigint; readonly cause: EpochCause }
  | {
      readonly type: 'keyUpdated';
      readonly direction: 'send' | 'receive';
      readonly generation: number;
    }
  /** One docs/protocol.md section 9 line, without its newline, for each epoch entered. */
  | { readonly type: 'keyLog'; readonly line: string }
  | { readonly type: 'peerClosed' }
  /**
   * The session store failed (`ERR_MLSTLS_STORAGE`) or missed its deadline
   * (`ERR_MLSTLS_STORAGE_TIMEOUT`): the connection goes on without it and cannot be resumed from
   * its latest state. Reported once; not with `strictStore`, where the failure is fatal.
   */
  | { readonly type: 'storeError'; readonly error: MlsTlsError }
  /**
   * The connection failed. `reconnect` is true when a full handshake on a new transport is the
   * way on (a refused resumption, section 6): the stored session is gone, nothing was said to
   * the application yet.
   */
  | { readonly type: 'error'; readonly error: MlsTlsError; readonly reconnect: boolean };
