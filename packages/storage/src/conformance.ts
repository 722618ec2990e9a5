/**
 * The conformance suite every `SessionStore` adapter runs. A store that passes it:
 *
 * - reads an unknown or expired id as `undefined`, never as an error;
 * - gives back each record exactly as written: every field, every byte value, an epoch of 0 or
 *   2^64-1 as a bigint, pending absent or present (even empty), 4 MiB states;
 * - writes only through an atomic compare-and-set on the stored epoch and pending commit, so of
 *   concurrent writers from one version exactly one wins, and a failed write changes nothing;
 * - keys records by the id's bytes (any length, views into larger arrays);
 * - keeps a record's `format` as given, whatever uint16 it is (format 1 of earlier versions,
 *   a format this version does not know): only the state machine judges it;
 * - keeps no reference to the caller's arrays, in or out;
 * - expires a record `ttl` ms after its last write, never with `ttl: Infinity`, and not
 *   within the test without a `ttl` (the default is `DEFAULT_SESSION_TTL`, 7 days);
 * - rejects every call after `close()` with an `MlsTlsError`, without hanging.
 *
 * Call it once, at the top level of a vitest test file:
 *
 * ```ts
 * import { describeSessionStore } from '@mlstls/storage/conformance';
 * describeSessionStore('MyStore', (options) => new MyStore(options));
 * ```
 *
 * `open` is called once per test (three times in one TTL test) and each store it returns is closed
 * after its test. Ids are random, so a persistent backend shared between runs is fine; the
 * 1-byte ids are deleted before and after use. The TTL tests wait in real time, under a second
 * in all; pass a larger `ttlSlack` for a backend whose expiry is coarser than 50 ms.
 */
import { MlsTlsError } from '@mlstls/codec';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SESSION_FORMAT,
  type SessionRecord,
  type SessionStore,
  type StoreOptions,
  versionOf,
} from './store.js';

export type OpenStore = (options: StoreOptions) => SessionStore | Promise<SessionStore>;

export interface ConformanceOptions {
  /** Milliseconds a TTL test waits beyond the ttl (default 50). */
  ttlSlack?: number;
}

/** The ttl of the TTL tests, in ms: short, but far above one round trip to a local backend. */
const TTL = 300;
/**
 * The ttl of the refresh test, longer: its writes must land before an expiry, and a loaded CI
 * machine can stall a timer by a few hundred ms.
 */
const REFRESH_TTL = 1_000;
/** How long a call on a closed store may take before it counts as hanging. */
const HANG_MS = 2_000;
const MAX_EPOCH = 2n ** 64n - 1n;

