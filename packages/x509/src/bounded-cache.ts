/**
 * A map that keeps at most `maxEntries` entries and `maxBytes` of their declared sizes, the
 * least recently used evicted first. The caches of this package are shared by every
 * verification of the process and fed by peers, so they must not grow with what peers send.
 */
export class BoundedCache<V> {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, { readonly value: V; readonly bytes: number }>();
  private bytes = 0;
  /** Values made by `getOrCreate` (cache misses); tests read it to see the cache work. */
  created = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The value cached under `key`, or `create()`'s, kept if its `bytes` fit. A `create` that
   * throws caches nothing.
   */
  getOrCreate(key: string, create: () => V, bytes = 0): V {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.value;
    }
    const value = create();
    this.created++;
    if (bytes > this.maxBytes) return value;
    this.entries.set(key, { value, bytes });
    this.bytes += bytes;
    for (const [oldest, { bytes: size }] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= size;
    }
    return value;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

/**
 * `bytes` as a string of one character per byte: an exact key (two keys are equal exactly when
 * the bytes are), which a Map hashes natively; never decoded back into bytes.
 */
export function bytesKey(bytes: Uint8Array): string {
  let key = '';
  // Bounded chunks: fromCharCode.apply takes its arguments on the stack.
  for (let start = 0; start < bytes.length; start += 8192) {
    key += String.fromCharCode.apply(
      null,
      bytes.subarray(start, start + 8192) as unknown as number[],
    );
  }
  return key;
}
