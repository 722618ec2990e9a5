/**
 * The load the connection benchmark puts on a stack, written once against `Stack` so that
 * node:tls and mlstls run the same code: handshakes to the first byte, a bulk transfer, and
 * many idle connections. Both ends run in the calling process.
 */
import type { Duplex } from 'node:stream';
import type { Listening, Negotiated, Stack } from './stack.js';

const nowNs = () => process.hrtime.bigint();

/** A server that writes one byte to every connection as soon as it is secure. */
export function listenFirstByte(stack: Stack): Promise<Listening> {
  return stack.listen((socket) => {
    socket.on('error', () => {});
    socket.resume();
    socket.write(FIRST_BYTE);
  });
}

const FIRST_BYTE = Buffer.from([0x2a]);

/**
 * One connection from `connect` to the first byte the server sends: resolves with its latency
 * in nanoseconds and a promise of its close (the client ends it after that byte).
 */
function firstByte(
  stack: Stack,
  port: number,
): Promise<{ latencyNs: number; closed: Promise<void>; negotiated: Negotiated }> {
  return new Promise((resolve, reject) => {
    const start = nowNs();
    const socket = stack.connect(port, () => {});
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', reject);
    socket.once('data', () => {
      const latencyNs = Number(nowNs() - start);
      const negotiated = stack.describe(socket);
      socket.off('error', reject);
      socket.on('error', () => {});
      socket.end();
      resolve({ latencyNs, closed, negotiated });
    });
  });
}

/** What a handshake round measured. */
export interface HandshakeRound {
  readonly handshakes: number;
  readonly perSecond: number;
  /** CPU time of the process (all threads, both ends) per handshake, in milliseconds. */
  readonly cpuMsPerHandshake: number;
  /** Latency of each handshake to its first byte, in milliseconds. */
  readonly latenciesMs: readonly number[];
}

/**
 * Handshakes to the first byte with `concurrency` connections in flight, started until
 * `durationMs` have passed; the round ends when the last of them has its byte, and the rate
 * counts to that moment. Every connection has closed before the promise resolves, so that no
 * teardown falls into the next round.
 */
export async function handshakeRound(
  stack: Stack,
  port: number,
  concurrency: number,
  durationMs: number,
): Promise<HandshakeRound> {
  const latenciesMs: number[] = [];
  const closes: Promise<void>[] = [];
  const cpuStart = process.cpuUsage();
  const start = nowNs();
  const deadline = start + BigInt(Math.round(durationMs * 1e6));
  let end = start;
  const lane = async () => {
    while (nowNs() < deadline) {
      const { latencyNs, closed } = await firstByte(stack, port);
      end = nowNs();
      latenciesMs.push(latencyNs / 1e6);
      closes.push(closed);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const cpu = process.cpuUsage(cpuStart);
  await Promise.all(closes);
  const seconds = Number(end - start) / 1e9;
  return {
    handshakes: latenciesMs.length,
    perSecond: latenciesMs.length / seconds,
    cpuMsPerHandshake: (cpu.user + cpu.system) / 1e3 / latenciesMs.length,
    latenciesMs,
  };
}

/** Milliseconds of one connection to its first byte; resolves once it has closed. */
export async function handshakeLatency(stack: Stack, port: number): Promise<number> {
  const result = await firstByte(stack, port);
  await result.closed;
  return result.latencyNs / 1e6;
}

/** One connection's negotiated suite and version, to check before measuring. */
export async function negotiated(stack: Stack, port: number): Promise<Negotiated> {
  const result = await firstByte(stack, port);
  await result.closed;
  return result.negotiated;
}

/** A server whose connections count the bytes they receive, and tell when a target is reached. */
export class BulkSink {
  #received = 0;
  #target = Number.POSITIVE_INFINITY;
  #reached: (() => void) | undefined;

  onConnection = (socket: Duplex): void => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#received += chunk.length;
      if (this.#received >= this.#target) {
        const reached = this.#reached;
        this.#reached = undefined;
        this.#target = Number.POSITIVE_INFINITY;
        reached?.();
      }
    });
  };

  /** Resolves once `bytes` more bytes have arrived than when it was called. */
  expect(bytes: number): Promise<void> {
    return new Promise((resolve) => {
      this.#target = this.#received + bytes;
      this.#reached = resolve;
    });
  }
}

/** A client connection, resolved once its handshake is complete. */
export function connected(stack: Stack, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = stack.connect(port, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Writes `bytes` over `socket` in chunks of `chunk`, honouring backpressure, and resolves with
 * the nanoseconds from the first write until the sink has received the last byte.
 */
export async function sendBulk(
  socket: Duplex,
  sink: BulkSink,
  bytes: number,
  chunk: Uint8Array,
): Promise<number> {
  const arrived = sink.expect(bytes);
  const start = nowNs();
  let sent = 0;
  while (sent < bytes) {
    const piece = bytes - sent >= chunk.length ? chunk : chunk.subarray(0, bytes - sent);
    sent += piece.length;
    if (!socket.write(piece)) {
      await new Promise<void>((resolve) => socket.once('drain', resolve));
    }
  }
  await arrived;
  return Number(nowNs() - start);
}

/** Client and server ends of connections kept open. */
export interface OpenConnections {
  readonly clients: Duplex[];
  readonly servers: Duplex[];
}

/**
 * Opens `count` connections, `concurrency` handshakes at a time, and resolves once every
 * client has completed its handshake and the server has accepted every connection.
 */
export async function openIdle(
  stack: Stack,
  count: number,
  concurrency: number,
): Promise<{ open: OpenConnections; listening: Listening }> {
  const servers: Duplex[] = [];
  const clients: Duplex[] = [];
  let accepted: () => void = () => {};
  const allAccepted = new Promise<void>((resolve) => {
    accepted = resolve;
  });
  const listening = await stack.listen((socket) => {
    socket.on('error', () => {});
    servers.push(socket);
    if (servers.length === count) accepted();
  });
  let started = 0;
  const lane = async () => {
    while (started < count) {
      started++;
      const socket = await connected(stack, listening.port);
      socket.on('error', () => {});
      clients.push(socket);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  await allAccepted;
  return { open: { clients, servers }, listening };
}

/** Ends every connection and resolves once all have closed. */
export async function closeAll(sockets: readonly Duplex[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve();
          socket.once('close', () => resolve());
          socket.destroy();
        }),
    ),
  );
}
