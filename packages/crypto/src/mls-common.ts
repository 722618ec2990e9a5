// What the two MLS ciphersuite implementations share: node:crypto's (mls.ts) and WebCrypto's
// (webcrypto-mls.ts). They give the same bytes (ts-mls's), so the facts those bytes follow are
// written once here: the suites' algorithms, the curves' parameters and key encodings, RFC 9180's
// labels and suite ids, the key caches and the errors. What each does with its platform (key
// objects, HKDF in one call, DER on the wire) stays in its own module.
//
// An internal module: no package.json export. It imports no node: module, since
// webcrypto-mls.ts must load in browsers, workers and Deno.

import { MlsTlsError } from '@mlstls/codec';
import type { CiphersuiteName, Hash, Kdf, PrivateKey, PublicKey } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import type { AeadAlgorithm, HashAlgorithm } from './provider.js';

// ---------------------------------------------------------------------------------------------
// Suites

export type KemName =
  | 'DHKEM-X25519-HKDF-SHA256'
  | 'DHKEM-P256-HKDF-SHA256'
  | 'DHKEM-X448-HKDF-SHA512'
  | 'DHKEM-P384-HKDF-SHA384'
  | 'DHKEM-P521-HKDF-SHA512';
export type SignatureName = 'Ed25519' | 'Ed448' | 'P256' | 'P384' | 'P521';

/** The algorithms of one suite; an implementation narrows the KEMs and signatures it has. */
export interface SuiteAlgorithms<
  Kem extends KemName = KemName,
  Sig extends SignatureName = SignatureName,
> {
  /**
   * The suite's hash. Its KDF is HKDF with it, and so is its KEM's: in every suite here the
   * DHKEM's hash is the suite's, so one hash serves the KEM and the key schedule.
   */
  readonly hash: HashAlgorithm;
  readonly kem: Kem;
  readonly aead: AeadAlgorithm;
  /** The HPKE AEAD id (RFC 9180 section 7.3). */
  readonly aeadId: number;
  readonly signature: Sig;
}

/**
 * MLS suites 1 to 7 (RFC 9420 section 17.1), every one whose algorithms are classical. Literal
 * types, so that an implementation's table of fewer suites is checked against its KEMs and
 * signatures when it picks entries from this one.
 */
export const MLS_SUITES = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: {
    hash: 'sha256',
    kem: 'DHKEM-X25519-HKDF-SHA256',
    aead: 'aes-128-gcm',
    aeadId: 0x0001,
    signature: 'Ed25519',
  },
  MLS_128_DHKEMP256_AES128GCM_SHA256_P256: {
    hash: 'sha256',
    kem: 'DHKEM-P256-HKDF-SHA256',
    aead: 'aes-128-gcm',
    aeadId: 0x0001,
    signature: 'P256',
  },
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: {
    hash: 'sha256',
    kem: 'DHKEM-X25519-HKDF-SHA256',
    aead: 'chacha20-poly1305',
    aeadId: 0x0003,
    signature: 'Ed25519',
  },
  MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448: {
    hash: 'sha512',
    kem: 'DHKEM-X448-HKDF-SHA512',
    aead: 'aes-256-gcm',
    aeadId: 0x0002,
    signature: 'Ed448',
  },
  MLS_256_DHKEMP521_AES256GCM_SHA512_P521: {
    hash: 'sha512',
    kem: 'DHKEM-P521-HKDF-SHA512',
    aead: 'aes-256-gcm',
    aeadId: 0x0002,
    signature: 'P521',
  },
  MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448: {
    hash: 'sha512',
    kem: 'DHKEM-X448-HKDF-SHA512',
    aead: 'chacha20-poly1305',
    aeadId: 0x0003,
    signature: 'Ed448',
  },
  MLS_256_DHKEMP384_AES256GCM_SHA384_P384: {
    hash: 'sha384',
    kem: 'DHKEM-P384-HKDF-SHA384',
    aead: 'aes-256-gcm',
    aeadId: 0x0002,
    signature: 'P384',
  },
} as const satisfies Partial<Record<CiphersuiteName, SuiteAlgorithms>>;

/** The HPKE KDF id of HKDF with each hash (RFC 9180 section 7.2). */
const KDF_IDS: Readonly<Record<HashAlgorithm, number>> = {
  sha256: 0x0001,
  sha384: 0x0002,
  sha512: 0x0003,
};
export const TAG_LENGTH = 16;
export const NONCE_LENGTH = 12;

// ---------------------------------------------------------------------------------------------
// Bytes

const encoder = new TextEncoder();
export const EMPTY = new Uint8Array(0);

