import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';

/** TLS content type of handshake records, and this profile's `resumption` message type. */
const HANDSHAKE_RECORD = 22;
const RESUMPTION = 194;

/**
 * A relay in front of one or more servers that holds every client's resumption flight until
 * `flights` of them are complete, then lets them all through in one go and passes everything
 * on from then on. Clients in one process build their flights one after another; held at the
 * gate, they reach the servers together, so their resumptions really race.
 */
export interface StartingGate {
  /** The gate's port in front of each target, in the order of the targets. */
  readonly ports: readonly number[];
  /** Resolves once the flights went through. */
  readonly released: Promise<void>;
  /** Stops listening and breaks every connection through the gate. */
  close(): Promise<void>;
}

export async function startStartingGate(
  targetPorts: readonly number[],
  flights: number,
): Promise<StartingGate> {
  const sockets: Socket[] = [];
  const waiting: { flight: Buffer[]; upstream: Socket }[] = [];
  let complete = 0;
  let open = false;
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const openGate = () => {
    open = true;
    // All writes in one turn of the event loop: the servers see the flights side by side.
    for (const { flight, upstream } of waiting.splice(0)) upstream.write(Buffer.concat(flight));
    release();
  };

  const servers: Server[] = [];
  for (const target of targetPorts) {
    const server = createServer({ allowHalfOpen: true }, (client) => {
      const upstream = new Socket({ allowHalfOpen: true });
      upstream.connect(target, '127.0.0.1');
      sockets.push(client, upstream);
      const held: { flight: Buffer[]; upstream: Socket } = { flight: [], upstream };
      let counted = false;
      if (!open) waiting.push(held);
      client.on('data', (chunk: Buffer) => {
        if (open) {
          upstream.write(chunk);
          return;
        }
        held.flight.push(chunk);
        if (!counted && endsWithResumption(Buffer.concat(held.flight))) {
          counted = true;
          if (++complete === flights) openGate();
        }
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
    servers.push(server);
  }
  return {
    ports: servers.map((server) => (server.address() as { port: number }).port),
    released,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        servers.map((server) => {
          server.close();
          return once(server, 'close');
        }),
      );
    },
  };
}

/**
 * Whether `bytes`, plaintext handshake records, hold a whole `resumption` message: the end of
 * a resumption flight (PROFILE.md section 6).
 */
function endsWithResumption(bytes: Buffer): boolean {
  const handshake: Buffer[] = [];
  for (let offset = 0; offset + 5 <= bytes.length; ) {
    const length = bytes.readUInt16BE(offset + 3);
    if (offset + 5 + length > bytes.length) break;
    if (bytes[offset] === HANDSHAKE_RECORD) {
      handshake.push(bytes.subarray(offset + 5, offset + 5 + length));
    }
    offset += 5 + length;
  }
  const messages = Buffer.concat(handshake);
  for (let offset = 0; offset + 4 <= messages.length; ) {
    const length = messages.readUIntBE(offset + 1, 3);
    if (offset + 4 + length > messages.length) return false;
    if (messages[offset] === RESUMPTION) return true;
    offset += 4 + length;
  }
  return false;
}
