// Session records of format 1 (written by commit 133757e and earlier: every group state with its
// epoch's MLS exporter secret) are read and resumed, and the next write is format 2, whose group
// states hold no exporter secret (docs/protocol.md section 3). The fixtures are real format-1
// records made by the old code (fixtures/session-format-1/README.md).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Reader } from '@mlstls/codec';
import {
  decodeSessionRecord,
  encodeSessionRecord,
  MemoryStore,
  SESSION_FORMAT,
  type SessionRecord,
} from '@mlstls/storage';
import { decodeGroupState } from 'ts-mls';
import { describe, expect, it } from 'vitest';
import type { EndpointCredential } from '../src/index.js';
import { migrateSessionRecord } from '../src/index.js';
import { hex, Pair, type Side, sides, unconfirmedCount } from './pair.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/session-format-1/', import.meta.url));

type ScenarioName =
  | 'synced'
  | 'responder-pending'
  | 'responder-pending-applied'
  | 'initiator-unconfirmed';

/** What `<scenario>.json` says (make-fixtures.ts). */
interface FixtureJson {
  readonly scenario: ScenarioName;
  readonly format: number;
  readonly groupId: string;
  readonly initiator: {
    readonly storeKeyHex: string;
    readonly epoch: number;
    readonly unconfirmedCommits: number;
    readonly credential: CredentialJson;
  };
  readonly responder: {
    readonly storeKeyHex: string;
    readonly epoch: number;
    readonly pendingCommit: boolean;
    readonly credential: CredentialJson;
  };
}

interface CredentialJson {
  readonly identity: string;
  readonly signatureAlgorithm: string;
  readonly signaturePublicKey: string;
  readonly signaturePrivateKey: string;
}

interface Fixture {
  readonly json: FixtureJson;
  readonly sessionId: Uint8Array;
  readonly groupId: Uint8Array;
  readonly records: Record<Side, SessionRecord>;
  readonly credentials: Record<Side, EndpointCredential>;
  /** Every exporter secret the fixture's group states hold (states and pending groups). */
  readonly secrets: readonly Uint8Array[];
}

const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

function credentialOf(json: CredentialJson): EndpointCredential {
  return {
    credential: { credentialType: 'basic', identity: fromHex(json.identity) },
    signatureAlgorithm: json.signatureAlgorithm,
    signaturePublicKey: fromHex(json.signaturePublicKey),
    signaturePrivateKey: fromHex(json.signaturePrivateKey),
  };
}

/** The encoded group states a record holds: its state, and a responder's pending group. */
function groupStates(record: SessionRecord, side: Side): Uint8Array[] {
  const states = [record.state];
  if (side === 'responder' && record.pending !== undefined) {
    const reader = new Reader(record.pending, 'pending');
    reader.opaque(4); // the commit
    states.push(reader.opaque(4));
    reader.end();
  }
  return states;
}

/** A stored group state decoded by ts-mls (from a copy: its secrets are views of the bytes). */
function decodeState(bytes: Uint8Array) {
  const copy = bytes.slice();
  const decoded = decodeGroupState(copy, 0);
  if (decoded === undefined || decoded[1] !== copy.length) throw new Error('not a group state');
  return decoded[0];
}

function exporterSecretOf(bytes: Uint8Array): Uint8Array {
  return decodeState(bytes).keySchedule.exporterSecret;
}

function loadFixture(name: ScenarioName): Fixture {
  const json = JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8')) as FixtureJson;
  const records = {
    initiator: decodeSessionRecord(readFileSync(`${FIXTURES}${name}.initiator.bin`)),
    responder: decodeSessionRecord(readFileSync(`${FIXTURES}${name}.responder.bin`)),
  };
  return {
    json,
    sessionId: fromHex(json.initiator.storeKeyHex),
    groupId: fromHex(json.groupId),
    records,
    credentials: {
      initiator: credentialOf(json.initiator.credential),
      responder: credentialOf(json.responder.credential),
    },
    secrets: sides.flatMap((side) => groupStates(records[side], side).map(exporterSecretOf)),
  };
}

/** Whether `needle` occurs anywhere in `haystack`. */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) !== -1;
}

/** The stores of both ends, holding the fixture's records under their keys. */
interface World {
  readonly initiatorStore: MemoryStore;
  readonly responderStore: MemoryStore;
  readonly options: Parameters<typeof Pair.create>[0] & {};
}

