// The peers of the conformance suite, all in the test process on real TCP: a well-behaved
// client on the driver, a client whose initiator the test drives by hand, raw sockets and a
// plain TCP relay. Only loopback addresses.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { Initiator, type InitiatorOptions } from '@mlstls/state-machine';
import { ConnectionDriver, type ConnectionEnd } from '../driver.js';
import { duplexTransport } from '../transport.js';

export const random = (length: number): Uint8Array => new Uint8Array(randomBytes(length));

/** The options of every initiator of the suite: it pins the server's key. */
function initiatorOptions(pin: Uint8Array): InitiatorOptions {
  return { random, now: Date.now, peerSignaturePublicKey: pin };
}

/** Resolves with `promise`, or rejects after `ms` naming `what`: no wait of the suite hangs. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A plain TCP client of 127.0.0.1:`port`, connected. */
export async function connectRaw(port: number, allowHalfOpen = true): Promise<Socket> {
  const socket = new Socket({ allowHalfOpen });
  socket.on('error', () => {});
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/**
 * Resolves once the server has ended `socket` (its FIN, read to the end) or it has closed,
 * whatever the reason.
 */
export function serverEnded(socket: Socket): Promise<void> {
  if (socket.closed || socket.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
}

/** Every byte `socket` receives until it closes. */
export function collect(socket: Socket): { bytes(): Buffer } {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { bytes: () => Buffer.concat(chunks) };
}

/** A handshake promise and its settlers; a rejection unawaited is no unhandled rejection. */
function handledHandshake(): {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
} {
  let resolve: () => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** A client on the driver, as a binding would run it: what the suite expects of a good peer. */
export class GoodClient {
  readonly socket: Socket;
  readonly driver: ConnectionDriver;
  readonly handshake: Promise<void>;
  readonly ended: Promise<ConnectionEnd>;
  #received: Uint8Array[] = [];
  #receivedBytes = 0;
  #wake: (() => void) | undefined;

  constructor(port: number, pin: Uint8Array) {
    this.socket = new Socket({ allowHalfOpen: true });
    this.socket.connect(port, '127.0.0.1');
    const { promise, resolve: secure, reject: failed } = handledHandshake();
    this.handshake = promise;
    let ended: (end: ConnectionEnd) => void = () => {};
    this.ended = new Promise((resolve) => {
      ended = resolve;
    });
    this.driver = new ConnectionDriver({
      transport: duplexTransport(this.socket),
      createEndpoint: (hooks) => new Initiator({ ...initiatorOptions(pin), ...hooks }),
      handshakeTimeout: 20_000,
      events: {
        secure: () => secure(),
        data: (chunk) => {
          this.#received.push(chunk.slice());
          this.#receivedBytes += chunk.length;
          this.#wake?.();
          return true;
        },
        peerClosed: () => this.#wake?.(),
        closed: (end) => {
          failed(end.error ?? new Error('closed before the handshake'));
          ended(end);
          this.#wake?.();
        },
      },
    });
  }

  /** Writes `data` and resolves with the `data.length` bytes that come back. */
  async echo(data: Uint8Array): Promise<Uint8Array> {
    const start = this.#receivedBytes;
    await this.driver.write(data);
    while (this.#receivedBytes < start + data.length && !this.driver.ended) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    return Buffer.concat(this.#received).subarray(start, start + data.length);
  }

  /** close_notify and a half-close, then the end of the connection. */
  async close(): Promise<ConnectionEnd> {
    await this.driver.close();
    return this.ended;
  }
}

/**
 * Connects a good client, checks an echo (unless the server does not echo), closes it: the
 * server still serves.
 */
export async function stillServes(
  port: number,
  pin: Uint8Array,
  ms: number,
  echoes = true,
): Promise<void> {
  const client = new GoodClient(port, pin);
  await within(client.handshake, ms, 'a handshake of a good client');
  if (!echoes) {
    client.driver.abort();
    return;
  }
  const message = random(1_000);
  const echoed = await within(client.echo(message), ms, 'an echo to a good client');
  if (Buffer.compare(Buffer.from(echoed), Buffer.from(message)) !== 0) {
    throw new Error('the echo to a good client differs');
  }
  const end = await within(client.close(), ms, 'a good client closing');
  if (end.error !== undefined) throw end.error;
}

/**
 * A real initiator over a raw socket whose every output the test sees: it completes the
 * handshake, then the test takes over (`stopReading`, `sendOwn`).
 */
export class HandClient {
  readonly socket: Socket;
  readonly initiator: Initiator;
  readonly handshake: Promise<void>;
  /** Every byte written to the socket, in order: what an eavesdropper could record. */
  readonly sent: Uint8Array[] = [];
  #reading = true;

  private constructor(socket: Socket, pin: Uint8Array) {
    this.socket = socket;
    this.initiator = new Initiator(initiatorOptions(pin));
    const { promise, resolve: secure, reject: failed } = handledHandshake();
    this.handshake = promise;
    socket.on('data', (chunk: Buffer) => {
      if (!this.#reading) return;
      void this.initiator.receive(chunk).then(() => {
        for (let output = this.initiator.poll(); output; output = this.initiator.poll()) {
          if (output.type === 'send') this.#write(output.data);
          else if (output.type === 'handshakeComplete') secure();
          else if (output.type === 'error') failed(output.error);
        }
      });
    });
  }

  static async connect(port: number, pin: Uint8Array): Promise<HandClient> {
    const client = new HandClient(await connectRaw(port), pin);
    await client.initiator.start();
    client.sendOwn();
    return client;
  }

  /** From now on nothing is read: the socket is paused and the initiator hears nothing. */
  stopReading(): void {
    this.#reading = false;
    this.socket.pause();
  }

  /** Writes what the initiator has to send; drops its other outputs. Returns the bytes written. */
  sendOwn(): number {
    let written = 0;
    for (let output = this.initiator.poll(); output; output = this.initiator.poll()) {
      if (output.type !== 'send') continue;
      this.#write(output.data);
      written += output.data.length;
    }
    return written;
  }

  #write(data: Uint8Array): void {
    this.sent.push(data);
    this.socket.write(data);
  }
}

/** A client_hello as a real client sends it, to replay. */
export async function capturedClientHello(pin: Uint8Array): Promise<Uint8Array> {
  const initiator = new Initiator(initiatorOptions(pin));
  await initiator.start();
  const records: Uint8Array[] = [];
  for (let output = initiator.poll(); output; output = initiator.poll()) {
    if (output.type === 'send') records.push(output.data);
  }
  initiator.abort();
  return Buffer.concat(records);
}

/**
 * A plain TCP relay, as a port forward or load balancer: data both ways, and a peer's end is
 * passed on. With `halfOpen: false` its sockets are Node's defaults, which end their own
 * sending side as soon as the other side ends.
 */
export async function startRelay(
  targetPort: number,
  halfOpen: boolean,
): Promise<{ port: number; close(): void }> {
  const pairs: Socket[] = [];
  const relay: Server = createServer({ allowHalfOpen: halfOpen }, (a) => {
    const b = new Socket({ allowHalfOpen: halfOpen });
    b.connect(targetPort, '127.0.0.1');
    pairs.push(a, b);
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      from.on('data', (data: Buffer) => to.write(data));
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    }
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    port: (relay.address() as AddressInfo).port,
    close: () => {
      for (const socket of pairs) socket.destroy();
      relay.close();
    },
  };
}
