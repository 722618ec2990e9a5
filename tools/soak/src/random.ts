// The soak's only source of random choices: a seeded PRNG (sfc32, seeded through splitmix32),
// so that a run can be repeated with `--seed`. Each connection slot has a stream of its own,
// derived from the seed and the slot's number: the choices a slot makes do not depend on how
// the event loop interleaves the slots.

/** A 32-bit hash of the seed as given (FNV-1a over its UTF-16 code units). */
function hashSeed(seed: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < seed.length; index++) {
    hash ^= seed.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** splitmix32: spreads a 32-bit state into well-mixed words, one per call. */
function splitmix32(state: number): () => number {
  let value = state >>> 0;
  return () => {
    value = (value + 0x9e3779b9) >>> 0;
    let mixed = value;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x21f0aaad);
    mixed = Math.imul(mixed ^ (mixed >>> 15), 0x735a2d97);
    return (mixed ^ (mixed >>> 15)) >>> 0;
  };
}

export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** The stream of `stream` (a slot's number) under `seed`. */
  constructor(seed: string, stream: number) {
    const words = splitmix32(hashSeed(seed) ^ Math.imul(stream + 1, 0x9e3779b1));
    this.#a = words();
    this.#b = words();
    this.#c = words();
    this.#d = words();
    // sfc32 wants a few rounds before its output is well mixed.
    for (let round = 0; round < 12; round++) this.uint32();
  }

  /** The next 32-bit word (sfc32). */
  uint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.uint32() / 0x1_0000_0000;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /**
   * A size in [min, max] whose logarithm is uniform: as many writes of 1 to 16 bytes as of 4
   * to 64 KiB, so both small records and records split across many reads are common.
   */
  logSize(min: number, max: number): number {
    const size = Math.floor(Math.exp(Math.log(min) + this.next() * Math.log((max + 1) / min)));
    return Math.min(max, Math.max(min, size));
  }

  /** One of `choices`, each with its weight. */
  pick<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
    let point = this.next() * total;
    for (const [choice, weight] of choices) {
      point -= weight;
      if (point < 0) return choice;
    }
    return choices[choices.length - 1]![0];
  }

  /** `length` bytes from the stream. */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let index = 0;
    for (; index + 4 <= length; index += 4) out.writeUInt32LE(this.uint32(), index);
    if (index < length) {
      const last = this.uint32();
      for (let shift = 0; index < length; index++, shift += 8) out[index] = (last >>> shift) & 0xff;
    }
    return out;
  }
}