/** I2OSP(value, 2). */
function twoBytes(value: number): Uint8Array {
  return Uint8Array.of(value >>> 8, value & 0xff);
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
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

export function fromHex(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++)
    bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** Constant time in the contents: it compares MACs, and key bytes against a cached copy. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

export function bigintOf(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** One character a byte: a Map key for the bytes. */
function binaryString(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Errors and argument checks

/** A signing key of the wrong form is the caller's mistake, not the peer's. */
export function signingKeyError(what: string): MlsTlsError {
  return new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', what);
}

/** A failure on input that came from the peer is ts-mls's `CryptoError` (alert decrypt_error). */
export function asCryptoError(what: string, error: unknown): CryptoError {
  if (error instanceof CryptoError) return error;
  return new CryptoError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
}

/** GCM would take any IV length; the AEADs of MLS are defined for 12-byte nonces only. */
export function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE_LENGTH) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `an AEAD nonce is ${NONCE_LENGTH} bytes`);
  }
}

/**
 * HKDF-Expand's bound (RFC 5869 section 2.3): at most 255 blocks of `hashLength`, and at least
 * `minimum` bytes (WebCrypto's `deriveBits` derives no empty output).
 */
export function checkExpandLength(length: number, hashLength: number, minimum = 0): void {
  if (!Number.isSafeInteger(length) || length < minimum || length > 255 * hashLength) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `HKDF-Expand of ${length} bytes`);
  }
}

/**
 * `key` as an HPKE key of this implementation. ts-mls types HPKE keys as WebCrypto's and passes
 * back what `importPrivateKey` and friends returned, so a key of another implementation is the
 * caller mixing implementations.
 */
export function ownKey<Key>(key: unknown, type: abstract new (...args: never[]) => Key): Key {
  if (!(key instanceof type)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'an HPKE key of another implementation');
  }
  return key;
}

/** A KEM private key and its public half, as the opaque keys ts-mls's interface types. */
export function keyPairOf(key: { readonly publicKey: unknown }): {
  privateKey: PrivateKey;
  publicKey: PublicKey;
} {
  return {
    privateKey: key as unknown as PrivateKey,
    publicKey: key.publicKey as unknown as PublicKey,
  };
}

// ---------------------------------------------------------------------------------------------
// Hash and KDF, as ts-mls sees them

