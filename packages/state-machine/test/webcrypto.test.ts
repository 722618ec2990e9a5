// The asynchronous record path: an endpoint on the WebCrypto provider seals and opens several
// records at once, against a peer on node:crypto. Records must leave in sequence order, a key
// change must not overtake the records sealed before it, and records opened ahead of a key
// change must be opened again under the new key.
import { ContentType, HandshakeType, KeyUpdateRequest } from '@mlstls/codec';
import { RecordProtector } from '@mlstls/record';
import { describe, expect, it, vi } from 'vitest';
import { Pair, type Side } from './pair.js';

const bytes = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, index) => (index * 31 + seed) & 0xff);

/** A pair with `webcrypto` on `side` and node:crypto on the other. */
function mixed(side: Side, ciphersuite = 1): Promise<Pair> {
  const other = side === 'initiator' ? 'responder' : 'initiator';
  return Pair.connected({
    [side]: { provider: 'webcrypto', ciphersuite },
    [other]: { provider: 'node', ciphersuite },
  });
}

describe.each(['initiator', 'responder'] as const)('WebCrypto on the %s', (side) => {
  const peer = side === 'initiator' ? 'responder' : 'initiator';

  it('runs the handshake and MLS on WebCrypto, the peer on node:crypto', async () => {
    const pair = await mixed(side);
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(pair.endpoint(side).handshake?.crypto).toBe('webcrypto');
    expect(pair.endpoint(peer).handshake?.crypto).toBe('node');
    expect(pair.keys(side).sender.asynchronous).toBe(true);
    expect(pair.keys(peer).sender.asynchronous).toBe(false);
    pair.expectSameKeys();
  });

  it('seals a large write as records in flight together, in sequence order', async () => {
    const pair = await mixed(side);
    const data = bytes(5 * 16_384 + 7, 1);
    // Not written at once: the records are sealed asynchronously, in the command queue.
    expect(pair.endpoint(side).writeNow(data)).toBe(false);
    await pair.endpoint(side).write(data);
    await pair.endpoint(side).write(bytes(3, 2));
    await pair.settle();
    expect(pair.keys(side).sendGeneration).toBe(0);
    expect(Buffer.compare(pair.log[peer].received, Buffer.concat([data, bytes(3, 2)]))).toBe(0);
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
  });

  it('a key update does not overtake the records written before it', async () => {
    const pair = await mixed(side);
    const endpoint = pair.endpoint(side);
    const first = bytes(3 * 16_384, 3);
    const second = bytes(40_000, 4);
    // Called together: the key_update must follow the first write's records, the second write
    // must be sealed under the new key.
    const writes = [
      endpoint.write(first),
      endpoint.keyUpdate({ requestPeer: true }),
      endpoint.write(second),
    ];
    await Promise.all(writes);
    await pair.settle();
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(Buffer.compare(pair.log[peer].received, Buffer.concat([first, second]))).toBe(0);
    expect(pair.keys(side).sendGeneration).toBe(1);
    expect(pair.keys(peer).receiveGeneration).toBe(1);
  });

  it('records after a key_update in one chunk are opened again under the new key', async () => {
    const pair = await mixed(side);
    // The node:crypto peer sends data, a key_update and more data, delivered as one chunk:
    // the WebCrypto side opens them ahead under the old key, then must redo those after it.
    const before = bytes(2 * 16_384, 5);
    const after = bytes(3 * 16_384 + 11, 6);
    await pair.endpoint(peer).write(before);
    await pair.endpoint(peer).keyUpdate();
    await pair.endpoint(peer).write(after);
    await pair.endpoint(peer).write(bytes(1, 7));
    pair.drain();
    const chunk = Buffer.concat(pair.discard(peer));
    await pair.endpoint(side).receive(chunk);
    await pair.settle();
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(
      Buffer.compare(pair.log[side].received, Buffer.concat([before, after, bytes(1, 7)])),
    ).toBe(0);
    expect(pair.keys(side).receiveGeneration).toBe(1);
  });

  it('an update (a new epoch) in the middle of the data', async () => {
    const pair = await mixed(side);
    const update = pair.endpoint(peer).update();
    await pair.endpoint(peer).write(bytes(50_000, 8));
    pair.drain();
    const chunk = Buffer.concat(pair.discard(peer));
    await pair.endpoint(side).receive(chunk);
    await pair.endpoint(side).write(bytes(20_000, 9));
    await pair.settle();
    await update;
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(pair.endpoint(side).epoch).toBe(2n);
    expect(Buffer.compare(pair.log[side].received, bytes(50_000, 8))).toBe(0);
    expect(Buffer.compare(pair.log[peer].received, bytes(20_000, 9))).toBe(0);
    pair.expectSameKeys();
  });

  it('a forged record among those opened ahead fails the connection with bad_record_mac', async () => {
    const pair = await mixed(side);
    await pair.endpoint(peer).write(bytes(4 * 16_384, 10));
    pair.drain();
    const chunk = Buffer.concat(pair.discard(peer));
    // The third record's last byte (its tag) is changed.
    const third = 2 * (5 + 16_384 + 17) + 5 + 16_384 + 17 - 1;
    chunk[third]! ^= 1;
    await pair.endpoint(side).receive(chunk);
    pair.drain();
    expect(pair.errors()[side]).toEqual(['ERR_MLSTLS_BAD_RECORD_MAC']);
    // The two records before it were delivered, nothing after it.
    expect(pair.log[side].received.length).toBe(2 * 16_384);
  });

  it('key_updates with data between them, a record per chunk, import no key either', async () => {
    const pair = await mixed(side);
    for (let i = 0; i < 10; i++) {
      pair.injectHandshake(peer, {
        msgType: HandshakeType.key_update,
        requestUpdate: KeyUpdateRequest.update_not_requested,
      });
      pair.keys(peer).nextSendGeneration();
      pair.inject(peer, pair.seal(peer, ContentType.application_data, bytes(10, 40 + i)));
    }
    const records = pair.discard(peer);
    const imports = vi.spyOn(crypto.subtle, 'importKey');
    try {
      for (const record of records) await pair.endpoint(side).receive(record);
      await pair.settle();
      // The window's size is kept from one chunk to the next, and grows only after 4 records
      // under one key: after the first key change every record opens synchronously, under a
      // key never imported.
      expect(imports.mock.calls.length).toBeLessThanOrEqual(1);
    } finally {
      imports.mockRestore();
    }
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(pair.keys(side).receiveGeneration).toBe(10);
    expect(pair.log[side].received.length).toBe(100);
  });

  it('a run of key_updates costs about one opening per record, not one per record ahead', async () => {
    const pair = await mixed(side);
    for (let i = 0; i < 10; i++) {
      pair.injectHandshake(peer, {
        msgType: HandshakeType.key_update,
        requestUpdate: KeyUpdateRequest.update_not_requested,
      });
      pair.keys(peer).nextSendGeneration();
    }
    for (let i = 0; i < 5; i++) {
      pair.inject(peer, pair.seal(peer, ContentType.application_data, bytes(1000, 20 + i)));
    }
    const opens = vi.spyOn(RecordProtector.prototype, 'openAsync');
    const imports = vi.spyOn(crypto.subtle, 'importKey');
    try {
      await pair.endpoint(side).receive(Buffer.concat(pair.discard(peer)));
      await pair.settle();
      // 15 records; the first window opens 8 under the first key, then one at a time.
      expect(opens.mock.calls.length).toBeLessThanOrEqual(15 + 7);
      // The first record under each new key opens synchronously: of the 11 receiving keys only
      // the first and the last (each of which opens more than one record) are imported.
      expect(imports.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      opens.mockRestore();
      imports.mockRestore();
    }
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(pair.keys(side).receiveGeneration).toBe(10);
    expect(pair.log[side].received.length).toBe(5000);
  });

  it('answers a key_update request interleaved with data, in order', async () => {
    const pair = await mixed(side);
    pair.injectHandshake(peer, {
      msgType: HandshakeType.key_update,
      requestUpdate: KeyUpdateRequest.update_requested,
    });
    pair.keys(peer).nextSendGeneration();
    pair.inject(peer, pair.seal(peer, ContentType.application_data, bytes(100, 11)));
    const chunk = Buffer.concat(pair.discard(peer));
    await pair.endpoint(side).receive(chunk);
    await pair.endpoint(side).write(bytes(30_000, 12));
    await pair.settle();
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(Buffer.compare(pair.log[side].received, bytes(100, 11))).toBe(0);
    expect(Buffer.compare(pair.log[peer].received, bytes(30_000, 12))).toBe(0);
    expect(pair.keys(side).sendGeneration).toBe(1);
  });
});

it('suite 3 (ChaCha20-Poly1305, which WebCrypto lacks) runs on @noble synchronously', async () => {
  const pair = await mixed('initiator', 3);
  expect(pair.keys('initiator').sender.asynchronous).toBe(false);
  expect(pair.initiator.handshake?.crypto).toBe('portable');
  await pair.initiator.write(bytes(40_000, 13));
  await pair.settle();
  expect(Buffer.compare(pair.log.responder.received, bytes(40_000, 13))).toBe(0);
});

it('suite 2 (P-256) runs MLS on WebCrypto too', async () => {
  const pair = await mixed('responder', 2);
  expect(pair.responder.handshake?.crypto).toBe('webcrypto');
  expect(pair.errors()).toEqual({ initiator: [], responder: [] });
});