async function worldOf(
  fixture: Fixture,
  records: Record<Side, SessionRecord> = fixture.records,
): Promise<World> {
  const initiatorStore = new MemoryStore();
  const responderStore = new MemoryStore();
  expect(await initiatorStore.compareAndSet(fixture.sessionId, null, records.initiator)).toBe(true);
  expect(await responderStore.compareAndSet(fixture.groupId, null, records.responder)).toBe(true);
  return {
    initiatorStore,
    responderStore,
    options: {
      initiator: {
        store: initiatorStore,
        sessionId: fixture.sessionId,
        credential: fixture.credentials.initiator,
        peerSignaturePublicKey: fixture.credentials.responder.signaturePublicKey,
      },
      responder: { store: responderStore, credential: fixture.credentials.responder },
    },
  };
}

/** A new transport on the world's stores, the initiator's first flight sent, not delivered. */
async function connect(world: World): Promise<Pair> {
  const pair = await Pair.create(world.options);
  await pair.initiator.start();
  await pair.step();
  return pair;
}

/** What both stores hold for the fixture's session now. */
async function storedRecords(world: World, fixture: Fixture): Promise<Record<Side, SessionRecord>> {
  const initiator = await world.initiatorStore.get(fixture.sessionId);
  const responder = await world.responderStore.get(fixture.groupId);
  expect(initiator).toBeDefined();
  expect(responder).toBeDefined();
  return { initiator: initiator!, responder: responder! };
}

/**
 * A record as this version writes it: format 2, every group state in it without an exporter
 * secret, and none of the fixture's old exporter secrets anywhere in its bytes.
 */
function expectMigrated(record: SessionRecord, side: Side, fixture: Fixture): void {
  expect(record.format).toBe(SESSION_FORMAT);
  for (const state of groupStates(record, side)) {
    expect(exporterSecretOf(state).length).toBe(0);
  }
  const bytes = encodeSessionRecord(record);
  for (const secret of fixture.secrets) expect(contains(bytes, secret)).toBe(false);
}

/** Every record both ends have stored, and every record they handed out in `persist`. */
async function expectAllMigrated(world: World, fixture: Fixture, pairs: readonly Pair[]) {
  const stored = await storedRecords(world, fixture);
  for (const side of sides) expectMigrated(stored[side], side, fixture);
  for (const pair of pairs) {
    for (const side of sides) {
      for (const persisted of pair.log[side].persisted) {
        expectMigrated(persisted.snapshot.record, side, fixture);
      }
    }
  }
}

interface Expectation {
  /** The initiator's first flight. */
  readonly flight: readonly string[];
  /** The epoch the resumption leads to. */
  readonly epoch: bigint;
}

const scenarios: Record<ScenarioName, Expectation> = {
  // Both at 2: resumption(C') alone, t == m + 1.
  synced: { flight: ['send plaintext resumption'], epoch: 3n },
  // The responder at 1 with P, the initiator at 1: t == m + 1, P is discarded.
  'responder-pending': { flight: ['send plaintext resumption'], epoch: 2n },
  // The responder at 1 with P, the initiator at 2 (it applied P): t == m + 2, P then C'.
  'responder-pending-applied': { flight: ['send plaintext resumption'], epoch: 3n },
  // The initiator at 2 with C unconfirmed, the responder at 1: C (t == m + 1), then C'.
  'initiator-unconfirmed': {
    flight: ['send plaintext connection_update', 'send plaintext resumption'],
    epoch: 3n,
  },
};

describe('the format-1 fixtures', () => {
  for (const name of Object.keys(scenarios) as ScenarioName[]) {
    it(`${name}: are format 1, their group states with a 32-byte exporter secret`, () => {
      const fixture = loadFixture(name);
      expect(fixture.json.format).toBe(1);
      for (const side of sides) {
        const record = fixture.records[side];
        expect(record.format).toBe(1);
        expect(record.epoch).toBe(BigInt(fixture.json[side].epoch));
        expect(decodeState(record.state).groupContext.epoch).toBe(record.epoch);
        // The search the migration tests make finds the secrets where they are.
        for (const state of groupStates(record, side)) {
          expect(contains(encodeSessionRecord(record), exporterSecretOf(state))).toBe(true);
        }
      }
      expect(unconfirmedCount(fixture.records.initiator)).toBe(
        fixture.json.initiator.unconfirmedCommits,
      );
      expect(fixture.records.responder.pending !== undefined).toBe(
        fixture.json.responder.pendingCommit,
      );
      expect(fixture.secrets.length).toBe(fixture.json.responder.pendingCommit ? 3 : 2);
      for (const secret of fixture.secrets) {
        expect(secret.length).toBe(32);
        expect(secret.some((byte) => byte !== 0)).toBe(true);
      }
    });
  }
});

