/**
 * A child process of the idle-connection benchmark: the server or the client side of one stack
 * (node:tls or mlstls), driven over IPC by `idle-connections.ts`. The server accepts and keeps
 * every connection; the client opens connections with a bounded number of handshakes in flight
 * and keeps them. Either side reports its `process.memoryUsage()` after forced GC.
 */
import type { AddressInfo, Server } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { connect, createServer } from '@mlstls/node';
import { TLS13_AES128 } from './ed25519-certificate.js';

export type StackName = 'node:tls' | 'mlstls';

/** Parent to child. */
export type ToIdleChild =
  /** Server: listen on 127.0.0.1 with the PEM key and certificate (node:tls). */
  | {
      readonly type: 'listen';
      readonly stack: StackName;
      readonly key: string;
      readonly cert: string;
    }
  /** Client: where to connect, and what to trust (the certificate, or the pinned key in hex). */
  | {
      readonly type: 'target';
      readonly stack: StackName;
      readonly port: number;
      readonly cert: string;
      readonly pin: string;
    }
  /** Client: open `count` connections, `concurrency` handshakes at a time. */
  | {
      readonly type: 'open';
      readonly count: number;
      readonly concurrency: number;
      readonly timeoutMs: number;
    }
  | { readonly type: 'count' }
  | { readonly type: 'measure' }
  | { readonly type: 'close-all' }
  | { readonly type: 'stop' };

export interface Usage {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** Child to parent. */
export type FromIdleChild =
  | { readonly type: 'listening'; readonly port: number; readonly pin: string }
  | { readonly type: 'ready' }
  | {
      readonly type: 'opened';
      readonly opened: number;
      readonly failed: number;
      readonly seconds: number;
      /** The first failures' messages, for the report. */
      readonly errors: readonly string[];
    }
  /** Connections held (server: secure ones), and the server's failed handshakes. */
  | { readonly type: 'count'; readonly open: number; readonly failed: number }
  | ({ readonly type: 'memory' } & Usage)
  | { readonly type: 'closed' }
  | { readonly type: 'failed'; readonly message: string };

const gc = (globalThis as { gc?: () => void }).gc;
const reply = (message: FromIdleChild) => process.send?.(message);
const nowNs = () => process.hrtime.bigint();

/** Every live connection of this side. */
const open = new Set<Duplex>();
let failed = 0;
let server: Server | undefined;
let connectTo: (() => Duplex) | undefined;

/**
 * Holds a connection until it closes. It reads (nothing comes), as a real server or client does:
 * a socket nobody reads never sees its peer's end, and would never close.
 */
function keep(socket: Duplex): void {
  socket.resume();
  open.add(socket);
  socket.once('close', () => open.delete(socket));
}

async function listen(message: ToIdleChild & { type: 'listen' }): Promise<void> {
  const onConnection = (socket: Duplex) => {
    socket.on('error', () => {});
    keep(socket);
  };
  let pin = '';
  if (message.stack === 'node:tls') {
    server = tls.createServer(
      { key: message.key, cert: message.cert, ...TLS13_AES128 },
      onConnection,
    );
    server.on('tlsClientError', () => {
      failed++;
    });
  } else {
    const mlstls = createServer({ ciphersuites: [1] }, onConnection);
    mlstls.on('tlsClientError', () => {
      failed++;
    });
    server = mlstls;
  }
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
      server!.off('error', reject);
      resolve();
    });
  });
  if (message.stack === 'mlstls') {
    const key = (server as ReturnType<typeof createServer>).credential?.signaturePublicKey;
    if (key === undefined) throw new Error('a listening mlstls server with no credential');
    pin = Buffer.from(key).toString('hex');
  }
  reply({ type: 'listening', port: (server.address() as AddressInfo).port, pin });
}

function target(message: ToIdleChild & { type: 'target' }): void {
  const { port } = message;
  if (message.stack === 'node:tls') {
    // One SecureContext for every connection, as the connection benchmark's node:tls stack.
    const secureContext = tls.createSecureContext({ ca: message.cert, ...TLS13_AES128 });
    connectTo = () => tls.connect({ host: '127.0.0.1', port, secureContext });
  } else {
    const peerSignaturePublicKey = new Uint8Array(Buffer.from(message.pin, 'hex'));
    connectTo = () => connect({ host: '127.0.0.1', port, ciphersuite: 1, peerSignaturePublicKey });
  }
  reply({ type: 'ready' });
}

/** One client connection, resolved once secure; rejected on error or after `timeoutMs`. */
function one(timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = connectTo!();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    // Both stacks' clients emit 'secureConnect' once their handshake is complete.
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

async function openMany(count: number, concurrency: number, timeoutMs: number): Promise<void> {
  let started = 0;
  let opened = 0;
  let failures = 0;
  const errors: string[] = [];
  const start = nowNs();
  const lane = async () => {
    while (started < count) {
      started++;
      try {
        keep(await one(timeoutMs));
        opened++;
      } catch (error) {
        failures++;
        if (errors.length < 5) errors.push(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  reply({
    type: 'opened',
    opened,
    failed: failures,
    seconds: Number(nowNs() - start) / 1e9,
    errors,
  });
}

async function measure(): Promise<void> {
  if (gc === undefined) throw new Error('the idle-connection child needs --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  reply({ type: 'memory', rss, heapUsed, external, arrayBuffers });
}

async function closeAll(): Promise<void> {
  await Promise.all(
    [...open].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve();
          socket.once('close', () => resolve());
          socket.destroy();
        }),
    ),
  );
  reply({ type: 'closed' });
}

function stop(): never {
  for (const socket of open) socket.destroy();
  server?.close();
  process.exit(0);
}

async function handle(message: ToIdleChild): Promise<void> {
  switch (message.type) {
    case 'listen':
      return listen(message);
    case 'target':
      return target(message);
    case 'open':
      return openMany(message.count, message.concurrency, message.timeoutMs);
    case 'count':
      return void reply({ type: 'count', open: open.size, failed });
    case 'measure':
      return measure();
    case 'close-all':
      return closeAll();
    case 'stop':
      stop();
  }
}

process.on('message', (message: ToIdleChild) => {
  handle(message).catch((error: unknown) => {
    reply({ type: 'failed', message: String(error) });
    process.exit(1);
  });
});
// The parent is gone: nothing more to hold.
process.on('disconnect', () => stop());
