// Revision 2 of docs/protocol.md sections 3 and 6: no stored state holds an exporter secret, and
// a resumed epoch takes the responder's random, so that a store restored from a backup never
// makes a key protect two records.
import { parseKeyLogLine } from '@mlstls/key-schedule';
import { MemoryStore, SESSION_FORMAT, type SessionRecord } from '@mlstls/storage';
import { decodeGroupState } from 'ts-mls';
import { describe, expect, it } from 'vitest';
import { generateCredential } from '../src/index.js';
import { decodeResponderPending } from '../src/session.js';
import { hex, Pair, type PairOptions, random } from './pair.js';

const SESSION_ID = new TextEncoder().encode('responder.example');

/** Options for pairs that share two stores and the responder's credential (pinned). */
async function storeOptions(): Promise<
  PairOptions & { initiatorStore: MemoryStore; responderStore: MemoryStore }
> {
  const initiatorStore = new MemoryStore();
  const responderStore = new MemoryStore();
  const credential = await generateCredential();
  return {
    initiatorStore,
    responderStore,
    initiator: {
      store: initiatorStore,
      sessionId: SESSION_ID,
      peerSignaturePublicKey: credential.signaturePublicKey,
    },
    responder: { store: responderStore, credential },
  };
}

/** Every group state a record holds: its own, and a responder's pending commit's. */
function groupStates(record: SessionRecord): Uint8Array[] {
  const states = [record.state];
  const pending = record.pending === undefined ? undefined : decodeResponderPending(record.pending);
  if (pending !== undefined) states.push(pending.group);
  return states;
}

function exporterSecretOf(state: Uint8Array): Uint8Array {
  const decoded = decodeGroupState(state, 0);
  if (decoded === undefined) throw new Error('a stored state that does not decode');
  return decoded[0].keySchedule.exporterSecret;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) !== -1;
}

describe('no exporter secret at rest (section 3)', () => {
  it('every record written, at every persist point of both roles, holds no exporter secret and no master secret', async () => {
    const setup = await storeOptions();
    const records: SessionRecord[] = [];
    for (const store of [setup.initiatorStore, setup.responderStore]) {
      const write = store.compareAndSet.bind(store);
      store.compareAndSet = async (id, expected, next) => {
        records.push(next);
        return write(id, expected, next);
      };
    }
    const pair = await Pair.connected({
      ...setup,
      initiator: { ...setup.initiator, keyLog: () => true },
      responder: { ...setup.responder, keyLog: () => true },
    });
    // Updates from both sides, a crossing, a key update: every kind of persist point.
    for (const endpoint of [pair.initiator, pair.responder, pair.initiator]) {
      const confirmed = endpoint.update();
      await pair.settle();
      await confirmed;
    }
    void pair.responder.update().catch(() => {});
    await pair.step(); // the responder's commit is pending (stored with its state), undelivered
    await pair.initiator.keyUpdate({ requestPeer: true });
    await pair.settle();
    // And a resumption: both roles write again.
    const resumed = await Pair.create({
      ...setup,
      initiator: { ...setup.initiator, keyLog: () => true },
      responder: { ...setup.responder, keyLog: () => true },
    });
    await resumed.initiator.start();
    await resumed.settle();
    expect(resumed.responder.handshake?.resumed).toBe(true);

    const masters = [pair, resumed].flatMap((p) =>
      [...p.log.initiator.keyLog, ...p.log.responder.keyLog].map(
        (line) => parseKeyLogLine(line)!.masterSecret,
      ),
    );
    expect(masters.length).toBeGreaterThan(8);
    expect(records.length).toBeGreaterThan(8);
    expect(records.some((record) => groupStates(record).length === 2)).toBe(true);
    for (const record of records) {
      expect(record.format).toBe(SESSION_FORMAT);
      for (const state of groupStates(record)) expect(exporterSecretOf(state)).toHaveLength(0);
      for (const master of masters) expect(contains(record.state, master)).toBe(false);
    }
    // The persist outputs a binding keeps itself are the same records.
    for (const { snapshot } of [...pair.log.initiator.persisted, ...pair.log.responder.persisted]) {
      for (const state of groupStates(snapshot.record)) {
        expect(exporterSecretOf(state)).toHaveLength(0);
      }
    }
  });
});

describe('a rolled-back responder store (section 6)', () => {
  it('a replayed resumption flight is answered under new keys: nothing sent repeats a record of the original connection, nothing reaches the application', async () => {
    const setup = await storeOptions();
    const first = await Pair.connected(setup);
    const groupId = first.initiator.handshake!.groupId;
    // The backup: the responder's record as it was before the resumption.
    const backup = (await setup.responderStore.get(groupId))!;

    const original = await Pair.create(setup);
    await original.initiator.start();
    await original.step();
    const flight = [...original.inFlight.initiator];
    const responderSent: Uint8Array[] = [];
    const initiatorSent: Uint8Array[] = [...flight];
    const capture = () => {
      responderSent.push(...original.inFlight.responder);
      initiatorSent.push(...original.inFlight.initiator);
    };
    for (let i = 0; i < 50 && original.inFlight.initiator.length > 0; i++) {
      await original.deliverAll('initiator');
      capture();
      await original.deliverAll('responder');
      capture();
    }
    expect(original.responder.handshake?.resumed).toBe(true);
    await original.initiator.write(random(100));
    await original.responder.write(random(100));
    await original.step();
    capture();
    await original.deliverAll('initiator');
    await original.deliverAll('responder');

    // The store goes back to the backup, and someone replays the recorded flight.
    await setup.responderStore.delete(groupId);
    expect(await setup.responderStore.compareAndSet(groupId, null, backup)).toBe(true);
    const replay = await Pair.create(setup);
    for (const chunk of flight) await replay.responder.receive(chunk);
    await replay.step();
    const answer = replay.discard('responder');
    expect(answer.length).toBeGreaterThan(0); // it answers: the flight applies to the old state
    const sentBefore = new Set(responderSent.map(hex));
    for (const chunk of answer) expect(sentBefore.has(hex(chunk))).toBe(false);
    // The rest of the original initiator's records (its key confirmation, its data) do not
    // open under the new keys.
    for (const chunk of initiatorSent.slice(flight.length)) {
      await replay.responder.receive(chunk);
    }
    await replay.step();
    expect(replay.responder.failure?.code).toBe('ERR_MLSTLS_BAD_RECORD_MAC');
    expect(replay.responder.handshake).toBeUndefined();
    expect(replay.log.responder.data).toHaveLength(0);
    expect(replay.log.responder.count('handshakeComplete')).toBe(0);
  });
});
