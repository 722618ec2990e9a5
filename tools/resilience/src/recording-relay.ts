import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';

/**
 * A plain TCP relay in front of a server that records a client's first flight: what the first
 * connection sent before the server's first byte came back. Everything is passed on unchanged.
 */
export interface RecordingRelay {
  readonly port: number;
  /** The first connection's bytes to the server before the server first answered. */
  firstFlight(): Promise<Uint8Array>;
  /** Stops listening and breaks every connection through the relay. */
  close(): Promise<void>;
}

export async function startRecordingRelay(targetPort: number): Promise<RecordingRelay> {
  const sockets: Socket[] = [];
  let first = true;
  let resolveFlight!: (flight: Uint8Array) => void;
  const flight = new Promise<Uint8Array>((resolve) => {
    resolveFlight = resolve;
  });
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = new Socket({ allowHalfOpen: true });
    upstream.connect(targetPort, '127.0.0.1');
    sockets.push(client, upstream);
    const recording: Buffer[] | undefined = first ? [] : undefined;
    first = false;
    client.on('data', (chunk: Buffer) => {
      recording?.push(chunk);
      upstream.write(chunk);
    });
    upstream.once('data', () => {
      if (recording !== undefined) resolveFlight(new Uint8Array(Buffer.concat(recording)));
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    firstFlight: () => flight,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
