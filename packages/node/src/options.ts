import { MlsTlsError } from '@mlstls/codec';
import {
  type EndpointCredential,
  type EndpointOptions,
  KeyPackagePool,
  type ProtocolName,
} from '@mlstls/state-machine';
import {
  createSecureContext,
  type MlsTlsSecureContext,
  type SecureContextOptions,
} from './secure-context.js';

/**
 * What `connect()` and `createServer()` both take. `key`, `passphrase`, `cert` and `ca` are
 * node:tls's (see `SecureContextOptions`); `secureContext` replaces them.
 */
export interface SharedOptions extends SecureContextOptions {
  /** Made once with `createSecureContext()`, instead of `key`, `cert` and `ca`. */
  readonly secureContext?: MlsTlsSecureContext;
  /**
   * This end's MLS credential, instead of `key` and `cert` (a basic credential, say); without
   * either, the client makes an ephemeral basic one per connection.
   */
  readonly credential?: EndpointCredential;
  /**
   * ALPN protocols, most preferred first (node:tls's `ALPNProtocols`, as a list). The server
   * picks its first one that the client offers; none in common fails the handshake with
   * `no_application_protocol`.
   */
  readonly ALPNProtocols?: readonly ProtocolName[];
  /** Decides whether the peer's credential is acceptable (see the state machine's rules). */
  readonly verifyPeer?: EndpointOptions['verifyPeer'];
  /** The record layer's crypto: `node` (default; the native AEAD when built), `native`, `noble`, or your own. */
  readonly provider?: EndpointOptions['provider'];
  /**
   * Milliseconds the handshake may take before the socket is destroyed with
   * `ERR_MLSTLS_HANDSHAKE_TIMEOUT` (default 120000, as node:tls servers); 0 waits forever.
   */
  readonly handshakeTimeout?: number;
  /**
   * Whether the socket stays writable after the peer's close_notify (default false, as
   * node:tls): with false, the peer's end ends this side too.
   */
  readonly allowHalfOpen?: boolean;
  /**
   * Whether a transport that ends without the peer's close_notify after the handshake is an
   * error (`ERR_MLSTLS_TRUNCATED`). Default false, as node:tls: the readable side ends with no
   * `'error'`, and `socket.truncated` tells it from a clean close.
   */
  readonly rejectTruncation?: boolean;
  /**
   * Whether a failure of `store` ends the connection (default false). By default a store that
   * fails or misses its deadline costs only resumption: the handshake completes unstored, the
   * socket emits `'storeError'` and keeps the error as `socket.storeError`.
   */
  readonly strictStore?: boolean;
  /**
   * Whether the TCP sockets this package opens or accepts disable Nagle's algorithm (default
   * true, unlike node:net). Every write carries whole records, and a handshake's last flight
   * is a small record followed at once by the application's first data: with Nagle on, that
   * data waits for the peer's delayed ACK (about 40 ms on Linux). A `socket` passed to
   * `connect()` is left as it is.
   */
  readonly noDelay?: boolean;
  /**
   * Whether full handshakes take KeyPackages (and a client's ephemeral credentials) made ahead
   * of time, while the process is idle, instead of on the critical path (default true).
   * Each is used once and dropped unused after a minute; see `KeyPackagePool`.
   */
  readonly prepareKeyPackages?: boolean;
}

/**
 * The secure context of `options`: the one given, or one made of `key`, `cert` and `ca`; and
 * the credential to present (`credential`, else the context's).
 */
export function resolveSecureContext(options: SharedOptions): {
  context: MlsTlsSecureContext;
  credential: EndpointCredential | undefined;
} {
  const { secureContext, key, cert, ca, passphrase, credential } = options;
  if (secureContext !== undefined && (key ?? cert ?? ca) !== undefined) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      '`secureContext` replaces `key`, `cert` and `ca`: give one or the other',
    );
  }
  const context =
    secureContext ??
    createSecureContext({
      ...(key === undefined ? {} : { key }),
      ...(cert === undefined ? {} : { cert }),
      ...(ca === undefined ? {} : { ca }),
      ...(passphrase === undefined ? {} : { passphrase }),
    });
  if (credential !== undefined && context.credential !== undefined) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      '`credential` and `key`/`cert` both name this end: give one',
    );
  }
  return { context, credential: credential ?? context.credential };
}

/** KeyPackages made ahead for every client of this process (each server has its own pool). */
export const clientKeyPackages = new KeyPackagePool();

/** The core's randomness: the platform CSPRNG, small requests served from a block. */
export { secureRandom as random } from '@mlstls/crypto';

/** The environment variable naming a file that key log lines are appended to. */
export const KEY_LOG_FILE_VARIABLE = 'MLSTLS_KEYLOGFILE';
