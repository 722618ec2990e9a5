/**
 * The node:tls baseline of the connection benchmark: TLS 1.3 with TLS_AES_128_GCM_SHA256 (the
 * AEAD of MLS suite 1) and an Ed25519 certificate (suite 1's signature scheme), made at run time
 * with the `openssl` CLI so that nothing checked in can expire.
 */
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { ed25519Certificate, TLS_SUITE } from './ed25519-certificate.js';
import type { Listening, Stack } from './stack.js';

export { TLS_SUITE };

/** node:tls, with resumption by session ticket for the resumption benchmark. */
export interface NodeTlsStack extends Stack {
  /**
   * A client connection offering `session` (the last `'session'` event of an earlier
   * connection: a TLS 1.3 ticket) for resumption; `undefined` makes a full handshake.
   */
  connectWithSession(
    port: number,
    session: Buffer | undefined,
    onSecure: () => void,
  ): tls.TLSSocket;
}

/**
 * node:tls as a fair baseline: one SecureContext for every client connection (a `ca` per
 * connect would cost about 0.4 ms each), TLS 1.3 only, and TLS_AES_128_GCM_SHA256 set on both
 * contexts (a `ciphers` connect option would be ignored beside `secureContext`; `ciphers` sets
 * another TLS 1.3 suite, for a baseline with another AEAD). The client verifies the certificate,
 * as an mlstls client verifies the server's credential.
 */
export function nodeTlsStack(ciphers = TLS_SUITE): NodeTlsStack {
  const { key, cert } = ed25519Certificate();
  const clientContext = tls.createSecureContext({
    ca: cert,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers,
  });
  return {
    name: ciphers === TLS_SUITE ? 'node:tls' : `node:tls ${ciphers}`,
    listen(onConnection) {
      const server = tls.createServer(
        { key, cert, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers },
        onConnection,
      );
      return new Promise<Listening>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          server.off('error', reject);
          resolve({
            port: (server.address() as AddressInfo).port,
            close: () => new Promise<void>((done) => server.close(() => done())),
          });
        });
      });
    },
    connect(port, onSecure) {
      return tls.connect({ host: '127.0.0.1', port, secureContext: clientContext }, onSecure);
    },
    connectWithSession(port, session, onSecure) {
      return tls.connect(
        {
          host: '127.0.0.1',
          port,
          secureContext: clientContext,
          ...(session === undefined ? {} : { session }),
        },
        onSecure,
      );
    },
    describe(socket) {
      const tlsSocket = socket as tls.TLSSocket;
      const cipher = tlsSocket.getCipher();
      return { suite: cipher.standardName ?? cipher.name, version: cipher.version };
    },
  };
}
