// docs/protocol.md section 6, "A rolled-back store": a responder store restored from a backup,
// or a Redis killed with -9 that comes back from its last snapshot, takes a replayed resumption
// flight again (its stored epoch went back from 2 to 1). In revision 1 the replay re-entered
// epoch 2 with the original keys from sequence number 0, so c1 XOR c2 XOR p1 gave the second
// plaintext. Revision 2 keys the resumed epoch with a fresh responder random
// (resumption_accept): the flight still applies, but nothing the responder sends repeats a
// record of the original connection, the replayed key confirmation fails to open, and the
// application never hears of the replayed connection.
//
// Real parts only: a redis-server with RDB persistence in a temp dir, SIGKILLed by its pid and
// started again on the same port from the same dir; a SQLite file copied back from a backup.
// A relay records both directions of the original connection; the replay is the client's own
// bytes over raw TCP.
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type EndpointCredential, generateCredential } from '@mlstls/node';
import type { SessionRecord, SessionStore } from '@mlstls/storage';
import { RedisStore } from '@mlstls/storage-redis';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { type RedisServer, redisServer, within } from '@mlstls/test-support';
import { expect, it } from 'vitest';
import { type RecordedConnection, startRecordingRelay } from '../src/recording-relay.js';
import { cleanups, client, closeCleanly, echoes, groupIdOf } from './peers.js';

const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
const RESUMPTION = 194;
const RESUMPTION_ACCEPT = 195;
/** resumption_accept's record: msg_type, uint24 length 32, responder_random[32]. */
const RESUMPTION_ACCEPT_LENGTH = 4 + 32;

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mlstls-${name}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What every server of a case saw, across restarts. */
interface Observed {
  secureConnections: number;
  applicationBytes: number;
  /** The codes of the servers' 'tlsClientError's. */
  clientErrors: string[];
  /** The codes of the servers' 'storeError's. */
  storeErrors: string[];
  /** The servers' key log lines (section 9), one per epoch a connection entered. */
  keyLog: string[];
}

function observed(): Observed {
  return {
    secureConnections: 0,
    applicationBytes: 0,
    clientErrors: [],
    storeErrors: [],
    keyLog: [],
  };
}

/** An echo server on `store`, with one credential across restarts; its events go to `seen`. */
async function serve(
  store: SessionStore,
  credential: EndpointCredential,
  seen: Observed,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = createServer({ store, credential, handshakeTimeout: 30_000 }, (socket) => {
    seen.secureConnections++;
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => {
      seen.applicationBytes += data.length;
      socket.write(data);
    });
  });
  server.on('tlsClientError', (error: Error & { code?: string }) =>
    seen.clientErrors.push(error.code ?? String(error)),
  );
  server.on('storeError', (error: Error & { code?: string }) =>
    seen.storeErrors.push(error.code ?? String(error)),
  );
  server.on('keylog', (line: Buffer | string) => seen.keyLog.push(line.toString().trimEnd()));
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 10_000, 'the server listening');
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= within(
      new Promise<void>((resolve) => server.close(() => resolve())),
      10_000,
      'the server closing',
    );
    return stopped;
  };
  cleanups.push(stop);
  return { port: (server.address() as { port: number }).port, stop };
}

async function stored(store: SessionStore, groupId: Uint8Array): Promise<SessionRecord> {
  const record = await store.get(groupId);
  expect(record).toBeDefined();
  return record!;
}

/**
 * The TLS records of a byte stream (a 5-byte header: type, legacy version, uint16 length; then
 * the body), each whole, and how many bytes a record still incomplete at the end holds.
 */
function splitRecords(bytes: Uint8Array): { records: Buffer[]; partial: number } {
  const buffer = Buffer.from(bytes);
  const records: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= buffer.length) {
    const end = offset + 5 + buffer.readUInt16BE(offset + 3);
    if (end > buffer.length) break;
    records.push(buffer.subarray(offset, end));
    offset = end;
  }
  return { records, partial: buffer.length - offset };
}

