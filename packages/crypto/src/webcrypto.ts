import { MlsTlsError } from '@mlstls/codec';
import { nobleProvider } from './noble.js';
import {
  type AeadAlgorithm,
  type AeadKey,
  type CryptoProvider,
  copyAeadKey,
  joinParts,
} from './provider.js';

/** The part of the WebCrypto API this provider uses, so that no DOM library is needed. */
interface Subtle {
  importKey(
    format: 'raw',
    key: Uint8Array,
    algorithm: { name: 'AES-GCM' },
    extractable: false,
    usages: readonly ('encrypt' | 'decrypt')[],
  ): Promise<object>;
  encrypt(algorithm: GcmParameters, key: object, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algorithm: GcmParameters, key: object, data: Uint8Array): Promise<ArrayBuffer>;
}

interface GcmParameters {
  readonly name: 'AES-GCM';
  readonly iv: Uint8Array;
  readonly additionalData: Uint8Array;
  readonly tagLength: 128;
}

/** `crypto.subtle` of the runtime, where it has one (a browser's secure context, Deno, Node, Bun). */
function subtle(): Subtle | undefined {
  return (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;
}

/** Whether this runtime offers WebCrypto (`crypto.subtle`). */
export function isWebCryptoAvailable(): boolean {
  return subtle() !== undefined;
}

/**
 * The WebCrypto provider: AES-GCM records sealed and opened by `crypto.subtle`, asynchronously,
 * with each key imported once per traffic secret, at its first asynchronous use (`sealAsync`,
 * `openAsync`). What a browser and Deno make fast, and the fastest path there: several records
 * in flight at once.
 *
 * WebCrypto has no synchronous call, and no ChaCha20-Poly1305. So the hash and HMAC of the key
 * schedule, the few records the state machine seals synchronously (handshake messages, alerts,
 * key_update) and every ChaCha20-Poly1305 record run on `@noble`, as with `nobleProvider`.
 */
export const webCryptoProvider: CryptoProvider = {
  name: 'webcrypto',
  digest: nobleProvider.digest,
  hmac: nobleProvider.hmac,
  aeadKey(algorithm, key) {
    const api = subtle();
    if (api === undefined || algorithm === 'chacha20-poly1305') {
      return nobleProvider.aeadKey(algorithm, key);
    }
    return new WebCryptoAeadKey(api, algorithm, key);
  },
};

class WebCryptoAeadKey implements AeadKey {
  readonly algorithm: AeadAlgorithm;
  readonly #api: Subtle;
  /** For the synchronous calls: the noble key, made when first needed. */
  readonly #bytes: Uint8Array;
  #noble: AeadKey | undefined;
  /**
   * The imported key, from the first asynchronous call on: a key that only ever seals or opens
   * synchronously (a key_update's, in a run of them) costs no import. Dropped by `destroy` (a
   * CryptoKey cannot be overwritten).
   */
  #key: Promise<object> | object | undefined;
  #destroyed = false;

  constructor(api: Subtle, algorithm: AeadAlgorithm, key: Uint8Array) {
    this.algorithm = algorithm;
    this.#api = api;
    this.#bytes = copyAeadKey(algorithm, key);
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): void {
    this.#sync().seal(nonce, aad, parts, out, offset);
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    return this.#sync().open(nonce, aad, ciphertext);
  }

  /**
   * WebCrypto copies its arguments before the call returns (WebCrypto's "get a copy of the
   * bytes"), so `nonce`, `aad` and the joined parts may be reused at once.
   */
  sealAsync(
    nonce: Uint8Array,
    aad: Uint8Array,
    parts: readonly Uint8Array[],
    out: Uint8Array,
    offset: number,
  ): Promise<void> {
    const key = this.#usable();
    const parameters = gcm(nonce, aad);
    const sealed =
      key instanceof Promise
        ? this.#once(
            key,
            (cryptoKey, plaintext) => this.#api.encrypt(parameters, cryptoKey, plaintext),
            joinParts(parts),
          )
        : this.#api.encrypt(parameters, key, joinParts(parts));
    return sealed.then((ciphertext) => {
      out.set(new Uint8Array(ciphertext), offset);
    });
  }

  openAsync(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    const key = this.#usable();
    const parameters = gcm(nonce, aad);
    const opened =
      key instanceof Promise
        ? this.#once(
            key,
            (cryptoKey, data) => this.#api.decrypt(parameters, cryptoKey, data),
            ciphertext,
          )
        : this.#api.decrypt(parameters, key, ciphertext);
    return opened.then(
      (plaintext) => new Uint8Array(plaintext),
      () => undefined,
    );
  }

  destroy(): void {
    this.#destroyed = true;
    this.#bytes.fill(0);
    this.#noble?.destroy();
    this.#noble = undefined;
    this.#key = undefined;
  }

  /**
   * `operation` once the key is imported, on a copy of `data` taken now: the caller reuses its
   * memory as soon as the call returns (WebCrypto itself copies at the call, which is later).
   */
  #once(
    key: Promise<object>,
    operation: (cryptoKey: object, data: Uint8Array) => Promise<ArrayBuffer>,
    data: Uint8Array,
  ): Promise<ArrayBuffer> {
    const copy = data.slice();
    return key.then((cryptoKey) => operation(cryptoKey, copy));
  }

  #usable(): Promise<object> | object {
    if (this.#destroyed) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'AEAD key used after destroy()');
    }
    if (this.#key === undefined) {
      const imported = this.#api.importKey('raw', this.#bytes, { name: 'AES-GCM' }, false, [
        'encrypt',
        'decrypt',
      ]);
      this.#key = imported;
      imported.then(
        (cryptoKey) => {
          if (this.#key === imported) this.#key = cryptoKey;
        },
        () => {
          // Reported by the seal or open that awaits it.
        },
      );
    }
    return this.#key;
  }

  #sync(): AeadKey {
    this.#noble ??= nobleProvider.aeadKey(this.algorithm, this.#bytes);
    return this.#noble;
  }
}

/** AES-GCM's parameters, with copies of `nonce` and `aad` taken now: the caller reuses both. */
function gcm(nonce: Uint8Array, aad: Uint8Array): GcmParameters {
  return { name: 'AES-GCM', iv: nonce.slice(), additionalData: aad.slice(), tagLength: 128 };
}
