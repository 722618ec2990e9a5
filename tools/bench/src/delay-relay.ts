/**
 * A child process of the round-trip benchmark: TCP relays on 127.0.0.1 that delay every chunk
 * by half a simulated round-trip time in each direction, preserving order, driven over IPC by
 * `round-trips.ts`. Running apart from the endpoints, its timers are not held up by their
 * handshake work (on a 2-core machine, the endpoints get the other core).
 *
 * A relay accepts a connection, connects to its target at once (no delay: loopback), and
 * forwards what each side writes after `rtt / 2` ms. With `tcp`, it also stands for TCP's own
 * handshake, which it cannot delay (the kernel answers the SYN on loopback): nothing the client
 * writes reaches the target before `rtt` has passed since the accept, as on a network where the
 * client learns of the connection only from the SYN-ACK, one round trip after its SYN.
 * `rtt` 0 forwards at once.
 */
import {
  type AddressInfo,
  createConnection,
  createServer,
  type Server,
  type Socket,
} from 'node:net';

/** Parent to child. */
export type ToRelay =
  | {
      readonly type: 'relay';
      readonly target: number;
      readonly rttMs: number;
      readonly tcp: boolean;
    }
  | { readonly type: 'stop' };

/** Child to parent. */
export type FromRelay =
  | { readonly type: 'relaying'; readonly port: number }
  | { readonly type: 'failed'; readonly message: string };

const nowNs = () => process.hrtime.bigint();

/** The remaining wait below which the pipe polls with setImmediate instead of a timer. */
const SPIN_NS = 1_500_000n;

/**
 * One direction of a relayed connection: chunks, then perhaps the end, each written to `to`
 * once its due time has come, in the order they arrived. libuv timers have millisecond
 * granularity, so the last part of each wait polls (setImmediate), for sub-millisecond delays.
 */
class DelayedPipe {
  readonly #to: Socket;
  readonly #delayNs: bigint;
  /** No chunk is due before this (the TCP handshake's gate), in hrtime nanoseconds. */
  readonly #notBefore: bigint;
  readonly #queue: { due: bigint; chunk: Buffer | undefined }[] = [];
  #scheduled = false;

  constructor(to: Socket, delayNs: bigint, notBefore: bigint) {
    this.#to = to;
    this.#delayNs = delayNs;
    this.#notBefore = notBefore;
  }

  /** A chunk, or `undefined` for the end of the stream. */
  push(chunk: Buffer | undefined): void {
    const now = nowNs();
    // bigints: no Math.max.
    let sent = now;
    if (this.#notBefore > now) sent = this.#notBefore;
    const due = sent + this.#delayNs;
    if (this.#queue.length === 0 && due <= now) {
      this.#write(chunk);
      return;
    }
    this.#queue.push({ due, chunk });
    this.#schedule();
  }

  #write(chunk: Buffer | undefined): void {
    if (this.#to.destroyed) return;
    if (chunk === undefined) this.#to.end();
    else this.#to.write(chunk);
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    const wait = this.#queue[0]!.due - nowNs();
    if (wait > SPIN_NS) {
      // Wake up about a millisecond early, then poll the rest.
      setTimeout(() => this.#run(), Number(wait - SPIN_NS + 500_000n) / 1e6);
    } else {
      setImmediate(() => this.#run());
    }
  }

  #run(): void {
    this.#scheduled = false;
    const now = nowNs();
    while (this.#queue.length > 0 && this.#queue[0]!.due <= now) {
      this.#write(this.#queue.shift()!.chunk);
    }
    this.#schedule();
  }
}

const servers = new Set<Server>();
const sockets = new Set<Socket>();

function track(socket: Socket): void {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
}

function relay(target: number, rttMs: number, tcp: boolean): Promise<number> {
  const delayNs = BigInt(Math.round((rttMs / 2) * 1e6));
  // Half-open on both sockets: an end is relayed after the delay like the data before it.
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    const accepted = nowNs();
    const upstream = createConnection({
      host: '127.0.0.1',
      port: target,
      noDelay: true,
      allowHalfOpen: true,
    });
    track(client);
    track(upstream);
    const gate = tcp ? accepted + BigInt(Math.round(rttMs * 1e6)) : 0n;
    const toServer = new DelayedPipe(upstream, delayNs, gate);
    const toClient = new DelayedPipe(client, delayNs, 0n);
    client.on('data', (chunk: Buffer) => toServer.push(chunk));
    client.on('end', () => toServer.push(undefined));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk));
    upstream.on('end', () => toClient.push(undefined));
    // A reset or error on one side: the other goes too, without waiting.
    const fail = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    // One side gone for good: the other follows once what is queued for it has had its time.
    const after = Math.max(rttMs, 1) * 4;
    client.on('close', () => setTimeout(() => upstream.destroy(), after));
    upstream.on('close', () => setTimeout(() => client.destroy(), after));
  });
  servers.add(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

const reply = (message: FromRelay) => process.send?.(message);

function stop(): never {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
  process.exit(0);
}

process.on('message', (message: ToRelay) => {
  if (message.type === 'stop') stop();
  relay(message.target, message.rttMs, message.tcp).then(
    (port) => reply({ type: 'relaying', port }),
    (error: unknown) => reply({ type: 'failed', message: String(error) }),
  );
});
// The parent is gone: nothing more to relay.
process.on('disconnect', () => stop());
