import { MlsTlsError } from '@mlstls/codec';
import {
  type AeadAlgorithm,
  type AeadKey,
  aeadParameters,
  type CryptoProvider,
  copyAeadKey,
  joinParts,
} from './provider.js';

type NodeCrypto = typeof import('node:crypto');

/**
 * node:crypto, loaded without a static import so that bundles for browsers and workers that
 * never choose this provider still load (`process.getBuiltinModule`, Node 20.16 and later).
 */
function loadNodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
}

/**
 * What `@mlstls/crypto-native` exports. Only its types are imported here: the addon itself is
 * optional, and loaded at run time where it was built (`loadNative`).
 */
type NativeAead = typeof import('@mlstls/crypto-native');
type NativeKey = import('@mlstls/crypto-native').NativeKey;

const NATIVE_ALGORITHMS: Readonly<
  Record<AeadAlgorithm, import('@mlstls/crypto-native').NativeAlgorithm>
> = {
  'aes-128-gcm': 0,
  'aes-256-gcm': 1,
  'chacha20-poly1305': 2,
};

let native: NativeAead | null | undefined;

/**
 * `@mlstls/crypto-native` (an optional dependency built at install with node-gyp), or null
 * when it is not installed, failed to build or to load, or `MLSTLS_CRYPTO_NATIVE=0` is set.
 */
function loadNative(): NativeAead | null {
  if (native !== undefined) return native;
  native = null;
  const proc = (
    globalThis as {
      process?: {
        getBuiltinModule?: (id: string) => unknown;
        env?: Record<string, string | undefined>;
      };
    }
  ).process;
  if (proc?.env?.MLSTLS_CRYPTO_NATIVE === '0') return native;
  try {
    const module = proc?.getBuiltinModule?.('node:module') as
      | typeof import('node:module')
      | undefined;
    if (module === undefined) return native;
    const loaded = module.createRequire(import.meta.url)('@mlstls/crypto-native') as NativeAead;
    if (typeof loaded.createKey === 'function' && typeof loaded.rekey === 'function')
      native = loaded;
  } catch {
    // Not installed or not built: node:crypto it is.
  }
  return native;
}

/** How the node provider makes AEAD keys: see `nodeProvider`. */
export type NodeAeadBinding = 'auto' | 'native' | 'node:crypto';

const cached = new Map<NodeAeadBinding, CryptoProvider>();

/** Whether this runtime offers node:crypto. */
export function isNodeCryptoAvailable(): boolean {
  return loadNodeCrypto() !== undefined;
}

/** Whether `@mlstls/crypto-native` is installed and loads (and `MLSTLS_CRYPTO_NATIVE` is not 0). */
export function isNativeAeadAvailable(): boolean {
  return loadNodeCrypto() !== undefined && loadNative() !== null;
}

/**
 * The node provider: OpenSSL through Node, the fast path. Hash and HMAC come from node:crypto;
 * record AEAD keys, with `aead`:
 *
 * - `auto` (the default): from `@mlstls/crypto-native` when it is installed and loads (one
 *   OpenSSL context per key, sealing into the record's memory), else node:crypto;
 * - `native`: from `@mlstls/crypto-native`, `ERR_MLSTLS_UNSUPPORTED` without it;
 * - `node:crypto`: a node:crypto cipher object per record, JavaScript only.
 *
 * All three are named `node`: the same OpenSSL, the same MLS implementation.
 */
export function nodeProvider(aead: NodeAeadBinding = 'auto'): CryptoProvider {
  const known = cached.get(aead);
  if (known) return known;
  const crypto = loadNodeCrypto();
  if (!crypto) {
    throw new MlsTlsError('ERR_MLSTLS_UNSUPPORTED', 'node:crypto is not available in this runtime');
  }
  const addon = aead === 'node:crypto' ? null : loadNative();
  if (aead === 'native' && addon === null) {
    throw new MlsTlsError(
      'ERR_MLSTLS_UNSUPPORTED',
      '@mlstls/crypto-native is not installed, did not build, or MLSTLS_CRYPTO_NATIVE=0',
    );
  }
  const view = (buffer: Uint8Array): Uint8Array =>
    new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const provider: CryptoProvider = {
    name: 'node',
    digest: (hash, data) => view(crypto.createHash(hash).update(data).digest()),
    hmac(hash, key, ...data) {
      const mac = crypto.createHmac(hash, key);
      for (const part of data) mac.update(part);
      return view(mac.digest());
    },
    aeadKey: addon
      ? (algorithm, key) => new NativeAeadKey(addon, algorithm, key)
      : (algorithm, key) => new NodeAeadKey(crypto, algorithm, key),
  };
  cached.set(aead, provider);
  return provider;
}

const EMPTY = new Uint8Array(0);

