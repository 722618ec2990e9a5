// docs/protocol.md sections 1 and 3: TLS key_update in every state and at every boundary of a
// connection update, the automatic key_update before the AEAD limit, and the flood limits.
import { AlertDescription, RecordLimits } from '@mlstls/codec';
import { AES_GCM_RECORD_LIMIT, KEY_UPDATE_MARGIN, RecordProtector } from '@mlstls/record';
import { afterEach, describe, expect, it, vi } from 'vitest';
// The record package's test hook: not exported from the package, reached through its source.
import { setSequenceNumberForTesting } from '../../record/src/record-protector.js';
import { flushPromises, hex, Pair, peerOf, random, type Side, sides, track } from './pair.js';

// The hook is typed against the record source; the endpoints hold the built package's type.
const setSequenceNumber = setSequenceNumberForTesting as (protector: object, value: bigint) => void;

async function keyUpdate(pair: Pair, side: Side, requestPeer: boolean): Promise<void> {
  await pair.endpoint(side).keyUpdate({ requestPeer });
  await pair.step();
}

function sentLabels(pair: Pair, side: Side, since = 0): string[] {
  return pair.labels(side, since).filter((label) => label.startsWith('send '));
}

describe('key_update', () => {
  it('update_not_requested ratchets only the sender direction', async () => {
    const pair = await Pair.connected();
    const mark = pair.mark();
    await keyUpdate(pair, 'initiator', false);
    expect(pair.labels('initiator', mark)).toEqual([
      'send key_update(not_requested)',
      'keyUpdated',
    ]);
    await pair.settle();
    expect(pair.labels('responder', mark)).toEqual(['keyUpdated']);
    expect(pair.keys('initiator').sendGeneration).toBe(1);
    expect(pair.keys('responder').receiveGeneration).toBe(1);
    expect(pair.keys('responder').sendGeneration).toBe(0);
    expect(pair.keys('initiator').receiveGeneration).toBe(0);
    await pair.expectInSync(1n);
  });

  for (const side of sides) {
    it(`update_requested from the ${side} is answered with update_not_requested before the peer's next application data`, async () => {
      const pair = await Pair.connected();
      const peer = peerOf(side);
      await pair.endpoint(peer).write(random(10));
      await keyUpdate(pair, side, true);
      const mark = pair.mark();
      await pair.deliverAll(side);
      await pair.endpoint(peer).write(random(10));
      await pair.step();
      expect(pair.labels(peer, mark)).toEqual([
        'keyUpdated',
        'send key_update(not_requested)',
        'keyUpdated',
        'send application_data',
      ]);
      await pair.settle();
      expect(pair.keys(side).receiveGeneration).toBe(1);
      expect(pair.keys(peer).sendGeneration).toBe(1);
      await pair.expectInSync(1n);
    });
  }

  it('crossing update_requested key_updates are each answered once and leave both in sync', async () => {
    const pair = await Pair.connected();
    const mark = pair.mark();
    await keyUpdate(pair, 'initiator', true);
    await keyUpdate(pair, 'responder', true);
    await pair.settle();
    for (const side of sides) {
      expect(sentLabels(pair, side, mark)).toEqual([
        'send key_update(requested)',
        'send key_update(not_requested)',
      ]);
      expect(pair.keys(side).sendGeneration).toBe(2);
      expect(pair.keys(side).receiveGeneration).toBe(2);
    }
    await pair.expectInSync(1n);
  });

  it('many key_updates of both sides interleaved with data keep every byte in order', async () => {
    const pair = await Pair.connected();
    const sent: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
    for (let i = 0; i < 20; i++) {
      const side = sides[i % 2]!;
      const data = random(1 + ((i * 7919) % 30_000));
      sent[side].push(data);
      await pair.endpoint(side).write(data);
      await keyUpdate(pair, side, i % 3 === 0);
      if (i % 4 === 0) await pair.deliver(peerOf(side));
    }
    await pair.settle();
    for (const side of sides) {
      expect(hex(pair.log[peerOf(side)].received)).toBe(hex(Buffer.concat(sent[side])));
    }
    await pair.expectInSync(1n);
  });

  for (const side of sides) {
    it(`is refused on the ${side} before the handshake, without failing the connection`, async () => {
      const pair = await Pair.create();
      await expect(pair.endpoint(side).keyUpdate()).rejects.toMatchObject({
        code: 'ERR_MLSTLS_INVALID_STATE',
      });
      await pair.initiator.start();
      await pair.settle();
      await pair.expectInSync(1n);
    });
  }

  it('is refused after close()', async () => {
    const pair = await Pair.connected();
    await pair.responder.close();
    await expect(pair.responder.keyUpdate()).rejects.toMatchObject({
      code: 'ERR_MLSTLS_INVALID_STATE',
    });
  });
});

