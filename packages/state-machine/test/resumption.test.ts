import { encodeSessionRecord, MemoryStore, type SessionRecord, versionOf } from '@mlstls/storage';
import { describe, expect, it } from 'vitest';
import { encodeGroup } from '../src/group.js';
import { Initiator, Responder } from '../src/index.js';
import { decodeGroup } from '../src/session.js';
import { hex, now, Pair, random, unconfirmedCount } from './pair.js';

const SESSION_ID = new TextEncoder().encode('responder.example:443');

/** Both ends' stores and the responder's credential, shared by every connection of a test. */
interface World {
  readonly initiatorStore: MemoryStore;
  readonly responderStore: MemoryStore;
  readonly options: Parameters<typeof Pair.create>[0] & {};
}

/** A connected pair whose both ends store their state. */
async function connectedWorld({
  responderStore = new MemoryStore(),
  ...extra
}: {
  strictStore?: boolean;
  responderStore?: MemoryStore;
} = {}): Promise<{
  world: World;
  pair: Pair;
}> {
  const initiatorStore = new MemoryStore();
  const first = await Pair.create();
  const credential = first.responderCredential!;
  const options = {
    initiator: {
      store: initiatorStore,
      sessionId: SESSION_ID,
      peerSignaturePublicKey: credential.signaturePublicKey,
    },
    responder: { store: responderStore, credential, ...extra },
  };
  const pair = await Pair.connected(options);
  return { world: { initiatorStore, responderStore, options }, pair };
}

/** A new transport: a new pair on the same stores, the initiator's flight not yet delivered. */
async function reconnect(world: World): Promise<Pair> {
  const pair = await Pair.create(world.options);
  await pair.initiator.start();
  await pair.step();
  return pair;
}

/** What a store holds for the responder's group, as bytes (to prove it unchanged). */
async function storedBytes(store: MemoryStore, id: Uint8Array): Promise<string> {
  const record = await store.get(id);
  return record === undefined ? 'none' : hex(encodeSessionRecord(record));
}

/** What each side's `error` output says of `reconnect` (undefined: no error). */
function reconnectOf(pair: Pair): Record<'initiator' | 'responder', boolean | undefined> {
  const of = (side: 'initiator' | 'responder') => {
    const errors = pair.trace.filter((e) => e.side === side && e.output.type === 'error');
    expect(errors.length).toBeLessThanOrEqual(1);
    const output = errors[0]?.output;
    return output?.type === 'error' ? output.reconnect : undefined;
  };
  return { initiator: of('initiator'), responder: of('responder') };
}

async function expectResumed(pair: Pair, epoch: bigint): Promise<void> {
  await pair.settle();
  expect(pair.errors()).toEqual({ initiator: [], responder: [] });
  for (const endpoint of [pair.initiator, pair.responder]) {
    expect(endpoint.handshake?.resumed).toBe(true);
    expect(endpoint.epoch).toBe(epoch);
  }
  await pair.expectInSync(epoch);
  // Both stores are synced at that epoch with nothing pending.
}

async function expectStoresSynced(world: World, groupId: Uint8Array, epoch: bigint) {
  const initiator = await world.initiatorStore.get(SESSION_ID);
  const responder = await world.responderStore.get(groupId);
  expect(initiator?.epoch).toBe(epoch);
  expect(unconfirmedCount(initiator!)).toBe(0);
  expect(responder?.epoch).toBe(epoch);
  expect(responder?.pending).toBeUndefined();
}

