import { MlsTlsError } from '@mlstls/codec';

/** Hash functions of the MLS ciphersuites this profile uses. */
export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';

/** Record AEADs (docs/protocol.md section 3). */
export type AeadAlgorithm = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

/** Output length `Nh` of each hash. */
export const HASH_LENGTH: Readonly<Record<HashAlgorithm, number>> = {
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

/** `Nh` of `hash`; a hash this profile does not use is `ERR_MLSTLS_INVALID_ARGUMENT`. */
export function hashLength(hash: HashAlgorithm): number {
  const length = Object.hasOwn(HASH_LENGTH, hash) ? HASH_LENGTH[hash] : undefined;
  if (length === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `unknown hash ${String(hash)}`);
  }
  return length;
}

export interface AeadParameters {
  readonly keyLength: number;
  readonly nonceLength: number;
  readonly tagLength: number;
}

/** Key, nonce and tag lengths of each AEAD (RFC 5116, RFC 8439). */
export const AEAD_PARAMETERS: Readonly<Record<AeadAlgorithm, AeadParameters>> = {
  'aes-128-gcm': { keyLength: 16, nonceLength: 12, tagLength: 16 },
  'aes-256-gcm': { keyLength: 32, nonceLength: 12, tagLength: 16 },
  'chacha20-poly1305': { keyLength: 32, nonceLength: 12, tagLength: 16 },
};

/** The lengths of `aead`; an AEAD this profile does not use is `ERR_MLSTLS_INVALID_ARGUMENT`. */
export function aeadParameters(aead: AeadAlgorithm): AeadParameters {
  const parameters = Object.hasOwn(AEAD_PARAMETERS, aead) ? AEAD_PARAMETERS[aead] : undefined;
  if (parameters === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `unknown AEAD ${String(aead)}`);
  }
  return parameters;
}

/** One AEAD key, set up once and used for many nonces. */
export interface AeadKey {
  readonly algorithm: AeadAlgorithm;
  /**
   * Encrypts the concatenation of `parts` and writes ciphertext then tag into `out` at
   * `offset`. `out` must have room for the plaintext length plus the tag.
   */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): void;
  /** The plaintext of `ciphertext` (tag included), or `undefined` when it does not authenticate. */
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined;
  /**
   * `seal`, asynchronously: the provider may run several at once (WebCrypto). It takes its
   * copies of `nonce`, `aad` and `parts` before it returns, and writes into `out` when the
   * promise resolves. A key that seals only synchronously has no `sealAsync`.
   */
  sealAsync?(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): Promise<void>;
  /** `open`, asynchronously, taking its copies before it returns, as `sealAsync`. */
  openAsync?(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
  ): Promise<Uint8Array | undefined>;
  /**
   * Overwrites the key bytes this object holds. The key cannot be used afterwards; an
   * asynchronous seal or open already started still completes.
   */
  destroy(): void;
}

/** The primitives mlstls needs: a hash, HMAC (for HKDF) and AEAD keys. */
export interface CryptoProvider {
  readonly name: string;
  digest(hash: HashAlgorithm, data: Uint8Array): Uint8Array;
  /** HMAC of the concatenation of `data`. */
  hmac(hash: HashAlgorithm, key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
  /** Copies `key`: the caller may erase its own copy. */
  aeadKey(algorithm: AeadAlgorithm, key: Uint8Array): AeadKey;
}

/**
 * A copy of `key`, checked against the AEAD's key length: what every `aeadKey` keeps, so that
 * the caller may erase its own copy.
 */
export function copyAeadKey(algorithm: AeadAlgorithm, key: Uint8Array): Uint8Array {
  const { keyLength } = aeadParameters(algorithm);
  if (key.length !== keyLength) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      `${algorithm} takes a ${keyLength}-byte key`,
    );
  }
  return key.slice();
}

/**
 * Shared by every key of every provider: JavaScript runs one seal at a time and the cipher has
 * consumed the scratch before `seal` returns. It holds plaintext only, never key material.
 */
let scratch = new Uint8Array(0);

/** The parts of a plaintext as one array: the only part itself, or the parts joined in scratch. */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.length;
  if (scratch.length < length) scratch = new Uint8Array(Math.max(length, 2 ** 14 + 256));
  let at = 0;
  for (const part of parts) {
    scratch.set(part, at);
    at += part.length;
  }
  return scratch.subarray(0, length);
}
