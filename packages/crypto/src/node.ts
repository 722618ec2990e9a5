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

let cached: CryptoProvider | undefined;

/** Whether this runtime offers node:crypto. */
export function isNodeCryptoAvailable(): boolean {
  return loadNodeCrypto() !== undefined;
}

/** The node:crypto provider: OpenSSL's AES-GCM and ChaCha20-Poly1305, the fast path. */
export function nodeProvider(): CryptoProvider {
  if (cached) return cached;
  const crypto = loadNodeCrypto();
  if (!crypto) {
    throw new MlsTlsError('ERR_MLSTLS_UNSUPPORTED', 'node:crypto is not available in this runtime');
  }
  const view = (buffer: Uint8Array): Uint8Array =>
    new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  cached = {
    name: 'node',
    digest: (hash, data) => view(crypto.createHash(hash).update(data).digest()),
    hmac(hash, key, ...data) {
      const mac = crypto.createHmac(hash, key);
      for (const part of data) mac.update(part);
      return view(mac.digest());
    },
    aeadKey: (algorithm, key) => new NodeAeadKey(crypto, algorithm, key),
  };
  return cached;
}

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