describe('the resumption flight', () => {
  it('from SYNCED: resumption(C) alone, stored before it is sent, answered by resumption_accept and epoch_key_update(n+1), confirmed by the initiator', async () => {
    const { world, pair: old } = await connectedWorld();
    const groupId = old.initiator.handshake!.groupId;
    const pair = await reconnect(world);
    // No keys yet: the resumed epoch's take the responder's random.
    expect(pair.labels('initiator')).toEqual(['persist', 'send plaintext resumption']);
    const stored = await world.initiatorStore.get(SESSION_ID);
    expect(stored?.epoch).toBe(2n);
    expect(unconfirmedCount(stored!)).toBe(1); // C' is unconfirmed until the reply
    let mark = pair.mark();
    await pair.deliverAll('initiator');
    await pair.step();
    const keyLog = pair.log.responder.keyLog.length > 0 ? ['keyLog'] : [];
    // Stored by compare-and-set before it answers; nothing reported before the confirmation.
    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'send plaintext resumption_accept',
      ...keyLog,
      'send epoch_key_update(2)',
    ]);
    mark = pair.mark();
    await pair.deliverAll('responder');
    await pair.step();
    expect(pair.labels('initiator', mark)).toEqual([
      ...keyLog,
      'send epoch_key_update(2)',
      'persist',
      'handshakeComplete',
      'epochChanged 2 resumption',
    ]);
    expect(pair.responder.handshake).toBeUndefined();
    mark = pair.mark();
    await pair.deliverAll('initiator');
    await pair.step();
    expect(pair.labels('responder', mark)).toEqual([
      'handshakeComplete',
      'epochChanged 2 resumption',
    ]);
    await expectResumed(pair, 2n);
    await expectStoresSynced(world, groupId, 2n);
  });

  it('sends no application data before resumption_accept (no 0-RTT), and its key confirmation first', async () => {
    const { world } = await connectedWorld();
    const pair = await Pair.create(world.options);
    await pair.initiator.start();
    await pair.initiator.write(random(50));
    await pair.step();
    expect(pair.labels('initiator').filter((label) => label.startsWith('send'))).toEqual([
      'send plaintext resumption',
    ]);
    await pair.deliverAll('initiator');
    await pair.step();
    await pair.deliverAll('responder');
    await pair.step();
    expect(pair.labels('initiator').filter((label) => label.startsWith('send'))).toEqual([
      'send plaintext resumption',
      'send epoch_key_update(2)',
      'send application_data',
    ]);
    await expectResumed(pair, 2n);
  });

  it('from I2 with the connection_update lost: connection_update(C), resumption(C2), both applied', async () => {
    const { world, pair: old } = await connectedWorld();
    void old.initiator.update();
    await old.step();
    old.discard('initiator'); // the transport breaks with C in flight
    const pair = await reconnect(world);
    expect(pair.labels('initiator').filter((l) => l.startsWith('send'))).toEqual([
      'send plaintext connection_update',
      'send plaintext resumption',
    ]);
    await expectResumed(pair, 3n);
    await expectStoresSynced(world, old.initiator.handshake!.groupId, 3n);
  });

  it('from I2 with C applied and its epoch_key_update lost: C is skipped (t <= m)', async () => {
    const { world, pair: old } = await connectedWorld();
    void old.initiator.update();
    await old.step();
    await old.deliverAll('initiator');
    await old.step();
    expect(old.responder.epoch).toBe(2n);
    old.discard('responder');
    const pair = await reconnect(world);
    await expectResumed(pair, 3n);
  });

  it("from I3 over the responder's pending commit: t == m + 2 applies P, then C", async () => {
    const { world, pair: old } = await connectedWorld();
    void old.responder.update();
    await old.step();
    await old.deliverAll('responder');
    await old.step();
    expect(old.initiator.state).toBe('awaitPeerEpochKeyUpdate');
    old.discard('initiator'); // its epoch_key_update(2) is lost
    expect(
      (await world.responderStore.get(old.responder.handshake!.groupId))?.pending,
    ).toBeDefined();
    const pair = await reconnect(world);
    await expectResumed(pair, 3n);
    await expectStoresSynced(world, old.initiator.handshake!.groupId, 3n);
  });

  it('from R2 with its connection_update lost: P is discarded and C applied (t == m + 1)', async () => {
    const { world, pair: old } = await connectedWorld();
    void old.responder.update();
    await old.step();
    old.discard('responder');
    const pair = await reconnect(world);
    await expectResumed(pair, 2n);
    await expectStoresSynced(world, old.initiator.handshake!.groupId, 2n);
  });

  it('from crossing updates (I2 and R2) with both lost', async () => {
    const { world, pair: old } = await connectedWorld();
    void old.initiator.update();
    void old.responder.update();
    await old.step();
    old.discard('initiator');
    old.discard('responder');
    const pair = await reconnect(world);
    await expectResumed(pair, 3n);
  });

  it('after lost flights the commits pile up, oldest first, and still resume', async () => {
    const { world } = await connectedWorld();
    for (let lost = 0; lost < 3; lost++) await reconnect(world); // flights never delivered
    const pair = await reconnect(world);
    expect(pair.labels('initiator').filter((l) => l.startsWith('send'))).toEqual([
      'send plaintext connection_update',
      'send plaintext connection_update',
      'send plaintext connection_update',
      'send plaintext resumption',
    ]);
    await expectResumed(pair, 5n);
  });

  it('with 8 unconfirmed commits the initiator gives up and makes a full handshake', async () => {
    const { world } = await connectedWorld();
    for (let lost = 0; lost < 8; lost++) await reconnect(world);
    const pair = await reconnect(world);
    expect(pair.labels('initiator').filter((l) => l.startsWith('send'))).toEqual([
      'send plaintext client_hello',
    ]);
    await pair.settle();
    expect(pair.initiator.handshake?.resumed).toBe(false);
    await pair.expectInSync(1n);
    expect((await world.initiatorStore.get(SESSION_ID))?.epoch).toBe(1n);
  });

  it('the longest flight the initiator sends (7 connection_updates and a resumption) is accepted', async () => {
    const { world } = await connectedWorld();
    for (let lost = 0; lost < 7; lost++) await reconnect(world);
    const pair = await reconnect(world);
    await expectResumed(pair, 9n);
  });

  it('resumes again and again; updates go on after a resumption', async () => {
    const { world } = await connectedWorld();
    let epoch = 1n;
    for (let round = 0; round < 3; round++) {
      const pair = await reconnect(world);
      epoch += 1n;
      await expectResumed(pair, epoch);
      const own = pair.initiator.update();
      await pair.settle();
      await own;
      const peer = pair.responder.update();
      await pair.settle();
      await peer;
      epoch += 2n;
      await pair.expectInSync(epoch);
    }
  });
});