/**
 * The steps of one connection update; a key_update is inserted before step `at` (or after
 * the last). Each step delivers what one side has in flight, or starts the update.
 */
type Flow = readonly ((pair: Pair) => Promise<unknown>)[];

const flows: Record<string, { steps: Flow; epoch: bigint }> = {
  "the initiator's update": {
    steps: [
      async (pair) => {
        pair.initiator.update();
        await pair.step();
      },
      (pair) => pair.deliverAll('initiator'), // connection_update
      (pair) => pair.deliverAll('responder'), // epoch_key_update
    ],
    epoch: 2n,
  },
  "the responder's update": {
    steps: [
      async (pair) => {
        pair.responder.update();
        await pair.step();
      },
      (pair) => pair.deliverAll('responder'), // connection_update
      (pair) => pair.deliverAll('initiator'), // epoch_key_update
      (pair) => pair.deliverAll('responder'), // epoch_key_update
    ],
    epoch: 2n,
  },
  'crossing updates': {
    steps: [
      async (pair) => {
        pair.initiator.update();
        pair.responder.update();
        await pair.step();
      },
      (pair) => pair.deliverAll('responder'), // connection_update, dropped
      (pair) => pair.deliverAll('initiator'), // connection_update, wins
      (pair) => pair.deliverAll('responder'), // epoch_key_update, connection_update again
      (pair) => pair.deliverAll('initiator'), // epoch_key_update
    ],
    epoch: 3n,
  },
};

describe('key_update at every boundary of a connection update', () => {
  for (const [name, flow] of Object.entries(flows)) {
    for (let at = 0; at <= flow.steps.length; at++) {
      for (const side of sides) {
        for (const requestPeer of [false, true]) {
          const request = requestPeer ? 'update_requested' : 'update_not_requested';
          it(`${name}: key_update(${request}) from the ${side} before step ${at} of ${flow.steps.length} leaves both in sync`, async () => {
            const pair = await Pair.connected();
            const mark = pair.mark();
            for (let step = 0; step <= flow.steps.length; step++) {
              if (step === at) await keyUpdate(pair, side, requestPeer);
              await flow.steps[step]?.(pair);
            }
            await pair.settle();
            expect(sentLabels(pair, side, mark)).toContain(
              `send key_update(${requestPeer ? 'requested' : 'not_requested'})`,
            );
            expect(
              sentLabels(pair, peerOf(side), mark).filter((l) => l.startsWith('send key_update')),
            ).toEqual(requestPeer ? ['send key_update(not_requested)'] : []);
            await pair.expectInSync(flow.epoch);
          });
        }
      }
    }
  }
});

