// MLS ciphersuites on WebCrypto (`globalThis.crypto.subtle`), for ts-mls: suites 1
// (X25519, Ed25519, AES-128-GCM, SHA-256), 2 (P-256, AES-128-GCM, SHA-256), 5 (P-521,
// AES-256-GCM, SHA-512) and 7 (P-384, AES-256-GCM, SHA-384): every suite whose algorithms the
// Web Cryptography API (with its Secure Curves additions) has. No node: module is imported, so
// it runs in browsers, workers and Deno as in Node. ChaCha20-Poly1305 (suites 3 and 6), X448 and
// Ed448 (4 and 6) and the post-quantum suites are left to ts-mls's default implementation.
//
// Unlike ts-mls's default, which imports every key again for each operation and signs ECDSA
// with @noble, keys here are imported once and kept (HMAC, HKDF, AES and signing keys by the
// array that holds them, checked against a copy; public keys by content, the last 256), and
// ECDSA is WebCrypto's. The hash, HMAC and HKDF are @noble's: a WebCrypto call is a round trip
// to another thread that costs more than a small hash itself (see `Primitives`).
//
// The bytes are the node:crypto implementation's (mls.ts), hence ts-mls's: raw X25519 and
// Ed25519 keys (an Ed25519 signing key is the 32-byte seed or its 48-byte PKCS#8), raw
// big-endian P-curve scalars, uncompressed HPKE points, DER ECDSA signatures (compressed
// signature public keys accepted), ciphertext followed by tag. What the two implementations
// share (the suites, curve parameters, key encodings, RFC 9180's labels, key caches) is
// mls-common.ts.

import { MlsTlsError } from '@mlstls/codec';
import { expand as hkdfExpand, extract as hkdfExtract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import type {
  CiphersuiteImpl,
  CiphersuiteName,
  Hpke,
  PrivateKey,
  PublicKey,
  Signature,
} from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import {
  asCryptoError,
  bigintOf,
  checkExpandLength,
  checkNonce,
  concatBytes,
  type EcCurve,
  ED25519,
  EMPTY,
  eddsaSeed,
  fromHex,
  HeldKeyCache,
  hashOf,
  hpkeSuiteId,
  isScalar,
  type KemName,
  kdfOf,
  kemSuiteId,
  keyPairOf,
  LABEL,
  Labeled,
  MLS_SUITES,
  MODE_BASE,
  NONCE_LENGTH,
  ownKey,
  P256,
  P384,
  P521,
  RecentKeyCache,
  randomScalar,
  type SignatureName,
  type SuiteAlgorithms,
  signingKeyError,
  TAG_LENGTH,
  X25519,
} from './mls-common.js';
import { type AeadAlgorithm, aeadParameters, type HashAlgorithm, hashLength } from './provider.js';
import { secureRandom } from './random.js';

type Subtle = typeof globalThis.crypto.subtle;
type Key = Awaited<ReturnType<Subtle['importKey']>>;
type Jwk = Awaited<ReturnType<Subtle['exportKey']>> & { x?: string; y?: string };

/** The KEMs and signatures WebCrypto has: X448 and Ed448 are missing from it. */
type WebKemName = Exclude<KemName, 'DHKEM-X448-HKDF-SHA512'>;
type WebSignatureName = Exclude<SignatureName, 'Ed448'>;

/**
 * The suites this module speaks, picked from the seven so that the compiler checks each one's
 * KEM and signature are WebCrypto's. ChaCha20-Poly1305 is not (suites 3 and 6).
 */
const SUITES: Partial<Record<CiphersuiteName, SuiteAlgorithms<WebKemName, WebSignatureName>>> = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519:
    MLS_SUITES.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
  MLS_128_DHKEMP256_AES128GCM_SHA256_P256: MLS_SUITES.MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
  MLS_256_DHKEMP521_AES256GCM_SHA512_P521: MLS_SUITES.MLS_256_DHKEMP521_AES256GCM_SHA512_P521,
  MLS_256_DHKEMP384_AES256GCM_SHA384_P384: MLS_SUITES.MLS_256_DHKEMP384_AES256GCM_SHA384_P384,
};

/** The hash functions of `Primitives` (see there). */
const NOBLE_HASHES = { sha256, sha384, sha512 } as const;

/** WebCrypto's name of each hash. */
const WEB_HASH: Readonly<Record<HashAlgorithm, string>> = {
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
};

export interface WebCryptoCiphersuiteOptions {
  /**
   * The randomness of HPKE and signature key generation (default: the platform CSPRNG). HPKE
   * key pairs are DeriveKeyPair(random(Nsk)) (RFC 9180 section 7.1.3), so tests can pin an
   * ephemeral key and replay the RFC's vectors. (ECDSA signatures draw their nonces inside
   * WebCrypto.)
   */
  readonly randomBytes?: (length: number) => Uint8Array;
}

/** The names of the suites `webCryptoCiphersuite` implements. */
export const WEBCRYPTO_CIPHERSUITES: readonly CiphersuiteName[] = Object.keys(
  SUITES,
) as CiphersuiteName[];

