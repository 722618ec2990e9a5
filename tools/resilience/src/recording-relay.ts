import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';

/**
 * A plain TCP relay in front of a server that records its first connection: a client's first
 * flight (what it sent before the server's first byte came back), and both directions of the
 * whole connection. Everything is passed on unchanged.
 */
export interface RecordingRelay {
  readonly port: number;
  /** The first connection's bytes to the server before the server first answered. */
  firstFlight(): Promise<Uint8Array>;
  /** The first connection, both directions, once both of its sockets have closed. */
  firstConnection(): Promise<RecordedConnection>;
  /** Stops listening and breaks every connection through the relay. */
  close(): Promise<void>;
}

/** Every byte of one connection through the relay, in the order each side sent it. */
export interface RecordedConnection {
  /** What the client sent to the server. */
  readonly fromClient: Uint8Array;
  /** What the server sent to the client. */
  readonly fromServer: Uint8Array;
  /** How many bytes of `fromClient` came before the server's first byte: its first flight. */
  readonly flightLength: number;
}

export async function startRecordingRelay(targetPort: number): Promise<RecordingRelay> {
  const sockets: Socket[] = [];
  let first = true;
  let resolveFlight!: (flight: Uint8Array) => void;
  const flight = new Promise<Uint8Array>((resolve) => {
    resolveFlight = resolve;
  });
  let resolveConnection!: (connection: RecordedConnection) => void;
  const connection = new Promise<RecordedConnection>((resolve) => {
    resolveConnection = resolve;
  });
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = new Socket({ allowHalfOpen: true });
    upstream.connect(targetPort, '127.0.0.1');
    sockets.push(client, upstream);
    const recording = first
      ? { fromClient: [] as Buffer[], fromServer: [] as Buffer[] }
      : undefined;
    first = false;
    let flightLength: number | undefined;
    client.on('data', (chunk: Buffer) => {
      recording?.fromClient.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (recording !== undefined && flightLength === undefined) {
        const sent = Buffer.concat(recording.fromClient);
        flightLength = sent.length;
        resolveFlight(new Uint8Array(sent));
      }
      recording?.fromServer.push(chunk);
      client.write(chunk);
    });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    }
    if (recording !== undefined) {
      const closed = (socket: Socket) =>
        new Promise<void>((resolve) => socket.once('close', () => resolve()));
      void Promise.all([closed(client), closed(upstream)]).then(() => {
        const fromClient = new Uint8Array(Buffer.concat(recording.fromClient));
        resolveConnection({
          fromClient,
          fromServer: new Uint8Array(Buffer.concat(recording.fromServer)),
          flightLength: flightLength ?? fromClient.length,
        });
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    firstFlight: () => flight,
    firstConnection: () => connection,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
