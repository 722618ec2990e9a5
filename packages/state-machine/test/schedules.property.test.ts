// Random schedules of writes, updates, key updates and deliveries (cut at any byte) on both
// sides: whatever the interleaving, every byte arrives once and in order, and once everything
// is delivered both sides are SYNCED in one epoch with the same keys (docs/protocol.md section 5,
// as tools/model-check/abstract/profile_model.py explores it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flushPromises, hex, Pair, peerOf, random, type Side, sides, track } from './pair.js';

type Op =
  | { readonly kind: 'write'; readonly side: Side; readonly size: number }
  | { readonly kind: 'update'; readonly side: Side }
  | { readonly kind: 'keyUpdate'; readonly side: Side; readonly requestPeer: boolean }
  | { readonly kind: 'deliver'; readonly from: Side; readonly bytes: number | 'chunk' };

const side = fc.constantFrom<Side>('initiator', 'responder');

// Updates cost tens of milliseconds of MLS work each: they are kept to about one in ten
// operations, deliveries and writes are most of them. At most 30 operations keep every run
// under the flood limits (32 key_updates or empty records in a row).
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      from: side,
      bytes: fc.oneof(fc.constant('chunk' as const), fc.integer({ min: 1, max: 20_000 })),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      side,
      size: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 40_000 }),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('keyUpdate' as const),
      side,
      requestPeer: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('update' as const), side }) },
);

const RUNS = 1000;
const RUNS_PER_PAIR = 50;

/** Connected pairs reused across runs; a pair is replaced after 50 runs or any failure. */
class PairPool {
  #pair: Pair | undefined;
  #runs = 0;

  async take(): Promise<Pair> {
    if (this.#pair === undefined || this.#runs >= RUNS_PER_PAIR) {
      this.#pair = await Pair.connected();
      this.#runs = 0;
    }
    this.#runs++;
    const pair = this.#pair;
    // Only this run's outputs matter: the logs of earlier runs are let go.
    pair.trace.splice(0);
    for (const s of sides) pair.log[s].data.splice(0);
    return pair;
  }

  discard(): void {
    this.#pair = undefined;
  }
}

async function runSchedule(pool: PairPool, ops: readonly Op[]): Promise<void> {
  const pair = await pool.take();
  let healthy = false;
  try {
    const written: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
    const updates: ReturnType<typeof track>[] = [];
    for (const o of ops) {
      switch (o.kind) {
        case 'write': {
          const data = random(o.size);
          written[o.side].push(data);
          await pair.endpoint(o.side).write(data);
          break;
        }
        case 'update':
          updates.push(track(pair.endpoint(o.side).update()));
          break;
        case 'keyUpdate':
          await pair.endpoint(o.side).keyUpdate({ requestPeer: o.requestPeer });
          break;
        case 'deliver':
          if (o.bytes === 'chunk') await pair.deliver(o.from);
          else await pair.deliverBytes(o.from, o.bytes);
          break;
      }
      await pair.step();
    }

    await pair.settle();
    await flushPromises();
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(updates.map((u) => u.state())).toEqual(updates.map(() => 'resolved'));
    expect([pair.initiator.state, pair.responder.state]).toEqual(['synced', 'synced']);
    expect(pair.initiator.epoch).toBe(pair.responder.epoch);
    for (const s of sides) {
      const received = Buffer.concat(pair.log[peerOf(s)].data);
      const sent = Buffer.concat(written[s]);
      expect(received.length, `bytes from the ${s}`).toBe(sent.length);
      expect(hex(received) === hex(sent), `bytes from the ${s} arrive once, in order`).toBe(true);
    }
    pair.expectSameKeys();
    // A final exchange: the keys of both directions agree (and the flood counts restart).
    await pair.expectDataFlows(64);
    healthy = true;
  } finally {
    if (!healthy) pool.discard();
  }
}

describe('random schedules', () => {
  it(`${RUNS} schedules of writes, updates, key updates and deliveries end in sync with every byte delivered once, in order`, {
    timeout: 240_000,
  }, async () => {
    const seed = Number(process.env.MLSTLS_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const pool = new PairPool();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30, size: 'max' }), (ops) =>
          runSchedule(pool, ops),
        ),
        { numRuns: RUNS, seed },
      );
    } catch (error) {
      throw new Error(
        `random schedules failed with seed ${seed} (rerun with MLSTLS_PROPERTY_SEED=${seed}): ${(error as Error).message}`,
        { cause: error },
      );
    }
  });
});
