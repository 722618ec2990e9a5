// docs/protocol.md section 5: the connection update tables, row by row, then crossings, waiting,
// coalescing and updates under application data.
import { HandshakeType } from '@mlstls/codec';
import { describe, expect, it } from 'vitest';
import { persistedGroup } from './mls.js';
import {
  flushPromises,
  hex,
  Pair,
  peerOf,
  random,
  type Side,
  sentMessage,
  sides,
  track,
} from './pair.js';

/** The commit carried by the last connection_update `side` sent since `mark`. */
function sentCommit(pair: Pair, side: Side, mark: number): Uint8Array {
  const entry = pair.trace
    .slice(mark)
    .filter((e) => e.side === side && e.label === 'send connection_update')
    .at(-1);
  if (entry?.output.type !== 'send') throw new Error(`${side} sent no connection_update`);
  const message = sentMessage(entry.output.data);
  if (message?.msgType !== HandshakeType.connection_update) throw new Error('not a CU');
  return message.update;
}

function lastSnapshot(pair: Pair, side: Side) {
  const persisted = pair.log[side].persisted.at(-1);
  if (persisted === undefined) throw new Error(`${side} persisted nothing`);
  return persisted.snapshot;
}

describe('section 5, initiator table', () => {
  it('I,1 update(): applies its commit, persists it as unconfirmed, then sends connection_update and switches sending to n+1 (AWAIT_CONFIRM)', async () => {
    const pair = await Pair.connected();
    const mark = pair.mark();
    const update = track(pair.initiator.update());
    await pair.step();

    expect(pair.initiator.state).toBe('awaitConfirm');
    expect(pair.labels('initiator', mark)).toEqual(['persist', 'send connection_update']);
    const snapshot = lastSnapshot(pair, 'initiator');
    expect(snapshot.epoch).toBe(2n);
    expect(snapshot.unconfirmedCommits.map(hex)).toEqual([
      hex(sentCommit(pair, 'initiator', mark)),
    ]);
    const keys = pair.keys('initiator');
    expect([keys.sendEpoch, keys.receiveEpoch]).toEqual([2n, 1n]);
    // Both directions have not reached epoch 2: the exporter stays in epoch 1.
    expect(pair.initiator.epoch).toBe(1n);
    await flushPromises();
    expect(update.state()).toBe('pending');
  });

  it('I,2 epoch_key_update(n+1): switches receiving, drops the pending commit, persists (SYNCED); update() resolves only now', async () => {
    const pair = await Pair.connected();
    const update = track(pair.initiator.update());
    await pair.step();
    await pair.deliverAll('initiator');
    await flushPromises();
    expect(update.state()).toBe('pending');

    const mark = pair.mark();
    await pair.deliverAll('responder');
    expect(pair.labels('initiator', mark)).toEqual(['persist', 'epochChanged 2 local']);
    expect(pair.initiator.state).toBe('synced');
    const snapshot = lastSnapshot(pair, 'initiator');
    expect(snapshot.epoch).toBe(2n);
    expect(snapshot.unconfirmedCommits).toEqual([]);
    await flushPromises();
    expect(update.state()).toBe('resolved');
    await pair.expectInSync(2n);
  });

  it("I,2 connection_update: drops the responder's crossing update silently (the initiator's update wins)", async () => {
    const pair = await Pair.connected();
    const own = track(pair.initiator.update());
    const theirs = track(pair.responder.update());
    await pair.step();
    expect(pair.initiator.state).toBe('awaitConfirm');
    expect(pair.responder.state).toBe('awaitConfirm');

    const mark = pair.mark();
    await pair.deliverAll('responder');
    expect(pair.labels('initiator', mark)).toEqual([]);
    expect(pair.initiator.state).toBe('awaitConfirm');
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });

    await pair.settle();
    await flushPromises();
    expect([own.state(), theirs.state()]).toEqual(['resolved', 'resolved']);
    // The initiator's commit made epoch 2; the responder's, made again, epoch 3.
    await pair.expectInSync(3n);
  });

  it('I,1 connection_update(n->n+1): processes it, persists, sends epoch_key_update(n+1) and switches sending (AWAIT_PEER_EKU)', async () => {
    const pair = await Pair.connected();
    pair.responder.update();
    await pair.step();
    const mark = pair.mark();
    await pair.deliverAll('responder');

    expect(pair.initiator.state).toBe('awaitPeerEpochKeyUpdate');
    expect(pair.labels('initiator', mark)).toEqual(['persist', 'send epoch_key_update(2)']);
    const snapshot = lastSnapshot(pair, 'initiator');
    expect(snapshot.epoch).toBe(2n);
    expect(snapshot.unconfirmedCommits).toEqual([]);
    const keys = pair.keys('initiator');
    expect([keys.sendEpoch, keys.receiveEpoch]).toEqual([2n, 1n]);
  });

  it('I,3 epoch_key_update(n+1): switches receiving (SYNCED)', async () => {
    const pair = await Pair.connected();
    const update = track(pair.responder.update());
    await pair.step();
    await pair.deliverAll('responder');
    await pair.deliverAll('initiator');
    const mark = pair.mark();
    await pair.deliverAll('responder');

    expect(pair.labels('initiator', mark)).toEqual(['epochChanged 2 peer']);
    expect(pair.initiator.state).toBe('synced');
    await flushPromises();
    expect(update.state()).toBe('resolved');
    await pair.expectInSync(2n);
  });
});