/** Every record of a stream that ended on a record boundary. */
function recordsOf(bytes: Uint8Array): Buffer[] {
  const { records, partial } = splitRecords(bytes);
  expect(partial).toBe(0);
  return records;
}

function isResumptionAccept(record: Buffer | undefined): record is Buffer {
  return (
    record !== undefined &&
    record[0] === HANDSHAKE &&
    record.readUInt16BE(3) === RESUMPTION_ACCEPT_LENGTH &&
    record[5] === RESUMPTION_ACCEPT
  );
}

/**
 * Over a new TCP connection: `flight`; then, once the server has answered it with
 * resumption_accept and a protected record, `rest` (not if the server refused the flight and
 * closed). Everything the server sent before it closed the connection.
 */
async function replay(port: number, flight: Uint8Array, rest: Uint8Array): Promise<Buffer> {
  const socket = new Socket();
  cleanups.push(() => socket.destroy());
  const chunks: Buffer[] = [];
  let check = () => {};
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    check();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.connect(port, '127.0.0.1');
  await within(once(socket, 'connect'), 5_000, 'the raw connection');
  socket.write(flight);
  const answered = new Promise<boolean>((resolve) => {
    check = () => {
      const { records } = splitRecords(Buffer.concat(chunks));
      if (isResumptionAccept(records[0]) && records.length >= 2) resolve(true);
    };
    check();
  });
  const outcome = closed.then(() => false);
  if (await within(Promise.race([answered, outcome]), 10_000, 'an answer to the flight')) {
    socket.write(rest);
  }
  await within(closed, 10_000, 'the server closing the replayed connection');
  return Buffer.concat(chunks);
}

/** Where a case's responder is, and how its store is snapshotted and rolled back. */
interface Deployment {
  /** The responder clients reach now, and its store. */
  current(): { port: number; store: SessionStore };
  /** Takes the snapshot (or backup), after client 1. */
  snapshot(): Promise<void>;
  /** Puts the store back to the snapshot, after client 2. */
  rollBack(): Promise<void>;
}

/**
 * Client 1: a full handshake (epoch 1), closed; the snapshot. Client 2: resumes (epoch 2)
 * through a recording relay, data both ways, closed. The rollback, then the replay of client
 * 2's bytes at the rolled-back responder, and the proof that it re-used no key.
 */
