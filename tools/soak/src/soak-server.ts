// The soak's server, in a process of its own so that its memory is measured alone: an mlstls
// echo server on 127.0.0.1 (port 0) with a generated basic credential, which the clients pin,
// and a MemoryStore, so that clients resume. It counts what it sees on 'error' and
// 'tlsClientError' by code, and answers the parent's requests over the IPC channel. Started by
// soak.ts as `node --expose-gc dist/soak-server.js`.
import type { AddressInfo } from 'node:net';
import { createServer, type EpochCause, type MlsTlsSocket } from '@mlstls/node';
import { MemoryStore } from '@mlstls/storage';
import {
  bump,
  type Counts,
  codeOf,
  errorKey,
  type ServerCommand,
  type ServerCounters,
  type ServerReport,
  type ServerStats,
} from './protocol.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const counters: Mutable<ServerCounters> = {
  handshakes: 0,
  resumed: 0,
  epochs: {},
  keyUpdates: {},
  bytesEchoed: 0,
  socketErrors: {},
  clientErrors: {},
  truncated: 0,
  truncatedKnown: 0,
  closed: 0,
  uncaught: {},
};
const open = new Set<MlsTlsSocket>();

function report(message: ServerReport): void {
  process.send?.(message);
}

// A throw the binding lets escape is a finding, not the end of the run: counted, reported to
// the parent (which counts it as unexpected), and the server goes on.
process.on('uncaughtException', (error) => {
  bump(counters.uncaught, `uncaughtException ${codeOf(error)}`);
  process.stderr.write(`soak-server: uncaught exception: ${String(error)}\n`);
});
process.on('unhandledRejection', (error) => {
  bump(counters.uncaught, `unhandledRejection ${codeOf(error)}`);
  process.stderr.write(`soak-server: unhandled rejection: ${String(error)}\n`);
});
let stopping = false;
// The parent is gone (it crashed, or a test killed it): so is this process.
process.on('disconnect', () => {
  if (!stopping) process.exit(2);
});

const server = createServer(
  // The same bound on handshakes as the clients': a handshake that never ends is reported.
  { store: new MemoryStore(), handshakeTimeout: 30_000 },
  (socket) => {
    open.add(socket);
    counters.handshakes++;
    if (socket.isSessionReused()) counters.resumed++;
    socket.on('error', (error: Error) => bump(counters.socketErrors, errorKey(error)));
    socket.on('epoch', (_epoch: bigint, cause: EpochCause) => bump(counters.epochs, cause));
    socket.on('keyUpdate', (direction: string) => bump(counters.keyUpdates, direction));
    socket.on('data', (chunk: Buffer) => {
      counters.bytesEchoed += chunk.length;
    });
    socket.on('close', () => {
      open.delete(socket);
      counters.closed++;
      // The binding is to expose whether the transport ended without close_notify; read it
      // defensively until it does.
      const { truncated } = socket as { truncated?: unknown };
      if (typeof truncated === 'boolean') counters.truncatedKnown++;
      if (truncated === true) counters.truncated++;
    });
    socket.pipe(socket);
  },
);
server.on('tlsClientError', (error: Error) => bump(counters.clientErrors, errorKey(error)));
server.on('error', (error: Error) => {
  process.stderr.write(`soak-server: the listener failed: ${String(error)}\n`);
  process.exit(1);
});

async function stats(): Promise<ServerStats> {
  // Heap figures of live objects, not of garbage waiting for the collector.
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  const tcpConnections = await new Promise<number>((resolve) =>
    server.getConnections((error, count) => resolve(error ? -1 : count)),
  );
  const copy = (counts: Counts): Counts => ({ ...counts });
  return {
    memory: { rss, heapUsed, heapTotal, external, arrayBuffers },
    openSockets: open.size,
    tcpConnections,
    counters: {
      ...counters,
      epochs: copy(counters.epochs),
      keyUpdates: copy(counters.keyUpdates),
      socketErrors: copy(counters.socketErrors),
      clientErrors: copy(counters.clientErrors),
      uncaught: copy(counters.uncaught),
    },
  };
}

/** Stops listening and waits, at most `waitMs`, for the sockets still open to close. */
async function stop(waitMs: number): Promise<ServerStats> {
  server.close();
  const deadline = Date.now() + waitMs;
  for (;;) {
    const tcp = await new Promise<number>((resolve) =>
      server.getConnections((error, count) => resolve(error ? 0 : count)),
    );
    if ((open.size === 0 && tcp === 0) || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return stats();
}

process.on('message', (command: ServerCommand) => {
  switch (command.type) {
    case 'stats':
      void stats().then((result) => report({ type: 'stats', id: command.id, stats: result }));
      break;
    case 'stop':
      stopping = true;
      void stop(command.waitMs).then((result) => {
        report({ type: 'stopped', id: command.id, stats: result });
        for (const socket of open) socket.destroy();
        process.disconnect();
        // Whatever is left (a socket that would not close) does not keep the process.
        setTimeout(() => process.exit(0), 1000).unref();
      });
      break;
  }
});

server.listen(0, '127.0.0.1', () => {
  report({
    type: 'listening',
    port: (server.address() as AddressInfo).port,
    signaturePublicKey: server.credential!.signaturePublicKey,
  });
});
