import { connect as connectTcp } from 'node:net';
import type { Duplex } from 'node:stream';
import { MlsTlsError } from '@mlstls/codec';
import { type CiphersuiteChoice, Initiator, type InitiatorOptions } from '@mlstls/state-machine';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  KEY_LOG_FILE_VARIABLE,
  random,
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
   * Refuse a server that no `verifyPeer` or `peerSignaturePublicKey` accepts (default true:
   * fail closed). With false the connection goes on with `authorized === false`.
   */
  readonly rejectUnauthorized?: boolean;
  /** The server's signature public key, pinned. */
  readonly peerSignaturePublicKey?: Uint8Array;
  /** The MLS ciphersuite to offer (default 1). */
  readonly ciphersuite?: CiphersuiteChoice;
}

/**
 * Opens an mlstls connection, as node:tls's `connect()`: the returned socket emits
 * `'secureConnect'` (and calls `secureConnectListener`) once the handshake is complete.
 */
export function connect(options: ConnectOptions, secureConnectListener?: () => void): MlsTlsSocket {
  if (options.socket === undefined && options.port === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'connect() needs a port or a socket');
  }
  const endpointOptions: Omit<InitiatorOptions, 'keyLog'> = {
    random,
    now: Date.now,
    // Nothing stores group state yet (storage and resumption come with @mlstls/storage).
    persist: false,
    ...(options.credential === undefined ? {} : { credential: options.credential }),
    ...(options.verifyPeer === undefined ? {} : { verifyPeer: options.verifyPeer }),
    ...(options.provider === undefined ? {} : { provider: options.provider }),
    ...(options.ciphersuite === undefined ? {} : { ciphersuite: options.ciphersuite }),
    ...(options.peerSignaturePublicKey === undefined
      ? {}
      : { peerSignaturePublicKey: options.peerSignaturePublicKey }),
    ...(options.rejectUnauthorized === undefined
      ? {}
      : { rejectUnauthorized: options.rejectUnauthorized }),
  };
  const transport =
    options.socket ??
    connectTcp({ host: options.host ?? 'localhost', port: options.port!, allowHalfOpen: true });
  // The peer's close_notify ends the read side, not its FIN: a transport that ends its own
  // write side on FIN would cut off this side's data and close_notify (as net.Socket does
  // without allowHalfOpen).
  transport.allowHalfOpen = true;
  let socket: MlsTlsSocket;
  try {
    socket = new MlsTlsSocket({
      transport,
      createEndpoint: (keyLog) => new Initiator({ ...endpointOptions, keyLog }),
      handshakeTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
      allowHalfOpen: options.allowHalfOpen ?? false,
      signal: options.signal,
      keyLogFile: process.env[KEY_LOG_FILE_VARIABLE] || undefined,
      onSecure: (secured) => secured.emit('secureConnect'),
    });
  } catch (error) {
    // A refused option (an unsupported suite, a credential for another suite).
    if (options.socket === undefined) transport.destroy();
    throw error;
  }
  if (secureConnectListener !== undefined) socket.once('secureConnect', secureConnectListener);
  return socket;
}
