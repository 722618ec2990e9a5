/**
 * A child process of the round-trip benchmark: the servers, which write 1 byte to every
 * connection as soon as it is secure, driven over IPC by `round-trips.ts`. Apart from the
 * client, as on a network: work a server does after sending a flight does not hold up the
 * client's reading of it.
 */
import type { AddressInfo, Server } from 'node:net';
import tls from 'node:tls';
import { createServer, generateCredential, type MlsTlsSocket } from '@mlstls/node';
import { MemoryStore } from '@mlstls/storage';
import { TLS13_AES128 } from './ed25519-certificate.js';

/** Parent to child. */
export type ToServers =
  | { readonly type: 'start'; readonly key: string; readonly cert: string }
  | { readonly type: 'errors' }
  | { readonly type: 'stop' };

/** Child to parent. */
export type FromServers =
  | {
      readonly type: 'listening';
      readonly tls: number;
      readonly mlstls: number;
      /** With a MemoryStore, for resumption. */
      readonly mlstlsStored: number;
      /** The mlstls servers' signature public key, in hex, for the client to pin. */
      readonly pin: string;
    }
  | { readonly type: 'errors'; readonly count: number }
  | { readonly type: 'failed'; readonly message: string };

const FIRST_BYTE = Buffer.from([0x2a]);
const servers: Server[] = [];
/** Failed handshakes and errors of server sockets. */
let errors = 0;
const countError = () => {
  errors++;
};

function writeFirstByte(socket: tls.TLSSocket | MlsTlsSocket): void {
  socket.on('error', countError);
  socket.resume();
  socket.write(FIRST_BYTE);
}

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function start(key: string, cert: string): Promise<FromServers> {
  // TCP_NODELAY, as @mlstls/node sets by default: with Nagle's algorithm the server's byte
  // would wait behind its unacknowledged session tickets for the client's delayed ACK.
  const tlsServer = tls.createServer(
    { key, cert, ...TLS13_AES128, noDelay: true } as tls.TlsOptions,
    writeFirstByte,
  );
  tlsServer.on('connection', (socket) => socket.setNoDelay(true));
  tlsServer.on('tlsClientError', countError);
  const credential = await generateCredential({ ciphersuite: 1 });
  const mlstls = createServer({ credential, ciphersuites: [1] }, writeFirstByte);
  const mlstlsStored = createServer(
    { credential, ciphersuites: [1], store: new MemoryStore() },
    writeFirstByte,
  );
  mlstls.on('tlsClientError', countError);
  mlstlsStored.on('tlsClientError', countError);
  return {
    type: 'listening',
    tls: await listen(tlsServer),
    mlstls: await listen(mlstls),
    mlstlsStored: await listen(mlstlsStored),
    pin: Buffer.from(credential.signaturePublicKey).toString('hex'),
  };
}

const reply = (message: FromServers) => process.send?.(message);

function stop(): never {
  for (const server of servers) server.close();
  process.exit(0);
}

process.on('message', (message: ToServers) => {
  switch (message.type) {
    case 'start':
      start(message.key, message.cert).then(reply, (error: unknown) =>
        reply({ type: 'failed', message: String(error) }),
      );
      break;
    case 'errors':
      reply({ type: 'errors', count: errors });
      break;
    case 'stop':
      stop();
  }
});
// The parent is gone: nothing more to serve.
process.on('disconnect', () => stop());
