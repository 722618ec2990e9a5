import { connect as connectTcp } from 'node:net';
import type { Duplex } from 'node:stream';
import { MlsTlsError } from '@mlstls/codec';
import type { EndpointFactory } from '@mlstls/driver';
import {
  type CheckServerIdentity,
  type CiphersuiteChoice,
  Initiator,
  type InitiatorOptions,
} from '@mlstls/state-machine';
import { claimSession, decodeSessionRecord, type SessionStore } from '@mlstls/storage';
import {
  clientKeyPackages,
  KEY_LOG_FILE_VARIABLE,
  random,
  resolveSecureContext,
  type SharedOptions,
} from './options.js';
import { MlsTlsSocket } from './socket.js';

export interface ConnectOptions extends SharedOptions {
  /** Default `'localhost'`. */
  readonly host?: string;
  readonly port?: number;
  /** An already connected transport to use instead of `host` and `port`. */
  readonly socket?: Duplex;
  /** Aborting it destroys the socket with `ERR_MLSTLS_ABORTED`. */
  readonly signal?: AbortSignal;
  /**
   * Refuse a server that fails authentication (default true: fail closed): an X.509 chain that
   * does not lead to `ca`, is not valid now, does not hold the MLS signature key or does not
   * name `servername`; a basic credential that no `verifyPeer` or `peerSignaturePublicKey`
   * accepts. With false the connection goes on with `authorized === false` and
   * `authorizationError` saying why, as node:tls does.
   */
  readonly rejectUnauthorized?: boolean;
  /**
   * The server's name: sent in mlstls_server_name for the server to pick its certificate by
   * (SNI), and checked against its certificate. Default `host`; unlike node:tls it is sent by
   * default. An IP address is checked against the certificate's IP addresses and not sent.
   */
  readonly servername?: string;
  /**
   * Replaces the host name check (node:tls's option): returns an Error when `cert` (a
   * `getPeerCertificate()` object) does not name `hostname`. `tls.checkServerIdentity` works.
   */
  readonly checkServerIdentity?: CheckServerIdentity;
  /** The server's signature public key, pinned. */
  readonly peerSignaturePublicKey?: Uint8Array;
  /** The MLS ciphersuite to offer (default 1). */
  readonly ciphersuite?: CiphersuiteChoice;
  /**
   * Where sessions are kept (`@mlstls/storage-sqlite`, `@mlstls/storage-redis`, a
   * `MemoryStore`): a stored session under `sessionId` is resumed (docs/protocol.md section 6), and
   * every later state is written there before the bytes that depend on it.
   */
  readonly store?: SessionStore;
  /**
   * The id the session is stored under (default `host:port`, or `'socket'` with `socket`): a
   * string (stored as its UTF-8 bytes) or the bytes themselves, as in `@mlstls/streams` and
   * `@mlstls/deno`.
   */
  readonly sessionId?: string | Uint8Array;
  /**
   * @deprecated Use `sessionId`, the one name of every binding; this alias goes in the next
   * major version. Ignored when `sessionId` is given.
   */
  readonly sessionName?: string;
  /**
   * A session kept by the application, as a `'session'` event gave it: resumed instead of
   * reading the store, as node:tls's `session` option.
   */
  readonly session?: Uint8Array;
  /**
   * Whether a refused resumption (`unknown_psk_identity`) goes on with a full handshake on a
   * new connection (default true). With false the socket fails with
   * `ERR_MLSTLS_UNKNOWN_PSK_IDENTITY`.
   */
  readonly fallback?: boolean;
}

/**
 * Opens an mlstls connection, as node:tls's `connect()`: the returned socket emits
 * `'secureConnect'` (and calls `secureConnectListener`) once the handshake is complete.
 */
