import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { MlsTlsSocket } from '../src/index.js';
import {
  closeAll,
  connectTo,
  errorsOf,
  nextSecureConnection,
  readAll,
  startServer,
} from './loopback.js';

afterEach(closeAll);

const MiB = 1024 * 1024;
const TOTAL = 64 * MiB;
const CHUNK = 256 * 1024;

/** A meeting point for `parties` async flows: each call waits until all have called. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let release: () => void = () => {};
  const everyone = new Promise<void>((resolve) => {
    release = resolve;
  });
  return () => {
    if (++arrived === parties) release();
    return everyone;
  };
}

/**
 * Writes `TOTAL` random bytes with backpressure. A quarter in, once the other side is there
 * too, it asks for a key update (requestPeer) and starts an update() without waiting for
 * either, and writes on. It ends only when both sides' updates are confirmed: a side that
 * has sent close_notify can no longer answer the other's update. Returns the SHA-256 of what
 * it wrote.
 */
async function send(
  socket: MlsTlsSocket,
  meet: { quarter: () => Promise<void>; updated: () => Promise<void> },
): Promise<string> {
  const hash = createHash('sha256');
  let keyUpdate: Promise<void> | undefined;
  let update: Promise<void> | undefined;
  for (let written = 0; written < TOTAL; written += CHUNK) {
    if (written === TOTAL / 4) {
      await meet.quarter();
      // In this order, the key update precedes the commit on the wire, so the peer has
      // answered it by the time it confirms the update.
      keyUpdate = socket.keyUpdate({ requestPeer: true });
      update = socket.update();
    }
    const chunk = randomBytes(CHUNK);
    hash.update(chunk);
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  await Promise.all([keyUpdate, update]);
  await meet.updated();
  socket.end();
  return hash.digest('hex');
}

/** The SHA-256 and length of everything `socket` delivers until its end. */
async function receive(socket: MlsTlsSocket): Promise<{ hash: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  await once(socket, 'end');
  return { hash: hash.digest('hex'), length };
}

describe('bulk data', () => {
  it('carries 64 MiB each way at once, every byte intact, through updates and key updates on both sides', async () => {
    const server = await startServer({ allowHalfOpen: true });
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server, { allowHalfOpen: true });
    const peer = await accepted;
    const keyUpdates = { client: [] as string[], peer: [] as string[] };
    client.on('keyUpdate', (direction: string) => keyUpdates.client.push(direction));
    peer.on('keyUpdate', (direction: string) => keyUpdates.peer.push(direction));
    const epochs = { client: [] as bigint[], peer: [] as bigint[] };
    client.on('epoch', (epoch: bigint) => epochs.client.push(epoch));
    peer.on('epoch', (epoch: bigint) => epochs.peer.push(epoch));

    const meet = { quarter: barrier(2), updated: barrier(2) };
    const [sentByClient, sentByPeer, receivedByPeer, receivedByClient] = await Promise.all([
      send(client, meet),
      send(peer, meet),
      receive(peer),
      receive(client),
    ]);

    expect(receivedByPeer).toEqual({ hash: sentByClient, length: TOTAL });
    expect(receivedByClient).toEqual({ hash: sentByPeer, length: TOTAL });
    // Two confirmed updates (a crossing may cost the responder a retry): at least epoch 3.
    expect(client.epoch).toBeGreaterThanOrEqual(3n);
    expect(peer.epoch).toBe(client.epoch);
    expect(epochs.client.at(-1)).toBe(client.epoch);
    expect(epochs.peer.at(-1)).toBe(peer.epoch);
    // Each side asked for a key update and answered the other's.
    expect(keyUpdates.client.filter((d) => d === 'send').length).toBeGreaterThanOrEqual(2);
    expect(keyUpdates.client.filter((d) => d === 'receive').length).toBeGreaterThanOrEqual(2);
    expect(keyUpdates.peer.filter((d) => d === 'send').length).toBeGreaterThanOrEqual(2);
    expect(keyUpdates.peer.filter((d) => d === 'receive').length).toBeGreaterThanOrEqual(2);
    expect(errorsOf(client)).toEqual([]);
    expect(errorsOf(peer)).toEqual([]);
  });

  it('delivers writes of every size intact when the sender reuses its send buffer', async () => {
    // Writes made while the socket has taken everything reuse one send buffer; writes made
    // while bytes are still queued, larger than the buffer kept, or reused by the caller right
    // after the write callback must come out intact all the same.
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    const received = receive(peer);
    const sentHash = createHash('sha256');
    const sizes = [1, 16_384, 16_385, 65_536, 300_000, 7, 1_000_000, 65_536, 100];
    const reused = Buffer.alloc(65_536);
    let length = 0;
    for (let round = 0; round < 40; round++) {
      for (const size of sizes) {
        const chunk = size === 65_536 ? reused : randomBytes(size);
        if (chunk === reused) randomBytes(size).copy(reused);
        sentHash.update(chunk);
        length += size;
        // Every other round waits for each write, so that the caller may overwrite its chunk.
        if (round % 2 === 0) await new Promise((resolve) => client.write(chunk, resolve));
        else if (!client.write(Buffer.from(chunk))) await once(client, 'drain');
      }
    }
    client.end();
    expect(await received).toEqual({ hash: sentHash.digest('hex'), length });
    expect(errorsOf(client)).toEqual([]);
    expect(errorsOf(peer)).toEqual([]);
  });

  it('holds a writer back while the reader does not read, then delivers everything', async () => {
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    peer.pause();

    let written = 0;
    const sentHash = createHash('sha256');
    const writing = (async () => {
      for (; written < TOTAL; written += CHUNK) {
        const chunk = randomBytes(CHUNK);
        sentHash.update(chunk);
        if (!client.write(chunk)) await once(client, 'drain');
      }
      client.end();
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Both bindings pushed back: the reader paused its transport, so TCP's window closed and
    // the writer's write callbacks wait for the transport's 'drain'. Without either, all
    // 64 MiB would have been taken in.
    expect(written).toBeLessThan(24 * MiB);
    expect(peer.readableLength).toBeLessThan(MiB);

    const received = receive(peer);
    peer.resume();
    await writing;
    expect(await received).toEqual({ hash: sentHash.digest('hex'), length: TOTAL });
    // The server's end follows the client's (allowHalfOpen false).
    expect(await readAll(client)).toHaveLength(0);
    expect(errorsOf(client)).toEqual([]);
    expect(errorsOf(peer)).toEqual([]);
  });
});