describe('resuming a format-1 record migrates it to format 2', () => {
  it('this version writes format 2', () => {
    expect(SESSION_FORMAT).toBe(2);
  });

  for (const [name, expected] of Object.entries(scenarios) as [ScenarioName, Expectation][]) {
    it(`${name}: resumes into epoch ${expected.epoch}; both ends then store format 2 without the old exporter secrets`, async () => {
      const fixture = loadFixture(name);
      const world = await worldOf(fixture);
      const pair = await connect(world);
      expect(pair.labels('initiator').filter((label) => label.startsWith('send'))).toEqual(
        expected.flight,
      );
      // The flight was stored before it was sent: already format 2.
      expectMigrated((await storedRecords(world, fixture)).initiator, 'initiator', fixture);

      await pair.settle();
      expect(pair.errors()).toEqual({ initiator: [], responder: [] });
      for (const side of sides) {
        expect(pair.endpoint(side).handshake?.resumed).toBe(true);
        expect(pair.endpoint(side).epoch).toBe(expected.epoch);
      }
      await pair.expectInSync(expected.epoch);

      // Both stores: synced at the resumed epoch, nothing pending, format 2, no old secret.
      const stored = await storedRecords(world, fixture);
      expect(stored.initiator.epoch).toBe(expected.epoch);
      expect(unconfirmedCount(stored.initiator)).toBe(0);
      expect(stored.responder.epoch).toBe(expected.epoch);
      expect(stored.responder.pending).toBeUndefined();
      await expectAllMigrated(world, fixture, [pair]);

      // Updates go on from the migrated state, both ways.
      for (const endpoint of [pair.initiator, pair.responder]) {
        const confirmed = endpoint.update();
        await pair.settle();
        await confirmed;
      }
      await pair.expectInSync(expected.epoch + 2n);
      await expectAllMigrated(world, fixture, [pair]);

      // And the migrated records resume again.
      const again = await connect(world);
      await again.settle();
      expect(again.initiator.handshake?.resumed).toBe(true);
      await again.expectInSync(expected.epoch + 3n);
      await expectAllMigrated(world, fixture, [pair, again]);
    });
  }

  it("responder-pending (t == m + 1): the responder's stored P is discarded, C' applied on epoch m", async () => {
    const fixture = loadFixture('responder-pending');
    const world = await worldOf(fixture);
    const pending = groupStates(fixture.records.responder, 'responder')[1]!;
    const pair = await connect(world);
    await pair.settle();
    await pair.expectInSync(2n);
    const stored = await storedRecords(world, fixture);
    expect(stored.responder.pending).toBeUndefined();
    // Epoch 2 is C''s, not P's: another transcript than the one P led to.
    const own = decodeState(pending).groupContext;
    const resumed = decodeState(stored.responder.state).groupContext;
    expect(own.epoch).toBe(2n);
    expect(resumed.epoch).toBe(2n);
    expect(hex(resumed.confirmedTranscriptHash)).not.toBe(hex(own.confirmedTranscriptHash));
    expect(hex(decodeState(stored.initiator.state).groupContext.confirmedTranscriptHash)).toBe(
      hex(resumed.confirmedTranscriptHash),
    );
  });

  it("responder-pending-applied (t == m + 2): the responder applies its stored P, then C'", async () => {
    const fixture = loadFixture('responder-pending-applied');
    // The initiator's stored epoch 2 is the one P leads to.
    const pending = groupStates(fixture.records.responder, 'responder')[1]!;
    expect(hex(decodeState(pending).groupContext.confirmedTranscriptHash)).toBe(
      hex(decodeState(fixture.records.initiator.state).groupContext.confirmedTranscriptHash),
    );
    const world = await worldOf(fixture);
    const pair = await connect(world);
    await pair.settle();
    await pair.expectInSync(3n);
    const stored = await storedRecords(world, fixture);
    expect(stored.responder.epoch).toBe(3n);
    expect(stored.responder.pending).toBeUndefined();
    await expectAllMigrated(world, fixture, [pair]);
  });

  it("a format-1 record the application kept itself (the initiator's `session`) resumes; every persist output is format 2", async () => {
    const fixture = loadFixture('synced');
    const world = await worldOf(fixture);
    const pair = await Pair.create({
      ...world.options,
      initiator: {
        credential: fixture.credentials.initiator,
        peerSignaturePublicKey: fixture.credentials.responder.signaturePublicKey,
        session: fixture.records.initiator,
      },
    });
    await pair.initiator.start();
    await pair.settle();
    expect(pair.initiator.handshake?.resumed).toBe(true);
    await pair.expectInSync(3n);
    const persisted = pair.log.initiator.persisted.map((output) => output.snapshot.record);
    expect(persisted.length).toBeGreaterThan(0);
    expect(persisted.at(-1)!.epoch).toBe(3n);
    for (const record of persisted) expectMigrated(record, 'initiator', fixture);
    const responder = await world.responderStore.get(fixture.groupId);
    expectMigrated(responder!, 'responder', fixture);
    expect(responder!.epoch).toBe(3n);
  });
});