describe('section 5, responder table', () => {
  it('R,1 update(): persists its commit as pending without applying it, then sends connection_update (AWAIT_CONFIRM)', async () => {
    const pair = await Pair.connected();
    const mark = pair.mark();
    const update = track(pair.responder.update());
    await pair.step();

    expect(pair.responder.state).toBe('awaitConfirm');
    expect(pair.labels('responder', mark)).toEqual(['persist', 'send connection_update']);
    const snapshot = lastSnapshot(pair, 'responder');
    expect(snapshot.epoch).toBe(1n);
    expect(hex(snapshot.pending!.commit)).toBe(hex(sentCommit(pair, 'responder', mark)));
    const keys = pair.keys('responder');
    expect([keys.sendEpoch, keys.receiveEpoch]).toEqual([1n, 1n]);
    await flushPromises();
    expect(update.state()).toBe('pending');
  });

  it('R,2 epoch_key_update(n+1): applies the pending commit, persists, sends epoch_key_update(n+1), switches both directions (SYNCED)', async () => {
    const pair = await Pair.connected();
    const update = track(pair.responder.update());
    await pair.step();
    await pair.deliverAll('responder');
    await flushPromises();
    expect(update.state()).toBe('pending');

    const mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'send epoch_key_update(2)',
      'epochChanged 2 local',
    ]);
    expect(pair.responder.state).toBe('synced');
    const snapshot = lastSnapshot(pair, 'responder');
    expect(snapshot.epoch).toBe(2n);
    expect(snapshot.pending).toBeUndefined();
    const keys = pair.keys('responder');
    expect([keys.sendEpoch, keys.receiveEpoch]).toEqual([2n, 2n]);
    await flushPromises();
    expect(update.state()).toBe('resolved');
    await pair.settle();
    await pair.expectInSync(2n);
  });

  it("R,2 connection_update: discards the pending commit, applies the initiator's, then makes its own update again", async () => {
    const pair = await Pair.connected();
    const own = track(pair.responder.update());
    const theirs = track(pair.initiator.update());
    await pair.step();
    const discarded = lastSnapshot(pair, 'responder').pending!.commit;

    const mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'send epoch_key_update(2)',
      'epochChanged 2 peer',
      // update() still waits for a commit of its own, and the responder is SYNCED again.
      'persist',
      'send connection_update',
    ]);
    const persisted = pair.log.responder.persisted.slice(-2).map((p) => p.snapshot);
    expect(persisted[0]!.epoch).toBe(2n);
    expect(persisted[0]!.pending).toBeUndefined();
    expect(persisted[1]!.epoch).toBe(2n);
    expect(hex(persisted[1]!.pending!.commit)).not.toBe(hex(discarded));
    expect(pair.responder.state).toBe('awaitConfirm');
    await flushPromises();
    expect(own.state()).toBe('pending');

    await pair.settle();
    await flushPromises();
    expect([own.state(), theirs.state()]).toEqual(['resolved', 'resolved']);
    await pair.expectInSync(3n);
  });

  it('R,1 connection_update(n->n+1): processes it, persists, sends epoch_key_update(n+1), switches both directions (SYNCED)', async () => {
    const pair = await Pair.connected();
    pair.initiator.update();
    await pair.step();
    const mark = pair.mark();
    await pair.deliverAll('initiator');

    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'send epoch_key_update(2)',
      'epochChanged 2 peer',
    ]);
    expect(pair.responder.state).toBe('synced');
    expect(lastSnapshot(pair, 'responder').epoch).toBe(2n);
    const keys = pair.keys('responder');
    expect([keys.sendEpoch, keys.receiveEpoch]).toEqual([2n, 2n]);
    await pair.settle();
    await pair.expectInSync(2n);
  });
});

