import { Server, type Socket } from 'node:net';
import {
  type CiphersuiteChoice,
  type EndpointCredential,
  generateCredential,
  Responder,
  type ResponderOptions,
  suiteParameters,
} from '@mlstls/state-machine';
import type { SessionStore } from '@mlstls/storage';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  KEY_LOG_FILE_VARIABLE,
  random,
  type SharedOptions,
} from './options.js';
import { MlsTlsSocket } from './socket.js';

export interface ServerOptions extends SharedOptions {
  /**
   * The MLS ciphersuites accepted (default: every supported one). Without `credential`, the
   * server's generated credential is for the first of them.
   */
  readonly ciphersuites?: readonly CiphersuiteChoice[];
  /**
   * Where group states are kept, by group_id (`@mlstls/storage-sqlite`, `@mlstls/storage-redis`
   * for a fleet, a `MemoryStore`). Every change is a compare-and-set before the bytes that
   * depend on it; without a store every resumption is refused and clients make a full
   * handshake.
   */
  readonly store?: SessionStore;
}

/**
 * An mlstls server, as node:tls's `Server`: a `net.Server` whose connections become
 * `MlsTlsSocket`s. Events besides `net.Server`'s: `'secureConnection'` (socket) once a
 * handshake completes, `'tlsClientError'` (error, socket) when one fails, `'keylog'` (line,
 * socket).
 */
export class MlsTlsServer extends Server {
  readonly #options: ServerOptions;
  #credential: EndpointCredential | undefined;
  readonly #credentialReady: Promise<EndpointCredential>;
  /** `listen()` arguments waiting for the generated credential. */
  #pendingListen: unknown[] | undefined;

  constructor(
    options: ServerOptions = {},
    secureConnectionListener?: (socket: MlsTlsSocket) => void,
  ) {
    super({ allowHalfOpen: true });
    // Refuse an unknown suite now rather than on every connection.
    for (const suite of options.ciphersuites ?? []) suiteParameters(suite);
    this.#options = options;
    this.#credential = options.credential;
    this.#credentialReady =
      options.credential === undefined
        ? generateCredential({ ciphersuite: options.ciphersuites?.[0] ?? 1 }).then((made) => {
            this.#credential = made;
            return made;
          })
        : Promise.resolve(options.credential);
    this.on('connection', this.#accept);
    if (secureConnectionListener !== undefined) {
      this.on('secureConnection', secureConnectionListener);
    }
  }

  /**
   * The server's credential: the `credential` option, or the one generated at creation, whose
   * `signaturePublicKey` clients can pin. A generated one exists by the time `'listening'` is
   * emitted (generation is asynchronous, so `listen()` waits for it).
   */
  get credential(): EndpointCredential | undefined {
    return this.#credential;
  }

  override listen(...args: unknown[]): this {
    const listen = super.listen as (...args: unknown[]) => this;
    if (this.#credential !== undefined) return listen.apply(this, args);
    this.#pendingListen = args;
    this.#credentialReady.then(
      () => {
        if (this.#pendingListen !== args) return; // closed meanwhile
        this.#pendingListen = undefined;
        listen.apply(this, args);
      },
      (error: unknown) => this.emit('error', error),
    );
    return this;
  }

  override close(callback?: (error?: Error) => void): this {
    this.#pendingListen = undefined;
    return super.close(callback);
  }

  #accept = (transport: Socket): void => {
    const credential = this.#credential;
    if (credential === undefined) {
      // Only reachable through an emitted 'connection': listening waits for the credential.
      void this.#credentialReady.then(() => this.#accept(transport));
      return;
    }
    const options = this.#options;
    const endpointOptions: Omit<ResponderOptions, 'keyLog'> = {
      random,
      now: Date.now,
      persist: false,
      ...(options.store === undefined ? {} : { store: options.store }),
      credential,
      ...(options.verifyPeer === undefined ? {} : { verifyPeer: options.verifyPeer }),
      ...(options.provider === undefined ? {} : { provider: options.provider }),
      ...(options.ciphersuites === undefined ? {} : { ciphersuites: options.ciphersuites }),
    };
    const forwardClientError = (error: Error): void => {
      this.emit('tlsClientError', error, socket);
    };
    const socket: MlsTlsSocket = new MlsTlsSocket({
      transport,
      createEndpoint: ({ keyLog }) => new Responder({ ...endpointOptions, keyLog }),
      handshakeTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
      allowHalfOpen: options.allowHalfOpen ?? false,
      keyLogFile: process.env[KEY_LOG_FILE_VARIABLE] || undefined,
      keyLogAlso: this,
      onSecure: (secured) => {
        // From here on errors are the application's, on the socket, as in node:tls.
        secured.off('error', forwardClientError);
        this.emit('secureConnection', secured);
      },
    });
    socket.on('error', forwardClientError);
  };
}

/** Creates an mlstls server, as node:tls's `createServer()`. */
export function createServer(
  options: ServerOptions = {},
  secureConnectionListener?: (socket: MlsTlsSocket) => void,
): MlsTlsServer {
  return new MlsTlsServer(options, secureConnectionListener);
}
