import { MlsTlsError } from '@mlstls/codec';
import { type EndpointCredential, generateCredential } from '@mlstls/state-machine';
import { type ServerOptions, secureServer } from '@mlstls/streams';
import { MlsTlsConn } from './conn.js';
import { type DenoListener, deno, type NetAddr } from './deno-types.js';
import { keyLogCallback } from './key-log-file.js';
import { anchorsOf, credentialOf, type DenoSharedOptions } from './options.js';
import { connTransport } from './transport.js';

export interface ListenOptions
  extends DenoSharedOptions,
    Omit<ServerOptions, 'ca' | 'provider' | keyof DenoSharedOptions> {
  /** Default `'0.0.0.0'`, as `Deno.listenTls`. */
  readonly hostname?: string;
  readonly port: number;
}

/**
 * An mlstls listener shaped like `Deno.TlsListener`: `accept()`, `for await (const conn of
 * listener)`, `close()`, `addr`, and `await using`. Each connection's handshake runs once
 * accepted (`await conn.handshake()`).
 */
export class MlsTlsListener implements AsyncIterable<MlsTlsConn> {
  readonly #listener: DenoListener;
  readonly #options: ListenOptions;
  readonly #credential: Promise<EndpointCredential>;
  #closed = false;

  constructor(options: ListenOptions) {
    this.#options = options;
    // A generated basic credential, when none is given, is for the first suite accepted.
    const made = credentialOf(options).then(
      (credential) =>
        credential ??
        generateCredential({
          ciphersuite: options.ciphersuites?.[0] ?? 1,
          ...(options.provider === undefined ? {} : { provider: options.provider }),
        }),
    );
    made.catch(() => {}); // reported by accept()
    this.#credential = made;
    this.#listener = deno().listen({
      hostname: options.hostname ?? '0.0.0.0',
      port: options.port,
      transport: 'tcp',
    });
    const asyncDispose = (Symbol as { asyncDispose?: symbol }).asyncDispose;
    if (asyncDispose !== undefined) {
      Object.defineProperty(this, asyncDispose, { value: async () => this.close() });
    }
  }

  /** The address listened on, as `Deno.Listener.addr`. */
  get addr(): NetAddr {
    return this.#listener.addr;
  }

  /**
   * The server's credential: the one of `cert` and `key`, `credential`, or the basic one made
   * for this listener, whose `signaturePublicKey` clients can pin. Rejects when `cert` and
   * `key` could not be read.
   */
  credential(): Promise<EndpointCredential> {
    return this.#credential;
  }

  /** The next connection. Rejects with `ERR_MLSTLS_INVALID_STATE` once the listener is closed. */
  async accept(): Promise<MlsTlsConn> {
    const credential = await this.#credential;
    let conn: Awaited<ReturnType<DenoListener['accept']>>;
    try {
      conn = await this.#listener.accept();
    } catch (error) {
      if (this.#closed) {
        throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'the listener is closed', {
          cause: error,
        });
      }
      throw error;
    }
    const {
      cert: _cert,
      key: _key,
      caCerts: _caCerts,
      hostname: _h,
      port: _p,
      ...rest
    } = this.#options;
    const onKeyLog = keyLogCallback(rest.onKeyLog);
    const stream = secureServer(connTransport(conn), {
      ...rest,
      credential,
      ...(onKeyLog === undefined ? {} : { onKeyLog }),
      ca: anchorsOf(this.#options),
    });
    return new MlsTlsConn(stream, () => conn);
  }

  /** Stops listening; connections accepted go on. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<MlsTlsConn> {
    for (;;) {
      let conn: MlsTlsConn;
      try {
        conn = await this.accept();
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
      yield conn;
    }
  }
}

/** Listens for mlstls connections over `Deno.listen`, as `Deno.listenTls`. */
export function listen(options: ListenOptions): MlsTlsListener {
  return new MlsTlsListener(options);
}
