// docs/protocol.md section 4: the initial handshake, and how records carry it (section 1).
import {
  AlertDescription,
  ContentType,
  encodeHandshake,
  HandshakeType,
  RecordLimits,
} from '@mlstls/codec';
import { sealPlaintextRecord } from '@mlstls/record';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_UNAUTHENTICATED_BYTES } from '../src/endpoint.js';
import { expectFatal } from './fatal.js';
import { commitOf, keyPackageOf, persistedGroup } from './mls.js';
import { hex, Pair, random, sides } from './pair.js';

describe('the initial handshake', () => {
  it('client_hello, server_hello, then the initiator persists and confirms with epoch_key_update(1), and only then does the responder persist: both are in epoch 1', async () => {
    const pair = await Pair.create();
    await pair.initiator.start();
    await pair.step();
    expect(pair.labels('initiator')).toEqual(['send plaintext client_hello']);
    expect(pair.initiator.state).toBe('awaitServerHello');
    expect(pair.responder.state).toBe('awaitClientHello');

    let mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.labels('responder', mark)).toEqual(['send plaintext server_hello']);
    expect(pair.responder.state).toBe('awaitKeyConfirmation');
    expect(pair.responder.handshake).toBeUndefined();
    mark = pair.mark();
    await pair.deliverAll('responder');
    expect(pair.labels('initiator', mark)).toEqual([
      'persist',
      'send epoch_key_update(1)',
      'handshakeComplete',
      'epochChanged 1 handshake',
    ]);
    mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'handshakeComplete',
      'epochChanged 1 handshake',
    ]);

    for (const side of sides) {
      const info = pair.endpoint(side).handshake!;
      expect(info.epoch).toBe(1n);
      expect(info.groupId).toHaveLength(32);
      expect(pair.endpoint(side).state).toBe('synced');
      const snapshot = pair.log[side].persisted.at(-1)!.snapshot;
      expect(snapshot.role).toBe(side);
      expect(snapshot.epoch).toBe(1n);
      expect(hex(snapshot.groupId)).toBe(hex(info.groupId));
    }
    expect(hex(pair.initiator.handshake!.groupId)).toBe(hex(pair.responder.handshake!.groupId));
    await pair.expectInSync(1n);
  });

  it('each connection draws a fresh group_id and a fresh KeyPackage (init and leaf keys)', async () => {
    const first = await Pair.create();
    const second = await Pair.create();
    for (const pair of [first, second]) {
      await pair.initiator.start();
      await pair.step();
    }
    const [a, b] = [first, second].map((pair) => keyPackageOf(pair.inFlight.initiator[0]!));
    expect(hex(a!.initKey)).not.toBe(hex(b!.initKey));
    expect(hex(a!.leafNode.hpkePublicKey)).not.toBe(hex(b!.leafNode.hpkePublicKey));
    expect(hex(a!.initKey)).not.toBe(hex(a!.leafNode.hpkePublicKey));
    await first.settle();
    await second.settle();
    expect(hex(first.initiator.handshake!.groupId)).not.toBe(
      hex(second.initiator.handshake!.groupId),
    );
  });

  it('the initiator sends application data right after its epoch_key_update(1), the responder only once it has read that record', async () => {
    const pair = await Pair.create();
    await pair.initiator.start();
    await pair.step();
    await pair.deliverAll('initiator');
    await pair.responder.write(random(10));
    await pair.step();
    // No protected record goes out before the key confirmation: the data waits.
    expect(pair.labels('responder').filter((l) => l.startsWith('send '))).toEqual([
      'send plaintext server_hello',
    ]);
    let mark = pair.mark();
    await pair.deliver('responder');
    await pair.initiator.write(random(10));
    await pair.step();
    expect(pair.labels('initiator', mark).filter((l) => l.startsWith('send '))).toEqual([
      'send epoch_key_update(1)',
      'send application_data',
    ]);
    mark = pair.mark();
    await pair.deliver('initiator');
    expect(pair.labels('responder', mark).filter((l) => l.startsWith('send '))).toEqual([
      'send application_data',
    ]);
    await pair.settle();
    expect(pair.log.initiator.received).toHaveLength(10);
    expect(pair.log.responder.received).toHaveLength(10);
  });

  it('data written and close() called before the handshake go out, in order, once keys exist', async () => {
    const pair = await Pair.create();
    const early = { initiator: random(5000), responder: random(7000) };
    for (const side of sides) await pair.endpoint(side).write(early[side]);
    await pair.initiator.close();
    await pair.initiator.start();
    await pair.settle();
    expect(hex(pair.log.responder.received)).toBe(hex(early.initiator));
    expect(hex(pair.log.initiator.received)).toBe(hex(early.responder));
    expect(
      pair
        .labels('initiator')
        .filter((l) => l.startsWith('send '))
        .at(-1),
    ).toBe('send alert(close_notify)');
    expect(pair.log.responder.count('peerClosed')).toBe(1);
    await pair.responder.close();
    await pair.settle();
    expect(pair.initiator.finished).toBe(true);
    expect(pair.responder.finished).toBe(true);
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
  });

  it('a transport end without close_notify is a truncation error', async () => {
    const pair = await Pair.connected();
    await pair.initiator.receiveEnd();
    await pair.step();
    expect(pair.initiator.failure?.code).toBe('ERR_MLSTLS_TRUNCATED');
    // Nothing to tell the peer: the transport is gone.
    expect(pair.inFlight.initiator).toEqual([]);
  });
});

