import { MlsTlsError } from '@mlstls/codec';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import {
  type AeadAlgorithm,
  type AeadKey,
  aeadParameters,
  type CryptoProvider,
} from './provider.js';

const hashes = { sha256, sha384, sha512 } as const;

/** The @noble provider: audited pure JavaScript that runs in every runtime, the portable path. */
export const nobleProvider: CryptoProvider = {
  name: 'noble',
  digest: (hash, data) => hashes[hash](data),
  hmac(hash, key, ...data) {
    const mac = hmac.create(hashes[hash], key);
    for (const part of data) mac.update(part);
    return mac.digest();
  },
  aeadKey: (algorithm, key) => new NobleAeadKey(algorithm, key),
};

class NobleAeadKey implements AeadKey {
  readonly algorithm: AeadAlgorithm;
  readonly #key: Uint8Array;
  readonly #cipher: typeof gcm | typeof chacha20poly1305;

  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    const { keyLength } = aeadParameters(algorithm);
    if (key.length !== keyLength) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        `${algorithm} takes a ${keyLength}-byte key`,
      );
    }
    this.algorithm = algorithm;
    this.#key = key.slice();
    this.#cipher = algorithm === 'chacha20-poly1305' ? chacha20poly1305 : gcm;
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): void {
    const plaintext = parts.length === 1 ? parts[0]! : concat(parts);
    out.set(this.#cipher(this.#key, nonce, aad).encrypt(plaintext), offset);
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    try {
      return this.#cipher(this.#key, nonce, aad).decrypt(ciphertext);
    } catch {
      return undefined;
    }
  }

  destroy(): void {
    this.#key.fill(0);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}
