import { once } from 'node:events';
import { createServer, Socket } from 'node:net';

/**
 * A plain TCP relay on 127.0.0.1 standing in for the network between a client and its
 * servers: each connection goes to the port `target()` names when it arrives (a load balancer
 * with two servers behind it, or one), and `cut()` breaks them all at once, as a dead link
 * would: both ends see their transport go without a close_notify.
 */
export interface Relay {
  readonly port: number;
  /** Destroys every connection through the relay, both halves. */
  cut(): void;
  /** Stops listening (after `cut()`). */
  close(): Promise<void>;
}

export async function startRelay(target: () => number): Promise<Relay> {
  const live = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = new Socket({ allowHalfOpen: true });
    upstream.connect(target(), '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      live.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        live.delete(from);
        to.destroy();
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const cut = () => {
    for (const socket of live) socket.destroy();
    live.clear();
  };
  return {
    port: (server.address() as { port: number }).port,
    cut,
    close: async () => {
      cut();
      server.close();
      await once(server, 'close');
    },
  };
}
