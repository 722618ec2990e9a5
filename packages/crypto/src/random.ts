/** Bytes drawn from the platform CSPRNG at a time, handed out in small pieces. */
const POOL_SIZE = 4096;
/** Requests larger than this bypass the pool. */
const POOL_LIMIT = 256;
/** `getRandomValues` fills at most this many bytes per call. */
const RANDOM_CHUNK = 65_536;

type Fill = (bytes: Uint8Array) => void;

function platformFill(): Fill {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const node = proc?.getBuiltinModule?.('node:crypto') as
    | { randomFillSync(bytes: Uint8Array): Uint8Array }
    | undefined;
  if (node !== undefined) return (bytes) => node.randomFillSync(bytes);
  return (bytes) => {
    for (let at = 0; at < bytes.length; at += RANDOM_CHUNK) {
      globalThis.crypto.getRandomValues(bytes.subarray(at, at + RANDOM_CHUNK));
    }
  };
}

let fill: Fill | undefined;
const pool = new Uint8Array(POOL_SIZE);
let used = POOL_SIZE;

/**
 * `length` bytes from the platform CSPRNG (node:crypto's `randomFillSync`, else WebCrypto's
 * `getRandomValues`). A call to either costs about 7 us whatever the length up to a few KiB,
 * and a handshake asks for dozens of 32-byte values (HPKE and signature keys, path secrets,
 * group ids, reuse guards), so small requests are served from a 4 KiB block drawn at once. A
 * piece handed out is erased from the block at once: no byte is given twice or kept.
 */
export function secureRandom(length: number): Uint8Array {
  fill ??= platformFill();
  const out = new Uint8Array(length);
  if (length > POOL_LIMIT) {
    fill(out);
    return out;
  }
  if (used + length > POOL_SIZE) {
    fill(pool);
    used = 0;
  }
  const end = used + length;
  out.set(pool.subarray(used, end));
  pool.fill(0, used, end);
  used = end;
  return out;
}
