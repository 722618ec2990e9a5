// Real TCP on 127.0.0.1 with port 0, as Web Streams (`Duplex.toWeb`), for the tests.
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { generateCredential } from '@mlstls/state-machine';
import {
  type EndpointCredential,
  type EpochCause,
  type MlsTlsStream,
  type StreamTransport,
  secureClient,
  secureServer,
} from '../src/index.js';

/** Servers, sockets and connections to close after each test. */
const open: (() => void)[] = [];

export function closeAll(): void {
  for (const close of open.splice(0)) close();
}

export function track<T extends MlsTlsStream>(stream: T): T {
  open.push(() => stream.abort());
  return stream;
}

/**
 * A socket as a `StreamTransport`, by hand: each direction bounded at 64 KiB, and the
 * readable ends at the peer's FIN. Node 20's `Duplex.toWeb` ends its readable only once the
 * whole socket has finished (its writable too), so a half-close, and a truncation, go unseen
 * there; see `duplexToWeb`.
 */
export function webTransport(socket: Socket): StreamTransport {
  open.push(() => socket.destroy());
  const strategy = () => new ByteLengthQueuingStrategy({ highWaterMark: 65_536 });
  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        socket.on('data', (chunk: Buffer) => {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) socket.pause();
        });
        socket.once('end', () => controller.close());
        socket.once('error', (error) => controller.error(error));
        socket.once('close', () => {
          // Destroyed without an end: as a reset.
          if (!socket.readableEnded) controller.error(new Error('the socket closed'));
        });
      },
      pull() {
        socket.resume();
      },
      cancel() {
        socket.destroy();
      },
    },
    strategy(),
  );
  const writable = new WritableStream<Uint8Array>(
    {
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          socket.write(chunk, (error) => (error ? reject(error) : resolve()));
        }),
      close: () =>
        new Promise<void>((resolve) => {
          socket.end(resolve);
        }),
      abort: () => {
        socket.destroy();
      },
    },
    strategy(),
  );
  return { readable, writable };
}

/** A socket as Node's own adapter makes it (`Duplex.toWeb`). */
export function duplexToWeb(socket: Socket): StreamTransport {
  open.push(() => socket.destroy());
  return Duplex.toWeb(socket) as StreamTransport;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** A TCP server on an ephemeral loopback port whose connections go to `onConnection`. */
export async function tcpServer(onConnection: (socket: Socket) => void): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  open.push(() => server.close());
  return server;
}

/** A TCP connection to `port` on 127.0.0.1, connected. */
export async function tcpConnect(port: number): Promise<Socket> {
  const socket = new Socket({ allowHalfOpen: true });
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  open.push(() => socket.destroy());
  return socket;
}

/** Both ends of one TCP connection, as Web Streams. */
export async function tcpPair(
  adapt: (socket: Socket) => StreamTransport = webTransport,
): Promise<{ client: StreamTransport; server: StreamTransport }> {
  let accepted!: (socket: Socket) => void;
  const serverSide = new Promise<Socket>((resolve) => {
    accepted = resolve;
  });
  const server = await tcpServer((socket) => accepted(socket));
  const client = await tcpConnect(portOf(server));
  return { client: adapt(client), server: adapt(await serverSide) };
}

let serverCredential: EndpointCredential | undefined;

/** The servers' credential, made once: clients pin its key. */
export async function credential(): Promise<EndpointCredential> {
  serverCredential ??= await generateCredential({ provider: 'noble' });
  return serverCredential;
}

/**
 * A client and a server on both ends of a TCP connection (through `adapt`), the server's key
 * pinned, each recording its epochs.
 */
export async function securePair(
  options: { provider?: 'noble' | 'node'; adapt?: (socket: Socket) => StreamTransport } = {},
) {
  const { provider = 'noble', adapt = webTransport } = options;
  const { client: clientTransport, server: serverTransport } = await tcpPair(adapt);
  const serverKey = await credential();
  const epochs = { client: [] as [bigint, EpochCause][], server: [] as [bigint, EpochCause][] };
  const server = track(
    secureServer(serverTransport, {
      credential: serverKey,
      provider,
      onEpoch: (epoch, cause) => epochs.server.push([epoch, cause]),
    }),
  );
  const client = track(
    secureClient(clientTransport, {
      peerSignaturePublicKey: serverKey.signaturePublicKey,
      provider,
      onEpoch: (epoch, cause) => epochs.client.push([epoch, cause]),
    }),
  );
  return { client, server, epochs };
}

/** Exactly `length` bytes from `reader` (fewer only if it ends first). */
export async function readBytes(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { value, done } = await reader.read();
    if (done) return out.subarray(0, filled);
    out.set(value.subarray(0, length - filled), filled);
    filled += value.length;
  }
  return out;
}

/** Everything until the stream ends. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of readable) chunks.push(chunk);
  return concat(chunks);
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);
export const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** The rejection of `promise`, or a failure if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/**
 * Two transports joined in memory, each direction a pipe that holds at most 64 KiB: what the
 * binding's backpressure does is then visible, without the kernel's socket buffers (megabytes
 * on loopback) in between.
 */
export function memoryPair(): { client: StreamTransport; server: StreamTransport } {
  const strategy = () => new ByteLengthQueuingStrategy({ highWaterMark: 65_536 });
  const toServer = new TransformStream<Uint8Array, Uint8Array>({}, strategy(), strategy());
  const toClient = new TransformStream<Uint8Array, Uint8Array>({}, strategy(), strategy());
  return {
    client: { readable: toClient.readable, writable: toServer.writable },
    server: { readable: toServer.readable, writable: toClient.writable },
  };
}

/** Whether two byte strings are equal (vitest's `toEqual` is slow on megabytes). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