/**
 * The WebCrypto implementation of MLS ciphersuite `name`, or `undefined` where the runtime has
 * no `crypto.subtle` or the suite is not 1, 2, 5 or 7. A runtime without Ed25519 or X25519 in
 * WebCrypto fails suite 1's operations with the runtime's error.
 */
export function webCryptoCiphersuite(
  name: CiphersuiteName,
  options: WebCryptoCiphersuiteOptions = {},
): CiphersuiteImpl | undefined {
  const suite = SUITES[name];
  const subtle = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;
  if (suite === undefined || subtle === undefined) return undefined;
  const randomBytes = options.randomBytes ?? secureRandom;
  const primitives = new Primitives(subtle, suite.hash, suite.aead);
  return {
    name,
    hash: hashOf(primitives),
    kdf: kdfOf(primitives),
    signature: signatureFor(suite.signature, subtle, randomBytes),
    hpke: new BaseModeHpke(primitives, kemFor(suite.kem, primitives), suite.aeadId, randomBytes),
    rng: { randomBytes },
  };
}

/** What WebCrypto takes as bytes; ts-mls's arrays are over ArrayBuffers. */
function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function fromBase64Url(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const digit = BASE64URL.indexOf(char);
    if (digit < 0) throw new CryptoError('a JWK member is not base64url');
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/**
 * The import `cache` holds for the array `bytes`, else `make` of a copy, remembered. WebCrypto
 * imports asynchronously, so the promise is what is kept; one that rejects is forgotten, and
 * the next call imports again. Secrets (HMAC, HKDF, AES and signing keys) are cached so: ts-mls
 * derives several secrets from one array (the key schedule's epoch secret, a secret tree node)
 * and seals many messages under one.
 */
function heldImport<Value>(
  cache: HeldKeyCache<Promise<Value>>,
  bytes: Uint8Array,
  make: (copy: Uint8Array) => Promise<Value>,
): Promise<Value> {
  return cache.get(bytes, (held) => {
    const value = make(held.slice());
    value.catch(() => cache.forget(held, value));
    return value;
  });
}

/** The import `cache` holds for the content `bytes`, as `heldImport` (for public keys). */
function recentImport<Value>(
  cache: RecentKeyCache<Promise<Value>>,
  bytes: Uint8Array,
  make: (copy: Uint8Array) => Promise<Value>,
): Promise<Value> {
  return cache.get(bytes, (held) => {
    const copy = held.slice();
    const value = make(copy);
    value.catch(() => cache.forget(copy, value));
    return value;
  });
}

/**
 * The suite's hash, HMAC and HKDF with it (on `@noble/hashes`), and its AEAD (on WebCrypto).
 *
 * The hash functions are not WebCrypto's: each WebCrypto call is a round trip to another thread,
 * about 35 us in Deno 2.9 even for a 200-byte SHA-256 (measured here), while a handshake makes a
 * few hundred small hash, HMAC and HKDF calls that @noble answers in a few microseconds each,
 * synchronously. Asymmetric operations and the AEAD, where WebCrypto's native code pays for its
 * round trip, stay on WebCrypto.
 */
class Primitives {
  readonly subtle: Subtle;
  readonly hash: HashAlgorithm;
  /** Nh: the size of a digest, a MAC, a KDF secret, and the KEM's Nsecret. */
  readonly hashLength: number;
  readonly aead: AeadAlgorithm;
  readonly aeadKeyLength: number;
  readonly #aeadKeys = new HeldKeyCache<Promise<Key>>();
  readonly #function: (typeof NOBLE_HASHES)[HashAlgorithm];

  constructor(subtle: Subtle, hash: HashAlgorithm, aead: AeadAlgorithm) {
    this.subtle = subtle;
    this.hash = hash;
    this.hashLength = hashLength(hash);
    this.aead = aead;
    this.aeadKeyLength = aeadParameters(aead).keyLength;
    this.#function = NOBLE_HASHES[hash];
  }

  async digest(data: Uint8Array): Promise<Uint8Array> {
    return this.#function(data);
  }

  async hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    return hmac(this.#function, key, data);
  }

  /** HKDF-Extract (RFC 5869): HMAC(salt, ikm). */
  async extract(salt: Uint8Array, ...ikm: Uint8Array[]): Promise<Uint8Array> {
    return hmac(this.#function, salt, ikm.length === 1 ? ikm[0]! : concatBytes(...ikm));
  }

  /** HKDF-Expand of the concatenation of `info` (RFC 5869). */
  async expand(prk: Uint8Array, info: readonly Uint8Array[], length: number): Promise<Uint8Array> {
    checkExpandLength(length, this.hashLength);
    return hkdfExpand(this.#function, prk, concatBytes(...info), length);
  }

  /** HKDF-Expand(HKDF-Extract(salt, ikm), info, length), the extracted key used once. */
  async hkdf(
    salt: Uint8Array,
    ikm: Uint8Array,
    info: readonly Uint8Array[],
    length: number,
  ): Promise<Uint8Array> {
    checkExpandLength(length, this.hashLength, 1);
    const prk = hkdfExtract(this.#function, ikm, salt);
    try {
      return hkdfExpand(this.#function, prk, concatBytes(...info), length);
    } finally {
      prk.fill(0);
    }
  }

  #aeadKey(key: Uint8Array): Promise<Key> {
    if (key.length !== this.aeadKeyLength) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        `an ${this.aead} key is ${this.aeadKeyLength} bytes`,
      );
    }
    return heldImport(this.#aeadKeys, key, (bytes) =>
      this.subtle.importKey('raw', source(bytes), 'AES-GCM', false, ['encrypt', 'decrypt']),
    );
  }

  async seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
  ): Promise<Uint8Array> {
    checkNonce(nonce);
    const handle = await this.#aeadKey(key);
    return new Uint8Array(
      await this.subtle.encrypt(
        { name: 'AES-GCM', iv: source(nonce), additionalData: source(aad), tagLength: 128 },
        handle,
        source(plaintext),
      ),
    );
  }

  /** The plaintext; a ciphertext that does not authenticate is a `CryptoError`, as in ts-mls. */
  async open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
  ): Promise<Uint8Array> {
    checkNonce(nonce);
    const handle = await this.#aeadKey(key);
    if (ciphertext.length < TAG_LENGTH) throw new CryptoError('AEAD: the ciphertext is too short');
    try {
      return new Uint8Array(
        await this.subtle.decrypt(
          { name: 'AES-GCM', iv: source(nonce), additionalData: source(aad), tagLength: 128 },
          handle,
          source(ciphertext),
        ),
      );
    } catch {
      throw new CryptoError('AEAD: the ciphertext does not authenticate');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Curves and key encodings

/** A DER TLV. */
function der(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concatBytes(...content);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >>> 8, n & 0xff];
  return concatBytes(Uint8Array.of(tag, ...length), body);
}

/** A NIST prime curve, with what WebCrypto needs beyond its parameters. */
interface WebEcCurve extends EcCurve {
  /** The field prime p (p = 3 mod 4 for all three) and the curve's b (a = -3). */
  readonly p: bigint;
  readonly b: bigint;
  /** The PKCS#8 of a scalar without its public key (RFC 5915), up to the scalar. */
  readonly pkcs8Prefix: Uint8Array;
}

function webCurve(curve: EcCurve, oid: string, p: bigint, b: bigint): WebEcCurve {
  const { scalarLength } = curve;
  const pkcs8 = der(
    0x30,
    der(0x02, Uint8Array.of(0)),
    der(0x30, fromHex('06072a8648ce3d0201'), fromHex(oid)),
    der(0x04, der(0x30, der(0x02, Uint8Array.of(1)), der(0x04, new Uint8Array(scalarLength)))),
  );
  return { ...curve, p, b, pkcs8Prefix: pkcs8.subarray(0, pkcs8.length - scalarLength) };
}

const WEB_P256 = webCurve(
  P256,
  '06082a8648ce3d030107',
  0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
);
const WEB_P384 = webCurve(
  P384,
  '06052b81040022',
  0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
  0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
);
const WEB_P521 = webCurve(
  P521,
  '06052b81040023',
  (1n << 521n) - 1n,
  0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
);

function bytesOf(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/**
 * The uncompressed form of a point given compressed (SEC 1 section 2.3.4, y from x, as p = 3
 * mod 4) or uncompressed; undefined when it is neither. On-curve checks are WebCrypto's import.
 */
function uncompressedPoint(curve: WebEcCurve, point: Uint8Array): Uint8Array | undefined {
  const { scalarLength: size, p, b } = curve;
  if (point.length === 1 + 2 * size && point[0] === 0x04) return point;
  if (point.length !== 1 + size || (point[0] !== 0x02 && point[0] !== 0x03)) return undefined;
  const x = bigintOf(point.subarray(1));
  if (x >= p) return undefined;
  const rhs = (((x * x * x - 3n * x + b) % p) + p) % p;
  let y = modPow(rhs, (p + 1n) >> 2n, p);
  if ((y * y) % p !== rhs) return undefined;
  if (Number(y & 1n) !== (point[0] & 1)) y = (p - y) % p;
  return concatBytes(Uint8Array.of(0x04), bytesOf(x, size), bytesOf(y, size));
}

/** The raw public key of a private key imported extractable: its JWK's x (and y). */
async function publicBytesOf(subtle: Subtle, privateKey: Key): Promise<Uint8Array> {
  const jwk = (await subtle.exportKey('jwk', privateKey)) as Jwk;
  if (jwk.x === undefined) throw new CryptoError('no public key in the exported JWK');
  if (jwk.y === undefined) return fromBase64Url(jwk.x);
  return concatBytes(Uint8Array.of(0x04), fromBase64Url(jwk.x), fromBase64Url(jwk.y));
}

// ---------------------------------------------------------------------------------------------
// Signatures

interface SigningKey {
  readonly key: Key;
  readonly publicKey: Uint8Array;
}

/**
 * The signing keys (by the array ts-mls holds them in, checked against a copy) and verifying
 * keys (by content, bounded) of one scheme, process-wide.
 */
interface SchemeKeys {
  readonly signing: HeldKeyCache<Promise<SigningKey>>;
  readonly verifying: RecentKeyCache<Promise<Key | undefined>>;
}

function schemeKeys(): SchemeKeys {
  return { signing: new HeldKeyCache(), verifying: new RecentKeyCache() };
}

const SCHEME_KEYS: Record<WebSignatureName, SchemeKeys> = {
  Ed25519: schemeKeys(),
  P256: schemeKeys(),
  P384: schemeKeys(),
  P521: schemeKeys(),
};

interface SignatureScheme {
  readonly keys: SchemeKeys;
  /** Imports a signing key, throwing on malformed bytes. */
  signingKey(signKey: Uint8Array): Promise<SigningKey>;
  /** Imports a verifying key; undefined if the bytes are not one. */
  verifyingKey(publicKey: Uint8Array): Promise<Key | undefined>;
  sign(key: Key, message: Uint8Array): Promise<Uint8Array>;
  verify(key: Key, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
  keygen(): Promise<{ signKey: Uint8Array; publicKey: Uint8Array }>;
}

function signatureOf(scheme: SignatureScheme): Signature {
  return {
    async sign(signKey, message) {
      const { key } = await heldImport(scheme.keys.signing, signKey, (bytes) =>
        scheme.signingKey(bytes),
      );
      return scheme.sign(key, message);
    },
    async verify(publicKey, message, signature) {
      const key = await recentImport(scheme.keys.verifying, publicKey, (bytes) =>
        scheme.verifyingKey(bytes).catch(() => undefined),
      );
      if (key === undefined) return false;
      try {
        return await scheme.verify(key, message, signature);
      } catch {
        return false;
      }
    },
    keygen: () => scheme.keygen(),
  };
}

function signatureFor(
  name: WebSignatureName,
  subtle: Subtle,
  randomBytes: (length: number) => Uint8Array,
): Signature {
  switch (name) {
    case 'Ed25519':
      return ed25519Signature(subtle, randomBytes);
    case 'P256':
      return ecdsaSignature(subtle, WEB_P256, SCHEME_KEYS.P256, randomBytes);
    case 'P384':
      return ecdsaSignature(subtle, WEB_P384, SCHEME_KEYS.P384, randomBytes);
    case 'P521':
      return ecdsaSignature(subtle, WEB_P521, SCHEME_KEYS.P521, randomBytes);
  }
}

/**
 * Ed25519 (RFC 8032). A signing key is the 32-byte seed or its 48-byte PKCS#8 (what keygen
 * emits, as ts-mls's default and mls.ts do); public keys and signatures are raw.
 */
function ed25519Signature(subtle: Subtle, randomBytes: (length: number) => Uint8Array): Signature {
  const keys = SCHEME_KEYS.Ed25519;
  const { pkcs8Prefix, keyLength } = ED25519;
  const pkcs8Of = (signKey: Uint8Array): Uint8Array =>
    concatBytes(pkcs8Prefix, eddsaSeed(ED25519, signKey));
  const signingKey = async (signKey: Uint8Array): Promise<SigningKey> => {
    const key = await subtle.importKey('pkcs8', source(pkcs8Of(signKey)), 'Ed25519', true, [
      'sign',
    ]);
    return { key, publicKey: await publicBytesOf(subtle, key) };
  };
  return signatureOf({
    keys,
    signingKey,
    verifyingKey: async (publicKey) =>
      publicKey.length === keyLength
        ? subtle.importKey('raw', source(publicKey), 'Ed25519', false, ['verify'])
        : undefined,
    sign: async (key, message) =>
      new Uint8Array(await subtle.sign('Ed25519', key, source(message))),
    verify: (key, message, signature) =>
      signature.length === 64
        ? subtle.verify('Ed25519', key, source(signature), source(message))
        : Promise.resolve(false),
    async keygen() {
      const signKey = concatBytes(pkcs8Prefix, randomBytes(keyLength));
      const { publicKey } = await heldImport(keys.signing, signKey, signingKey);
      return { signKey, publicKey: publicKey.slice() };
    },
  });
}

/** A DER INTEGER's content for a non-negative big-endian value (minimal, sign byte if needed). */
function derUnsigned(value: Uint8Array): Uint8Array {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const trimmed = value.subarray(start);
  return trimmed[0]! >= 0x80 ? concatBytes(Uint8Array.of(0), trimmed) : trimmed;
}

/** r || s (WebCrypto's IEEE P1363 form) as the DER ECDSA-Sig-Value RFC 9420 signs with. */
function rawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return der(
    0x30,
    der(0x02, derUnsigned(raw.subarray(0, half))),
    der(0x02, derUnsigned(raw.subarray(half))),
  );
}

/**
 * A DER ECDSA-Sig-Value as r || s of `size`-byte halves, or undefined unless it is exactly one
 * SEQUENCE of two minimally encoded positive INTEGERs (as OpenSSL, which re-encodes, accepts).
 */
function derToRaw(signature: Uint8Array, size: number): Uint8Array | undefined {
  let at = 0;
  const readLength = (): number | undefined => {
    const first = signature[at++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    if (first !== 0x81) return undefined;
    const length = signature[at++];
    return length !== undefined && length >= 0x80 ? length : undefined;
  };
  if (signature[at++] !== 0x30) return undefined;
  const total = readLength();
  if (total === undefined || at + total !== signature.length) return undefined;
  const raw = new Uint8Array(2 * size);
  for (let half = 0; half < 2; half++) {
    if (signature[at++] !== 0x02) return undefined;
    const length = readLength();
    if (length === undefined || length === 0 || at + length > signature.length) return undefined;
    let value = signature.subarray(at, at + length);
    at += length;
    if (value[0]! >= 0x80) return undefined;
    if (value[0] === 0 && (value.length === 1 || value[1]! < 0x80)) return undefined;
    if (value[0] === 0) value = value.subarray(1);
    if (value.length > size) return undefined;
    raw.set(value, (half + 1) * size - value.length);
  }
  return at === signature.length ? raw : undefined;
}

/**
 * ECDSA over P-256/SHA-256, P-384/SHA-384 or P-521/SHA-512 with DER signatures. Signing keys
 * are raw scalars; public keys are emitted uncompressed and accepted compressed too. High S
 * verifies, as in ts-mls's default and WebCrypto.
 */
function ecdsaSignature(
  subtle: Subtle,
  curve: WebEcCurve,
  keys: SchemeKeys,
  randomBytes: (length: number) => Uint8Array,
): Signature {
  const { scalarLength } = curve;
  const algorithm = { name: 'ECDSA', namedCurve: curve.name };
  const signing = { name: 'ECDSA', hash: WEB_HASH[curve.hash] };
  const signingKey = async (scalar: Uint8Array): Promise<SigningKey> => {
    if (!isScalar(curve, scalar)) {
      throw signingKeyError(`a ${curve.name} signing key is a ${scalarLength}-byte scalar`);
    }
    const pkcs8 = concatBytes(curve.pkcs8Prefix, scalar);
    const key = await subtle.importKey('pkcs8', source(pkcs8), algorithm, true, ['sign']);
    return { key, publicKey: await publicBytesOf(subtle, key) };
  };
  return signatureOf({
    keys,
    signingKey,
    async verifyingKey(publicKey) {
      const point = uncompressedPoint(curve, publicKey);
      if (point === undefined) return undefined;
      return subtle.importKey('raw', source(point), algorithm, false, ['verify']);
    },
    sign: async (key, message) =>
      rawToDer(new Uint8Array(await subtle.sign(signing, key, source(message)))),
    async verify(key, message, signature) {
      const raw = derToRaw(signature, scalarLength);
      if (raw === undefined) return false;
      return subtle.verify(signing, key, source(raw), source(message));
    },
    async keygen() {
      const signKey = randomScalar(curve, randomBytes);
      const { publicKey } = await heldImport(keys.signing, signKey, signingKey);
      return { signKey, publicKey: publicKey.slice() };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// HPKE (RFC 9180), base mode, single shot.

/** LabeledExtract and LabeledExpand, and the two in one where the extracted key is used once. */
class WebLabeled extends Labeled<Promise<Uint8Array>> {
  readonly #primitives: Primitives;

  constructor(primitives: Primitives, suiteId: Uint8Array) {
    super(primitives, suiteId);
    this.#primitives = primitives;
  }

  /** labeled_ikm of LabeledExtract. */
  ikm(label: Uint8Array, ikm: Uint8Array): Uint8Array {
    return concatBytes(...this.ikmParts(label, ikm));
  }

  /**
   * LabeledExpand(LabeledExtract(salt, extractLabel, ikm), expandLabel, info, length), the
   * extracted key used once; `labeledIkm` is `ikm(extractLabel, ikm)`.
   */
  extractAndExpand(
    salt: Uint8Array,
    labeledIkm: Uint8Array,
    label: Uint8Array,
    info: Uint8Array,
    length: number,
  ): Promise<Uint8Array> {
    const info_ = this.infoParts(label, info, length);
    return this.#primitives.hkdf(salt, labeledIkm, info_, length);
  }
}

/** A KEM key as ts-mls holds it: opaque, typed as a WebCrypto key by ts-mls's interface. */
class KemPublicKey {
  readonly type = 'public';
  readonly bytes: Uint8Array;
  readonly #make: () => Promise<Key>;
  #handle: Promise<Key> | undefined;

  /** `make` imports the key when it is first used (an ephemeral key's public half never is). */
  constructor(bytes: Uint8Array, make: () => Promise<Key>) {
    this.bytes = bytes;
    this.#make = make;
  }

  handle(): Promise<Key> {
    this.#handle ??= this.#make();
    return this.#handle;
  }
}

class KemPrivateKey {
  readonly type = 'private';
  readonly bytes: Uint8Array;
  readonly handle: Key;
  readonly publicKey: KemPublicKey;

  constructor(bytes: Uint8Array, handle: Key, publicKey: KemPublicKey) {
    this.bytes = bytes;
    this.handle = handle;
    this.publicKey = publicKey;
  }
}

/** A DHKEM's group: X25519 or a P curve, with WebCrypto's ECDH. */
class DhGroup {
  readonly kemId: number;
  /** Npk and Nenc. */
  readonly publicKeyLength: number;
  /** Nsk. */
  readonly privateKeyLength: number;
  readonly #subtle: Subtle;
  readonly #curve: WebEcCurve | undefined;
  readonly #algorithm: { name: string; namedCurve?: string };
  readonly #labeled: WebLabeled;
  readonly #publicKeys = new RecentKeyCache<Promise<Key>>();

  /** `curve` undefined is X25519. */
  constructor(primitives: Primitives, curve: WebEcCurve | undefined, kemId: number) {
    this.kemId = kemId;
    this.#subtle = primitives.subtle;
    this.#curve = curve;
    this.publicKeyLength = curve === undefined ? X25519.keyLength : 1 + 2 * curve.scalarLength;
    this.privateKeyLength = curve === undefined ? X25519.keyLength : curve.scalarLength;
    this.#algorithm =
      curve === undefined ? { name: 'X25519' } : { name: 'ECDH', namedCurve: curve.name };
    this.#labeled = new WebLabeled(primitives, kemSuiteId(kemId));
  }

  get #name(): string {
    return this.#curve?.name ?? 'X25519';
  }

  /** DeriveKeyPair (RFC 9180 section 7.1.3). */
  async deriveKeyPair(ikm: Uint8Array): Promise<KemPrivateKey> {
    const labeledIkm = this.#labeled.ikm(LABEL.dkpPrk, ikm);
    const curve = this.#curve;
    if (curve === undefined) {
      return this.privateKey(
        await this.#labeled.extractAndExpand(
          EMPTY,
          labeledIkm,
          LABEL.sk,
          EMPTY,
          this.privateKeyLength,
        ),
      );
    }
    for (let counter = 0; counter < 256; counter++) {
      // Extracted again for each candidate: the first candidate is a scalar all but always
      // (it fails with probability 2^-32 for P-256).
      const candidate = await this.#labeled.extractAndExpand(
        EMPTY,
        labeledIkm,
        LABEL.candidate,
        Uint8Array.of(counter),
        this.privateKeyLength,
      );
      candidate[0]! &= curve.bitmask;
      if (isScalar(curve, candidate)) return this.privateKey(candidate);
    }
    throw new CryptoError(`DeriveKeyPair found no ${curve.name} scalar`);
  }

  /** DeserializePublicKey: the raw X25519 key, or an uncompressed point on the curve. */
  async publicKey(bytes: Uint8Array): Promise<KemPublicKey> {
    if (bytes.length !== this.publicKeyLength || (this.#curve !== undefined && bytes[0] !== 0x04)) {
      throw new CryptoError(`a ${this.#name} HPKE public key is ${this.publicKeyLength} bytes`);
    }
    const handle = await recentImport(this.#publicKeys, bytes, (copy) => this.#importPublic(copy));
    return new KemPublicKey(bytes.slice(), () => Promise.resolve(handle));
  }

  /** DeserializePrivateKey: a raw X25519 scalar (unclamped) or a P-curve scalar below n. */
  async privateKey(bytes: Uint8Array): Promise<KemPrivateKey> {
    const curve = this.#curve;
    let scalar = bytes;
    let pkcs8: Uint8Array;
    if (curve === undefined) {
      if (bytes.length !== X25519.keyLength) throw new CryptoError('an X25519 key is 32 bytes');
      pkcs8 = concatBytes(X25519.pkcs8Prefix, bytes);
    } else {
      if (curve.padsShortPrivateKeys && bytes.length < this.privateKeyLength) {
        scalar = new Uint8Array(this.privateKeyLength);
        scalar.set(bytes, this.privateKeyLength - bytes.length);
      }
      if (!isScalar(curve, scalar)) {
        throw new CryptoError(`a ${curve.name} HPKE private key is a scalar below n`);
      }
      pkcs8 = concatBytes(curve.pkcs8Prefix, scalar);
    }
    const handle = await this.#subtle.importKey('pkcs8', source(pkcs8), this.#algorithm, true, [
      'deriveBits',
    ]);
    const publicBytes = await publicBytesOf(this.#subtle, handle);
    const publicKey = new KemPublicKey(publicBytes, () =>
      recentImport(this.#publicKeys, publicBytes, (copy) => this.#importPublic(copy)),
    );
    return new KemPrivateKey(scalar.slice(), handle, publicKey);
  }

  #importPublic(bytes: Uint8Array): Promise<Key> {
    return this.#subtle.importKey('raw', source(bytes), this.#algorithm, true, []);
  }

  async dh(privateKey: KemPrivateKey, publicKey: KemPublicKey): Promise<Uint8Array> {
    const bits = 8 * (this.#curve?.scalarLength ?? X25519.keyLength);
    const shared = new Uint8Array(
      await this.#subtle.deriveBits(
        { name: this.#algorithm.name, public: await publicKey.handle() },
        privateKey.handle,
        bits,
      ),
    );
    // RFC 9180 section 7.1.4: a low-order X25519 peer key gives the all-zero value; abort.
    if (this.#curve === undefined && shared.every((byte) => byte === 0)) {
      throw new CryptoError('X25519 gave the all-zero value');
    }
    return shared;
  }
}

function kemFor(name: WebKemName, primitives: Primitives): DhGroup {
  switch (name) {
    case 'DHKEM-X25519-HKDF-SHA256':
      return new DhGroup(primitives, undefined, 0x0020);
    case 'DHKEM-P256-HKDF-SHA256':
      return new DhGroup(primitives, WEB_P256, 0x0010);
    case 'DHKEM-P384-HKDF-SHA384':
      return new DhGroup(primitives, WEB_P384, 0x0011);
    case 'DHKEM-P521-HKDF-SHA512':
      return new DhGroup(primitives, WEB_P521, 0x0012);
  }
}

function ownPrivateKey(key: PrivateKey): KemPrivateKey {
  return ownKey(key, KemPrivateKey);
}

function ownPublicKey(key: PublicKey): KemPublicKey {
  return ownKey(key, KemPublicKey);
}

/**
 * The HPKE key schedule (RFC 9180 section 5.1) up to its `secret`, which is kept as the
 * shared secret it is extracted from: every key is then one HKDF (see `#fromSecret`).
 */
interface KeySchedule {
  readonly sharedSecret: Uint8Array;
  readonly context: Uint8Array;
}

/** HPKE base mode with one DHKEM, HKDF with the suite's hash and AES-GCM. */
class BaseModeHpke implements Hpke {
  readonly keyLength: number;
  readonly nonceLength = NONCE_LENGTH;
  readonly #primitives: Primitives;
  readonly #kem: DhGroup;
  readonly #kemLabeled: WebLabeled;
  readonly #labeled: WebLabeled;
  readonly #randomBytes: (length: number) => Uint8Array;
  /** labeled_ikm of LabeledExtract(shared_secret, "secret", ""): the same for every message. */
  readonly #secretIkm: Uint8Array;
  #pskIdHash: Promise<Uint8Array> | undefined;
  /** The private keys this instance exported, by the array it gave out (ts-mls re-imports). */
  readonly #exported = new HeldKeyCache<KemPrivateKey>();

  constructor(
    primitives: Primitives,
    kem: DhGroup,
    aeadId: number,
    randomBytes: (length: number) => Uint8Array,
  ) {
    this.keyLength = primitives.aeadKeyLength;
    this.#primitives = primitives;
    this.#kem = kem;
    this.#kemLabeled = new WebLabeled(primitives, kemSuiteId(kem.kemId));
    this.#labeled = new WebLabeled(primitives, hpkeSuiteId(kem.kemId, primitives.hash, aeadId));
    this.#secretIkm = this.#labeled.ikm(LABEL.secret, EMPTY);
    this.#randomBytes = randomBytes;
  }

  /** ExtractAndExpand (RFC 9180 section 4.1). */
  #sharedSecret(dh: Uint8Array, enc: Uint8Array, recipient: Uint8Array): Promise<Uint8Array> {
    return this.#kemLabeled.extractAndExpand(
      EMPTY,
      this.#kemLabeled.ikm(LABEL.eaePrk, dh),
      LABEL.sharedSecret,
      concatBytes(enc, recipient),
      this.#primitives.hashLength,
    );
  }

  async #encap(recipient: KemPublicKey): Promise<{ sharedSecret: Uint8Array; enc: Uint8Array }> {
    const ephemeral = await this.#kem.deriveKeyPair(this.#randomBytes(this.#kem.privateKeyLength));
    const enc = ephemeral.publicKey.bytes;
    const dh = await this.#kem.dh(ephemeral, recipient);
    return { sharedSecret: await this.#sharedSecret(dh, enc, recipient.bytes), enc };
  }

  async #decap(enc: Uint8Array, recipient: KemPrivateKey): Promise<Uint8Array> {
    const ephemeral = await this.#kem.publicKey(enc);
    const dh = await this.#kem.dh(recipient, ephemeral);
    return this.#sharedSecret(dh, enc, recipient.publicKey.bytes);
  }

  async #keySchedule(sharedSecret: Uint8Array, info: Uint8Array): Promise<KeySchedule> {
    this.#pskIdHash ??= this.#labeled.extract(EMPTY, LABEL.pskIdHash, EMPTY);
    const [pskIdHash, infoHash] = await Promise.all([
      this.#pskIdHash,
      this.#labeled.extract(EMPTY, LABEL.infoHash, info),
    ]);
    return { sharedSecret, context: concatBytes(MODE_BASE, pskIdHash, infoHash) };
  }

  /** LabeledExpand(secret, label, context, length), secret = LabeledExtract(shared_secret, ...). */
  #fromSecret(schedule: KeySchedule, label: Uint8Array, length: number): Promise<Uint8Array> {
    const { sharedSecret, context } = schedule;
    return this.#labeled.extractAndExpand(sharedSecret, this.#secretIkm, label, context, length);
  }

  async #keyAndNonce(schedule: KeySchedule): Promise<{ key: Uint8Array; nonce: Uint8Array }> {
    const [key, nonce] = await Promise.all([
      this.#fromSecret(schedule, LABEL.key, this.keyLength),
      this.#fromSecret(schedule, LABEL.baseNonce, this.nonceLength),
    ]);
    return { key, nonce };
  }

  /** Context.Export (RFC 9180 section 5.3). */
  async #export(schedule: KeySchedule, exporterContext: Uint8Array, length: number) {
    const exporterSecret = await this.#fromSecret(schedule, LABEL.exp, this.#primitives.hashLength);
    return this.#labeled.expand(exporterSecret, LABEL.sec, exporterContext, length);
  }

  async seal(
    publicKey: PublicKey,
    plaintext: Uint8Array,
    info: Uint8Array,
    aad?: Uint8Array,
  ): Promise<{ ct: Uint8Array; enc: Uint8Array }> {
    const { sharedSecret, enc } = await this.#encap(ownPublicKey(publicKey));
    const { key, nonce } = await this.#keyAndNonce(await this.#keySchedule(sharedSecret, info));
    return { ct: await this.#primitives.seal(key, nonce, aad ?? EMPTY, plaintext), enc };
  }

  async open(
    privateKey: PrivateKey,
    kemOutput: Uint8Array,
    ciphertext: Uint8Array,
    info: Uint8Array,
    aad?: Uint8Array,
  ): Promise<Uint8Array> {
    const recipient = ownPrivateKey(privateKey);
    try {
      const schedule = await this.#keySchedule(await this.#decap(kemOutput, recipient), info);
      const { key, nonce } = await this.#keyAndNonce(schedule);
      return await this.#primitives.open(key, nonce, aad ?? EMPTY, ciphertext);
    } catch (error) {
      throw asCryptoError('HPKE open', error);
    }
  }

  async exportSecret(
    publicKey: PublicKey,
    exporterContext: Uint8Array,
    length: number,
    info: Uint8Array,
  ): Promise<{ enc: Uint8Array; secret: Uint8Array }> {
    const { sharedSecret, enc } = await this.#encap(ownPublicKey(publicKey));
    const schedule = await this.#keySchedule(sharedSecret, info);
    return { enc, secret: await this.#export(schedule, exporterContext, length) };
  }

  async importSecret(
    privateKey: PrivateKey,
    exporterContext: Uint8Array,
    kemOutput: Uint8Array,
    length: number,
    info: Uint8Array,
  ): Promise<Uint8Array> {
    const recipient = ownPrivateKey(privateKey);
    try {
      const schedule = await this.#keySchedule(await this.#decap(kemOutput, recipient), info);
      return await this.#export(schedule, exporterContext, length);
    } catch (error) {
      throw asCryptoError('HPKE import secret', error);
    }
  }

  async importPrivateKey(k: Uint8Array): Promise<PrivateKey> {
    // Not remembered when imported anew: only what this instance gave out is.
    const exported = this.#exported.find(k);
    if (exported !== undefined) return exported.value as unknown as PrivateKey;
    try {
      return (await this.#kem.privateKey(k)) as unknown as PrivateKey;
    } catch (error) {
      throw asCryptoError('HPKE private key', error);
    }
  }

  async importPublicKey(k: Uint8Array): Promise<PublicKey> {
    try {
      return (await this.#kem.publicKey(k)) as unknown as PublicKey;
    } catch (error) {
      throw asCryptoError('HPKE public key', error);
    }
  }

  async exportPublicKey(k: PublicKey): Promise<Uint8Array> {
    return ownPublicKey(k).bytes.slice();
  }

  async exportPrivateKey(k: PrivateKey): Promise<Uint8Array> {
    const key = ownPrivateKey(k);
    const bytes = key.bytes.slice();
    this.#exported.put(bytes, key);
    return bytes;
  }

  encryptAead(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array | undefined,
    plaintext: Uint8Array,
  ): Promise<Uint8Array> {
    return this.#primitives.seal(key, nonce, aad ?? EMPTY, plaintext);
  }

  decryptAead(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array | undefined,
    ciphertext: Uint8Array,
  ): Promise<Uint8Array> {
    return this.#primitives.open(key, nonce, aad ?? EMPTY, ciphertext);
  }

  async deriveKeyPair(ikm: Uint8Array): Promise<{ privateKey: PrivateKey; publicKey: PublicKey }> {
    return keyPairOf(await this.#kem.deriveKeyPair(ikm));
  }

  /** GenerateKeyPair as DeriveKeyPair(random(Nsk)), which RFC 9180 section 4 allows. */
  async generateKeyPair(): Promise<{ privateKey: PrivateKey; publicKey: PublicKey }> {
    return keyPairOf(await this.#kem.deriveKeyPair(this.#randomBytes(this.#kem.privateKeyLength)));
  }
}