export function describeSessionStore(
  name: string,
  open: OpenStore,
  options: ConformanceOptions = {},
): void {
  const ttlSlack = options.ttlSlack ?? 50;

  describe(`${name} (SessionStore conformance)`, () => {
    let stores: SessionStore[] = [];
    const closedByTest = new Set<SessionStore>();

    async function openStore(storeOptions: StoreOptions = {}): Promise<SessionStore> {
      const store = await open(storeOptions);
      stores.push(store);
      return store;
    }

    afterEach(async () => {
      const toClose = stores.filter((store) => !closedByTest.has(store));
      stores = [];
      closedByTest.clear();
      for (const store of toClose) await store.close();
    });

    it('reads an unknown id as absent, deletes it quietly, and will not update it', async () => {
      const store = await openStore();
      for (const id of [randomId(), randomId(200), nameId()]) {
        expect(await store.get(id)).toBeUndefined();
        await store.delete(id);
        expect(await store.compareAndSet(id, { epoch: 1n }, record({ epoch: 2n }))).toBe(false);
        expect(
          await store.compareAndSet(
            id,
            { epoch: 1n, pending: randomBytes(8) },
            record({ epoch: 2n }),
          ),
        ).toBe(false);
        expect(await store.get(id)).toBeUndefined();
      }
    });

    it('creates with a null expected version only when the id is absent', async () => {
      const store = await openStore();
      const id = randomId();
      const first = record({ epoch: 7n, pending: randomBytes(40) });
      expect(await store.compareAndSet(id, null, first)).toBe(true);
      expectRecord(await store.get(id), first);
      expect(await store.compareAndSet(id, null, record({ epoch: 8n }))).toBe(false);
      expectRecord(await store.get(id), first);
    });

    it('returns every field exactly as written', async () => {
      const store = await openStore();
      const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
      const backing = randomBytes(1000);
      const cases: [Uint8Array, SessionRecord][] = [
        [randomId(), record({ epoch: 1n })],
        [randomId(), record({ epoch: 2n, pending: randomBytes(300) })],
        [randomId(), record({ epoch: 3n, peer: new Uint8Array(0) })],
        [randomId(), record({ epoch: 4n, state: new Uint8Array(0) })],
        [randomId(), record({ epoch: 5n, pending: new Uint8Array(0) })],
        [randomId(), record({ epoch: 0n })],
        [randomId(), record({ epoch: MAX_EPOCH, pending: randomBytes(16) })],
        [
          randomId(200),
          record({ epoch: 6n, state: everyByte, pending: everyByte, peer: everyByte }),
        ],
        [
          nameId(),
          record({
            epoch: 9n,
            state: backing.subarray(10, 400),
            pending: backing.subarray(400, 410),
            peer: backing.subarray(990),
          }),
        ],
        [randomBytes(64).subarray(16, 48), record({ epoch: 10n })],
      ];
      for (const [id, written] of cases) {
        const copy = cloneRecord(written);
        expect(await store.compareAndSet(id, null, written)).toBe(true);
        expectRecord(await store.get(id), copy);
      }
    });

    it('keeps a record of any format as given: 1 (earlier versions), 7, 0 and 65535', async () => {
      const store = await openStore();
      for (const format of [1, 7, 0, 0xffff, SESSION_FORMAT]) {
        const id = randomId();
        const written = record({ format, epoch: 3n, pending: randomBytes(12) });
        expect(await store.compareAndSet(id, null, written)).toBe(true);
        expectRecord(await store.get(id), cloneRecord(written));
        const next = record({ format, epoch: 4n });
        expect(await store.compareAndSet(id, versionOf(written), next)).toBe(true);
        expectRecord(await store.get(id), next);
      }
    });

    it('replaces a format-1 record with one of this format by compare-and-set (a migration)', async () => {
      const store = await openStore();
      const id = randomId();
      const old = record({ format: 1, epoch: 9n, pending: randomBytes(16) });
      expect(await store.compareAndSet(id, null, old)).toBe(true);
      const migrated = record({ format: SESSION_FORMAT, epoch: 9n, pending: old.pending! });
      expect(await store.compareAndSet(id, versionOf(old), migrated)).toBe(true);
      expectRecord(await store.get(id), migrated);
      const next = record({ epoch: 10n });
      expect(await store.compareAndSet(id, versionOf(migrated), next)).toBe(true);
      expectRecord(await store.get(id), next);
    });

    it('accepts an id of one byte', async () => {
      const store = await openStore();
      const id = randomId(1);
      await store.delete(id);
      const written = record({ epoch: 1n, pending: randomBytes(5) });
      expect(await store.compareAndSet(id, null, written)).toBe(true);
      expectRecord(await store.get(id), written);
      await store.delete(id);
      expect(await store.get(id)).toBeUndefined();
    });

    it('compares both the epoch and the pending commit before a write', async () => {
      const store = await openStore();
      const id = randomId();
      const pending = randomBytes(32);
      expect(await store.compareAndSet(id, null, record({ epoch: 1n }))).toBe(true);
      const second = record({ epoch: 2n, pending });
      expect(await store.compareAndSet(id, { epoch: 1n }, second)).toBe(true);
      expectRecord(await store.get(id), second);

      const other = pending.slice();
      other[31]! ^= 1;
      const attempt = record({ epoch: 3n });
      expect(await store.compareAndSet(id, { epoch: 1n }, attempt)).toBe(false);
      expect(await store.compareAndSet(id, { epoch: 2n, pending: other }, attempt)).toBe(false);
      expect(
        await store.compareAndSet(id, { epoch: 2n, pending: pending.subarray(0, 31) }, attempt),
      ).toBe(false);
      expect(await store.compareAndSet(id, { epoch: 2n }, attempt)).toBe(false);
      expect(await store.compareAndSet(id, { epoch: 3n, pending }, attempt)).toBe(false);
      expectRecord(await store.get(id), second);

      expect(await store.compareAndSet(id, { epoch: 2n, pending: pending.slice() }, attempt)).toBe(
        true,
      );
      expectRecord(await store.get(id), attempt);
    });

    it('tells an absent pending commit from an empty one', async () => {
      const store = await openStore();
      const id = randomId();
      const empty = record({ epoch: 4n, pending: new Uint8Array(0) });
      expect(await store.compareAndSet(id, null, empty)).toBe(true);
      expect(await store.compareAndSet(id, { epoch: 4n }, record({ epoch: 5n }))).toBe(false);
      expectRecord(await store.get(id), empty);
      expect(await store.compareAndSet(id, versionOf(empty), record({ epoch: 5n }))).toBe(true);
      expect(
        await store.compareAndSet(id, { epoch: 5n, pending: new Uint8Array(0) }, record()),
      ).toBe(false);
    });

    it('changes nothing when a compare-and-set fails', async () => {
      const store = await openStore();
      const id = randomId();
      const stored = record({ epoch: 12n, pending: randomBytes(20) });
      expect(await store.compareAndSet(id, null, stored)).toBe(true);
      const before = await store.get(id);
      const failures = [
        null,
        { epoch: 11n },
        { epoch: 12n },
        { epoch: 12n, pending: randomBytes(20) },
        { epoch: 13n, pending: stored.pending },
      ];
      for (const expected of failures) {
        expect(await store.compareAndSet(id, expected, record({ epoch: 99n }))).toBe(false);
      }
      expectRecord(await store.get(id), cloneRecord(before!));
      expectRecord(await store.get(id), stored);
    });

    it('deletes a record, after which it can be created again', async () => {
      const store = await openStore();
      const id = nameId();
      const first = record({ epoch: 3n, pending: randomBytes(8) });
      expect(await store.compareAndSet(id, null, first)).toBe(true);
      await store.delete(id);
      expect(await store.get(id)).toBeUndefined();
      expect(await store.compareAndSet(id, versionOf(first), record({ epoch: 4n }))).toBe(false);
      await store.delete(id);
      const again = record({ epoch: 1n });
      expect(await store.compareAndSet(id, null, again)).toBe(true);
      expectRecord(await store.get(id), again);
    });

    it('keeps ids that differ in one byte, or are prefixes of each other, apart', async () => {
      const store = await openStore();
      const id = randomId(48);
      const flippedLast = id.slice();
      flippedLast[47]! ^= 0x80;
      const flippedFirst = id.slice();
      flippedFirst[0]! ^= 1;
      const prefix = id.subarray(0, 16);
      const longer = new Uint8Array(49);
      longer.set(id);
      const ids = [id, flippedLast, flippedFirst, prefix, longer];
      const records = ids.map((_, i) => record({ epoch: BigInt(i + 1), pending: randomBytes(9) }));
      for (const [i, each] of ids.entries()) {
        expect(await store.compareAndSet(each, null, records[i]!)).toBe(true);
      }
      for (const [i, each] of ids.entries()) expectRecord(await store.get(each), records[i]!);

      await store.delete(id);
      expect(await store.get(id)).toBeUndefined();
      for (const [i, each] of ids.entries()) {
        if (i > 0) expectRecord(await store.get(each), records[i]!);
      }
    });

    it('lets exactly one of 50 concurrent writers from one version win', async () => {
      const store = await openStore();
      const id = randomId();
      const start = record({ epoch: 1n });
      expect(await store.compareAndSet(id, null, start)).toBe(true);
      const nexts = Array.from({ length: 50 }, () =>
        record({ epoch: 2n, pending: randomBytes(24) }),
      );
      const results = await Promise.all(
        nexts.map((next) => store.compareAndSet(id, versionOf(start), next)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expectRecord(await store.get(id), nexts[results.indexOf(true)]!);
    });

    it('lets exactly one of 50 concurrent creators win', async () => {
      const store = await openStore();
      const id = randomId();
      const nexts = Array.from({ length: 50 }, (_, i) => record({ epoch: BigInt(i) }));
      const results = await Promise.all(nexts.map((next) => store.compareAndSet(id, null, next)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expectRecord(await store.get(id), nexts[results.indexOf(true)]!);
    });

    it('follows a chain of 200 updates to the last', async () => {
      const store = await openStore();
      const id = randomId();
      let current = record({ epoch: 0n });
      expect(await store.compareAndSet(id, null, current)).toBe(true);
      for (let epoch = 1n; epoch <= 200n; epoch++) {
        const next = record({
          epoch,
          state: randomBytes(64),
          ...(epoch % 2n === 0n ? {} : { pending: randomBytes(16) }),
        });
        expect(await store.compareAndSet(id, versionOf(current), next)).toBe(true);
        current = next;
      }
      expectRecord(await store.get(id), current);
    });

    it('keeps a 4 MiB state and a 1 MiB pending commit exactly', async () => {
      const store = await openStore();
      const id = randomId();
      const large = record({
        epoch: 1n,
        state: randomBytes(4 * 1024 * 1024),
        pending: randomBytes(1024 * 1024),
      });
      expect(await store.compareAndSet(id, null, large)).toBe(true);
      expectRecord(await store.get(id), large);
      const small = record({ epoch: 2n });
      expect(await store.compareAndSet(id, versionOf(large), small)).toBe(true);
      expectRecord(await store.get(id), small);
    });

    it('expires a record ttl ms after its write; an expired record is absent', async () => {
      const store = await openStore({ ttl: TTL });
      const id = randomId();
      const written = record({ epoch: 1n });
      expect(await store.compareAndSet(id, null, written)).toBe(true);
      expectRecord(await store.get(id), written);
      await sleep(TTL + ttlSlack);
      expect(await store.get(id)).toBeUndefined();
      expect(await store.compareAndSet(id, versionOf(written), record({ epoch: 2n }))).toBe(false);
      const again = record({ epoch: 5n });
      expect(await store.compareAndSet(id, null, again)).toBe(true);
      expectRecord(await store.get(id), again);
    });

    it('restarts the ttl on every write, and keeps records with ttl Infinity or the default', async () => {
      const store = await openStore({ ttl: REFRESH_TTL });
      const forever = await openStore({ ttl: Number.POSITIVE_INFINITY });
      const byDefault = await openStore();
      const keptId = randomId();
      const kept = record({ epoch: 1n, pending: randomBytes(4) });
      expect(await forever.compareAndSet(keptId, null, kept)).toBe(true);
      const defaultId = randomId();
      const keptByDefault = record({ epoch: 2n });
      expect(await byDefault.compareAndSet(defaultId, null, keptByDefault)).toBe(true);
      // The check needs its second write before the first expires and its read after: on a
      // machine that stalls timers past that, an attempt proves nothing and is made again.
      for (let attempt = 1; ; attempt++) {
        const id = randomId();
        const first = record({ epoch: 1n });
        const start = performance.now();
        expect(await store.compareAndSet(id, null, first)).toBe(true);
        await sleep(0.5 * REFRESH_TTL);
        const second = record({ epoch: 2n });
        const rewritten = await store.compareAndSet(id, versionOf(first), second);
        const secondWritten = performance.now();
        await sleep(Math.max(0, start + 1.2 * REFRESH_TTL - performance.now()));
        const read = await store.get(id);
        const readAt = performance.now();
        const conclusive =
          secondWritten - start < 0.9 * REFRESH_TTL && readAt - secondWritten < 0.9 * REFRESH_TTL;
        if (conclusive) {
          expect(rewritten).toBe(true);
          // Past the first write's expiry, within the second's.
          expectRecord(read, second);
          break;
        }
        if (attempt === 5) throw new Error('timers stalled too long for the ttl check 5 times');
      }
      expectRecord(await forever.get(keptId), kept);
      expectRecord(await byDefault.get(defaultId), keptByDefault);
    });

    it('rejects every call after close with an MlsTlsError, without hanging', async () => {
      const store = await openStore();
      const id = randomId();
      const written = record({ epoch: 1n });
      expect(await store.compareAndSet(id, null, written)).toBe(true);
      await store.close();
      closedByTest.add(store);
      await expectClosedError(store.get(id));
      await expectClosedError(store.get(randomId()));
      await expectClosedError(store.compareAndSet(id, versionOf(written), record({ epoch: 2n })));
      await expectClosedError(store.compareAndSet(randomId(), null, record()));
      await expectClosedError(store.delete(id));
    });

    it('keeps no reference to the arrays it is given or returns', async () => {
      const store = await openStore();
      const callerId = randomId();
      const id = callerId.slice();
      const written = record({ epoch: 1n, pending: randomBytes(32) });
      const original = cloneRecord(written);
      expect(await store.compareAndSet(callerId, null, written)).toBe(true);
      callerId.fill(0);
      written.state.fill(0xaa);
      written.pending!.fill(0xbb);
      written.peer.fill(0xcc);
      const read = await store.get(id);
      expectRecord(read, original);
      read!.state.fill(0x11);
      read!.pending!.fill(0x22);
      read!.peer.fill(0x33);
      expectRecord(await store.get(id), original);

      const expected = versionOf(original);
      const next = record({ epoch: 2n });
      expect(await store.compareAndSet(id, expected, next)).toBe(true);
      expected.pending!.fill(0);
      expectRecord(await store.get(id), next);
    });
  });
}

interface RecordFields {
  format?: number;
  epoch?: bigint;
  state?: Uint8Array;
  pending?: Uint8Array;
  peer?: Uint8Array;
}

/**
 * A record of this version's format, with random state and peer unless given; no pending
 * commit unless given.
 */
function record(fields: RecordFields = {}): SessionRecord {
  const base = {
    format: fields.format ?? SESSION_FORMAT,
    epoch: fields.epoch ?? 1n,
    state: fields.state ?? randomBytes(120),
    peer: fields.peer ?? randomBytes(48),
  };
  return fields.pending === undefined ? base : { ...base, pending: fields.pending };
}

function cloneRecord(source: SessionRecord): SessionRecord {
  return record({
    format: source.format,
    epoch: source.epoch,
    state: source.state.slice(),
    ...(source.pending === undefined ? {} : { pending: source.pending.slice() }),
    peer: source.peer.slice(),
  });
}

/** Random bytes of any length (getRandomValues fills at most 64 KiB a call). */
function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65_536, length)));
  }
  return bytes;
}