/** The suite's hash, HMAC and HKDF: synchronous on node:crypto, asynchronous on WebCrypto. */
interface HashPrimitives {
  /** Nh: the size of a digest, a MAC and a KDF secret. */
  readonly hashLength: number;
  digest(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** HKDF-Expand of the concatenation of `info`. */
  expand(
    prk: Uint8Array,
    info: readonly Uint8Array[],
    length: number,
  ): Uint8Array | Promise<Uint8Array>;
}

export function hashOf(primitives: HashPrimitives): Hash {
  return {
    digest: async (data) => primitives.digest(data),
    mac: async (key, data) => primitives.hmac(key, data),
    verifyMac: async (key, mac, data) => equalBytes(await primitives.hmac(key, data), mac),
  };
}

export function kdfOf(primitives: HashPrimitives): Kdf {
  return {
    extract: async (salt, ikm) => primitives.extract(salt, ikm),
    expand: async (prk, info, length) => primitives.expand(prk, [info], length),
    size: primitives.hashLength,
  };
}

// ---------------------------------------------------------------------------------------------
// Curves and key encodings

/** A curve of RFC 7748 or RFC 8032, whose keys are strings of bytes. */
export interface OkpCurve<
  Name extends 'Ed25519' | 'Ed448' | 'X25519' | 'X448' = 'Ed25519' | 'Ed448' | 'X25519' | 'X448',
> {
  readonly name: Name;
  /** The length of a raw private key (an EdDSA seed, an unclamped X scalar) and of a public key. */
  readonly keyLength: number;
  /** The PKCS#8 header of a private key (RFC 8410), as WebCrypto and OpenSSL export it. */
  readonly pkcs8Prefix: Uint8Array;
}

export const X25519: OkpCurve<'X25519'> = {
  name: 'X25519',
  keyLength: 32,
  pkcs8Prefix: fromHex('302e020100300506032b656e04220420'),
};
export const X448: OkpCurve<'X448'> = {
  name: 'X448',
  keyLength: 56,
  pkcs8Prefix: fromHex('3046020100300506032b656f043a0438'),
};
export const ED25519: OkpCurve<'Ed25519'> = {
  name: 'Ed25519',
  keyLength: 32,
  pkcs8Prefix: fromHex('302e020100300506032b657004220420'),
};
export const ED448: OkpCurve<'Ed448'> = {
  name: 'Ed448',
  keyLength: 57,
  pkcs8Prefix: fromHex('3047020100300506032b6571043b0439'),
};

/**
 * The seed of an EdDSA signing key given as the raw seed or its PKCS#8: ts-mls's default
 * accepts both for Ed25519, and emits the PKCS#8 on Node.
 */
export function eddsaSeed(curve: OkpCurve<'Ed25519' | 'Ed448'>, signKey: Uint8Array): Uint8Array {
  const { pkcs8Prefix, keyLength } = curve;
  if (signKey.length === keyLength) return signKey;
  if (
    signKey.length === pkcs8Prefix.length + keyLength &&
    equalBytes(signKey.subarray(0, pkcs8Prefix.length), pkcs8Prefix)
  ) {
    return signKey.subarray(pkcs8Prefix.length);
  }
  throw signingKeyError(
    `an ${curve.name} signing key is a ${keyLength}-byte seed or its ` +
      `${pkcs8Prefix.length + keyLength}-byte PKCS#8`,
  );
}

/** A NIST prime curve, for ECDSA and DHKEM. */
export interface EcCurve {
  readonly name: 'P-256' | 'P-384' | 'P-521';
  /** The length of a scalar and of a coordinate: Nsk, and (Npk - 1) / 2. */
  readonly scalarLength: number;
  /** The order n of the base point. */
  readonly order: bigint;
  /** The mask of the first byte of a DeriveKeyPair candidate (RFC 9180 section 7.1.3). */
  readonly bitmask: number;
  /** ECDSA's hash with this curve (RFC 9420's suites: SHA-256, SHA-384, SHA-512). */
  readonly hash: HashAlgorithm;
  /**
   * Whether an HPKE private key shorter than a scalar is taken, left-padded with zeros, as
   * ts-mls's default does for P-521 only: some implementations drop the leading zero byte of
   * a 521-bit scalar (mlswg/mls-implementations issue 176).
   */
  readonly padsShortPrivateKeys: boolean;
}

export const P256: EcCurve = {
  name: 'P-256',
  scalarLength: 32,
  order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  bitmask: 0xff,
  hash: 'sha256',
  padsShortPrivateKeys: false,
};
export const P384: EcCurve = {
  name: 'P-384',
  scalarLength: 48,
  order:
    0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  bitmask: 0xff,
  hash: 'sha384',
  padsShortPrivateKeys: false,
};
export const P521: EcCurve = {
  name: 'P-521',
  scalarLength: 66,
  order:
    0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  bitmask: 0x01,
  hash: 'sha512',
  padsShortPrivateKeys: true,
};

/** Whether `scalar` (big-endian, of the curve's length) is a valid private key: 0 < scalar < n. */
export function isScalar(curve: EcCurve, scalar: Uint8Array): boolean {
  if (scalar.length !== curve.scalarLength) return false;
  const value = bigintOf(scalar);
  return value > 0n && value < curve.order;
}

/**
 * A random ECDSA signing key. Masked as DeriveKeyPair masks: a 66-byte P-521 draw is otherwise
 * a scalar once in 128.
 */
export function randomScalar(
  curve: EcCurve,
  randomBytes: (length: number) => Uint8Array,
): Uint8Array {
  let scalar: Uint8Array;
  do {
    scalar = randomBytes(curve.scalarLength).slice();
    scalar[0]! &= curve.bitmask;
  } while (!isScalar(curve, scalar));
  return scalar;
}

// ---------------------------------------------------------------------------------------------
// Key caches

/**
 * Values (imported keys) by the array that holds their bytes. Importing a key costs more than
 * using it, and ts-mls passes the same array again: a signing key for every signature of a
 * group state, a secret for each derivation from it, an exported HPKE key when it joins. An
 * entry keeps a copy of the bytes and is used only while the array still holds them, so a key
 * changed in place is imported again. A WeakMap: an entry, secrets included, lives no longer
 * than its array.
 */
export class HeldKeyCache<Value> {
  readonly #entries = new WeakMap<
    Uint8Array,
    { readonly bytes: Uint8Array; readonly value: Value }
  >();

  /** The value remembered for `bytes`, if the array still holds what it held then. */
  find(bytes: Uint8Array): { readonly value: Value } | undefined {
    const entry = this.#entries.get(bytes);
    return entry !== undefined && equalBytes(entry.bytes, bytes) ? entry : undefined;
  }

  /** The value remembered for `bytes`, else `make(bytes)`, remembered. */
  get(bytes: Uint8Array, make: (bytes: Uint8Array) => Value): Value {
    const found = this.find(bytes);
    if (found !== undefined) return found.value;
    const value = make(bytes);
    this.put(bytes, value);
    return value;
  }

  /** Remembers `value` as the one `bytes` hold. */
  put(bytes: Uint8Array, value: Value): void {
    this.#entries.set(bytes, { bytes: bytes.slice(), value });
  }