/** Memory for a plaintext, not zeroed first where Node can skip it: every byte is written. */
const allocate: (length: number) => Uint8Array = (() => {
  const buffer = (globalThis as { Buffer?: { allocUnsafeSlow?: (length: number) => Uint8Array } })
    .Buffer;
  const unsafe = buffer?.allocUnsafeSlow;
  if (typeof unsafe !== 'function') return (length) => new Uint8Array(length);
  return (length) => {
    const bytes = unsafe(length);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
})();

/**
 * An AEAD key of `@mlstls/crypto-native`: OpenSSL keeps the key schedule in a context per
 * direction, so a record costs a nonce, the cipher and the tag, written straight into `out`.
 */
/**
 * Destroyed native keys kept for reuse, at most `SPARE_KEYS`: a key_update flood makes and drops
 * keys by the thousand, and a new external each time leaves V8 a finalizer per key to run, late,
 * while the process grows. A spare key holds no key bytes and no OpenSSL context.
 */
const spareKeys: NativeKey[] = [];
const SPARE_KEYS = 64;

class NativeAeadKey implements AeadKey {
  readonly algorithm: AeadAlgorithm;
  readonly #addon: NativeAead;
  #key: NativeKey | undefined;

  constructor(addon: NativeAead, algorithm: AeadAlgorithm, key: Uint8Array) {
    const copy = copyAeadKey(algorithm, key);
    this.algorithm = algorithm;
    this.#addon = addon;
    try {
      const spare = spareKeys.pop();
      if (spare === undefined) {
        this.#key = addon.createKey(NATIVE_ALGORITHMS[algorithm], copy);
      } else {
        addon.rekey(spare, NATIVE_ALGORITHMS[algorithm], copy);
        this.#key = spare;
      }
    } finally {
      copy.fill(0);
    }
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): void {
    const key = this.#check();
    if (parts.length === 2) {
      this.#addon.seal(key, nonce, aad, parts[0]!, parts[1]!, out, offset);
    } else {
      this.#addon.seal(key, nonce, aad, joinParts(parts), EMPTY, out, offset);
    }
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    // As a node:crypto key erased by destroy(): nothing opens any more.
    const key = this.#key;
    if (key === undefined || ciphertext.length < TAG_LENGTH) return undefined;
    const plaintext = allocate(ciphertext.length - TAG_LENGTH);
    // The addon erases what it wrote when the tag does not verify.
    return this.#addon.open(key, nonce, aad, ciphertext, plaintext, 0) < 0 ? undefined : plaintext;
  }

  destroy(): void {
    const key = this.#key;
    if (key === undefined) return;
    this.#key = undefined;
    this.#addon.destroy(key);
    if (spareKeys.length < SPARE_KEYS) spareKeys.push(key);
  }

  /** The native key, unless destroyed. */
  #check(): NativeKey {
    if (this.#key === undefined) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'AEAD key used after destroy()');
    }
    return this.#key;
  }
}

const TAG_LENGTH = 16;

class NodeAeadKey implements AeadKey {
  readonly algorithm: AeadAlgorithm;
  readonly #crypto: NodeCrypto;
  readonly #key: Uint8Array;
  readonly #tagLength: number;

  constructor(crypto: NodeCrypto, algorithm: AeadAlgorithm, key: Uint8Array) {
    const { tagLength } = aeadParameters(algorithm);
    this.algorithm = algorithm;
    this.#crypto = crypto;
    this.#key = copyAeadKey(algorithm, key);
    this.#tagLength = tagLength;
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): void {
    const cipher = this.#crypto.createCipheriv(this.algorithm as 'aes-128-gcm', this.#key, nonce, {
      authTagLength: this.#tagLength,
    });
    cipher.setAAD(aad);
    // One update() per record: a call costs node:crypto about 2 us, more than joining the
    // parts (content and content type) in a scratch buffer (tools/bench).
    const encrypted = cipher.update(joinParts(parts));
    out.set(encrypted, offset);
    cipher.final();
    out.set(cipher.getAuthTag(), offset + encrypted.length);
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    const split = ciphertext.length - this.#tagLength;
    if (split < 0) return undefined;
    const decipher = this.#crypto.createDecipheriv(
      this.algorithm as 'aes-128-gcm',
      this.#key,
      nonce,
      { authTagLength: this.#tagLength },
    );
    decipher.setAAD(aad);
    decipher.setAuthTag(ciphertext.subarray(split));
    const plaintext = decipher.update(ciphertext.subarray(0, split));
    try {
      decipher.final();
    } catch {
      plaintext.fill(0); // never let unauthenticated plaintext linger
      return undefined;
    }
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  }

  destroy(): void {
    this.#key.fill(0);
  }
}