describe('handshake messages in records (section 1)', () => {
  it('a key_update split across two records is one message', async () => {
    const pair = await Pair.connected();
    const message = encodeHandshake({ msgType: HandshakeType.key_update, requestUpdate: 1 });
    for (const part of [message.subarray(0, 2), message.subarray(2)]) {
      pair.inject('initiator', pair.seal('initiator', ContentType.handshake, part));
    }
    // The initiator's own generation moves with the message it did not send through the API.
    pair.keys('initiator').nextSendGeneration();
    await pair.settle();
    expect(pair.keys('responder').receiveGeneration).toBe(1);
    expect(pair.keys('responder').sendGeneration).toBe(1);
    await pair.expectInSync(1n);
  });

  it('a connection_update split across three records is processed', async () => {
    const pair = await Pair.connected();
    const update = await commitOf(persistedGroup(pair, 'initiator'));
    const message = encodeHandshake({ msgType: HandshakeType.connection_update, update });
    const third = Math.ceil(message.length / 3);
    for (let at = 0; at < message.length; at += third) {
      const part = message.subarray(at, at + third);
      pair.inject('initiator', pair.seal('initiator', ContentType.handshake, part));
    }
    const mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.errors().responder).toEqual([]);
    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'send epoch_key_update(2)',
      'epochChanged 2 peer',
    ]);
  });

  it('a server_hello split across records is one message', async () => {
    const pair = await Pair.create();
    await pair.initiator.start();
    await pair.step();
    await pair.deliverAll('initiator');
    const record = pair.discard('responder')[0]!;
    for (let at = 5; at < record.length; at += 100) {
      const fragment = record.subarray(at, Math.min(record.length, at + 100));
      const header = Uint8Array.of(
        ContentType.handshake,
        3,
        3,
        fragment.length >> 8,
        fragment.length & 0xff,
      );
      pair.inject('responder', Buffer.concat([header, fragment]));
    }
    await pair.settle();
    await pair.expectInSync(1n);
  });
});

describe('start()', () => {
  it('called twice is refused without failing the connection', async () => {
    const pair = await Pair.create();
    await pair.initiator.start();
    await expect(pair.initiator.start()).rejects.toMatchObject({
      code: 'ERR_MLSTLS_INVALID_STATE',
    });
    await pair.settle();
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    await pair.expectInSync(1n);
  });
});

describe('persist: false', () => {
  it('hands out no persist output and the connection works as before', async () => {
    const pair = await Pair.connected({
      initiator: { persist: false },
      responder: { persist: false },
    });
    const update = pair.responder.update();
    await pair.settle();
    await update;
    expect(pair.trace.filter((entry) => entry.output.type === 'persist')).toEqual([]);
    await pair.expectInSync(2n);
  });
});