  /** Forgets `bytes`'s entry if it is still `value` (an import that failed, to be tried again). */
  forget(bytes: Uint8Array, value: Value): void {
    if (this.#entries.get(bytes)?.value === value) this.#entries.delete(bytes);
  }
}

/** Public keys kept by `RecentKeyCache`. */
const PUBLIC_KEYS = 256;

/**
 * Values (imported public keys) by the key's bytes, the most recently used `PUBLIC_KEYS` of
 * them. Unlike private keys, public ones may be looked up by content: a peer's key comes in a
 * new array each time its group state is decoded (every resumption and every stored update).
 */
export class RecentKeyCache<Value> {
  readonly #values = new Map<string, Value>();

  get(bytes: Uint8Array, make: (bytes: Uint8Array) => Value): Value {
    const name = binaryString(bytes);
    if (this.#values.has(name)) {
      const value = this.#values.get(name) as Value;
      this.#values.delete(name);
      this.#values.set(name, value);
      return value;
    }
    const value = make(bytes);
    if (this.#values.size >= PUBLIC_KEYS) this.#values.delete(this.#values.keys().next().value!);
    this.#values.set(name, value);
    return value;
  }

  /** Forgets `bytes`'s entry if it is still `value` (an import that failed, to be tried again). */
  forget(bytes: Uint8Array, value: Value): void {
    const name = binaryString(bytes);
    if (this.#values.get(name) === value) this.#values.delete(name);
  }
}

// ---------------------------------------------------------------------------------------------
// HPKE (RFC 9180), base mode, single shot: what ts-mls's `Hpke` asks for.

const HPKE_V1 = encoder.encode('HPKE-v1');
export const MODE_BASE = Uint8Array.of(0x00);
export const LABEL = {
  dkpPrk: encoder.encode('dkp_prk'),
  sk: encoder.encode('sk'),
  candidate: encoder.encode('candidate'),
  eaePrk: encoder.encode('eae_prk'),
  sharedSecret: encoder.encode('shared_secret'),
  pskIdHash: encoder.encode('psk_id_hash'),
  infoHash: encoder.encode('info_hash'),
  secret: encoder.encode('secret'),
  key: encoder.encode('key'),
  baseNonce: encoder.encode('base_nonce'),
  exp: encoder.encode('exp'),
  sec: encoder.encode('sec'),
};

/** The suite_id of a DHKEM's own LabeledExtract and LabeledExpand (RFC 9180 section 4.1). */
export function kemSuiteId(kemId: number): Uint8Array {
  return concatBytes(encoder.encode('KEM'), twoBytes(kemId));
}

/** The suite_id of the HPKE key schedule (RFC 9180 section 5.1): KEM, HKDF with `hash`, AEAD. */
export function hpkeSuiteId(kemId: number, hash: HashAlgorithm, aeadId: number): Uint8Array {
  return concatBytes(
    encoder.encode('HPKE'),
    twoBytes(kemId),
    twoBytes(KDF_IDS[hash]),
    twoBytes(aeadId),
  );
}

/** HKDF-Extract and HKDF-Expand over parts, as each implementation runs them. */
interface Extractor<Bytes> {
  extract(salt: Uint8Array, ...ikm: Uint8Array[]): Bytes;
  expand(prk: Uint8Array, info: readonly Uint8Array[], length: number): Bytes;
}

/**
 * LabeledExtract and LabeledExpand (RFC 9180 section 4) under one suite_id, on node:crypto's
 * synchronous primitives or WebCrypto's asynchronous ones. The labeled input is handed over in
 * parts, so an implementation that can HMAC parts never joins them.
 */
export class Labeled<Bytes> {
  readonly #primitives: Extractor<Bytes>;
  readonly #suiteId: Uint8Array;

  constructor(primitives: Extractor<Bytes>, suiteId: Uint8Array) {
    this.#primitives = primitives;
    this.#suiteId = suiteId;
  }

  extract(salt: Uint8Array, label: Uint8Array, ikm: Uint8Array): Bytes {
    return this.#primitives.extract(salt, ...this.ikmParts(label, ikm));
  }

  expand(prk: Uint8Array, label: Uint8Array, info: Uint8Array, length: number): Bytes {
    return this.#primitives.expand(prk, this.infoParts(label, info, length), length);
  }

  /** labeled_ikm of LabeledExtract, in parts. */
  protected ikmParts(label: Uint8Array, ikm: Uint8Array): Uint8Array[] {
    return [HPKE_V1, this.#suiteId, label, ikm];
  }

  /** labeled_info of LabeledExpand, in parts. */
  protected infoParts(label: Uint8Array, info: Uint8Array, length: number): Uint8Array[] {
    return [twoBytes(length), HPKE_V1, this.#suiteId, label, info];
  }
}
