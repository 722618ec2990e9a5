// The RSS rule of the soak: is the server's resident memory flat once warmed up?
//
// Warm-up is the first quarter of the run, or longer until every connection has completed its
// first handshake (a loaded runner ramps up slower): connections ramp up, V8 sizes its heap, the
// JIT settles, the stores fill with one session per connection. The rule:
//
//   baseline = the server's RSS in the sample taken at the end of warm-up (soak.ts marks the
//              first sample from 25% of the run on at which every connection has started;
//              without a mark, the last sample before 25%)
//   peak     = the highest RSS of the samples taken in the last third of the run (from 2/3
//              of the run to its end, before the connections are closed; soak.ts always takes
//              one at the end)
//   flat     = peak <= baseline x 1.10
//
// A drop is fine; only growth counts. Each sample is taken right after a full garbage
// collection in the server process, so garbage waiting for the collector is not counted.

export interface MemorySample {
  /** Milliseconds since the run started. */
  readonly elapsedMs: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  /** The sample soak.ts takes at the end of warm-up. */
  readonly warmupEnd?: boolean;
}

export interface RssVerdict {
  readonly warmupEndMs: number;
  readonly lastThirdFromMs: number;
  /** The sample at the end of warm-up. */
  readonly baseline: MemorySample | undefined;
  /** The sample of the last third with the highest RSS. */
  readonly peak: MemorySample | undefined;
  /** peak / baseline - 1 (0.05 is 5% growth). */
  readonly growth: number;
  readonly limit: number;
  readonly flat: boolean;
}

export const WARMUP_FRACTION = 0.25;
export const RSS_GROWTH_LIMIT = 0.1;

export function rssVerdict(samples: readonly MemorySample[], durationMs: number): RssVerdict {
  const warmupEndMs = durationMs * WARMUP_FRACTION;
  const lastThirdFromMs = (durationMs * 2) / 3;
  const baseline =
    samples.find((sample) => sample.warmupEnd === true) ??
    samples.filter((sample) => sample.elapsedMs <= warmupEndMs).at(-1);
  const lastThird = samples.filter((sample) => sample.elapsedMs >= lastThirdFromMs);
  const peak = lastThird.reduce<MemorySample | undefined>(
    (max, sample) => (max === undefined || sample.rss > max.rss ? sample : max),
    undefined,
  );
  const growth =
    baseline === undefined || peak === undefined ? Number.NaN : peak.rss / baseline.rss - 1;
  return {
    warmupEndMs,
    lastThirdFromMs,
    baseline,
    peak,
    growth,
    limit: RSS_GROWTH_LIMIT,
    // No baseline or no sample in the last third is no evidence of flatness.
    flat: Number.isFinite(growth) && growth <= RSS_GROWTH_LIMIT,
  };
}