describe('maxUnauthenticatedBytes', () => {
  /**
   * The start of a plaintext client_hello that claims `declared` bytes (under the 2^18 message
   * limit), as a stream of full-size records: bytes a peer can send without ever proving keys.
   */
  function endlessClientHello(declared: number, length: number): Uint8Array {
    const body = new Uint8Array(4 + declared);
    body.set([HandshakeType.client_hello, declared >> 16, (declared >> 8) & 0xff, declared & 0xff]);
    const records: Uint8Array[] = [];
    for (let at = 0; at < body.length; at += RecordLimits.maxPlaintext) {
      const fragment = body.subarray(at, at + RecordLimits.maxPlaintext);
      records.push(sealPlaintextRecord(ContentType.handshake, fragment));
    }
    const stream = Buffer.concat(records);
    expect(stream.length).toBeGreaterThan(length);
    return stream.subarray(0, length);
  }

  it('more than maxUnauthenticatedBytes before the handshake is ERR_MLSTLS_HANDSHAKE_TOO_LARGE, with the default 160 KiB', async () => {
    expect(DEFAULT_MAX_UNAUTHENTICATED_BYTES).toBe(160 * 1024);
    const pair = await Pair.create();
    const stream = endlessClientHello(200 * 1024, DEFAULT_MAX_UNAUTHENTICATED_BYTES + 1);
    pair.inject('initiator', stream.subarray(0, DEFAULT_MAX_UNAUTHENTICATED_BYTES));
    await pair.deliverAll('initiator');
    expect(pair.errors().responder).toEqual([]);
    pair.inject('initiator', stream.subarray(DEFAULT_MAX_UNAUTHENTICATED_BYTES));
    await pair.deliverAll('initiator');
    // Nobody listens: the initiator has not started. The alert's bytes say it all.
    pair.discard('responder');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_HANDSHAKE_TOO_LARGE', {
      peer: 'cannot read it',
    });
    expect(pair.responder.failure?.alert).toBe(AlertDescription.illegal_parameter);
  });

  it('more than maxUnauthenticatedBytes before the handshake is ERR_MLSTLS_HANDSHAKE_TOO_LARGE on either side', async () => {
    const responderRefuses = await Pair.create({ responder: { maxUnauthenticatedBytes: 100 } });
    await responderRefuses.initiator.start();
    await responderRefuses.step();
    await responderRefuses.deliverAll('initiator');
    await expectFatal(responderRefuses, 'responder', 'ERR_MLSTLS_HANDSHAKE_TOO_LARGE');
    expect(responderRefuses.initiator.failure?.alert).toBe(AlertDescription.illegal_parameter);

    const initiatorRefuses = await Pair.create({ initiator: { maxUnauthenticatedBytes: 100 } });
    await initiatorRefuses.initiator.start();
    await initiatorRefuses.step();
    await initiatorRefuses.deliverAll('initiator');
    await initiatorRefuses.deliverAll('responder');
    // A plaintext alert, which the responder waiting for the key confirmation reads.
    await expectFatal(initiatorRefuses, 'initiator', 'ERR_MLSTLS_HANDSHAKE_TOO_LARGE');
    expect(initiatorRefuses.initiator.handshake).toBeUndefined();
  });

  it('bytes after the handshake do not count: a key confirmation and 200 KiB of data in one transport write', async () => {
    const limit = 4096;
    const pair = await Pair.create({
      initiator: { maxUnauthenticatedBytes: limit },
      responder: { maxUnauthenticatedBytes: limit },
    });
    const early = random(200 * 1024);
    await pair.initiator.write(early);
    await pair.initiator.start();
    await pair.step();
    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    // The initiator's epoch_key_update(1) and its data, as one chunk.
    await pair.deliverBytes('initiator', Number.POSITIVE_INFINITY);
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(hex(pair.log.responder.received)).toBe(hex(early));
    await pair.responder.write(random(200 * 1024));
    await pair.settle();
    await pair.expectInSync(1n);
  });
});
