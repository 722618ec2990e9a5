// The soak's rules, checked without running it: the RSS rule, the seeded choices, the flags.
import { describe, expect, it } from 'vitest';
import { type MemorySample, rssVerdict } from '../src/memory.js';
import { parseOptions } from '../src/options.js';
import { errorKey } from '../src/protocol.js';
import { Random } from '../src/random.js';

const MiB = 1024 * 1024;
const sample = (seconds: number, rssMiB: number, warmupEnd = false): MemorySample => ({
  elapsedMs: seconds * 1000,
  rss: rssMiB * MiB,
  heapUsed: 0,
  heapTotal: 0,
  external: 0,
  warmupEnd,
});

describe('the RSS rule', () => {
  it('compares the highest RSS of the last third with the RSS at the end of warm-up', () => {
    const samples = [
      sample(5, 200), // warm-up: not counted, however high
      sample(15.02, 100, true),
      sample(30, 300), // the middle third: not counted
      sample(40, 105),
      sample(50, 109.9),
      sample(60.01, 104),
    ];
    const verdict = rssVerdict(samples, 60_000);
    expect(verdict.baseline?.rss).toBe(100 * MiB);
    expect(verdict.peak?.elapsedMs).toBe(50_000);
    expect(verdict.growth).toBeCloseTo(0.099, 3);
    expect(verdict.flat).toBe(true);
    expect(rssVerdict([...samples, sample(59, 110.1)], 60_000).flat).toBe(false);
  });

  it('without the warm-up mark takes the last sample before 25% of the run; a drop is flat', () => {
    const verdict = rssVerdict([sample(10, 120), sample(14, 130), sample(45, 90)], 60_000);
    expect(verdict.baseline?.elapsedMs).toBe(14_000);
    expect(verdict.flat).toBe(true);
  });

  it('is not flat without a sample in the last third', () => {
    expect(rssVerdict([sample(15, 100, true), sample(30, 100)], 60_000).flat).toBe(false);
  });
});

describe('the seeded choices', () => {
  it('repeat for a seed and a slot, and differ between slots and seeds', () => {
    const draw = (seed: string, slot: number) => {
      const random = new Random(seed, slot);
      return [random.uint32(), random.int(1, 24), random.logSize(1, 65536), random.bytes(7)];
    };
    expect(draw('1', 3)).toEqual(draw('1', 3));
    expect(draw('1', 3)).not.toEqual(draw('1', 4));
    expect(draw('1', 3)).not.toEqual(draw('2', 3));
  });

  it('keeps sizes and integers within their bounds', () => {
    const random = new Random('bounds', 0);
    for (let index = 0; index < 10_000; index++) {
      const size = random.logSize(1, 65536);
      expect(size >= 1 && size <= 65536).toBe(true);
      const n = random.int(0, 3);
      expect(n >= 0 && n <= 3).toBe(true);
    }
  });
});

describe('the flags', () => {
  it('has the defaults of the 10-minute soak, and a sample period scaled to short runs', () => {
    expect(parseOptions([])).toEqual({
      connections: 1000,
      seconds: 600,
      seed: '1',
      sampleMs: 5000,
      thinkMs: 10_000,
    });
    expect(parseOptions(['--', '--connections', '200', '--seconds=60'])).toMatchObject({
      connections: 200,
      seconds: 60,
      sampleMs: 3000,
      thinkMs: 2000,
    });
    expect(() => parseOptions(['--connection', '3'])).toThrow(/unknown flag/);
  });

  it('counts a wrapped transport error by its code and its cause', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const wrapped = Object.assign(new Error('the transport failed', { cause: reset }), {
      code: 'ERR_MLSTLS_ABORTED',
    });
    expect(errorKey(wrapped)).toBe('ERR_MLSTLS_ABORTED (ECONNRESET)');
    expect(errorKey(reset)).toBe('ECONNRESET');
  });
});
