/**
 * A child process of the resumption benchmark: one mlstls echo server on a Redis store that
 * other responder processes share, driven over IPC by `responder-process.ts`.
 */
import type { AddressInfo } from 'node:net';
import { createServer, MlsTlsError, type MlsTlsServer } from '@mlstls/node';
import { RedisStore } from '@mlstls/storage-redis';
import {
  credentialFromJson,
  type FromResponder,
  type ResponderStats,
  type ToResponder,
} from './responder-process.js';
import { TimedStore } from './timed-store.js';

let server: MlsTlsServer | undefined;
let store: TimedStore | undefined;
let connections = 0;
const errors: Record<string, number> = {};

const reply = (message: FromResponder) => process.send?.(message);

function countError(error: Error): void {
  const code = error instanceof MlsTlsError ? error.code : error.name;
  errors[code] = (errors[code] ?? 0) + 1;
}

async function start(message: ToResponder & { type: 'start' }): Promise<void> {
  store = new TimedStore(await RedisStore.connect({ url: message.url, prefix: message.prefix }));
  server = createServer(
    { credential: credentialFromJson(message.credential), ciphersuites: [1], store },
    (socket) => {
      connections++;
      socket.on('error', countError);
      socket.on('data', (data: Buffer) => socket.write(data));
    },
  );
  server.on('tlsClientError', countError);
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen(0, '127.0.0.1', () => {
      server!.off('error', reject);
      resolve();
    });
  });
  reply({ type: 'listening', port: (server.address() as AddressInfo).port });
}

function stats(): ResponderStats {
  const cpu = process.cpuUsage();
  return {
    store: store!.timing,
    cpuMs: (cpu.user + cpu.system) / 1e3,
    connections,
    errors: { ...errors },
  };
}

async function stop(): Promise<void> {
  await new Promise<void>((resolve) =>
    server === undefined ? resolve() : server.close(() => resolve()),
  );
  await store?.close();
  process.exit(0);
}

process.on('message', (message: ToResponder) => {
  switch (message.type) {
    case 'start':
      start(message).catch((error: unknown) => {
        reply({ type: 'failed', message: String(error) });
        process.exit(1);
      });
      break;
    case 'stats':
      reply({ type: 'stats', ...stats() });
      break;
    case 'stop':
      void stop();
      break;
  }
});
// The parent is gone: nothing more to serve.
process.on('disconnect', () => process.exit(0));