describe('persist before send', () => {
  it('every persist comes before the send that carries what it stored, over many updates of both sides', async () => {
    const pair = await Pair.connected();
    let checked = 0;
    for (const side of ['initiator', 'responder', 'initiator', 'responder'] as const) {
      const mark = pair.mark();
      const update = pair.endpoint(side).update();
      await pair.settle();
      await update;
      const labels = pair.trace.slice(mark).map((e) => `${e.side} ${e.label}`);
      for (const [at, label] of labels.entries()) {
        if (!/send (connection_update|epoch_key_update)/.test(label)) continue;
        const who = label.split(' ')[0];
        // The nearest earlier output of the same side that is a persist or a send is a persist.
        const before = labels
          .slice(0, at)
          .filter((l) => l.startsWith(`${who} `) && /^\S+ (persist|send)/.test(l))
          .at(-1);
        expect(before, `${label} in ${labels.join(', ')}`).toBe(`${who} persist`);
        checked++;
      }
    }
    // Two sends per initiator update, three per responder update.
    expect(checked).toBe(10);
    await pair.expectInSync(5n);
  });
});

describe('crossing updates', () => {
  for (const first of sides) {
    it(`end in one epoch with equal keys when the ${first}'s connection_update is delivered first`, async () => {
      const pair = await Pair.connected();
      const updates = sides.map((side) => track(pair.endpoint(side).update()));
      await pair.step();
      await pair.deliverAll(first);
      await pair.deliverAll(peerOf(first));
      await pair.settle();
      await flushPromises();
      expect(updates.map((u) => u.state())).toEqual(['resolved', 'resolved']);
      // The initiator's update wins: epoch 2; the responder's own, made again, epoch 3.
      await pair.expectInSync(3n);
    });
  }

  it('end in sync when both sides update again and again before anything is delivered', async () => {
    const pair = await Pair.connected();
    const updates = [];
    for (let round = 0; round < 3; round++) {
      for (const side of sides) updates.push(track(pair.endpoint(side).update()));
      await pair.step();
      await pair.deliver('responder');
    }
    await pair.settle();
    await flushPromises();
    expect(updates.map((u) => u.state())).toEqual(updates.map(() => 'resolved'));
    await pair.expectInSync();
  });
});

describe('updates with application data flowing both ways', () => {
  it('deliver every byte once and in order across the epoch switches of both directions', async () => {
    const pair = await Pair.connected();
    const sent: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
    const write = async (side: Side) => {
      const data = random(1 + Math.floor(Math.random() * 40_000));
      sent[side].push(data);
      await pair.endpoint(side).write(data);
    };
    const updates = [];
    for (let round = 0; round < 4; round++) {
      for (const side of sides) await write(side);
      const updater = round % 2 === 0 ? 'initiator' : 'responder';
      updates.push(track(pair.endpoint(updater).update()));
      await pair.step();
      for (const side of sides) await write(side);
      // Deliver a little each way, the other side writing between every delivery.
      for (let i = 0; i < 3; i++) {
        for (const side of sides) {
          await pair.deliver(side);
          await write(peerOf(side));
        }
      }
      if (round === 2) updates.push(track(pair.endpoint('initiator').update()));
    }
    await pair.settle();
    await flushPromises();
    expect(updates.map((u) => u.state())).toEqual(updates.map(() => 'resolved'));
    for (const side of sides) {
      expect(hex(pair.log[peerOf(side)].received)).toBe(hex(Buffer.concat(sent[side])));
    }
    await pair.expectInSync();
    expect(pair.initiator.epoch).toBeGreaterThanOrEqual(5n);
  });
});

