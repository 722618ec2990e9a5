// docs/protocol.md section 6: the responder's write is a compare-and-set against the epoch and
// pending commit it loaded, "so of two concurrent resumptions of one stored state exactly one
// succeeds; the loser gets the same fatal alert". Here fifty of them race, through two
// responder processes that share one Redis, each racer holding the same stored version.
import { once } from 'node:events';
import {
  connect,
  type EndpointCredential,
  generateCredential,
  MlsTlsError,
  type MlsTlsSocket,
} from '@mlstls/node';
import { decodeSessionRecord } from '@mlstls/storage';
import { RedisStore } from '@mlstls/storage-redis';
import { within } from '@mlstls/test-support';
import { afterEach, expect, inject, it } from 'vitest';
import {
  type ResponderProcess,
  type ResponderReport,
  startResponder,
  summarize,
} from '../src/responder-fleet.js';

const EXPORTER_LABEL = 'EXPORTER-check';
const CLIENTS = 50;
const UNKNOWN_PSK_IDENTITY = 115;

const responders: ResponderProcess[] = [];
const sockets: MlsTlsSocket[] = [];
const stores: RedisStore[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(responders.splice(0).map((responder) => responder.stop()));
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/** Two responder processes with one credential and one Redis prefix, and a store beside them. */
async function fleetOnRedis(credential: EndpointCredential) {
  const url = inject('redisUrl');
  const prefix = `mlstls-test:concurrent:${process.pid}:${Math.random().toString(36).slice(2)}:`;
  const started = await Promise.all(
    ['responder A', 'responder B'].map((name) =>
      startResponder({
        name,
        credential,
        store: { kind: 'redis', url, prefix },
        exporterLabel: EXPORTER_LABEL,
      }),
    ),
  );
  responders.push(...started);
  const store = await RedisStore.connect({ url, prefix });
  stores.push(store);
  return { a: started[0]!, b: started[1]!, store };
}

interface Attempt {
  readonly socket: MlsTlsSocket;
  /** Every `'session'` the client emitted, oldest first. */
  readonly sessions: Buffer[];
  readonly errors: Error[];
  /** Settles with `'secure'` or the first error. */
  readonly outcome: Promise<'secure' | Error>;
}

/** A client of `port` that resumes `session` and fails rather than fall back. */
function resume(session: Uint8Array, port: number, pinned: Uint8Array): Attempt {
  const socket = connect({
    host: '127.0.0.1',
    port,
    session,
    fallback: false,
    peerSignaturePublicKey: pinned,
    handshakeTimeout: 60_000,
  });
  sockets.push(socket);
  const sessions: Buffer[] = [];
  const errors: Error[] = [];
  socket.on('session', (next: Buffer) => sessions.push(next));
  socket.on('error', (error) => errors.push(error));
  const outcome = new Promise<'secure' | Error>((resolve) => {
    socket.once('secureConnect', () => resolve('secure'));
    socket.once('error', resolve);
  });
  return { socket, sessions, errors, outcome };
}

/** close_notify both ways, then the transport's close. */
async function closeCleanly(socket: MlsTlsSocket, what: string): Promise<void> {
  socket.resume();
  socket.end();
  await within(once(socket, 'close'), 10_000, `${what}: a clean close`);
}

/** The group_id of an initiator's session: its `pending` starts with `opaque group_id<1>`. */
function groupIdOf(session: Uint8Array): Uint8Array {
  const { pending } = decodeSessionRecord(session);
  if (pending === undefined) throw new Error('an initiator session without its group_id');
  return pending.subarray(1, 1 + pending[0]!);
}

/** How many commits an initiator's session holds unconfirmed: `opaque commits<V4>` of `opaque<V4>`s. */
function unconfirmedCommitsOf(session: Uint8Array): number {
  const { pending } = decodeSessionRecord(session);
  const view = new DataView(pending!.buffer, pending!.byteOffset, pending!.byteLength);
  let offset = 1 + pending![0]!;
  const end = offset + 4 + view.getUint32(offset);
  let count = 0;
  for (offset += 4; offset < end; count++) offset += 4 + view.getUint32(offset);
  return count;
}

function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

const resumedConnections = (reports: readonly ResponderReport[]) =>
  reports.filter(
    (report): report is Extract<ResponderReport, { type: 'secureConnection' }> =>
      report.type === 'secureConnection' && report.resumed,
  );
const isHoldingReads = (report: ResponderReport) => report.type === 'holdingReads';
/** The epochs of the session reads held at a responder's barrier. */
const readsAtBarrier = (reports: readonly ResponderReport[]) =>
  reports.flatMap((report) => (report.type === 'read' ? [report.epoch] : []));
/** The epochs server-side connections entered by resumption. */
const resumptionEpochs = (reports: readonly ResponderReport[]) =>
  reports.flatMap((report) =>
    report.type === 'epoch' && report.cause === 'resumption' ? [report.epoch] : [],
  );
const refusals = (reports: readonly ResponderReport[]) =>
  reports.filter(
    (report) => report.type === 'clientError' && report.code === 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY',
  ).length;
const clientErrors = (reports: readonly ResponderReport[]) =>
  reports.filter(
    (report): report is Extract<ResponderReport, { type: 'clientError' }> =>
      report.type === 'clientError',
  );

it('lets exactly one of 50 resumptions that all read one stored state win, through two responder processes on one Redis, refuses the 49 others with unknown_psk_identity, and stores the winner', async () => {
  const credential = await generateCredential({ ciphersuite: 1 });
  const pinned = credential.signaturePublicKey;
  const { a, b, store } = await fleetOnRedis(credential);

  // One full handshake with responder A; the client keeps its session as node:tls's do.
  const first = connect({ host: '127.0.0.1', port: a.port, peerSignaturePublicKey: pinned });
  sockets.push(first);
  let session: Buffer | undefined;
  first.on('session', (next: Buffer) => {
    session = next;
  });
  await within(once(first, 'secureConnect'), 30_000, 'the full handshake');
  expect(first.isSessionReused()).toBe(false);
  await closeCleanly(first, 'the first connection');
  expect(session).toBeDefined();
  const stored = session!;
  const groupId = groupIdOf(stored);
  expect(groupId).toHaveLength(32);
  expect(decodeSessionRecord(stored).epoch).toBe(1n);
  expect((await store.get(groupId))?.epoch).toBe(1n);

  // Fifty resumptions of that one session, alternately to A and B. Both hold every session
  // read until all fifty have read: each racer then holds the same stored version, and only
  // the compare-and-set can pick the winner.
  for (const responder of [a, b]) responder.send({ type: 'holdReads' });
  await Promise.all(
    [a, b].map((responder) =>
      responder.until((reports) => reports.some(isHoldingReads), 'the read barrier', 10_000),
    ),
  );
  const targets = Array.from({ length: CLIENTS }, (_, i) => (i % 2 === 0 ? a : b));
  const attempts = targets.map((target) => resume(stored, target.port, pinned));
  await Promise.all(
    [a, b].map((responder) =>
      responder.until(
        (reports) => readsAtBarrier(reports).length === CLIENTS / 2,
        `${CLIENTS / 2} session reads`,
        60_000,
      ),
    ),
  );
  expect([...readsAtBarrier(a.reports), ...readsAtBarrier(b.reports)]).toEqual(
    Array(CLIENTS).fill(1n),
  );
  for (const responder of [a, b]) responder.send({ type: 'releaseReads' });
  const outcomes = await within(
    Promise.all(attempts.map((attempt) => attempt.outcome)),
    90_000,
    `${CLIENTS} concurrent resumptions`,
  );

  // Tallied, so that a failure shows every outcome.
  const described = outcomes.map((outcome) =>
    outcome === 'secure'
      ? 'secure'
      : outcome instanceof MlsTlsError
        ? `${outcome.code} (alert ${outcome.alert})`
        : `${outcome.name}: ${outcome.message}`,
  );
  expect(tally(described), JSON.stringify(outcomes.map(String))).toEqual({
    secure: 1,
    [`ERR_MLSTLS_UNKNOWN_PSK_IDENTITY (alert ${UNKNOWN_PSK_IDENTITY})`]: CLIENTS - 1,
  });
  const winnerIndex = outcomes.indexOf('secure');
  const winner = attempts[winnerIndex]!;
  const winnerServer = targets[winnerIndex]!;
  const otherServer = winnerServer === a ? b : a;
  expect(winner.socket.isSessionReused()).toBe(true);
  expect(winner.socket.epoch).toBe(2n);

  // The servers saw the same: one resumed connection, 49 refusals, 25 clients each.
  await winnerServer.until(
    (reports) =>
      resumedConnections(reports).length === 1 &&
      resumptionEpochs(reports).length === 1 &&
      refusals(reports) === CLIENTS / 2 - 1,
    'one resumption and 24 refusals',
    20_000,
  );
  await otherServer.until((reports) => refusals(reports) === CLIENTS / 2, '25 refusals', 20_000);
  expect(resumedConnections(otherServer.reports)).toHaveLength(0);
  for (const responder of [a, b]) {
    expect(clientErrors(responder.reports), summarize(responder.reports)).toHaveLength(
      refusals(responder.reports),
    );
  }
  const [resumedAtServer] = resumedConnections(winnerServer.reports);
  expect(resumptionEpochs(winnerServer.reports)).toEqual([winner.socket.epoch]);
  expect(Buffer.from(resumedAtServer!.exporter)).toEqual(
    winner.socket.exportKeyingMaterial(32, EXPORTER_LABEL),
  );

  // Every loser held the version the winner replaced: the compare-and-set refused them all.
  const refusalReasons = [a, b].flatMap((responder) =>
    clientErrors(responder.reports).map((report) => report.message),
  );
  expect(tally(refusalReasons)).toEqual({
    'resumption refused: another connection resumed this session first': CLIENTS - 1,
  });
  // Redis holds the winner's state.
  expect((await store.get(groupId))?.epoch).toBe(winner.socket.epoch);

  // The winner's latest session, confirmed by the server's epoch_key_update, resumes on the
  // other process: the state stored there is the winner's.
  const latest = winner.sessions.at(-1)!;
  expect(decodeSessionRecord(latest).epoch).toBe(2n);
  expect(unconfirmedCommitsOf(latest)).toBe(0);
  await closeCleanly(winner.socket, 'the winner');
  const again = resume(latest, otherServer.port, pinned);
  expect(await within(again.outcome, 30_000, 'the resumption on the other process')).toBe('secure');
  expect(again.socket.isSessionReused()).toBe(true);
  expect(again.socket.epoch).toBe(3n);
  const message = Buffer.from('after the race');
  again.socket.write(message);
  const [echo] = (await within(once(again.socket, 'data'), 10_000, 'the echo')) as [Buffer];
  expect(echo).toEqual(message);
  await otherServer.until(
    (reports) => resumedConnections(reports).length === 1 && resumptionEpochs(reports).length === 1,
    'the second resumption',
    10_000,
  );
  const [resumedAgain] = resumedConnections(otherServer.reports);
  expect(resumptionEpochs(otherServer.reports)).toEqual([3n]);
  expect(Buffer.from(resumedAgain!.exporter)).toEqual(
    again.socket.exportKeyingMaterial(32, EXPORTER_LABEL),
  );
  expect((await store.get(groupId))?.epoch).toBe(3n);
  await closeCleanly(again.socket, 'the second resumption');

  // Nothing crashed and nothing failed beyond the refusals.
  for (const responder of [a, b]) {
    expect(responder.exit, responder.stderr).toBeUndefined();
    expect(responder.reports.filter((report) => report.type === 'fatal')).toEqual([]);
    expect(
      responder.reports.filter((report) => report.type === 'socketError'),
      summarize(responder.reports),
    ).toEqual([]);
  }
  expect(winner.errors).toEqual([]);
  expect(again.errors).toEqual([]);
});
