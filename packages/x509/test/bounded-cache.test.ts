import { describe, expect, it } from 'vitest';
import { BoundedCache, bytesKey } from '../src/bounded-cache.js';

/** Which of `keys` `cache` holds: asking for one that it does not hold adds it. */
function held(cache: BoundedCache<string>, keys: readonly string[]): string[] {
  return keys.filter((key) => {
    const before = cache.created;
    cache.getOrCreate(key, () => 'new');
    return cache.created === before;
  });
}

describe('BoundedCache', () => {
  it('makes a value once per key, then returns the kept one', () => {
    const cache = new BoundedCache<{ key: string }>(4);
    const first = cache.getOrCreate('a', () => ({ key: 'a' }));
    expect(cache.getOrCreate('a', () => ({ key: 'other' }))).toBe(first);
    expect(cache.created).toBe(1);
  });

  it('never holds more than maxEntries, evicting the least recently used', () => {
    const cache = new BoundedCache<string>(3);
    for (const key of ['a', 'b', 'c']) cache.getOrCreate(key, () => key);
    cache.getOrCreate('a', () => 'a'); // a is now used more recently than b and c
    cache.getOrCreate('d', () => 'd'); // so b goes
    expect(cache.size).toBe(3);
    expect(held(cache, ['a', 'c', 'd'])).toEqual(['a', 'c', 'd']);
    expect(held(cache, ['b'])).toEqual([]);
    for (let i = 0; i < 1000; i++) cache.getOrCreate(`key ${i}`, () => '');
    expect(cache.size).toBe(3);
  });

  it('keeps the declared bytes within maxBytes, and no value larger than that', () => {
    const cache = new BoundedCache<string>(100, 10);
    cache.getOrCreate('a', () => 'a', 4);
    cache.getOrCreate('b', () => 'b', 4);
    cache.getOrCreate('c', () => 'c', 4); // 12 bytes: a goes
    expect(cache.size).toBe(2);
    expect(cache.getOrCreate('huge', () => 'huge', 11)).toBe('huge');
    expect(cache.size).toBe(2);
    expect(held(cache, ['huge'])).toEqual([]);
  });

  it('keeps nothing for a create that throws', () => {
    const cache = new BoundedCache<string>(4);
    expect(() =>
      cache.getOrCreate('a', () => {
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(cache.size).toBe(0);
    expect(cache.getOrCreate('a', () => 'a')).toBe('a');
  });
});

describe('bytesKey', () => {
  it('is equal exactly for equal bytes, beyond one chunk of arguments too', () => {
    const long = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7) & 0xff);
    const changed = long.slice();
    changed[19_999]! ^= 1;
    expect(bytesKey(long)).toBe(bytesKey(long.slice()));
    expect(bytesKey(long)).not.toBe(bytesKey(changed));
    expect(bytesKey(long).length).toBe(20_000);
    expect(bytesKey(Uint8Array.of(0x00))).not.toBe(bytesKey(Uint8Array.of(0x00, 0x00)));
  });
});