describe('records cut anywhere', () => {
  it('an update and its answers delivered one byte at a time', async () => {
    const pair = await Pair.connected();
    const update = track(pair.responder.update());
    await pair.step();
    await pair.responder.write(random(3000));
    await pair.step();
    for (let moved = 1; moved > 0; ) {
      moved = 0;
      for (const side of sides) {
        for (let n = 0; n < 5000 && pair.inFlight[side].length > 0; n++) {
          moved += await pair.deliverBytes(side, 1);
        }
      }
    }
    await flushPromises();
    expect(update.state()).toBe('resolved');
    expect(pair.log.initiator.received).toHaveLength(3000);
    await pair.expectInSync(2n);
  });

  it('crossing updates, key updates and bulk data delivered one record at a time, alternating directions', async () => {
    const pair = await Pair.connected();
    const sent: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
    const updates = [track(pair.initiator.update()), track(pair.responder.update())];
    for (const side of sides) {
      const data = random(3 * RecordLimits.maxPlaintext + 5);
      sent[side].push(data);
      await pair.endpoint(side).write(data);
      await pair.endpoint(side).keyUpdate({ requestPeer: true });
    }
    await pair.step();
    let records = 0;
    for (let moved = true; moved; ) {
      moved = false;
      for (const side of sides) {
        if (await pair.deliverRecord(side)) {
          moved = true;
          records++;
        }
      }
    }
    expect(records).toBeGreaterThan(10);
    await flushPromises();
    expect(updates.map((u) => u.state())).toEqual(['resolved', 'resolved']);
    for (const side of sides) {
      expect(hex(pair.log[peerOf(side)].received)).toBe(hex(Buffer.concat(sent[side])));
    }
    await pair.expectInSync(3n);
  });

  it('a whole flight of records, data, key_updates and an update, delivered as one chunk', async () => {
    const pair = await Pair.connected();
    const update = track(pair.initiator.update());
    for (let i = 0; i < 5; i++) {
      await pair.initiator.write(random(RecordLimits.maxPlaintext + 1));
      await pair.initiator.keyUpdate({ requestPeer: i % 2 === 0 });
    }
    await pair.step();
    await pair.deliverBytes('initiator', Number.MAX_SAFE_INTEGER);
    await pair.deliverBytes('responder', Number.MAX_SAFE_INTEGER);
    await pair.settle();
    await flushPromises();
    expect(update.state()).toBe('resolved');
    expect(pair.log.responder.received).toHaveLength(5 * (RecordLimits.maxPlaintext + 1));
    await pair.expectInSync(2n);
  });

  it('records cut at pseudo-random boundaries in both directions during updates', async () => {
    const pair = await Pair.connected();
    // mulberry32: a small seeded generator, so that a failure repeats.
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const updates = [track(pair.initiator.update()), track(pair.responder.update())];
    for (let i = 0; i < 6; i++) {
      await pair.endpoint(sides[i % 2]!).write(random(next(40_000)));
      await pair.endpoint(sides[(i + 1) % 2]!).keyUpdate({ requestPeer: i % 3 === 0 });
    }
    await pair.step();
    for (let round = 0; round < 10_000; round++) {
      const waiting = sides.filter((side) => pair.inFlight[side].length > 0);
      if (waiting.length === 0) break;
      await pair.deliverBytes(waiting[next(waiting.length)]!, 1 + next(2000));
    }
    await flushPromises();
    expect(updates.map((u) => u.state())).toEqual(['resolved', 'resolved']);
    await pair.expectInSync(3n);
  });
});

describe('the automatic key_update before a key limit', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const limits = [
    { suite: 1, aead: 'AES-128-GCM', limit: BigInt(AES_GCM_RECORD_LIMIT) },
    { suite: 3, aead: 'ChaCha20-Poly1305', limit: 2n ** 64n },
  ];
  for (const { suite, aead, limit } of limits) {
    for (const side of sides) {
      it(`the ${side} sends key_update(update_not_requested) by itself ${KEY_UPDATE_MARGIN} records before the ${aead} limit`, async () => {
        const pair = await Pair.connected({ initiator: { ciphersuite: suite } });
        const peer = peerOf(side);
        // Find the peer's receiving protector: the one that opens the next record.
        const open = vi.spyOn(RecordProtector.prototype, 'open');
        await pair.endpoint(side).write(random(1));
        await pair.settle();
        const opener = open.mock.contexts.at(-1);
        expect(opener).toBeDefined();
        const sealer = pair.keys(side).sender;
        const start = limit - BigInt(KEY_UPDATE_MARGIN) - 1n;
        setSequenceNumber(sealer, start);
        setSequenceNumber(opener!, start);

        const mark = pair.mark();
        const data = random(3 * RecordLimits.maxPlaintext);
        await pair.endpoint(side).write(data);
        await pair.step();
        expect(pair.labels(side, mark)).toEqual([
          'send application_data',
          'send key_update(not_requested)',
          'keyUpdated',
          'send application_data',
        ]);
        expect(pair.keys(side).sendGeneration).toBe(1);
        await pair.settle();
        expect(pair.keys(peer).receiveGeneration).toBe(1);
        const received = pair.log[peer].received;
        expect(hex(received.subarray(received.length - data.length))).toBe(hex(data));
        await pair.expectInSync(1n);
      });
    }
  }

  it('a key at its hard limit refuses to seal instead of repeating a nonce', async () => {
    const pair = await Pair.connected();
    setSequenceNumber(pair.keys('initiator').sender, BigInt(AES_GCM_RECORD_LIMIT));
    await pair.initiator.keyUpdate();
    await pair.step();
    expect(pair.initiator.failure?.code).toBe('ERR_MLSTLS_KEY_EXHAUSTED');
    // The alert cannot be sealed either: nothing is sent, nothing hangs.
    expect(sentLabels(pair, 'initiator')).not.toContain('send alert(internal_error)');
  });
});

