import { Server, type Socket } from 'node:net';
import {
  type CiphersuiteChoice,
  type EndpointCredential,
  generateCredential,
  KeyPackagePool,
  Responder,
  type ResponderOptions,
  suiteParameters,
} from '@mlstls/state-machine';
import type { SessionStore } from '@mlstls/storage';
import {
  KEY_LOG_FILE_VARIABLE,
  random,
  resolveSecureContext,
  type SharedOptions,
} from './options.js';
import type { MlsTlsSecureContext } from './secure-context.js';
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
  /**
   * node:tls's `requestCert`: ask the client for an X.509 certificate and verify it against
   * `ca`. A client with a basic credential then gets `certificate_required`.
   */
  readonly requestCert?: boolean;
  /**
   * Refuse a client that fails authentication (default true), as node:tls: with false it is
   * let through with `authorized === false` and `authorizationError`.
   */
  readonly rejectUnauthorized?: boolean;
  /**
   * SNI, as node:tls's option: called with the name the client sent; answer
   * `callback(null, createSecureContext({ key, cert }))`. A context without a credential (or
   * an error) refuses the client with `unrecognized_name`. A client that sends no name gets
   * the server's own `key`/`cert`.
   */
  readonly SNICallback?: (
    servername: string,
    callback: (error: Error | null, context?: MlsTlsSecureContext) => void,
  ) => void;
}

/**
 * An mlstls server, as node:tls's `Server`: a `net.Server` whose connections become
 * `MlsTlsSocket`s. Events besides `net.Server`'s: `'secureConnection'` (socket) once a
 * handshake completes, `'tlsClientError'` (error, socket) when one fails, `'keylog'` (line,
 * socket), `'storeError'` (error, socket) when the store failed and a connection goes on
 * unstored (it may come before `'secureConnection'`: the last write precedes it).
 */
export class MlsTlsServer extends Server {
  readonly #options: ServerOptions;
  readonly #context: MlsTlsSecureContext;
  /** `SNICallback` in the state machine's shape, made once for every connection. */
  readonly #selectCredential: ResponderOptions['selectCredential'];
  #credential: EndpointCredential | undefined;
  readonly #credentialReady: Promise<EndpointCredential>;
  /** `listen()` arguments waiting for the generated credential. */
  #pendingListen: unknown[] | undefined;
  /** The server's own KeyPackages, made while the process is idle (`prepareKeyPackages`). */
  readonly #keyPackages: KeyPackagePool | undefined;

  constructor(
    options: ServerOptions = {},
    secureConnectionListener?: (socket: MlsTlsSocket) => void,
  ) {
    super({ allowHalfOpen: true, noDelay: options.noDelay ?? true });
    // Refuse an unknown suite now rather than on every connection.
    for (const suite of options.ciphersuites ?? []) suiteParameters(suite);
    this.#options = options;
    this.#keyPackages = options.prepareKeyPackages === false ? undefined : new KeyPackagePool();
    const { context, credential } = resolveSecureContext(options);
    this.#context = context;
    this.#selectCredential =
      options.SNICallback === undefined ? undefined : credentialBySni(options.SNICallback);
    this.#credential = credential;
    this.#credentialReady =
      credential === undefined
        ? generateCredential({ ciphersuite: options.ciphersuites?.[0] ?? 1 }).then((made) => {
            this.#credential = made;
            return made;
          })
        : Promise.resolve(credential);
    // A credential that cannot be made (a suite whose package is missing, D93) is the 'error'
    // of `listen()`; until then it must not count as unhandled.
    this.#credentialReady.catch(() => {});
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
      this.#credentialReady.then(
        () => this.#accept(transport),
        () => transport.destroy(),
      );
      return;
    }
    const options = this.#options;
    const endpointOptions: Omit<ResponderOptions, 'keyLog'> = {
      random,
      now: Date.now,
      ...(this.#keyPackages === undefined ? {} : { keyPackages: this.#keyPackages }),
      persist: false,
      ...(options.store === undefined ? {} : { store: options.store }),
      ...(options.strictStore === undefined ? {} : { strictStore: options.strictStore }),
      credential,
      ca: this.#context.anchors,
      ...(options.verifyPeer === undefined ? {} : { verifyPeer: options.verifyPeer }),
      ...(options.requestCert === undefined ? {} : { requestCert: options.requestCert }),
      ...(options.rejectUnauthorized === undefined
        ? {}
        : { rejectUnauthorized: options.rejectUnauthorized }),
      ...(options.ALPNProtocols === undefined ? {} : { alpnProtocols: options.ALPNProtocols }),
      ...(this.#selectCredential === undefined ? {} : { selectCredential: this.#selectCredential }),
      ...(options.provider === undefined ? {} : { provider: options.provider }),
      ...(options.ciphersuites === undefined ? {} : { ciphersuites: options.ciphersuites }),
    };
    let secure = false;
    const forwardClientError = (error: Error): void => {
      this.emit('tlsClientError', error, socket);
    };
    const socket: MlsTlsSocket = new MlsTlsSocket({
      transport,
      createEndpoint: ({ keyLog }) => new Responder({ ...endpointOptions, keyLog }),
      handshakeTimeout: options.handshakeTimeout,
      allowHalfOpen: options.allowHalfOpen ?? false,
      keyLogFile: process.env[KEY_LOG_FILE_VARIABLE] || undefined,
      keyLogAlso: this,
      storeErrorAlso: this,
      rejectTruncation: options.rejectTruncation,
      onSecure: (secured) => {
        secure = true;
        this.emit('secureConnection', secured);
      },
    });
    // The server listens to every socket's errors for the socket's whole life, as node's http
    // server does, so that a peer never crashes a server written the node:tls way. Before the
    // handshake completes, and afterwards when no listener of the application heard it (a
    // `pipe()` removes its own), the error is the server's 'tlsClientError'.
    socket.on('error', (error: Error) => {
      if (!secure || socket.listenerCount('error') === 1) forwardClientError(error);
    });
  };
}

/** The state machine's `selectCredential`, asked through node:tls's callback shape. */
function credentialBySni(
  SNICallback: NonNullable<ServerOptions['SNICallback']>,
): NonNullable<ResponderOptions['selectCredential']> {
  return (servername) =>
    new Promise((resolve, reject) => {
      SNICallback(servername, (error, context) => {
        if (error) reject(error);
        else resolve(context?.credential);
      });
    });
}

/** Creates an mlstls server, as node:tls's `createServer()`. */
export function createServer(
  options: ServerOptions = {},
  secureConnectionListener?: (socket: MlsTlsSocket) => void,
): MlsTlsServer {
  return new MlsTlsServer(options, secureConnectionListener);
}
