import { randomFillSync } from 'node:crypto';
import type { EndpointCredential, EndpointOptions } from '@mlstls/state-machine';

/** What `connect()` and `createServer()` both take. */
export interface SharedOptions {
  /** This end's credential; without one the client makes an ephemeral one per connection. */
  readonly credential?: EndpointCredential;
  /** Decides whether the peer's credential is acceptable (see the state machine's rules). */
  readonly verifyPeer?: EndpointOptions['verifyPeer'];
  /** The record layer's crypto: `node` (default), `noble`, or your own provider. */
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
}

/** node:tls's default for servers; used for both ends here. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 120_000;

/**
 * The core's randomness, from the platform CSPRNG. `randomFillSync` rather than
 * `getRandomValues`: the same generator without the 64 KiB limit per call.
 */
export function random(length: number): Uint8Array {
  return randomFillSync(new Uint8Array(length));
}

/** The environment variable naming a file that key log lines are appended to. */
export const KEY_LOG_FILE_VARIABLE = 'MLSTLS_KEYLOGFILE';
