import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type MlsTlsSocket } from '@mlstls/node';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { issueCertificate } from '@mlstls/x509-issuer';
import { type Relay, startRelay } from './demo/relay.js';
import {
  digest,
  errorName,
  type Received,
  reached,
  receive,
  secured,
  written,
} from './demo/socket-waits.js';
import { type DemoResult, Trace } from './demo/trace.js';

/** What the initiator stores its session under: the name of the service it talks to. */
const SESSION_NAME = 'the demo responder';

/**
 * The README's main job: a responder and an initiator on 127.0.0.1 complete the MLS
 * handshake, exchange data both ways, each makes a post-compromise-security update, and the
 * initiator makes a TLS key update. Then the network between them breaks, without a
 * close_notify, and the initiator resumes the session from its SQLite store: no new
 * handshake, a new epoch, data both ways, one more update, and close_notify from both. Every
 * byte is checked.
 */
export async function runDemo(
  options: { bytes?: number; log?: (line: string) => void } = {},
): Promise<DemoResult> {
  const bytes = options.bytes ?? 4 * 2 ** 20;
  const trace = new Trace(options.log);
  const { log, ms, check } = trace;
  log(
    'mlstls demo: an MLS handshake, data, PCS updates and a key update over loopback TCP; then the\n' +
      'transport breaks and the session resumes from SQLite\n',
  );

  // Both ends keep their sessions in SQLite, each in its own file: the embedded default.
  const dir = mkdtempSync(join(tmpdir(), 'mlstls-demo-'));
  const serverStore = new SqliteStore({ path: join(dir, 'responder.db') });
  const clientStore = new SqliteStore({ path: join(dir, 'initiator.db') });
  // A certificate authority and a certificate for localhost, made for this run: the initiator
  // trusts the authority and checks the name, as with node:tls.
  const authority = await issueCertificate({ subject: 'mlstls demo CA', ca: true });
  const certificate = await issueCertificate({
    subject: 'localhost',
    issuer: authority,
    dnsNames: ['localhost'],
    extendedKeyUsage: ['serverAuth'],
  });
  const accepted: { socket: MlsTlsSocket; received: Received }[] = [];
  let acceptedWaiter: (() => void) | undefined;
  const serverOptions = {
    store: serverStore,
    key: certificate.keyPem,
    cert: [certificate.pem, authority.pem],
    ALPNProtocols: ['demo/1'],
  };
  const server = createServer(serverOptions, (socket) => {
    // Listen now: the handshake's own 'epoch' event follows 'secureConnection' at once.
    socket.on('epoch', (epoch: bigint, cause: string) =>
      log(`${ms()}  responder: epoch ${epoch} (${cause})`),
    );
    accepted.push({ socket, received: receive(socket) });
    acceptedWaiter?.();
  });
  const nextAccepted = async (count: number) => {
    while (accepted.length < count) await new Promise<void>((wake) => (acceptedWaiter = wake));
    return accepted[count - 1]!;
  };
  const dialed: MlsTlsSocket[] = [];
  let relay: Relay | undefined;

  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    relay = await startRelay(() => port);
    const dial = () => {
      const socket = connect({
        host: '127.0.0.1',
        port: relay!.port,
        store: clientStore,
        sessionId: SESSION_NAME,
        ca: authority.pem,
        servername: 'localhost',
        ALPNProtocols: ['demo/1'],
      });
      dialed.push(socket);
      socket.on('epoch', (epoch: bigint, cause: string) =>
        log(`${ms()}  initiator: epoch ${epoch} (${cause})`),
      );
      return { socket, received: receive(socket) };
    };
    log(
      `${ms()}  responder listening on 127.0.0.1:${port} as CN=${certificate.subject} (issued by ${authority.subject}), sessions in ${join(dir, 'responder.db')}`,
    );
    log(`${ms()}  the network: a relay on 127.0.0.1:${relay.port} that the demo can cut`);

    // ---- the first connection: a full handshake -----------------------------------------
    const first = dial();
    await secured(first.socket);
    const initiator = first.socket;
    const { socket: responder, received: atResponder } = await nextAccepted(1);
    const atInitiator = first.received;
    const cipher = initiator.getCipher()!;
    log(
      `${ms()}  handshake complete: ${cipher.name}, records ${cipher.standardName}, epoch ${initiator.epoch}`,
    );
    const peer = initiator.getPeerCertificate();
    log(
      `${ms()}  initiator: the responder is CN=${peer?.subject?.CN} (${peer?.subjectaltname}), authorized ${initiator.authorized}, ALPN ${initiator.alpnProtocol}`,
    );
    check(!initiator.isSessionReused(), 'the first connection is a full handshake');
    check(initiator.authorized, 'the certificate chain and the name check out');
    check(initiator.alpnProtocol === 'demo/1', 'both ends agreed on demo/1');

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
    await Promise.all([atResponder.until(bytes), atInitiator.until(bytes)]);
    for (const [name, received, sent] of [
      ['initiator', atInitiator, toInitiator],
      ['responder', atResponder, toResponder],
    ] as const) {
      const got = received.bytes();
      log(`${ms()}  ${name}: received ${got.length} bytes (sha256 ${digest(got)})`);
      check(digest(got) === digest(sent), `${name} received every byte once, in order`);
    }
    const firstEpoch = initiator.epoch;
    check(firstEpoch === 3n && responder.epoch === 3n, 'both ends in epoch 3 after two updates');
    check(
      initiator
        .exportKeyingMaterial(32, 'mlstls demo')
        .equals(responder.exportKeyingMaterial(32, 'mlstls demo')),
      'equal exporters on the first connection',
    );

    // ---- the network breaks: no close_notify, both transports just go ---------------------
    relay.cut();
    log(`${ms()}  the network breaks: both TCP connections destroyed, no close_notify`);
    const [initiatorEnd, responderEnd] = await Promise.all([
      first.received.closed,
      atResponder.closed,
    ]);
    const lost = (socket: MlsTlsSocket, end: Error | undefined) =>
      socket.truncated ? 'truncated: no close_notify' : errorName(end);
    log(`${ms()}  initiator: connection lost (${lost(initiator, initiatorEnd)})`);
    log(`${ms()}  responder: connection lost (${lost(responder, responderEnd)})`);
    // A relay that cuts with bytes still unread resets the connection instead of ending it.
    check(
      (initiator.truncated || initiatorEnd !== undefined) &&
        (responder.truncated || responderEnd !== undefined),
      'both ends see the break (a truncation or a reset), not a clean close',
    );

    const stored = await clientStore.get(new TextEncoder().encode(SESSION_NAME));
    log(
      `${ms()}  initiator.db holds '${SESSION_NAME}' at epoch ${stored?.epoch}, ${stored?.state.length} bytes of group state`,
    );
    check(
      stored?.epoch === firstEpoch,
      `the initiator's store holds the session at epoch ${firstEpoch}`,
    );

    // ---- the second connection: resumed from the initiator's SQLite store ----------------
    const second = dial();
    await secured(second.socket);
    const resumed = second.socket;
    const { socket: resumedResponder, received: atResumedResponder } = await nextAccepted(2);
    log(
      `${ms()}  reconnected: isSessionReused() === ${resumed.isSessionReused()} (responder: ${resumedResponder.isSessionReused()}), epoch ${resumed.epoch}, no new handshake`,
    );
    check(
      resumed.authorized && resumed.alpnProtocol === 'demo/1',
      'the resumed connection checked the certificate again and kept ALPN demo/1',
    );
    check(
      resumed.isSessionReused() && resumedResponder.isSessionReused(),
      'the second connection resumed the session at both ends',
    );
    check(
      resumed.epoch === firstEpoch + 1n && resumedResponder.epoch === firstEpoch + 1n,
      `the resumed connection starts in epoch ${firstEpoch + 1n}, made by a new commit`,
    );

    const half = Math.floor(bytes / 8);
    const moreToResponder = new Uint8Array(randomBytes(2 * half));
    const moreToInitiator = new Uint8Array(randomBytes(2 * half));
    await Promise.all([
      written(resumed, moreToResponder.subarray(0, half)),
      written(resumedResponder, moreToInitiator.subarray(0, half)),
    ]);
    log(`${ms()}  ${half} bytes each way in epoch ${resumed.epoch}`);
    updateStarted = performance.now();
    await resumed.update();
    log(
      `${ms()}  initiator: PCS update confirmed in ${(performance.now() - updateStarted).toFixed(1)} ms`,
    );
    await Promise.all([
      written(resumed, moreToResponder.subarray(half)),
      written(resumedResponder, moreToInitiator.subarray(half)),
    ]);
    log(`${ms()}  ${half} bytes each way in epoch ${resumed.epoch}`);
    const exportersMatch = resumed
      .exportKeyingMaterial(32, 'mlstls demo')
      .equals(resumedResponder.exportKeyingMaterial(32, 'mlstls demo'));
    check(exportersMatch, 'equal exporters on the resumed connection');

    resumed.end();
    log(`${ms()}  initiator: close_notify`);
    resumedResponder.end();
    log(`${ms()}  responder: close_notify`);
    const [resumedEnd, resumedResponderEnd] = await Promise.all([
      second.received.closed,
      atResumedResponder.closed,
    ]);
    check(
      resumedEnd === undefined &&
        resumedResponderEnd === undefined &&
        !resumed.truncated &&
        !resumedResponder.truncated,
      'the resumed connection closes cleanly',
    );
    for (const [name, received, sent] of [
      ['initiator', second.received, moreToInitiator],
      ['responder', atResumedResponder, moreToResponder],
    ] as const) {
      const got = received.bytes();
      log(`${ms()}  ${name}: received ${got.length} bytes after resuming (sha256 ${digest(got)})`);
      check(digest(got) === digest(sent), `${name} received every resumed byte once, in order`);
    }
    const lastEpoch = firstEpoch + 2n;
    check(
      resumed.epoch === lastEpoch && resumedResponder.epoch === lastEpoch,
      `both ends in epoch ${lastEpoch} after the update`,
    );
    return trace.finish(
      `every byte arrived once, in order; epoch 3 with equal exporters; the session survived the break, resumed (isSessionReused() === true) and updated into epoch ${lastEpoch}`,
    );
  } finally {
    // Whatever failed, nothing is left open to keep the process alive.
    for (const socket of [...dialed, ...accepted.map((entry) => entry.socket)]) socket.destroy();
    await relay?.close();
    server.close();
    await clientStore.close();
    await serverStore.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// The parts the fleet demo (tools/demo) reuses: the demo's building blocks, not a stable API.
export { type Relay, startRelay } from './demo/relay.js';
export {
  digest,
  errorName,
  type Received,
  reached,
  receive,
  secured,
  written,
} from './demo/socket-waits.js';
export { type DemoResult, Trace } from './demo/trace.js';