async function replayAgainstRolledBackStore(
  deployment: Deployment,
  seen: Observed,
  pinned: Uint8Array,
): Promise<void> {
  const first = client({ port: deployment.current().port, pinned });
  await first.secure;
  await echoes(first.socket, 'client 1');
  await closeCleanly(first.socket);
  const session = first.sessions.at(-1)!;
  const groupId = groupIdOf(session);
  expect((await stored(deployment.current().store, groupId)).epoch).toBe(1n);
  await deployment.snapshot();

  const relay = await startRecordingRelay(deployment.current().port);
  cleanups.push(() => relay.close());
  const second = client({ port: relay.port, pinned, session });
  await second.secure;
  expect(second.socket.isSessionReused()).toBe(true);
  expect(second.socket.epoch).toBe(2n);
  await echoes(second.socket, 'client 2, resumed, to the server and back');
  await echoes(second.socket, 'client 2 again, a second record each way');
  await closeCleanly(second.socket);
  const original: RecordedConnection = await within(
    relay.firstConnection(),
    10_000,
    'the recorded connection',
  );
  const resumedRecord = await stored(deployment.current().store, groupId);
  expect(resumedRecord.epoch).toBe(2n);
  expect([...first.errors, ...second.errors]).toEqual([]);

  // The original connection on the wire: the client's plaintext flight (one resumption, no
  // unconfirmed commit), then protected records only: its key confirmation, data,
  // close_notify. The server: resumption_accept, then protected records only.
  const flight = original.fromClient.subarray(0, original.flightLength);
  const rest = original.fromClient.subarray(original.flightLength);
  const flightRecords = recordsOf(flight);
  expect(flightRecords.map((record) => [record[0], record[5]])).toEqual([[HANDSHAKE, RESUMPTION]]);
  const clientRecords = recordsOf(rest);
  expect(clientRecords.every((record) => record[0] === APPLICATION_DATA)).toBe(true);
  const originalRecords = recordsOf(original.fromServer);
  expect(isResumptionAccept(originalRecords[0])).toBe(true);
  expect(originalRecords.slice(1).every((record) => record[0] === APPLICATION_DATA)).toBe(true);
  // Key confirmation, two data records and close_notify each way at least.
  expect(clientRecords.length).toBeGreaterThanOrEqual(4);
  expect(originalRecords.length).toBeGreaterThanOrEqual(5);

  await deployment.rollBack();
  const { store } = deployment.current();
  expect((await stored(store, groupId)).epoch).toBe(1n);
  const before = {
    secureConnections: seen.secureConnections,
    applicationBytes: seen.applicationBytes,
  };
  expect(before.secureConnections).toBe(2);
  expect(seen.clientErrors).toEqual([]);

  const keyLogBefore = seen.keyLog.length;
  const answer = await replay(deployment.current().port, flight, rest);
  // The server reports the connection either way: a failed handshake or a secure connection.
  await within(
    (async () => {
      while (
        seen.clientErrors.length === 0 &&
        seen.secureConnections === before.secureConnections
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })(),
    5_000,
    "the server's report of the replayed connection",
  );

  // Not refused: the flight applies to the rolled-back state, so the server answers it, and
  // stores epoch 2 again.
  const replayRecords = recordsOf(answer);
  // (A refusal would be the plaintext alert 21, 3, 3, 0, 2, 2, 115.)
  expect([...answer.subarray(0, 6)]).toEqual([
    HANDSHAKE,
    3,
    3,
    0,
    RESUMPTION_ACCEPT_LENGTH,
    RESUMPTION_ACCEPT,
  ]);
  expect(replayRecords.length).toBeGreaterThanOrEqual(2);
  expect(replayRecords.slice(1).every((record) => record[0] === APPLICATION_DATA)).toBe(true);
  // It re-enters the same MLS epoch: the state it stores is the original connection's, byte
  // for byte (no exporter secret in it, section 3).
  const replayed = await stored(store, groupId);
  expect(replayed.epoch).toBe(2n);
  expect(Buffer.from(replayed.state).equals(Buffer.from(resumedRecord.state))).toBe(true);
  // But not with the same keys: a fresh responder random, so epoch 2's master secret (the key
  // log line of the replay) is not the original connection's.
  expect(replayRecords[0]!.subarray(9)).not.toEqual(originalRecords[0]!.subarray(9));
  const epoch2 = `MLSTLS_MASTER_SECRET ${Buffer.from(groupId).toString('hex')} 2 `;
  const originalLines = seen.keyLog.slice(0, keyLogBefore).filter((l) => l.startsWith(epoch2));
  const replayLines = seen.keyLog.slice(keyLogBefore);
  expect(originalLines).toHaveLength(1);
  expect(replayLines).toHaveLength(1);
  expect(replayLines[0]!.startsWith(epoch2)).toBe(true);
  expect(replayLines[0]).not.toBe(originalLines[0]);
  // So nothing the server sends on the replay repeats a record it sent on the original
  // connection (in revision 1 its epoch_key_update(2), sequence 0 under the same key, did).
  const sentBefore = new Set(originalRecords.map((record) => record.toString('hex')));
  const repeated = replayRecords.flatMap((record, index) =>
    sentBefore.has(record.toString('hex'))
      ? [`record ${index}: type ${record[0]}, ${record.length} bytes`]
      : [],
  );
  expect(repeated).toEqual([]);
  // The replayed key confirmation does not open under the new keys: the handshake fails, and
  // the application hears nothing of the connection.
  expect(seen.clientErrors).toEqual(['ERR_MLSTLS_BAD_RECORD_MAC']);
  expect({
    secureConnections: seen.secureConnections,
    applicationBytes: seen.applicationBytes,
  }).toEqual(before);
  expect(seen.storeErrors).toEqual([]);
}

/** One RESP inline command on a new connection to a local Redis: its one-line reply. */
async function redisCommand(port: number, command: string): Promise<string> {
  const socket = tcpConnect({ host: '127.0.0.1', port });
  cleanups.push(() => socket.destroy());
  let reply = '';
  const line = new Promise<string>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) resolve(reply.slice(0, reply.indexOf('\r\n')));
    });
  });
  socket.write(`${command}\r\n`);
  try {
    return await within(line, 10_000, `redis ${command}`);
  } finally {
    socket.destroy();
  }
}

