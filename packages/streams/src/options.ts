import type { MlsTlsError } from '@mlstls/codec';
import { secureRandom as random } from '@mlstls/crypto';
import type {
  CheckServerIdentity,
  CiphersuiteChoice,
  EndpointCredential,
  EndpointOptions,
  EpochCause,
  ProtocolName,
  ResponderOptions,
} from '@mlstls/state-machine';
import type { SessionStore } from '@mlstls/storage';
import type { TrustAnchors } from '@mlstls/x509';

/**
 * A connected byte transport as the Web platform gives it: `Deno.Conn`, a Cloudflare
 * `Socket`, a WebSocketStream's streams, `Duplex.toWeb(socket)` in Node. Closing `writable`
 * must end the sending direction only (a TCP half-close): the peer's close_notify still has to
 * be read after this side's.
 */
export interface StreamTransport {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/**
 * What the connection reports as it happens. Callbacks rather than an `EventTarget`: they are
 * typed, cost nothing when absent (the core is not even asked for a key log line or a
 * session encoding then), and run in the order of the state machine's outputs. A callback that
 * throws fails the connection (`ERR_MLSTLS_ABORTED`, the thrown value as `cause`).
 */
export interface ConnectionCallbacks {
  /** A new MLS epoch: `'handshake'`, `'resumption'`, `'local'` or `'peer'` update. */
  readonly onEpoch?: (epoch: bigint, cause: EpochCause) => void;
  /** A TLS KeyUpdate moved `'send'` or `'receive'` keys to their next generation. */
  readonly onKeyUpdate?: (direction: 'send' | 'receive', generation: number) => void;
  /**
   * A docs/protocol.md section 9 line, `MLSTLS_MASTER_SECRET <group_id> <epoch> <secret>\n` (with its
   * newline, as node:tls's `'keylog'`), for each epoch entered. For debugging only: it is the
   * key of everything that epoch protects.
   */
  readonly onKeyLog?: (line: string) => void;
  /**
   * The state to resume from, encoded (`encodeSessionRecord`), handed out before the bytes that
   * depend on it: keep the last one and pass it as a client's `session` option.
   */
  readonly onSession?: (session: Uint8Array) => void;
  /**
   * The session store failed or missed its deadline: the connection goes on unstored (it cannot
   * be resumed from its latest state), unless `strictStore`. Called once per connection; the
   * error stays as `storeError`.
   */
  readonly onStoreError?: (error: MlsTlsError) => void;
}

/** What `secureClient()` and `secureServer()` both take. */
export interface SharedOptions extends ConnectionCallbacks {
  /** This end's MLS credential; without one, an ephemeral basic credential is made. */
  readonly credential?: EndpointCredential;
  /**
   * The trust anchors an X.509 peer must chain to. There is no default: without anchors no
   * chain verifies (`unknown_ca`), and a peer is authenticated by `verifyPeer` or a pinned key.
   */
  readonly ca?: TrustAnchors;
  /** ALPN protocols, most preferred first (docs/protocol.md section 7). */
  readonly alpnProtocols?: readonly ProtocolName[];
  /** Decides whether the peer's credential is acceptable (see the state machine's rules). */
  readonly verifyPeer?: EndpointOptions['verifyPeer'];
  /**
   * The crypto of the record layer and of MLS: `'node'` (node:crypto), `'webcrypto'`
   * (`crypto.subtle`, records several at a time), `'noble'` (pure JavaScript, for runtimes with
   * neither), or a provider of your own. Default: the fastest the runtime has, found by feature
   * detection (D94): node:crypto in Node and Bun, WebCrypto in Deno and browsers.
   * `HandshakeInfo.crypto` says which MLS implementation ran.
   */
  readonly provider?: EndpointOptions['provider'];
  /**
   * Milliseconds the handshake may take before the connection fails with
   * `ERR_MLSTLS_HANDSHAKE_TIMEOUT` (default 120000, as node:tls servers); 0 waits forever.
   */
  readonly handshakeTimeout?: number;
  /**
   * Milliseconds without a byte sent or received before the connection fails with
   * `ERR_MLSTLS_IDLE_TIMEOUT` (default 0: never). A peer that stops halfway through a record
   * holds a connection only this long.
   */
  readonly idleTimeout?: number;
  /**
   * Whether a transport that ends without the peer's close_notify after the handshake fails
   * the connection with `ERR_MLSTLS_TRUNCATED` (default true, as Deno's TLS). With false,
   * `readable` ends and `truncated` is true.
   */
  readonly rejectTruncation?: boolean;
  /** Aborting it fails the connection with `ERR_MLSTLS_ABORTED` (the reason as `cause`). */
  readonly signal?: AbortSignal;
  /**
   * Whether a failure of `store` fails the connection (default false): by default it costs
   * only resumption (`onStoreError`).
   */
  readonly strictStore?: boolean;
}

export interface ClientOptions extends SharedOptions {
  /**
   * The server's host name: sent in mlstls_server_name (unless an IP address) and checked
   * against an X.509 server's certificate.
   */
  readonly serverName?: string;
  /** Replaces the host name check of an X.509 server (node:tls's option of that name). */
  readonly checkServerIdentity?: CheckServerIdentity;
  /**
   * Refuse a server that fails authentication (default true: fail closed). With false the
   * handshake completes with `authorized: false` and `authorizationError`.
   */
  readonly rejectUnauthorized?: boolean;
  /** The server's signature public key, pinned. */
  readonly peerSignaturePublicKey?: Uint8Array;
  /** The MLS ciphersuite to offer (default 1). */
  readonly ciphersuite?: CiphersuiteChoice;
  /**
   * Where sessions are kept (a `MemoryStore`, `@mlstls/storage-redis`, ...): with `sessionId`
   * a stored session is resumed (docs/protocol.md section 6), and every later state is written there
   * before the bytes that depend on it.
   */
  readonly store?: SessionStore;
  /** The name the session is stored under: the server's identity, such as `host:port`. */
  readonly sessionId?: string | Uint8Array;
  /** A session kept by the application (an `onSession` value), resumed instead of the store. */
  readonly session?: Uint8Array;
  /** Whether to resume a stored session (default true). */
  readonly resume?: boolean;
  /**
   * A new transport to the same server, for when it refuses the resumption
   * (`unknown_psk_identity`, or the stored session was taken by another connection): the
   * stored session is gone and a full handshake runs on the new transport, with the writes made
   * so far. Without it such a connection fails with the refusal.
   */
  readonly reconnect?: () => Promise<StreamTransport>;
}

export interface ServerOptions extends SharedOptions {
  /** The MLS ciphersuites accepted (default: every supported one). */
  readonly ciphersuites?: readonly CiphersuiteChoice[];
  /**
   * Where group states are kept, by group_id: every change is a compare-and-set before the
   * bytes that depend on it. Without a store every resumption is refused.
   */
  readonly store?: SessionStore;
  /** Ask the client for an X.509 certificate that verifies against `ca`. */
  readonly requestCert?: boolean;
  /** Refuse a client that fails authentication (default true). */
  readonly rejectUnauthorized?: boolean;
  /** SNI: the credential for the name the client sent; `undefined` is `unrecognized_name`. */
  readonly selectCredential?: ResponderOptions['selectCredential'];
}

/** The driver's settings of a connection, from the binding's options. */
export function connectionSettings(options: SharedOptions) {
  return {
    handshakeTimeout: options.handshakeTimeout,
    idleTimeout: options.idleTimeout ?? 0,
    rejectTruncation: options.rejectTruncation !== false,
    signal: options.signal,
  };
}

/** The options both state machines take, from the binding's. */
export function endpointOptions(
  options: SharedOptions,
): Pick<
  EndpointOptions,
  | 'random'
  | 'now'
  | 'credential'
  | 'ca'
  | 'alpnProtocols'
  | 'verifyPeer'
  | 'provider'
  | 'strictStore'
> {
  return {
    random,
    now: Date.now,
    ...(options.strictStore === undefined ? {} : { strictStore: options.strictStore }),
    ...(options.credential === undefined ? {} : { credential: options.credential }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.alpnProtocols === undefined ? {} : { alpnProtocols: options.alpnProtocols }),
    ...(options.verifyPeer === undefined ? {} : { verifyPeer: options.verifyPeer }),
    ...(options.provider === undefined ? {} : { provider: options.provider }),
  };
}
