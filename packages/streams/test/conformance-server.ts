// The Web Streams binding's server for the binding conformance suite, in its own process
// (started through tsx by conformance.test.ts): Node's TCP as `{ readable, writable }`.
import { createServer } from 'node:net';
import {
  type ConformanceBinding,
  runStreamsApp,
  serveConformance,
} from '@mlstls/driver/conformance/server';
import { secureServer } from '../src/index.js';
import { webTransport } from './loopback.js';

const binding: ConformanceBinding = {
  async listen({ app, credential, store, idleTimeout, report }) {
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.setNoDelay(true);
      const stream = secureServer(webTransport(socket), { credential, store, idleTimeout });
      runStreamsApp(app, stream, report);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as { port: number }).port };
  },
};

await serveConformance(binding);