/** Resolves once `store` answers again (a Redis back from a restart). */
async function untilAnswering(store: SessionStore): Promise<void> {
  await within(
    (async () => {
      for (;;) {
        try {
          await store.get(new Uint8Array(32));
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })(),
    10_000,
    'the RedisStore reconnecting',
  );
}

it('a Redis killed with -9 comes back from its snapshot at epoch 1, takes a replayed flight again, and re-uses no key', async () => {
  const dir = tempDir('rdb');
  const credential = await generateCredential({ ciphersuite: 1 });
  const seen = observed();
  let redis: RedisServer = await redisServer(undefined, { dir });
  cleanups.push(() => redis.stop());
  const redisPort = Number(new URL(redis.url).port);
  const store = await RedisStore.connect({ url: redis.url });
  cleanups.push(() => store.close());
  const { port } = await serve(store, credential, seen);

  await replayAgainstRolledBackStore(
    {
      current: () => ({ port, store }),
      snapshot: async () => {
        expect(await redisCommand(redisPort, 'SAVE')).toBe('+OK');
        expect(existsSync(join(dir, 'dump.rdb'))).toBe(true);
      },
      rollBack: async () => {
        const killed = redis;
        process.kill(killed.pid!, 'SIGKILL');
        await within(killed.stop(), 5_000, 'the killed redis-server exiting');
        redis = await redisServer(undefined, { dir, port: redisPort });
        // The server's own store reconnects by itself, to the server started again.
        await untilAnswering(store);
      },
    },
    seen,
    credential.signaturePublicKey,
  );
});

it('a SQLite file restored from a backup takes a replayed flight again at epoch 1, and re-uses no key', async () => {
  const dir = tempDir('sqlite');
  const path = join(dir, 'server.db');
  const backup = join(dir, 'backup');
  mkdirSync(backup);
  const credential = await generateCredential({ ciphersuite: 1 });
  const seen = observed();
  const start = async () => {
    const store = new SqliteStore({ path });
    cleanups.push(() => store.close());
    const { port, stop } = await serve(store, credential, seen);
    const stopBoth = async () => {
      await stop();
      await store.close();
    };
    return { port, store, stop: stopBoth };
  };
  /** The database's files: `server.db`, and its `-wal` and `-shm` while a store has it open. */
  const files = (from: string) => readdirSync(from).filter((name) => name.startsWith('server.db'));
  let responder = await start();

  await replayAgainstRolledBackStore(
    {
      current: () => responder,
      // The backup is a copy of the database taken with no store open on it: closing the last
      // connection checkpoints the WAL into server.db and removes it.
      snapshot: async () => {
        await responder.stop();
        expect(files(dir)).toEqual(['server.db']);
        copyFileSync(path, join(backup, 'server.db'));
        responder = await start();
      },
      rollBack: async () => {
        await responder.stop();
        expect(files(dir)).toEqual(['server.db']);
        copyFileSync(join(backup, 'server.db'), path);
        responder = await start();
      },
    },
    seen,
    credential.signaturePublicKey,
  );
});