export function connect(options: ConnectOptions, secureConnectListener?: () => void): MlsTlsSocket {
  if (options.socket === undefined && options.port === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'connect() needs a port or a socket');
  }
  const { store } = options;
  const named =
    options.sessionId ??
    options.sessionName ??
    (options.socket === undefined ? `${options.host ?? 'localhost'}:${options.port}` : 'socket');
  const session = options.session === undefined ? undefined : decodeSessionRecord(options.session);
  const sessionId = typeof named === 'string' ? new TextEncoder().encode(named) : named;
  // Held for the socket's life: a second connection while this one lives makes a full
  // handshake, as resuming would take the session from this one.
  const claim = store === undefined ? undefined : claimSession(store, sessionId);
  const { context, credential } = resolveSecureContext(options);
  const endpointOptions: Omit<InitiatorOptions, 'keyLog' | 'persist'> = {
    random,
    now: Date.now,
    ...(options.prepareKeyPackages === false ? {} : { keyPackages: clientKeyPackages }),
    ca: context.anchors,
    serverName: options.servername ?? options.host ?? 'localhost',
    ...(store === undefined ? {} : { store, sessionId }),
    ...(options.strictStore === undefined ? {} : { strictStore: options.strictStore }),
    ...(session === undefined ? {} : { session }),
    ...(claim?.contended === true ? { resume: false } : {}),
    ...(credential === undefined ? {} : { credential }),
    ...(options.verifyPeer === undefined ? {} : { verifyPeer: options.verifyPeer }),
    ...(options.checkServerIdentity === undefined
      ? {}
      : { checkServerIdentity: options.checkServerIdentity }),
    ...(options.ALPNProtocols === undefined ? {} : { alpnProtocols: options.ALPNProtocols }),
    ...(options.provider === undefined ? {} : { provider: options.provider }),
    ...(options.ciphersuite === undefined ? {} : { ciphersuite: options.ciphersuite }),
    ...(options.peerSignaturePublicKey === undefined
      ? {}
      : { peerSignaturePublicKey: options.peerSignaturePublicKey }),
    ...(options.rejectUnauthorized === undefined
      ? {}
      : { rejectUnauthorized: options.rejectUnauthorized }),
  };
  const openTransport = (): Duplex => {
    const transport =
      options.socket ??
      connectTcp({
        host: options.host ?? 'localhost',
        port: options.port!,
        allowHalfOpen: true,
        noDelay: options.noDelay ?? true,
      });
    // The peer's close_notify ends the read side, not its FIN: a transport that ends its own
    // write side on FIN would cut off this side's data and close_notify (as net.Socket does
    // without allowHalfOpen).
    transport.allowHalfOpen = true;
    return transport;
  };
  const transport = openTransport();
  const createEndpoint: EndpointFactory<Initiator> = (hooks) =>
    new Initiator({ ...endpointOptions, ...hooks });
  const { session: _refused, ...withoutSession } = endpointOptions;
  // A fallback needs a new connection: a socket passed in cannot be made again.
  const fallback =
    options.fallback === false || options.socket !== undefined
      ? undefined
      : {
          transport: openTransport,
          createEndpoint: ((hooks) =>
            new Initiator({
              ...withoutSession,
              resume: false,
              ...hooks,
            })) as EndpointFactory<Initiator>,
        };
  let socket: MlsTlsSocket;
  try {
    socket = new MlsTlsSocket({
      transport,
      createEndpoint,
      fallback,
      handshakeTimeout: options.handshakeTimeout,
      allowHalfOpen: options.allowHalfOpen ?? false,
      rejectTruncation: options.rejectTruncation,
      signal: options.signal,
      keyLogFile: process.env[KEY_LOG_FILE_VARIABLE] || undefined,
      onSecure: (secured) => secured.emit('secureConnect'),
      // The session is free again as soon as this socket is destroyed, not a tick later at its
      // 'close': a connection made right after `destroy()` resumes it.
      onDestroy: claim?.release,
    });
  } catch (error) {
    // A refused option (an unsupported suite, a credential for another suite).
    claim?.release();
    if (options.socket === undefined) transport.destroy();
    throw error;
  }
  if (secureConnectListener !== undefined) socket.once('secureConnect', secureConnectListener);
  return socket;
}
