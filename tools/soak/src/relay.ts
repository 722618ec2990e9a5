// A plain TCP relay on 127.0.0.1 in the soak's own process: some connections go through it, as
// they would through a proxy or a load balancer. It forwards bytes both ways (with
// backpressure), passes a half-close on (`end` for `end`: the TCP FIN that follows each side's
// close_notify), and cuts the other side when one side fails. `cut()` breaks one connection in
// the middle, as a network failure would.
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
}

export class Relay {
  readonly #listener: Server;
  readonly #targetPort: number;
  /** Open pairs by the client's port, which is how `cut()` finds one. */
  readonly #pairs = new Map<number, Pair>();
  #port = 0;

  private constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#listener = createServer({ allowHalfOpen: true }, this.#accept);
  }

  static async start(targetPort: number): Promise<Relay> {
    const relay = new Relay(targetPort);
    relay.#listener.listen(0, '127.0.0.1');
    await once(relay.#listener, 'listening');
    relay.#port = (relay.#listener.address() as AddressInfo).port;
    return relay;
  }

  get port(): number {
    return this.#port;
  }

  /** Pairs still open (a pair that never closes would be a leak of the relay or the peers). */
  get open(): number {
    return this.#pairs.size;
  }

  /**
   * Destroys both sockets of the connection whose client socket is bound to `clientPort`:
   * each peer sees its TCP connection end (or reset) without a close_notify. False when no
   * such pair is open.
   */
  cut(clientPort: number): boolean {
    const pair = this.#pairs.get(clientPort);
    if (pair === undefined) return false;
    pair.client.destroy();
    pair.server.destroy();
    return true;
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs.values()) {
      pair.client.destroy();
      pair.server.destroy();
    }
    await new Promise<void>((resolve) => this.#listener.close(() => resolve()));
  }

  #accept = (client: Socket): void => {
    const clientPort = client.remotePort;
    const server = new Socket({ allowHalfOpen: true });
    server.connect(this.#targetPort, '127.0.0.1');
    const pair = { client, server };
    if (clientPort !== undefined) this.#pairs.set(clientPort, pair);
    forward(client, server);
    forward(server, client);
    let closed = 0;
    const onClose = () => {
      if (++closed === 2 && clientPort !== undefined && this.#pairs.get(clientPort) === pair) {
        this.#pairs.delete(clientPort);
      }
    };
    client.on('close', onClose);
    server.on('close', onClose);
  };
}

/** `from`'s bytes to `to`, its FIN as `to.end()`, its failure as `to.destroy()`. */
function forward(from: Socket, to: Socket): void {
  from.pipe(to, { end: false });
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
  // Closed without its read side ending: reset or destroyed, not a half-close.
  from.on('close', () => {
    if (!from.readableEnded) to.destroy();
  });
}
