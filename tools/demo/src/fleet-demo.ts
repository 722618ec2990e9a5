import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type DemoResult,
  digest,
  errorName,
  type Received,
  type Relay,
  receive,
  secured,
  startRelay,
  Trace,
} from '@mlstls/cli/demo';
import { connect, generateCredential, type MlsTlsSocket } from '@mlstls/node';
import { RedisStore } from '@mlstls/storage-redis';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { redisServer, within } from '@mlstls/test-support';
import type { FleetResponderConfig, FleetResponderReport } from './fleet-responder.js';

const RESPONDER_SCRIPT = fileURLToPath(new URL('./fleet-responder.ts', import.meta.url));
const require = createRequire(import.meta.url);
/** tsx's loader by its path, so that the children run TypeScript from any directory. */
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
const EXPORTER_LABEL = 'mlstls fleet demo';
/** The initiator's name for the service, whichever process answers. */
const SESSION_NAME = 'the fleet';
/** Each wait of the demo once its responders run. */
const STEP_TIMEOUT_MS = 20_000;
/**
 * Starting a child (tsx, then every package) until it listens: the longest wait, and on a
 * 2-core CI runner shared with every other package's tests it took over 20 s once.
 */
const START_TIMEOUT_MS = 90_000;

/** A responder child process and what it has reported. */
interface FleetResponder {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly reports: readonly FleetResponderReport[];
  /** Resolves with the first report from `from` on that `matches`. */
  next<T extends FleetResponderReport['type']>(
    type: T,
    from: number,
    matches?: (report: Extract<FleetResponderReport, { type: T }>) => boolean,
  ): Promise<Extract<FleetResponderReport, { type: T }>>;
  stop(): Promise<void>;
}

