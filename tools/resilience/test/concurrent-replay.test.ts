// docs/protocol.md section 6: "a `resumption` whose commit was not applied (t <= m: a replay)" is
// refused with unknown_psk_identity in a plaintext record, "and nothing stored changes". The
// flight is captured on the wire by a relay and sent again byte for byte over a new TCP
// connection, to the server that took it and to another process of the same fleet.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createServer,
  type EndpointCredential,
  generateCredential,
  type MlsTlsServer,
} from '@mlstls/node';
import { encodeSessionRecord, type SessionStore } from '@mlstls/storage';
import { RedisStore } from '@mlstls/storage-redis';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { within } from '@mlstls/test-support';
import { expect, inject, it } from 'vitest';
import { type RecordingRelay, startRecordingRelay } from '../src/recording-relay.js';
import { type ResponderProcess, startResponder } from '../src/responder-fleet.js';
import { cleanups, client, closeCleanly, echoes, groupIdOf } from './peers.js';

/** A plaintext alert record: fatal (2), unknown_psk_identity (115). */
const UNKNOWN_PSK_IDENTITY_ALERT = [21, 3, 3, 0, 2, 2, 115];

async function storedBytes(store: SessionStore, groupId: Uint8Array): Promise<Buffer> {
  const record = await store.get(groupId);
  expect(record).toBeDefined();
  return Buffer.from(encodeSessionRecord(record!));
}

/** Sends `bytes` on a new TCP connection; everything the server answers before it closes. */
async function replay(
  port: number,
  bytes: Uint8Array,
): Promise<{ answer: Buffer; ended: boolean }> {
  const socket = new Socket();
  cleanups.push(() => socket.destroy());
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => {
    ended = true;
  });
  socket.on('error', () => {});
  socket.connect(port, '127.0.0.1');
  await within(once(socket, 'connect'), 5_000, 'the raw connection');
  socket.write(bytes);
  await within(once(socket, 'close'), 10_000, 'the server closing the replayed connection');
  return { answer: Buffer.concat(chunks), ended };
}

/**
 * A full handshake, then a resumption through a recording relay: the resumed connection, its
 * client's sessions, and the flight the relay saw.
 */
async function resumeThroughRelay(port: number, pinned: Uint8Array) {
  const first = client({ port, pinned });
  await first.secure;
  await closeCleanly(first.socket);
  const relay: RecordingRelay = await startRecordingRelay(port);
  cleanups.push(() => relay.close());
  const resumed = client({ port: relay.port, pinned, session: first.sessions.at(-1)! });
  await resumed.secure;
  expect(resumed.socket.isSessionReused()).toBe(true);
  const flight = await within(relay.firstFlight(), 5_000, 'the recorded flight');
  // A plaintext handshake record holding resumption (194): the flight of a synced session.
  expect([flight[0], flight[5]]).toEqual([22, 194]);
  return { resumed, flight, groupId: groupIdOf(first.sessions.at(-1)!) };
}

it('refuses a replayed resumption flight with a plaintext unknown_psk_identity alert and leaves the SQLite record byte for byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlstls-replay-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore({ path: join(dir, 'server.db') });
  cleanups.push(() => store.close());
  let secureConnections = 0;
  let applicationBytes = 0;
  const refused: string[] = [];
  const server: MlsTlsServer = createServer({ store }, (socket) => {
    secureConnections++;
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => {
      applicationBytes += data.length;
      socket.write(data);
    });
  });
  server.on('tlsClientError', (error: Error & { code?: string }) => refused.push(error.code!));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  const { port } = server.address() as { port: number };
  const pinned = server.credential!.signaturePublicKey;

  const { resumed, flight, groupId } = await resumeThroughRelay(port, pinned);
  await echoes(resumed.socket, 'before the replay');
  const before = await storedBytes(store, groupId);
  const counts = { secureConnections, applicationBytes };

  // The same bytes again, while the resumed connection is live.
  const { answer, ended } = await replay(port, flight);
  expect([...answer]).toEqual(UNKNOWN_PSK_IDENTITY_ALERT);
  expect(ended).toBe(true);
  expect(refused).toEqual(['ERR_MLSTLS_UNKNOWN_PSK_IDENTITY']);
  expect(await storedBytes(store, groupId)).toEqual(before);
  expect({ secureConnections, applicationBytes }).toEqual(counts);

  // The live connection goes on, and its session still resumes from the untouched record.
  await echoes(resumed.socket, 'after the replay');
  await closeCleanly(resumed.socket);
  const again = client({ port, pinned, session: resumed.sessions.at(-1)! });
  await again.secure;
  expect(again.socket.isSessionReused()).toBe(true);
  expect(again.socket.epoch).toBe(3n);
  await echoes(again.socket, 'resumed after the replay');
  await closeCleanly(again.socket);
  expect([...resumed.errors, ...again.errors]).toEqual([]);
});

it('refuses a flight captured at one responder process and replayed at another of the fleet, leaving the Redis record byte for byte', async () => {
  const credential: EndpointCredential = await generateCredential({ ciphersuite: 1 });
  const url = inject('redisUrl');
  const prefix = `mlstls-test:replay:${process.pid}:${Math.random().toString(36).slice(2)}:`;
  const [a, b] = (await Promise.all(
    ['responder A', 'responder B'].map((name) =>
      startResponder({
        name,
        credential,
        store: { kind: 'redis', url, prefix },
        exporterLabel: 'EXPORTER-check',
      }),
    ),
  )) as [ResponderProcess, ResponderProcess];
  cleanups.push(
    () => a.stop(),
    () => b.stop(),
  );
  const store = await RedisStore.connect({ url, prefix });
  cleanups.push(() => store.close());

  const { resumed, flight, groupId } = await resumeThroughRelay(
    a.port,
    credential.signaturePublicKey,
  );
  await echoes(resumed.socket, 'before the replay');
  const before = await storedBytes(store, groupId);

  const { answer, ended } = await replay(b.port, flight);
  expect([...answer]).toEqual(UNKNOWN_PSK_IDENTITY_ALERT);
  expect(ended).toBe(true);
  await b.until(
    (reports) => reports.some((report) => report.type === 'clientError'),
    'the refusal',
    10_000,
  );
  expect(b.reports.filter((report) => report.type !== 'listening')).toEqual([
    expect.objectContaining({ type: 'clientError', code: 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY' }),
  ]);
  expect(await storedBytes(store, groupId)).toEqual(before);

  await echoes(resumed.socket, 'after the replay');
  await closeCleanly(resumed.socket);
  for (const responder of [a, b]) {
    expect(responder.exit, responder.stderr).toBeUndefined();
    expect(responder.reports.filter((report) => report.type === 'socketError')).toEqual([]);
  }
  expect(resumed.errors).toEqual([]);
});
