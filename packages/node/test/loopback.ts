// Real TCP on 127.0.0.1 with port 0: servers, clients and raw peers for the tests.
import { once } from 'node:events';
import { type AddressInfo, createServer as createTcpServer, type Server, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import {
  type ConnectOptions,
  connect,
  createServer,
  type MlsTlsServer,
  type MlsTlsSocket,
  type ServerOptions,
} from '../src/index.js';

/** Servers and sockets to close after each test. */
const open: { close(): void }[] = [];

export function closeAll(): void {
  for (const item of open.splice(0)) item.close();
}

const errors = new WeakMap<MlsTlsSocket, Error[]>();

/**
 * Records a socket's errors instead of letting them crash the run; tests that expect none
 * check `errorsOf(socket)` is empty.
 */
function recordErrors(socket: MlsTlsSocket): MlsTlsSocket {
  const seen: Error[] = [];
  errors.set(socket, seen);
  socket.on('error', (error) => seen.push(error));
  return socket;
}

export function errorsOf(socket: MlsTlsSocket): Error[] {
  return errors.get(socket)!;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** An mlstls server listening on an ephemeral loopback port. */
export async function startServer(
  options: ServerOptions = {},
  listener?: (socket: MlsTlsSocket) => void,
): Promise<MlsTlsServer> {
  const server = createServer(options, listener);
  server.on('secureConnection', recordErrors);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  open.push({ close: () => server.close() });
  return server;
}

/** A client of `server` that pins its credential, once `'secureConnect'` has fired. */
export async function connectTo(
  server: MlsTlsServer,
  options: Partial<ConnectOptions> = {},
): Promise<MlsTlsSocket> {
  const socket = connectPinned(server, options);
  await once(socket, 'secureConnect');
  return socket;
}

/** A client of `server` that pins its credential, just started. */
export function connectPinned(
  server: MlsTlsServer,
  options: Partial<ConnectOptions> = {},
): MlsTlsSocket {
  const socket = connect({
    ...(options.socket === undefined ? { host: '127.0.0.1', port: portOf(server) } : {}),
    peerSignaturePublicKey: server.credential!.signaturePublicKey,
    ...options,
  });
  open.push({ close: () => socket.destroy() });
  return recordErrors(socket);
}

/**
 * A client with exactly `options`, just started: no pinned key, for the tests that
 * authenticate the server by its certificate.
 */
export function connectClient(options: ConnectOptions): MlsTlsSocket {
  const socket = connect(options);
  open.push({ close: () => socket.destroy() });
  return recordErrors(socket);
}

/** The next server-side socket to complete its handshake. */
export async function nextSecureConnection(server: MlsTlsServer): Promise<MlsTlsSocket> {
  const [socket] = (await once(server, 'secureConnection')) as [MlsTlsSocket];
  return socket;
}

/**
 * Everything a stream yields until its end. Not `for await`: its end destroys a Duplex whose
 * write side is still open.
 */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(stream, 'end');
  return Buffer.concat(chunks);
}

/** A plain TCP server whose connections the test drives by hand. */
export async function startRawServer(onConnection: (socket: Socket) => void): Promise<Server> {
  const server = createTcpServer({ allowHalfOpen: true }, onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  open.push({ close: () => server.close() });
  return server;
}

/** A plain TCP client of `port`, connected. */
export async function connectRaw(port: number): Promise<Socket> {
  const socket = new Socket({ allowHalfOpen: true });
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  open.push({ close: () => socket.destroy() });
  return socket;
}

/** Resolves once `stream` has emitted `'close'`, even if it already has, errors or not. */
export async function closed(stream: Readable): Promise<void> {
  if (stream.closed) return;
  await new Promise((resolve) => stream.once('close', resolve));
}

/** The first `'error'` a socket emits. */
export async function nextError(emitter: NodeJS.EventEmitter): Promise<Error> {
  const [error] = (await once(emitter, 'error')) as [Error];
  return error;
}

type Direction = 'toServer' | 'toClient';

/**
 * A TCP relay between clients and a server that a test can stall in one direction (what is
 * sent then waits in the relay, as if lost) and cut, to break a transport in a chosen state.
 */
export interface Relay {
  readonly port: number;
  /** Bytes are held, not passed on, in `direction` from now on. */
  hold(direction: Direction): void;
  /** How many bytes wait in `direction`. */
  held(direction: Direction): number;
  /** Resolves once some bytes wait in `direction`. */
  untilHeld(direction: Direction): Promise<void>;
  /** Breaks every connection through the relay; what was held is lost. */
  cut(): void;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const pairs: { client: Socket; server: Socket }[] = [];
  const holding = { toServer: false, toClient: false };
  const heldBytes = { toServer: 0, toClient: 0 };
  let waiters: (() => void)[] = [];
  const relay = await startRawServer((client) => {
    const server = new Socket({ allowHalfOpen: true });
    server.connect(targetPort, '127.0.0.1');
    pairs.push({ client, server });
    const pass = (from: Socket, to: Socket, direction: Direction) => {
      from.on('data', (chunk: Buffer) => {
        if (holding[direction]) {
          heldBytes[direction] += chunk.length;
          for (const wake of waiters.splice(0)) wake();
        } else {
          to.write(chunk);
        }
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    };
    pass(client, server, 'toServer');
    pass(server, client, 'toClient');
  });
  return {
    port: portOf(relay),
    hold: (direction) => {
      holding[direction] = true;
    },
    held: (direction) => heldBytes[direction],
    untilHeld: async (direction) => {
      while (heldBytes[direction] === 0) await new Promise<void>((wake) => waiters.push(wake));
    },
    cut: () => {
      for (const { client, server } of pairs.splice(0)) {
        client.destroy();
        server.destroy();
      }
      holding.toServer = holding.toClient = false;
      heldBytes.toServer = heldBytes.toClient = 0;
      waiters = [];
    },
  };
}