describe('migrateSessionRecord', () => {
  for (const name of Object.keys(scenarios) as ScenarioName[]) {
    it(`${name}: rewrites both records as format 2 without exporter secrets, the rest unchanged`, () => {
      const fixture = loadFixture(name);
      for (const side of sides) {
        const old = fixture.records[side];
        const migrated = migrateSessionRecord(old);
        expect(migrated).toBeDefined();
        expectMigrated(migrated!, side, fixture);
        expect(migrated!.epoch).toBe(old.epoch);
        expect(hex(migrated!.peer)).toBe(hex(old.peer));
        expect(migrated!.pending === undefined).toBe(old.pending === undefined);
        // The group states are the old ones but for the exporter secret.
        const before = groupStates(old, side).map(decodeState);
        const after = groupStates(migrated!, side).map(decodeState);
        expect(after.length).toBe(before.length);
        for (let i = 0; i < before.length; i++) {
          expect(hex(after[i]!.groupContext.groupId)).toBe(hex(before[i]!.groupContext.groupId));
          expect(after[i]!.groupContext.epoch).toBe(before[i]!.groupContext.epoch);
          expect(hex(after[i]!.keySchedule.epochAuthenticator)).toBe(
            hex(before[i]!.keySchedule.epochAuthenticator),
          );
        }
        // Migrating again changes nothing.
        expect(hex(encodeSessionRecord(migrateSessionRecord(migrated!)!))).toBe(
          hex(encodeSessionRecord(migrated!)),
        );
      }
      // The old record itself is not changed (its secrets are still there).
      expect(exporterSecretOf(fixture.records.initiator.state).length).toBe(32);
    });
  }

  it('a record of an unknown format is undefined', () => {
    const fixture = loadFixture('synced');
    expect(migrateSessionRecord({ ...fixture.records.initiator, format: 9 })).toBeUndefined();
  });
});

describe('a record of an unknown format', () => {
  it('at the initiator is forgotten: it makes a full handshake, and its session replaces the record', async () => {
    const fixture = loadFixture('synced');
    const world = await worldOf(fixture, {
      ...fixture.records,
      initiator: { ...fixture.records.initiator, format: 9 },
    });
    const pair = await connect(world);
    expect(pair.labels('initiator').filter((label) => label.startsWith('send'))).toEqual([
      'send plaintext client_hello',
    ]);
    await pair.settle();
    expect(pair.initiator.handshake?.resumed).toBe(false);
    await pair.expectInSync(1n);
    const newGroupId = pair.initiator.handshake!.groupId;
    expect(hex(newGroupId)).not.toBe(hex(fixture.groupId));
    const stored = await world.initiatorStore.get(fixture.sessionId);
    expect(stored?.format).toBe(SESSION_FORMAT);
    expect(stored?.epoch).toBe(1n);
    expect(hex(decodeState(stored!.state).groupContext.groupId)).toBe(hex(newGroupId));
    expect((await world.responderStore.get(newGroupId))?.format).toBe(SESSION_FORMAT);
    // The responder's record of the old session was not touched.
    expect(hex(encodeSessionRecord((await world.responderStore.get(fixture.groupId))!))).toBe(
      hex(encodeSessionRecord(fixture.records.responder)),
    );
  });

  it('at the responder refuses the flight (unknown_psk_identity); the initiator forgets its format-1 session', async () => {
    const fixture = loadFixture('synced');
    const unknown = { ...fixture.records.responder, format: 9 };
    const world = await worldOf(fixture, { ...fixture.records, responder: unknown });
    const pair = await connect(world);
    await pair.deliverAll('initiator');
    await pair.step();
    expect(pair.responder.failure?.code).toBe('ERR_MLSTLS_UNKNOWN_PSK_IDENTITY');
    expect(pair.log.responder.persisted).toEqual([]);
    await pair.settle();
    expect(pair.initiator.failure?.code).toBe('ERR_MLSTLS_UNKNOWN_PSK_IDENTITY');
    expect(pair.initiator.resumptionRefused).toBe(true);
    expect(await world.initiatorStore.get(fixture.sessionId)).toBeUndefined();
    expect(hex(encodeSessionRecord((await world.responderStore.get(fixture.groupId))!))).toBe(
      hex(encodeSessionRecord(unknown)),
    );
  });
});
