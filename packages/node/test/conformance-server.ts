// The Node binding's server for the binding conformance suite, in its own process (started
// through tsx by conformance.test.ts). Each app is written the node:tls way.
import type { Socket } from 'node:net';
import {
  type ConformanceBinding,
  FLOOD_BYTES,
  serveConformance,
} from '@mlstls/driver/conformance/server';
import { createServer, type MlsTlsSocket } from '../src/index.js';

const binding: ConformanceBinding = {
  async listen({ app, credential, store, idleTimeout, report }) {
    const server = createServer({ credential, store }, (socket: MlsTlsSocket) => {
      report.secureConnection();
      if (idleTimeout > 0) socket.setTimeout(idleTimeout, () => socket.destroy());
      if (app === 'unguarded') {
        socket.pipe(socket);
        return;
      }
      socket.on('error', report.connectionError);
      socket.on('close', () => {
        if (socket.truncated) report.truncated();
      });
      if (app === 'echo') {
        socket.pipe(socket);
        return;
      }
      socket.resume();
      void flood(socket);
    });
    server.on('tlsClientError', report.clientError);
    server.on('connection', (tcp: Socket) => tcp.setNoDelay(true));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as { port: number }).port };
  },
};

/** FLOOD_BYTES to the peer, as fast as the socket takes them. */
async function flood(socket: MlsTlsSocket): Promise<void> {
  const chunk = Buffer.alloc(65_536, 7);
  for (let sent = 0; sent < FLOOD_BYTES && !socket.destroyed; sent += chunk.length) {
    if (!socket.write(chunk)) {
      await new Promise((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
}

await serveConformance(binding);