describe('flood limits (as BoringSSL)', () => {
  async function expectUnexpectedMessage(pair: Pair, victim: Side): Promise<void> {
    expect(pair.endpoint(victim).failure?.code).toBe('ERR_MLSTLS_UNEXPECTED_MESSAGE');
    expect(pair.errors()[victim]).toEqual(['ERR_MLSTLS_UNEXPECTED_MESSAGE']);
    expect(sentLabels(pair, victim).at(-1)).toBe('send alert(unexpected_message)');
    await pair.settle();
    const sender = pair.endpoint(peerOf(victim));
    expect(sender.failure?.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(sender.failure?.alert).toBe(AlertDescription.unexpected_message);
  }

  for (const side of sides) {
    const peer = peerOf(side);
    it(`32 consecutive empty records from the ${side} pass; the 33rd is unexpected_message`, async () => {
      const pair = await Pair.connected();
      for (let i = 0; i < 32; i++) await pair.endpoint(side).write(new Uint8Array(0));
      await pair.settle();
      expect(pair.errors()).toEqual({ initiator: [], responder: [] });
      await pair.endpoint(side).write(new Uint8Array(0));
      await pair.settle();
      await expectUnexpectedMessage(pair, peer);
    });

    it(`application data from the ${side} restarts the count of empty records`, async () => {
      const pair = await Pair.connected();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 32; i++) await pair.endpoint(side).write(new Uint8Array(0));
        await pair.endpoint(side).write(random(1));
      }
      await pair.settle();
      await pair.expectInSync(1n);
    });

    it(`32 key_updates from the ${side} with no data between pass; the 33rd is unexpected_message`, async () => {
      const pair = await Pair.connected();
      for (let i = 0; i < 32; i++) await pair.endpoint(side).keyUpdate();
      await pair.settle();
      expect(pair.errors()).toEqual({ initiator: [], responder: [] });
      await pair.endpoint(side).keyUpdate();
      await pair.settle();
      await expectUnexpectedMessage(pair, peer);
    });

    it(`application data from the ${side} restarts the count of key_updates`, async () => {
      const pair = await Pair.connected();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 32; i++) await pair.endpoint(side).keyUpdate();
        await pair.endpoint(side).write(random(1));
      }
      await pair.settle();
      await pair.expectInSync(1n);
    });

    it(`5 consecutive warning alerts (user_canceled) from the ${side} are unexpected_message; 4 pass`, async () => {
      const pair = await Pair.connected();
      for (let i = 0; i < 4; i++) pair.injectAlert(side, AlertDescription.user_canceled);
      await pair.settle();
      expect(pair.errors()).toEqual({ initiator: [], responder: [] });
      pair.injectAlert(side, AlertDescription.user_canceled);
      await pair.settle();
      await expectUnexpectedMessage(pair, peer);
    });

    // Section 1: only consecutive warning alerts count; any other record restarts the count.
    const others: [string, (endpoint: Pair['initiator'] | Pair['responder']) => Promise<void>][] = [
      ['application data', (endpoint) => endpoint.write(random(1))],
      ['empty application data', (endpoint) => endpoint.write(new Uint8Array(0))],
      ['a key_update', (endpoint) => endpoint.keyUpdate()],
    ];
    for (const [name, send] of others) {
      it(`4 warning alerts from the ${side}, then ${name}, then 4 more are not unexpected_message; a 5th in a row then is`, async () => {
        const pair = await Pair.connected();
        for (let i = 0; i < 4; i++) pair.injectAlert(side, AlertDescription.user_canceled);
        await send(pair.endpoint(side));
        await pair.step();
        for (let i = 0; i < 4; i++) pair.injectAlert(side, AlertDescription.user_canceled);
        await pair.settle();
        expect(pair.errors()).toEqual({ initiator: [], responder: [] });
        pair.injectAlert(side, AlertDescription.user_canceled);
        await pair.settle();
        await expectUnexpectedMessage(pair, peer);
      });
    }
  }
});
