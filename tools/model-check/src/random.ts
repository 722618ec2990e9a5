// Randomness and time for the simulated endpoints: both come from outside the core, so a seeded
// generator and a fixed clock make every run of an event sequence produce the same bytes.
import { createHash } from 'node:crypto';

export type Random = (length: number) => Uint8Array;

/**
 * A deterministic byte stream: SHA-256(seed, block counter), block after block. Not a CSPRNG
 * anyone should ship; it only has to be reproducible and never repeat within a seed.
 */
export function seededRandom(seed: string): Random {
  let counter = 0;
  return (length: number) => {
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const block = createHash('sha256').update(seed).update(`/${counter++}`).digest();
      const take = Math.min(block.length, length - at);
      out.set(block.subarray(0, take), at);
      at += take;
    }
    return out;
  };
}

const DAY_MS = 86_400_000;

/**
 * The endpoints' clock: the start of the current UTC day, fixed for a whole exploration. A
 * constant date would do for the core, but ts-mls checks a KeyPackage's lifetime (the core sets
 * it to now ± 1 day) against `Date.now()` when the responder commits the Add, so the clock must
 * stay within a day of the wall clock. Within one UTC day every run gives the same bytes; event
 * sequences reproduce on any day.
 */
export function dayClock(wallClock = Date.now()): () => number {
  const start = Math.floor(wallClock / DAY_MS) * DAY_MS;
  return () => start;
}
