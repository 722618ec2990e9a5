import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';
import { deriveApplicationSecrets } from '@mlstls/key-schedule';
import { Endpoint } from './endpoint.js';

export interface DemoResult {
  readonly lines: string[];
  readonly ok: boolean;
}

const digest = (data: Uint8Array) => createHash('sha256').update(data).digest('hex').slice(0, 16);

/**
 * Two endpoints over TCP on 127.0.0.1: data both ways, TLS key updates in flight (one
 * requested and answered, one not), close_notify both ways, every byte checked on arrival.
 */
export async function runDemo(
  options: { bytes?: number; log?: (line: string) => void } = {},
): Promise<DemoResult> {
  const bytes = options.bytes ?? 4 * 2 ** 20;
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    options.log?.(line);
  };
  const started = performance.now();
  const ms = () => `${(performance.now() - started).toFixed(1).padStart(7)} ms`;

  // Until the MLS handshake lands, both sides take epoch 1's master secret as given: in mlstls it
  // is MLS-Exporter("mlstls master secret", "", 32) of the group both have joined.
  const masterSecret = new Uint8Array(randomBytes(32));
  const secrets = () => deriveApplicationSecrets({ hash: 'sha256', masterSecret });

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  log(`${ms()}  responder listening on 127.0.0.1:${port}`);
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const clientSocket = tcpConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    clientSocket.once('connect', resolve);
    clientSocket.once('error', reject);
  });
  const serverSocket = await accepted;
  server.close();
  const initiator = new Endpoint(clientSocket, 'initiator', secrets());
  const responder = new Endpoint(serverSocket, 'responder', secrets());
  masterSecret.fill(0);
  log(`${ms()}  connected; epoch 1 keys: AES-128-GCM with SHA-256, generation 0 each way`);

  const half = Math.floor(bytes / 2);
  const toResponder = new Uint8Array(randomBytes(bytes));
  const toInitiator = new Uint8Array(randomBytes(bytes));

  initiator.write(toResponder.subarray(0, half));
  responder.write(toInitiator.subarray(0, half));
  initiator.keyUpdate(true);
  log(`${ms()}  initiator: key_update(update_requested) after ${half} bytes`);
  initiator.write(toResponder.subarray(half));
  responder.keyUpdate(false);
  log(`${ms()}  responder: key_update(update_not_requested)`);
  responder.write(toInitiator.subarray(half));
  initiator.end();
  log(`${ms()}  initiator: close_notify`);
  await responder.peerClosed;
  responder.end();
  log(`${ms()}  responder: got close_notify, answers with its own`);

  const [atResponder, atInitiator] = await Promise.all([responder.closed, initiator.closed]);
  const ok =
    digest(atResponder) === digest(toResponder) &&
    digest(atInitiator) === digest(toInitiator) &&
    initiator.sendGeneration === 1 &&
    responder.receiveGeneration === 1 &&
    responder.sendGeneration === 2 &&
    initiator.receiveGeneration === 2;
  for (const [name, endpoint, received] of [
    ['initiator', initiator, atInitiator],
    ['responder', responder, atResponder],
  ] as const) {
    const { bytesSent, recordsSent, recordsReceived } = endpoint.stats;
    log(
      `${ms()}  ${name}: sent ${bytesSent} bytes in ${recordsSent} records, received ${received.length} bytes ` +
        `(sha256 ${digest(received)}) in ${recordsReceived} records; generations send ${endpoint.sendGeneration}, receive ${endpoint.receiveGeneration}`,
    );
  }
  log(
    `${ms()}  ${ok ? 'OK: every byte arrived once, in order, under the expected keys' : 'FAILED'}`,
  );
  return { lines, ok };
}
