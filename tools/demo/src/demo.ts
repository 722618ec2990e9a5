import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type MlsTlsSocket } from '@mlstls/node';

export interface DemoResult {
  readonly lines: string[];
  readonly ok: boolean;
}

const digest = (data: Uint8Array) => createHash('sha256').update(data).digest('hex').slice(0, 16);

/** Everything a socket reads, once its peer has closed. */
function readAll(socket: MlsTlsSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

function reached(socket: MlsTlsSocket, epoch: bigint): Promise<void> {
  if (socket.epoch >= epoch) return Promise.resolve();
  return new Promise((resolve) => {
    const listener = (now: bigint) => {
      if (now < epoch) return;
      socket.off('epoch', listener);
      resolve();
    };
    socket.on('epoch', listener);
  });
}

function written(socket: MlsTlsSocket, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(data, (error) => (error ? reject(error) : resolve())),
  );
}

/**
 * The README's main job: a responder and an initiator on 127.0.0.1 complete the MLS
 * handshake, exchange data both ways, each makes a post-compromise-security update, the
 * initiator makes a TLS key update, and both close with close_notify. Every byte is checked.
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

  const server = createServer();
  const accepted = new Promise<MlsTlsSocket>((resolve) => server.once('secureConnection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const pinned = server.credential!.signaturePublicKey;
  log(
    `${ms()}  responder listening on 127.0.0.1:${port}, key ${Buffer.from(pinned).toString('hex').slice(0, 16)}...`,
  );

  const initiator = connect({ host: '127.0.0.1', port, peerSignaturePublicKey: pinned });
  const initiatorReads = readAll(initiator);
  await new Promise<void>((resolve, reject) => {
    initiator.once('secureConnect', resolve);
    initiator.once('error', reject);
  });
  const responder = await accepted;
  server.close();
  const responderReads = readAll(responder);
  const cipher = initiator.getCipher()!;
  log(
    `${ms()}  handshake complete: ${cipher.name}, records ${cipher.standardName}, epoch ${initiator.epoch}`,
  );
  for (const [name, socket] of [
    ['initiator', initiator],
    ['responder', responder],
  ] as const) {
    socket.on('epoch', (epoch: bigint, cause: string) =>
      log(`${ms()}  ${name}: epoch ${epoch} (${cause})`),
    );
  }

  const toResponder = new Uint8Array(randomBytes(bytes));
  const toInitiator = new Uint8Array(randomBytes(bytes));
  const third = Math.floor(bytes / 3);

  await Promise.all([
    written(initiator, toResponder.subarray(0, third)),
    written(responder, toInitiator.subarray(0, third)),
  ]);
  log(`${ms()}  ${third} bytes each way in epoch ${initiator.epoch}`);

  let updateStarted = performance.now();
  await initiator.update();
  log(
    `${ms()}  initiator: PCS update confirmed in ${(performance.now() - updateStarted).toFixed(1)} ms`,
  );
  updateStarted = performance.now();
  await responder.update();
  log(
    `${ms()}  responder: PCS update confirmed in ${(performance.now() - updateStarted).toFixed(1)} ms`,
  );
  // The responder's update is confirmed once it holds the initiator's epoch_key_update; the
  // initiator enters the epoch when the responder's own epoch_key_update arrives.
  await reached(initiator, 3n);

  await Promise.all([
    written(initiator, toResponder.subarray(third, 2 * third)),
    written(responder, toInitiator.subarray(third, 2 * third)),
  ]);
  await initiator.keyUpdate({ requestPeer: true });
  log(`${ms()}  initiator: key_update(update_requested) after ${2 * third} bytes`);
  await Promise.all([
    written(initiator, toResponder.subarray(2 * third)),
    written(responder, toInitiator.subarray(2 * third)),
  ]);

  const exporterMatches = initiator
    .exportKeyingMaterial(32, 'mlstls demo')
    .equals(responder.exportKeyingMaterial(32, 'mlstls demo'));
  initiator.end();
  log(`${ms()}  initiator: close_notify`);
  responder.end();
  log(`${ms()}  responder: close_notify`);
  const [atResponder, atInitiator] = await Promise.all([responderReads, initiatorReads]);

  for (const [name, received] of [
    ['initiator', atInitiator],
    ['responder', atResponder],
  ] as const) {
    log(`${ms()}  ${name}: received ${received.length} bytes (sha256 ${digest(received)})`);
  }
  const ok =
    digest(atResponder) === digest(toResponder) &&
    digest(atInitiator) === digest(toInitiator) &&
    initiator.epoch === 3n &&
    responder.epoch === 3n &&
    exporterMatches;
  log(
    `${ms()}  ${ok ? 'OK: every byte arrived once, in order; both ends in epoch 3 with equal exporters' : 'FAILED'}`,
  );
  return { lines, ok };
}