async function startResponder(name: string, config: FleetResponderConfig): Promise<FleetResponder> {
  const child: ChildProcess = spawn(process.execPath, ['--import', TSX_LOADER, RESPONDER_SCRIPT], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    // Bigints and byte arrays (the credential's keys) cross the channel as they are.
    serialization: 'advanced',
  });
  const reports: FleetResponderReport[] = [];
  let stderr = '';
  let exited = false;
  let wake: (() => void)[] = [];
  const notify = () => {
    for (const waiter of wake) waiter();
    wake = [];
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.on('message', (report: FleetResponderReport) => {
    reports.push(report);
    notify();
  });
  child.on('exit', () => {
    exited = true;
    notify();
  });
  child.on('error', (error) => {
    stderr += error.message;
    exited = true;
    notify();
  });
  const waitFor = (
    type: FleetResponderReport['type'],
    from: number,
    matches: ((report: never) => boolean) | undefined,
    timeout: number,
  ) =>
    within(
      (async () => {
        for (let seen = from; ; ) {
          for (; seen < reports.length; seen++) {
            const report = reports[seen]!;
            if (report.type === type && (matches?.(report as never) ?? true)) {
              return report as never;
            }
          }
          if (exited) throw new Error(`${name} exited before its ${type} report:\n${stderr}`);
          await new Promise<void>((resolve) => wake.push(resolve));
        }
      })(),
      timeout,
      `${name}: ${type}`,
    );
  const next: FleetResponder['next'] = (type, from, matches) =>
    waitFor(type, from, matches as ((report: never) => boolean) | undefined, STEP_TIMEOUT_MS);
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 2_000);
    while (!exited) await new Promise<void>((resolve) => wake.push(resolve));
    clearTimeout(force);
  };
  child.send(config);
  try {
    const { port } = (await waitFor('listening', 0, undefined, START_TIMEOUT_MS)) as {
      port: number;
    };
    return { name, pid: child.pid!, port, reports, next, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Two responder processes with one credential share their sessions in one Redis. A client
 * connects through a balancer that sends its first connection to A and the next to B; it
 * exchanges data with A, the network breaks, and it resumes the same session on B: no new
 * handshake, the next epoch, data, a post-compromise-security update, close_notify.
 */
export async function runFleetDemo(
  options: { redisUrl?: string | undefined; log?: (line: string) => void } = {},
): Promise<DemoResult> {
  const trace = new Trace(options.log);
  const { log, ms, check } = trace;

  const dir = mkdtempSync(join(tmpdir(), 'mlstls-fleet-'));
  const clientStore = new SqliteStore({ path: join(dir, 'initiator.db') });
  const responders: FleetResponder[] = [];
  const sockets: MlsTlsSocket[] = [];
  let redis: Awaited<ReturnType<typeof redisServer>> | undefined;
  let fleetStore: RedisStore | undefined;
  let balancer: Relay | undefined;
  try {
    redis = await redisServer(options.redisUrl);
    log(
      `${ms()}  Redis at ${redis.url}${redis.started ? ' (a redis-server started for the demo)' : ' (REDIS_URL)'}`,
    );
    const credential = await generateCredential({ ciphersuite: 1 });
    const pinned = credential.signaturePublicKey;
    const prefix = `mlstls-demo:${randomBytes(6).toString('hex')}:`;
    const config: FleetResponderConfig = {
      credential,
      redisUrl: redis.url,
      prefix,
      exporterLabel: EXPORTER_LABEL,
    };
    const [a, b] = await Promise.all([
      startResponder('responder A', config),
      startResponder('responder B', config),
    ]);
    responders.push(a, b);
    for (const responder of [a, b]) {
      log(`${ms()}  ${responder.name}: pid ${responder.pid}, 127.0.0.1:${responder.port}`);
    }
    log(
      `${ms()}  both: key ${Buffer.from(pinned).toString('hex').slice(0, 16)}..., sessions in Redis under '${prefix}'`,
    );
    const order = [a, b];
    balancer = await startRelay(() => (order.shift() ?? b).port);
    log(
      `${ms()}  a balancer on 127.0.0.1:${balancer.port} sends the first connection to A, the next to B`,
    );

    const dial = () => {
      const socket = connect({
        host: '127.0.0.1',
        port: balancer!.port,
        store: clientStore,
        sessionId: SESSION_NAME,
        peerSignaturePublicKey: pinned,
      });
      sockets.push(socket);
      return { socket, received: receive(socket) };
    };
    /** Sends `length` random bytes; resolves once the echo is back and checked. */
    const echo = async (
      socket: MlsTlsSocket,
      received: Received,
      length: number,
      responder: FleetResponder,
    ) => {
      const before = received.bytes().length;
      const data = randomBytes(length);
      socket.write(data);
      await within(
        received.until(before + length),
        STEP_TIMEOUT_MS,
        `the echo from ${responder.name}`,
      );
      const back = received.bytes().subarray(before);
      log(
        `${ms()}  ${length} bytes to ${responder.name} and back in epoch ${socket.epoch} (sha256 ${digest(back)})`,
      );
      check(digest(back) === digest(data), `${responder.name} echoed every byte`);
    };

    // ---- a full handshake with A ---------------------------------------------------------
    const first = dial();
    await within(secured(first.socket), STEP_TIMEOUT_MS, 'the handshake with A');
    const atA = await a.next('secureConnection', 0);
    log(
      `${ms()}  initiator -> A: handshake complete, epoch ${first.socket.epoch}, isSessionReused() === ${first.socket.isSessionReused()}`,
    );
    check(!first.socket.isSessionReused() && !atA.resumed, 'A made a full handshake');
    await echo(first.socket, first.received, 64 * 1024, a);
    const stored = await clientStore.get(new TextEncoder().encode(SESSION_NAME));
    // The initiator's record names its group first (`opaque group_id<1>`), the key in Redis.
    const groupId = stored?.pending?.subarray(1, 1 + stored.pending[0]!);
    const sessionEpoch = stored?.epoch ?? 0n;
    log(
      `${ms()}  the session: group ${Buffer.from(groupId ?? [])
        .toString('hex')
        .slice(0, 16)}..., epoch ${sessionEpoch} in initiator.db`,
    );
    check(groupId?.length === 32 && sessionEpoch === 1n, 'the initiator stored the session');

    // ---- the network breaks -----------------------------------------------------------------
    const beforeBreak = a.reports.length;
    balancer.cut();
    log(`${ms()}  the network breaks: both TCP connections destroyed, no close_notify`);
    const lost = await within(first.received.closed, STEP_TIMEOUT_MS, 'the initiator noticing');
    const aLost = await a.next('closed', beforeBreak);
    const initiatorTruncated = first.socket.truncated;
    log(
      `${ms()}  initiator: connection lost (${initiatorTruncated ? 'truncated: no close_notify' : errorName(lost)}); A: ${aLost.truncated ? 'truncated' : 'closed'}`,
    );
    // A cut with bytes still unread resets the connection instead of ending it.
    const aReset = a.reports.slice(beforeBreak).find((report) => report.type === 'error');
    check(
      (initiatorTruncated || lost !== undefined) && (aLost.truncated || aReset !== undefined),
      'both ends see the break (a truncation or a reset), not a clean close',
    );

    // ---- the same session, resumed on B -----------------------------------------------------
    const second = dial();
    await within(secured(second.socket), STEP_TIMEOUT_MS, 'the resumption on B');
    const resumed = second.socket;
    const atB = await b.next('secureConnection', 0);
    const resumedEpoch = await b.next('epoch', 0);
    log(
      `${ms()}  initiator -> B: isSessionReused() === ${resumed.isSessionReused()}, epoch ${resumed.epoch}; B: resumed ${atB.resumed}, epoch ${resumedEpoch.epoch} (${resumedEpoch.cause})`,
    );
    check(resumed.isSessionReused() && atB.resumed, 'B resumed the session A made');
    check(
      resumed.epoch === sessionEpoch + 1n && resumedEpoch.epoch === resumed.epoch,
      'the session goes on in the next epoch',
    );
    const exportersMatch = Buffer.from(atB.exporter).equals(
      resumed.exportKeyingMaterial(32, EXPORTER_LABEL),
    );
    log(`${ms()}  exporters of the initiator and B ${exportersMatch ? 'match' : 'DIFFER'}`);
    check(exportersMatch, 'the initiator and B hold the same keys');
    await echo(resumed, second.received, 64 * 1024, b);

    const fromB = b.reports.length;
    await within(resumed.update(), STEP_TIMEOUT_MS, 'the update on B');
    const bUpdated = await b.next('epoch', fromB);
    log(
      `${ms()}  initiator: PCS update confirmed, epoch ${resumed.epoch}; B: epoch ${bUpdated.epoch} (${bUpdated.cause})`,
    );
    check(
      bUpdated.epoch === resumed.epoch && resumed.epoch === resumedEpoch.epoch + 1n,
      'the update moved both to the next epoch',
    );
    await echo(resumed, second.received, 64 * 1024, b);

    resumed.end();
    log(`${ms()}  initiator: close_notify`);
    const ended = await within(second.received.closed, STEP_TIMEOUT_MS, 'the close');
    await b.next('closed', fromB);
    check(ended === undefined, 'the connection to B closed cleanly');

    fleetStore = await RedisStore.connect({ url: redis.url, prefix });
    const inRedis = groupId === undefined ? undefined : await fleetStore.get(groupId);
    log(`${ms()}  Redis holds the session at epoch ${inRedis?.epoch}`);
    check(inRedis?.epoch === resumed.epoch, 'Redis holds the last epoch');
    // A shared server (REDIS_URL) keeps nothing of the demo.
    if (groupId !== undefined) await fleetStore.delete(groupId);
    for (const responder of [a, b]) {
      check(
        !responder.reports.some((report) => report.type === 'error' && report !== aReset),
        `${responder.name} had no other error`,
      );
    }

    return trace.finish(
      `a session made with process A resumed on process B (isSessionReused() === true) into epoch ${sessionEpoch + 1n}, then updated to ${resumed.epoch}; every byte echoed`,
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    await balancer?.close();
    await Promise.all(responders.map((responder) => responder.stop()));
    await fleetStore?.close();
    await redis?.stop();
    await clientStore.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