function randomId(length = 32): Uint8Array {
  return randomBytes(length);
}

/** An id as an initiator keys by: a responder's name, UTF-8, not ASCII, unique per call. */
function nameId(): Uint8Array {
  const suffix = Array.from(randomBytes(8), (b) => b.toString(16).padStart(2, '0')).join('');
  return new TextEncoder().encode(`résumé-${suffix}.例え.example`);
}

/** Asserts that `actual` is `expected`, field by field. */
function expectRecord(actual: SessionRecord | undefined, expected: SessionRecord): void {
  expect(actual, 'the stored record').toBeDefined();
  const got = actual!;
  expect(got.format, 'format').toBe(expected.format);
  expect(typeof got.epoch, 'epoch type').toBe('bigint');
  expect(got.epoch, 'epoch').toBe(expected.epoch);
  expectBytes(got.state, expected.state, 'state');
  if (expected.pending === undefined) {
    expect(got.pending, 'pending').toBeUndefined();
  } else {
    expect(got.pending, 'pending').toBeDefined();
    expectBytes(got.pending!, expected.pending, 'pending');
  }
  expectBytes(got.peer, expected.peer, 'peer');
}

/** Compares bytes without expanding megabytes into a diff. */
function expectBytes(actual: unknown, expected: Uint8Array, what: string): void {
  expect(actual instanceof Uint8Array, `${what} is a Uint8Array`).toBe(true);
  const bytes = actual as Uint8Array;
  expect(bytes.length, `${what} length`).toBe(expected.length);
  let firstDifference = -1;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== expected[i]) {
      firstDifference = i;
      break;
    }
  }
  expect(firstDifference, `${what}: index of the first differing byte`).toBe(-1);
}

async function expectClosedError(call: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HANG_MS);
  });
  const outcome = await Promise.race([
    call.then(
      (value) => ({ resolved: value }),
      (error: unknown) => ({ rejected: error }),
    ),
    hung,
  ]);
  clearTimeout(timer);
  expect(outcome, 'a call on a closed store').not.toBe('hung');
  expect(outcome, 'a call on a closed store rejects').toHaveProperty('rejected');
  const error = (outcome as { rejected: unknown }).rejected;
  expect(error, 'the rejection').toBeInstanceOf(MlsTlsError);
  expect((error as MlsTlsError).code).toMatch(/^ERR_MLSTLS_/);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