describe('update() outside SYNCED', () => {
  it('waits in the initiator AWAIT_CONFIRM, then runs once the epoch_key_update arrives', async () => {
    const pair = await Pair.connected();
    const first = track(pair.initiator.update());
    await pair.step();
    const mark = pair.mark();
    const second = track(pair.initiator.update());
    await pair.step();
    expect(pair.labels('initiator', mark)).toEqual([]);

    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    expect(pair.labels('initiator', mark)).toEqual([
      'persist',
      'epochChanged 2 local',
      'persist',
      'send connection_update',
    ]);
    await flushPromises();
    expect([first.state(), second.state()]).toEqual(['resolved', 'pending']);
    await pair.settle();
    await flushPromises();
    expect(second.state()).toBe('resolved');
    await pair.expectInSync(3n);
  });

  it('waits in the initiator AWAIT_PEER_EKU, then runs', async () => {
    const pair = await Pair.connected();
    const theirs = track(pair.responder.update());
    await pair.step();
    await pair.deliverAll('responder');
    expect(pair.initiator.state).toBe('awaitPeerEpochKeyUpdate');
    const mark = pair.mark();
    const own = track(pair.initiator.update());
    await pair.step();
    expect(pair.labels('initiator', mark)).toEqual([]);

    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    expect(pair.labels('initiator', mark)).toEqual([
      'epochChanged 2 peer',
      'persist',
      'send connection_update',
    ]);
    await pair.settle();
    await flushPromises();
    expect([theirs.state(), own.state()]).toEqual(['resolved', 'resolved']);
    await pair.expectInSync(3n);
  });

  it('waits in the responder AWAIT_CONFIRM, then runs', async () => {
    const pair = await Pair.connected();
    const first = track(pair.responder.update());
    await pair.step();
    const mark = pair.mark();
    const second = track(pair.responder.update());
    await pair.step();
    expect(pair.labels('responder', mark)).toEqual([]);

    await pair.deliverAll('responder');
    await pair.deliverAll('initiator');
    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'send epoch_key_update(2)',
      'epochChanged 2 local',
      'persist',
      'send connection_update',
    ]);
    await flushPromises();
    expect([first.state(), second.state()]).toEqual(['resolved', 'pending']);
    await pair.settle();
    await flushPromises();
    expect(second.state()).toBe('resolved');
    await pair.expectInSync(3n);
  });

  for (const side of sides) {
    it(`waits for the handshake on the ${side}, then runs`, async () => {
      const pair = await Pair.create();
      const update = track(pair.endpoint(side).update());
      await pair.initiator.start();
      await pair.settle();
      await flushPromises();
      expect(update.state()).toBe('resolved');
      await pair.expectInSync(2n);
    });
  }
});

describe('update() calls coalesce', () => {
  for (const side of sides) {
    it(`several calls on the ${side} in SYNCED make one commit and all resolve on its confirmation`, async () => {
      const pair = await Pair.connected();
      const mark = pair.mark();
      const updates = [1, 2, 3].map(() => track(pair.endpoint(side).update()));
      await pair.step();
      expect(pair.labels(side, mark).filter((l) => l === 'send connection_update')).toHaveLength(1);
      await pair.settle();
      await flushPromises();
      expect(updates.map((u) => u.state())).toEqual(['resolved', 'resolved', 'resolved']);
      await pair.expectInSync(2n);
    });

    it(`calls on the ${side} while a commit is in flight share the next commit, and resolve only with it`, async () => {
      const pair = await Pair.connected();
      const first = track(pair.endpoint(side).update());
      await pair.step();
      const later = [1, 2, 3].map(() => track(pair.endpoint(side).update()));
      await pair.step();
      // Deliver until the first commit is confirmed, but not the second.
      while (pair.endpoint(side).epoch < 2n || first.state() !== 'resolved') {
        await pair.deliver('initiator');
        await pair.deliver('responder');
        await flushPromises();
      }
      expect(later.map((u) => u.state())).toEqual(['pending', 'pending', 'pending']);
      await pair.settle();
      await flushPromises();
      expect(later.map((u) => u.state())).toEqual(['resolved', 'resolved', 'resolved']);
      const commits = pair.trace.filter(
        (e) => e.side === side && e.label === 'send connection_update',
      );
      expect(commits).toHaveLength(2);
      await pair.expectInSync(3n);
    });
  }
});