describe('refusals: unknown_psk_identity in plaintext, nothing stored changes', () => {
  /** Runs a flight against the world's responder; expects the refusal on both ends. */
  async function expectRefused(pair: Pair, world: World, groupId: Uint8Array): Promise<void> {
    const before = await storedBytes(world.responderStore, groupId);
    await pair.deliverAll('initiator');
    await pair.step();
    expect(pair.responder.failure?.code).toBe('ERR_MLSTLS_UNKNOWN_PSK_IDENTITY');
    expect(pair.labels('responder').filter((l) => l.startsWith('send'))).toEqual([
      'send plaintext alert(unknown_psk_identity)',
    ]);
    expect(pair.log.responder.persisted).toEqual([]);
    expect(pair.log.responder.data).toEqual([]);
    expect(await storedBytes(world.responderStore, groupId)).toBe(before);
    await pair.settle();
  }

  it('an unknown group: the initiator forgets its session and says the resumption was refused', async () => {
    const { world, pair: old } = await connectedWorld();
    const groupId = old.initiator.handshake!.groupId;
    await world.responderStore.delete(groupId);
    const pair = await reconnect(world);
    await expectRefused(pair, world, groupId);
    expect(pair.initiator.failure?.code).toBe('ERR_MLSTLS_UNKNOWN_PSK_IDENTITY');
    expect(pair.initiator.resumptionRefused).toBe(true);
    expect(await world.initiatorStore.get(SESSION_ID)).toBeUndefined();
    // The next connection makes a full handshake.
    const next = await reconnect(world);
    expect(next.labels('initiator').filter((l) => l.startsWith('send'))).toEqual([
      'send plaintext client_hello',
    ]);
  });

  it('a responder without a store refuses every flight', async () => {
    const { world, pair: old } = await connectedWorld();
    const pair = await Pair.create({
      ...world.options,
      responder: { credential: world.options.responder!.credential! },
    });
    await pair.initiator.start();
    await pair.step();
    const groupId = old.initiator.handshake!.groupId;
    await expectRefused(pair, world, groupId);
  });

  it('a replayed flight (captured bytes sent again) is refused and lets no data through', async () => {
    const { world, pair: old } = await connectedWorld();
    const groupId = old.initiator.handshake!.groupId;
    const pair = await reconnect(world);
    const flight = [...pair.inFlight.initiator];
    await expectResumed(pair, 2n);
    for (let replay = 0; replay < 2; replay++) {
      const attacker = await Pair.create(world.options);
      for (const record of flight) attacker.inject('initiator', record);
      await expectRefused(attacker, world, groupId);
      expect(attacker.responder.handshake).toBeUndefined();
    }
    await pair.expectInSync(2n); // the real connection is untouched
  });

  it('a commit that fails to verify', async () => {
    const { world, pair: old } = await connectedWorld();
    const pair = await reconnect(world);
    const record = pair.inFlight.initiator[0]!;
    record[record.length - 5]! ^= 0x01; // inside the PrivateMessage's ciphertext
    await expectRefused(pair, world, old.initiator.handshake!.groupId);
  });

  it("a flight whose commit changes the initiator's credential is bad_certificate, not a refusal; nothing stored changes", async () => {
    const { world, pair: old } = await connectedWorld();
    const groupId = old.initiator.handshake!.groupId;
    // The initiator's stored state, with another credential in its own leaf: every commit
    // made from it carries that credential.
    const record = (await world.initiatorStore.get(SESSION_ID))!;
    const group = decodeGroup(record.state)!;
    const own = group.privatePath.leafIndex * 2;
    const node = group.ratchetTree[own];
    if (node?.nodeType !== 'leaf') throw new Error('no own leaf');
    const tree = group.ratchetTree.slice();
    tree[own] = {
      ...node,
      leaf: { ...node.leaf, credential: { credentialType: 'basic', identity: Uint8Array.of(6) } },
    };
    const tampered = { ...record, state: encodeGroup({ ...group, ratchetTree: tree }) };
    expect(await world.initiatorStore.compareAndSet(SESSION_ID, versionOf(record), tampered)).toBe(
      true,
    );
    const before = await storedBytes(world.responderStore, groupId);
    const pair = await reconnect(world);
    await pair.deliverAll('initiator');
    await pair.step();
    expect(pair.responder.failure?.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    expect(pair.labels('responder').filter((l) => l.startsWith('send'))).toEqual([
      'send plaintext alert(bad_certificate)',
    ]);
    expect(await storedBytes(world.responderStore, groupId)).toBe(before);
    await pair.settle();
    // Not a refused resumption: the initiator does not fall back to a full handshake.
    expect(pair.initiator.resumptionRefused).toBe(false);
    expect(reconnectOf(pair)).toEqual({ initiator: false, responder: false });
  });

  it("a flight that carries another group's commit", async () => {
    const { world, pair: old } = await connectedWorld();
    const other = await connectedWorld();
    await reconnect(other.world); // lost: C1 of the other group unconfirmed
    const foreign = (await reconnect(other.world)).inFlight.initiator[0]!;
    await reconnect(world); // lost
    const pair = await reconnect(world); // connection_update(C1), resumption(C2)
    pair.inFlight.initiator[0] = foreign;
    await expectRefused(pair, world, old.initiator.handshake!.groupId);
    expect(pair.responder.failure?.message).toContain('mixes groups');
  });

  it('t == m + 2 with no pending commit at the responder (a flight missing its first commit)', async () => {
    const { world, pair: old } = await connectedWorld();
    await reconnect(world); // lost: C1 unconfirmed
    const pair = await reconnect(world); // flight: connection_update(C1), resumption(C2)
    pair.inFlight.initiator.shift();
    await expectRefused(pair, world, old.initiator.handshake!.groupId);
  });

  it('t == m + 2 over P after something of the flight was applied', async () => {
    // R2 holds P (epoch n -> n+1). A flight whose first commit applies at n and whose second
    // targets n + 2 is fine; one whose second jumps to m + 2 again is refused. Built by hand:
    // the initiator's stale C (t = n+1) is applied, then a commit of epoch n+2 targets n+3.
    const { world, pair: old } = await connectedWorld();
    void old.responder.update();
    await old.step();
    old.discard('responder');
    await reconnect(world); // lost flight: C1 (n -> n+1) unconfirmed
    await reconnect(world); // lost flight: C2 (n+1 -> n+2) unconfirmed
    const pair = await reconnect(world); // connection_update(C1), connection_update(C2), resumption(C3)
    pair.inFlight.initiator.splice(1, 1); // drop C2: C3 now targets m + 2 after C1 applied
    await expectRefused(pair, world, old.initiator.handshake!.groupId);
  });
});

describe('compare-and-set', () => {
  it('of two concurrent resumptions of one stored state exactly one wins; the store holds its state', async () => {
    const { world, pair: old } = await connectedWorld();
    const groupId = old.initiator.handshake!.groupId;
    const session = (await world.initiatorStore.get(SESSION_ID)) as SessionRecord;
    const credential = world.options.responder!.credential!;
    const pairs = await Promise.all(
      [0, 1].map(async () => {
        const pair = new Pair(
          new Initiator({
            random,
            now,
            session,
            peerSignaturePublicKey: credential.signaturePublicKey,
          }),
          new Responder({ random, now, credential, store: world.responderStore }),
        );
        await pair.initiator.start();
        await pair.step();
        return pair;
      }),
    );
    await Promise.all(pairs.map((pair) => pair.deliverAll('initiator')));
    await Promise.all(pairs.map((pair) => pair.settle()));
    const outcomes = pairs.map((pair) => pair.responder.failure?.code ?? 'resumed');
    expect(outcomes.sort()).toEqual(['ERR_MLSTLS_UNKNOWN_PSK_IDENTITY', 'resumed']);
    const winner = pairs.find((pair) => pair.responder.failure === undefined)!;
    const loser = pairs.find((pair) => pair.responder.failure !== undefined)!;
    expect(loser.initiator.failure?.code).toBe('ERR_MLSTLS_UNKNOWN_PSK_IDENTITY');
    expect(hex(encodeSessionRecord((await world.responderStore.get(groupId))!))).toBe(
      hex(encodeSessionRecord(winner.log.responder.persisted.at(-1)!.snapshot.record)),
    );
    await winner.expectInSync(2n);
  });

  it('a live connection whose store moved on closes itself at its next write', async () => {
    const { world, pair: old } = await connectedWorld();
    const pair = await reconnect(world);
    await expectResumed(pair, 2n);
    await expect(old.responder.update()).rejects.toMatchObject({
      code: 'ERR_MLSTLS_INVALID_STATE',
    });
    await old.step();
    expect(old.responder.failure?.code).toBe('ERR_MLSTLS_SESSION_SUPERSEDED');
    // Its commit never went out: the last thing sent is the alert.
    expect(old.labels('responder').at(-2)).toBe('send alert(unknown_psk_identity)');
    await pair.expectInSync(2n);
  });

  it("an initiator's connections to one responder: the newest owns the stored name", async () => {
    const { world, pair: first } = await connectedWorld();
    const second = await Pair.create({
      initiator: { ...world.options.initiator, resume: false },
      responder: { ...world.options.responder, store: new MemoryStore() },
    });
    await second.initiator.start();
    await second.settle();
    const stored = await world.initiatorStore.get(SESSION_ID);
    expect(stored?.epoch).toBe(1n);
    // The first connection lost the name: it goes on but writes no more.
    const update = first.initiator.update();
    await first.settle();
    await update;
    await first.expectInSync(2n);
    expect((await world.initiatorStore.get(SESSION_ID))?.epoch).toBe(1n);
    expect(hex(encodeSessionRecord((await world.initiatorStore.get(SESSION_ID))!))).toBe(
      hex(encodeSessionRecord(second.log.initiator.persisted.at(-1)!.snapshot.record)),
    );
  });

  it('a store that fails costs the connection its resumability, not its life: the update goes on, reported once', async () => {
    const { world, pair } = await connectedWorld();
    await world.responderStore.close();
    for (const endpoint of [pair.initiator, pair.responder]) {
      const confirmed = endpoint.update();
      await pair.settle();
      await confirmed;
    }
    await pair.expectInSync(3n);
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    const reported = pair.log.responder.events.flatMap((output) =>
      output.type === 'storeError' ? [output.error.code] : [],
    );
    expect(reported).toEqual(['ERR_MLSTLS_STORAGE']);
    expect(pair.responder.storeError?.code).toBe('ERR_MLSTLS_STORAGE');
    expect(pair.initiator.storeError).toBeUndefined();
  });

  it('the stale state a failed store keeps makes the next resumption fall back to a full handshake', async () => {
    /** A store whose writes fail while `down`. */
    class Flaky extends MemoryStore {
      down = false;
      override async compareAndSet(
        ...args: Parameters<MemoryStore['compareAndSet']>
      ): Promise<boolean> {
        if (this.down) throw new Error('the disk is full');
        return super.compareAndSet(...args);
      }
    }
    const responderStore = new Flaky();
    const { world, pair: old } = await connectedWorld({ responderStore });
    const groupId = old.initiator.handshake!.groupId;
    responderStore.down = true;
    const confirmed = old.initiator.update();
    await old.settle();
    await confirmed;
    await old.expectInSync(2n);
    expect(old.responder.storeError?.code).toBe('ERR_MLSTLS_STORAGE');
    expect((await responderStore.get(groupId))?.epoch).toBe(1n); // stale
    responderStore.down = false;
    const resumed = await reconnect(world);
    await resumed.settle();
    expect(reconnectOf(resumed)).toEqual({ initiator: true, responder: false });
    const full = await Pair.create({
      ...world.options,
      initiator: { ...world.options.initiator, resume: false },
    });
    await full.initiator.start();
    await full.settle();
    expect(full.errors()).toEqual({ initiator: [], responder: [] });
    expect(full.responder.handshake?.resumed).toBe(false);
    expect(full.responder.storeError).toBeUndefined();
    await full.expectInSync(1n);
  });

  it('an initiator whose store cannot keep its flight sends none: a full handshake on the same transport, reported', async () => {
    const { world } = await connectedWorld();
    const store = Object.assign(Object.create(world.initiatorStore) as MemoryStore, {
      compareAndSet: async () => {
        throw new Error('the disk is full');
      },
    });
    const pair = await Pair.create({
      ...world.options,
      initiator: { ...world.options.initiator, store },
    });
    await pair.initiator.start();
    await pair.settle();
    expect(pair.labels('initiator').filter((label) => label.startsWith('send'))[0]).toBe(
      'send plaintext client_hello',
    );
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(pair.initiator.handshake?.resumed).toBe(false);
    expect(pair.initiator.storeError?.code).toBe('ERR_MLSTLS_STORAGE');
    expect(pair.log.initiator.count('storeError')).toBe(1);
    await pair.expectInSync(1n);
  });

  it('a responder whose store cannot be read refuses the flight, and the initiator falls back', async () => {
    const { world } = await connectedWorld();
    const store = Object.assign(Object.create(world.responderStore) as MemoryStore, {
      get: async () => {
        throw new Error('connection refused');
      },
    });
    const pair = await Pair.create({
      ...world.options,
      responder: { ...world.options.responder, store },
    });
    await pair.initiator.start();
    await pair.settle();
    expect(pair.errors()).toEqual({
      initiator: ['ERR_MLSTLS_UNKNOWN_PSK_IDENTITY'],
      responder: ['ERR_MLSTLS_UNKNOWN_PSK_IDENTITY'],
    });
    expect(reconnectOf(pair)).toEqual({ initiator: true, responder: false });
    expect(pair.responder.failure?.message).toContain('the session store cannot be read');
    expect((pair.responder.failure!.cause as Error).message).toBe(
      'the session store failed to read',
    );
  });

  it('with strictStore, a store that fails ends the connection with ERR_MLSTLS_STORAGE before anything is sent', async () => {
    const { world, pair } = await connectedWorld({ strictStore: true });
    await world.responderStore.close();
    void pair.initiator.update();
    await pair.step();
    await pair.deliverAll('initiator');
    await pair.step();
    expect(pair.responder.failure?.code).toBe('ERR_MLSTLS_STORAGE');
    expect(
      pair
        .labels('responder')
        .filter((l) => l.startsWith('send'))
        .at(-1),
    ).toBe('send alert(internal_error)');
  });
});

describe("the error output's reconnect (section 6)", () => {
  it('the error output says reconnect only for a refused resumption: unknown_psk_identity', async () => {
    const { world, pair: old } = await connectedWorld();
    await world.responderStore.delete(old.initiator.handshake!.groupId);
    const pair = await reconnect(world);
    await pair.settle();
    expect(pair.errors()).toEqual({
      initiator: ['ERR_MLSTLS_UNKNOWN_PSK_IDENTITY'],
      responder: ['ERR_MLSTLS_UNKNOWN_PSK_IDENTITY'],
    });
    // The initiator makes a full handshake on a new transport; the responder has nothing to do.
    expect(reconnectOf(pair)).toEqual({ initiator: true, responder: false });
  });

  it('the error output says reconnect only for a refused resumption: another connection resumed the stored session first', async () => {
    const { world } = await connectedWorld();
    const session = (await world.initiatorStore.get(SESSION_ID))!;
    /** Holds the session, and loses every write: another connection always got there first. */
    class Overtaken extends MemoryStore {
      override async compareAndSet(): Promise<boolean> {
        return false;
      }
    }
    const store = new Overtaken();
    expect(await MemoryStore.prototype.compareAndSet.call(store, SESSION_ID, null, session)).toBe(
      true,
    );
    const pair = await Pair.create({
      ...world.options,
      initiator: { ...world.options.initiator, store },
    });
    await pair.initiator.start();
    await pair.step();
    expect(pair.initiator.failure?.code).toBe('ERR_MLSTLS_SESSION_SUPERSEDED');
    // Its flight never went out: only the alert of its failure.
    expect(pair.labels('initiator').filter((l) => l.startsWith('send'))).toEqual([
      'send plaintext alert(unknown_psk_identity)',
    ]);
    expect(reconnectOf(pair)).toEqual({ initiator: true, responder: undefined });
  });

  it('the error output says no reconnect for any other failure: a full handshake refused, a resumed connection ended, a live responder superseded', async () => {
    // A full handshake that fails.
    const refused = await Pair.create({ pin: false });
    await refused.initiator.start();
    await refused.settle();
    expect(refused.errors()).toEqual({
      initiator: ['ERR_MLSTLS_BAD_CERTIFICATE'],
      responder: ['ERR_MLSTLS_ALERT_RECEIVED'],
    });
    expect(reconnectOf(refused)).toEqual({ initiator: false, responder: false });

    // A resumption whose transport ends before the answer: not a refusal.
    const { world, pair: old } = await connectedWorld();
    const cut = await reconnect(world);
    await cut.initiator.receiveEnd();
    await cut.step();
    expect(cut.initiator.failure?.code).toBe('ERR_MLSTLS_TRUNCATED');
    expect(reconnectOf(cut)).toEqual({ initiator: false, responder: undefined });

    // After a resumption completed, even unknown_psk_identity says nothing of reconnecting.
    const resumed = await reconnect(world);
    // The cut flight's commit is still unconfirmed: it is sent again, before a new one.
    await expectResumed(resumed, 3n);
    resumed.injectAlert('responder', 115 as never, 2);
    await resumed.settle();
    expect(resumed.initiator.failure?.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(reconnectOf(resumed)).toEqual({ initiator: false, responder: undefined });

    // The responder whose stored session moved on (the resumption above took it).
    await old.responder.update().catch(() => undefined);
    await old.step();
    expect(old.responder.failure?.code).toBe('ERR_MLSTLS_SESSION_SUPERSEDED');
    expect(reconnectOf(old)).toEqual({ initiator: undefined, responder: false });
  });
});
