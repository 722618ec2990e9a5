/**
 * mlstls through its Node binding, `@mlstls/node`, with MLS suite 1 (AES-128-GCM): the server
 * makes its credential, the client pins the server's signature key.
 */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Listening, Stack } from './stack.js';

/** What the benchmark uses of `@mlstls/node`, which is still being written. */
interface MlstlsSocket extends Duplex {
  update(): Promise<void>;
  readonly epoch: bigint;
  getCipher(): { name: string; standardName?: string; version: string };
}

interface MlstlsServer {
  readonly credential: { readonly signaturePublicKey: Uint8Array };
  listen(port: number, host: string, callback: () => void): unknown;
  address(): AddressInfo | string | null;
  close(callback: () => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

interface MlstlsNode {
  connect(options: Record<string, unknown>, callback?: () => void): MlstlsSocket;
  createServer(
    options: Record<string, unknown>,
    listener: (socket: MlstlsSocket) => void,
  ): MlstlsServer;
}

/** An mlstls stack, with the post-compromise-security update only mlstls has. */
export interface MlstlsStack extends Stack {
  /** Resolves when the peer has confirmed a new epoch (`socket.update()`). */
  update(socket: Duplex): Promise<void>;
  epoch(socket: Duplex): bigint;
}

/** `undefined` while `@mlstls/node` exports no `connect` and `createServer`. */
export async function mlstlsStack(): Promise<MlstlsStack | undefined> {
  const binding = (await import('@mlstls/node')) as Partial<MlstlsNode>;
  if (typeof binding.connect !== 'function' || typeof binding.createServer !== 'function') {
    return undefined;
  }
  const { connect, createServer } = binding as MlstlsNode;
  // The signature key of the server on each port: the key its clients pin.
  const pinned = new Map<number, Uint8Array>();
  return {
    name: 'mlstls',
    listen(onConnection) {
      const server = createServer({ ciphersuites: [1] }, onConnection);
      return new Promise<Listening>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          pinned.set(port, server.credential.signaturePublicKey);
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
      return connect(
        { host: '127.0.0.1', port, ciphersuite: 1, peerSignaturePublicKey: pinned.get(port) },
        onSecure,
      );
    },
    describe(socket) {
      const cipher = (socket as MlstlsSocket).getCipher();
      return { suite: cipher.standardName ?? cipher.name, version: cipher.version };
    },
    update: (socket) => (socket as MlstlsSocket).update(),
    epoch: (socket) => (socket as MlstlsSocket).epoch,
  };
}