describe('update() and closure', () => {
  it('is refused after close()', async () => {
    const pair = await Pair.connected();
    await pair.initiator.close();
    await expect(pair.initiator.update()).rejects.toMatchObject({
      code: 'ERR_MLSTLS_INVALID_STATE',
    });
  });

  it("rejects a waiting update() when the peer's close_notify arrives", async () => {
    const pair = await Pair.connected();
    const update = track(pair.initiator.update());
    await pair.step();
    await pair.responder.close();
    await pair.step();
    // The responder's close_notify comes before its answer to the connection_update.
    await pair.deliverAll('responder');
    await flushPromises();
    expect(update.state()).toBe('rejected');
    await expect(update.promise).rejects.toMatchObject({ code: 'ERR_MLSTLS_INVALID_STATE' });
  });
});

describe('epoch numbers', () => {
  it("every epoch_key_update names the epoch it confirms: 1 for the handshake's key confirmation, then the one each update leads to", async () => {
    const pair = await Pair.connected();
    for (let i = 0; i < 3; i++) {
      for (const side of sides) {
        const update = pair.endpoint(side).update();
        await pair.settle();
        await update;
      }
    }
    const ekus = pair.trace
      .filter((e) => e.label.startsWith('send epoch_key_update'))
      .map((e) => `${e.side} ${e.label}`);
    expect(ekus).toEqual([
      'initiator send epoch_key_update(1)',
      'responder send epoch_key_update(2)',
      'initiator send epoch_key_update(3)',
      'responder send epoch_key_update(3)',
      'responder send epoch_key_update(4)',
      'initiator send epoch_key_update(5)',
      'responder send epoch_key_update(5)',
      'responder send epoch_key_update(6)',
      'initiator send epoch_key_update(7)',
      'responder send epoch_key_update(7)',
    ]);
    await pair.expectInSync(7n);
  });
});

describe('update() after the peer closed', () => {
  for (const side of sides) {
    it(`on the ${side} is refused: the peer, its write side closed, can never confirm it`, async () => {
      const pair = await Pair.connected();
      await pair.endpoint(peerOf(side)).close();
      await pair.settle();
      const update = track(pair.endpoint(side).update());
      await pair.settle();
      await flushPromises();
      expect(update.state()).toBe('rejected');
      await expect(update.promise).rejects.toMatchObject({ code: 'ERR_MLSTLS_INVALID_STATE' });
      expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    });
  }
});

describe('update() racing the peer close_notify', () => {
  it('an update() queued behind the close_notify is rejected and sends no connection_update', async () => {
    const pair = await Pair.connected();
    await pair.responder.close();
    await pair.step();
    const [closeNotify] = pair.discard('responder');
    const mark = pair.mark();
    const receiving = pair.initiator.receive(closeNotify!);
    const update = track(pair.initiator.update());
    await receiving;
    await pair.step();
    await flushPromises();
    expect(update.state()).toBe('rejected');
    expect(pair.labels('initiator', mark)).toEqual(['peerClosed']);
    expect(pair.initiator.state).toBe('synced');
  });
});

describe('updates that reach an endpoint after its own close_notify', () => {
  it('the responder applies the initiator update but derives no sending key and sends nothing', async () => {
    const pair = await Pair.connected();
    const update = track(pair.initiator.update());
    await pair.step();
    await pair.responder.close();
    await pair.step();
    const mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.labels('responder', mark)).not.toContain('send epoch_key_update(2)');
    expect(pair.keys('responder').canSend).toBe(false);
    expect(pair.keys('responder').receiveEpoch).toBe(2n);
    expect(pair.responder.epoch).toBe(2n);
    await pair.settle();
    await flushPromises();
    // The responder closed before confirming: the initiator's update cannot complete.
    expect(update.state()).toBe('rejected');
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
  });
});

describe('secrets of past epochs', () => {
  it('no state an endpoint keeps holds MLS receiver data of a past epoch', async () => {
    const pair = await Pair.connected();
    for (const side of sides) {
      const update = pair.endpoint(side).update();
      await pair.settle();
      await update;
    }
    for (const side of sides) {
      for (let index = 0; index < pair.log[side].persisted.length; index++) {
        expect(persistedGroup(pair, side, index).historicalReceiverData.size).toBe(0);
      }
    }
    await pair.expectInSync(3n);
  });
});
