import { describe, expect, it } from 'vitest';
import { secureRandom } from '../src/index.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('secureRandom', () => {
  it('gives bytes of the length asked, small and large (past 64 KiB as well)', () => {
    for (const length of [0, 1, 32, 255, 256, 257, 4096, 70_000]) {
      expect(secureRandom(length)).toHaveLength(length);
    }
  });

  it('never gives the same piece twice, across many refills of its block', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(hex(secureRandom(32)));
    expect(seen.size).toBe(2000);
  });

  it('gives bytes that look uniform (each byte value about as often as the others)', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 1024; i++) for (const byte of secureRandom(64)) counts[byte]!++;
    // 65,536 bytes: 256 expected per value; a loose bound catches zeros or a stuck block.
    expect(Math.min(...counts)).toBeGreaterThan(150);
    expect(Math.max(...counts)).toBeLessThan(370);
  });

  it('hands out copies: changing one changes nothing given later', () => {
    const first = secureRandom(16);
    first.fill(0);
    expect(secureRandom(16).some((byte) => byte !== 0)).toBe(true);
  });
});
