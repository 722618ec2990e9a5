import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import {
  type AeadAlgorithm,
  type AeadKey,
  type CryptoProvider,
  copyAeadKey,
  joinParts,
} from './provider.js';

const hashes = { sha256, sha384, sha512 } as const;

/** The `@noble` provider: audited pure JavaScript that runs in every runtime, the portable path. */
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
    this.algorithm = algorithm;
    this.#key = copyAeadKey(algorithm, key);
    this.#cipher = algorithm === 'chacha20-poly1305' ? chacha20poly1305 : gcm;
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): void {
    out.set(this.#cipher(this.#key, nonce, aad).encrypt(joinParts(parts)), offset);
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
