import { MlsTlsError } from '@mlstls/codec';
import { type ClientOptions, secureClient } from '@mlstls/streams';
import { MlsTlsConn } from './conn.js';
import { type DenoConn, deno } from './deno-types.js';
import { keyLogCallback } from './key-log-file.js';
import { anchorsOf, credentialOf, type DenoSharedOptions } from './options.js';
import { connTransport } from './transport.js';

export interface ConnectOptions
  extends DenoSharedOptions,
    Omit<ClientOptions, 'ca' | 'provider' | 'reconnect' | keyof DenoSharedOptions> {
  /** Default `'127.0.0.1'`, as `Deno.connectTls`. */
  readonly hostname?: string;
  readonly port: number;
  /** The name sent in mlstls_server_name and checked against the certificate (default `hostname`). */
  readonly serverName?: string;
  /** The name the session is stored under in `store` (default `hostname:port`). */
  readonly sessionId?: string | Uint8Array;
  /**
   * Whether a refused resumption goes on with a full handshake on a new TCP connection
   * (default true). With false the connection fails with `ERR_MLSTLS_UNKNOWN_PSK_IDENTITY`.
   */
  readonly fallback?: boolean;
}

/**
 * Opens an mlstls connection over `Deno.connect`, as `Deno.connectTls`: resolves once TCP is
 * connected, with the handshake under way (`await conn.handshake()`). A session in `store`
 * resumes.
 */
export async function connect(options: ConnectOptions): Promise<MlsTlsConn> {
  if (typeof options.port !== 'number') {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'connect() needs a port');
  }
  const hostname = options.hostname ?? '127.0.0.1';
  const { cert: _cert, key: _key, caCerts: _caCerts, fallback, ...clientOptions } = options;
  const credential = await credentialOf(options);
  const open = () => deno().connect({ hostname, port: options.port, transport: 'tcp' });
  let conn: DenoConn = await open();
  const onKeyLog = keyLogCallback(options.onKeyLog);
  try {
    const stream = secureClient(connTransport(conn), {
      ...clientOptions,
      ...(credential === undefined ? {} : { credential }),
      ...(onKeyLog === undefined ? {} : { onKeyLog }),
      ca: anchorsOf(options),
      ...(options.provider === undefined ? {} : { provider: options.provider }),
      serverName: options.serverName ?? hostname,
      ...(options.store === undefined
        ? {}
        : { sessionId: options.sessionId ?? `${hostname}:${options.port}` }),
      ...(fallback === false
        ? {}
        : {
            reconnect: async () => {
              conn = await open();
              return connTransport(conn);
            },
          }),
    });
    return new MlsTlsConn(stream, () => conn);
  } catch (error) {
    // A refused option: the connection is of no use.
    conn.close();
    throw error;
  }
}
