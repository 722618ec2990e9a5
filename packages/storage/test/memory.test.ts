import { MlsTlsError } from '@mlstls/codec';
import { describe, expect, it } from 'vitest';
import { describeSessionStore } from '../src/conformance.js';
import {
  checkTtl,
  DEFAULT_SESSION_TTL,
  MemoryStore,
  SESSION_FORMAT,
  type SessionRecord,
} from '../src/index.js';

describeSessionStore('MemoryStore', (options) => new MemoryStore(options));

const id = Uint8Array.of(1, 2, 3);

function record(epoch: bigint): SessionRecord {
  return { format: SESSION_FORMAT, epoch, state: Uint8Array.of(9, 9), peer: Uint8Array.of(7) };
}

describe('MemoryStore', () => {
  it('expires a record exactly ttl ms after its last write, by the injected clock', async () => {
    let now = 1_000;
    const store = new MemoryStore({ ttl: 100, now: () => now });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    now = 1_099;
    expect(await store.get(id)).toBeDefined();
    now = 1_050;
    expect(await store.compareAndSet(id, { epoch: 1n }, record(2n))).toBe(true);
    now = 1_149;
    expect((await store.get(id))?.epoch).toBe(2n);
    now = 1_150;
    expect(await store.get(id)).toBeUndefined();
    expect(await store.compareAndSet(id, { epoch: 2n }, record(3n))).toBe(false);
    expect(await store.compareAndSet(id, null, record(3n))).toBe(true);
  });

  it('expires a record written without a ttl after DEFAULT_SESSION_TTL, 7 days', async () => {
    expect(DEFAULT_SESSION_TTL).toBe(7 * 24 * 60 * 60 * 1000);
    expect(checkTtl(undefined)).toBe(DEFAULT_SESSION_TTL);
    let now = 1_000;
    const store = new MemoryStore({ now: () => now });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    now += DEFAULT_SESSION_TTL - 1;
    expect(await store.get(id)).toBeDefined();
    now += 1;
    expect(await store.get(id)).toBeUndefined();
  });

  it('keeps a record forever with ttl Infinity', async () => {
    expect(checkTtl(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    let now = 1_000;
    const store = new MemoryStore({ ttl: Number.POSITIVE_INFINITY, now: () => now });
    expect(await store.compareAndSet(id, null, record(1n))).toBe(true);
    now = Number.MAX_SAFE_INTEGER;
    expect((await store.get(id))?.epoch).toBe(1n);
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 53, Number.NEGATIVE_INFINITY])(
    'refuses a ttl of %s',
    (ttl) => {
      let error: unknown;
      try {
        new MemoryStore({ ttl });
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(MlsTlsError);
      expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    },
  );

  it('copies the bytes of a Buffer rather than keeping a view of it', async () => {
    const store = new MemoryStore();
    const state = Buffer.from([1, 2, 3]);
    expect(await store.compareAndSet(id, null, { ...record(1n), state })).toBe(true);
    state.fill(0);
    const read = await store.get(id);
    expect(Array.from(read!.state)).toEqual([1, 2, 3]);
    expect(Buffer.isBuffer(read!.state)).toBe(false);
  });
});
