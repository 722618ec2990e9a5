/**
 * mlstls through its Node binding, `@mlstls/node`, with MLS suite 1 (AES-128-GCM) or another:
 * each server makes its credential, and clients pin that server's signature key.
 */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { nodeProvider } from '@mlstls/crypto';
import { connect, createServer, type MlsTlsSocket } from '@mlstls/node';
import type { Listening, Stack } from './stack.js';

/** An mlstls stack, with the post-compromise-security update only mlstls has. */
export interface MlstlsStack extends Stack {
  /** Resolves when the peer has confirmed a new epoch (`socket.update()`). */
  update(socket: Duplex): Promise<void>;
  epoch(socket: Duplex): bigint;
  /**
   * Clients connecting to `port` pin the key of the server listening on `serverPort`: for a relay
   * on `port` that forwards to it.
   */
  relay(port: number, serverPort: number): void;
}

/**
 * `provider`: `node` (OpenSSL for the record layer and MLS, the default: the record AEAD from
 * `@mlstls/crypto-native` when it is built, else node:crypto), `node:crypto` (the same without
 * the addon: JavaScript only) or `noble` (the portable path of Deno and browsers: @noble
 * records, ts-mls's WebCrypto and @noble MLS). `ciphersuite`: the MLS suite both ends use (the
 * server generates its credential for it); stacks of a suite other than 1 are named after it.
 */
export function mlstlsStack(
  provider: 'node' | 'node:crypto' | 'noble' = 'node',
  ciphersuite = 1,
): MlstlsStack {
  // The signature key of the server on each port: the key its clients pin.
  const pinned = new Map<number, Uint8Array>();
  const choice = provider === 'node:crypto' ? nodeProvider('node:crypto') : provider;
  const names = { node: 'mlstls', 'node:crypto': 'mlstls-js', noble: 'mlstls-portable' };
  return {
    name: ciphersuite === 1 ? names[provider] : `${names[provider]} ${ciphersuite}`,
    listen(onConnection) {
      const server = createServer({ ciphersuites: [ciphersuite], provider: choice }, onConnection);
      return new Promise<Listening>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          const key = server.credential?.signaturePublicKey;
          if (key === undefined) return reject(new Error('a listening server with no credential'));
          pinned.set(port, key);
          resolve({
            port,
            close: () =>
              new Promise<void>((done) =>
                server.close(() => {
                  pinned.delete(port);
                  done();
                }),
              ),
          });
        });
      });
    },
    connect(port, onSecure) {
      const peerSignaturePublicKey = pinned.get(port);
      if (peerSignaturePublicKey === undefined) throw new Error(`no mlstls server on ${port}`);
      return connect(
        { host: '127.0.0.1', port, ciphersuite, peerSignaturePublicKey, provider: choice },
        onSecure,
      );
    },
    describe(socket) {
      const cipher = (socket as MlsTlsSocket).getCipher();
      return { suite: cipher?.standardName ?? 'none', version: cipher?.version ?? 'none' };
    },
    update: (socket) => (socket as MlsTlsSocket).update(),
    epoch: (socket) => (socket as MlsTlsSocket).epoch,
    relay(port, serverPort) {
      const key = pinned.get(serverPort);
      if (key === undefined) throw new Error(`no mlstls server on ${serverPort}`);
      pinned.set(port, key);
    },
  };
}
