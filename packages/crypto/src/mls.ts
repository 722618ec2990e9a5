// MLS ciphersuites 1, 2 and 3 on node:crypto, for ts-mls. ts-mls's default implementation goes
// through WebCrypto, which imports every key from PKCS#8 (about 0.4 ms in OpenSSL 3) and makes
// one asynchronous round trip per HMAC block, and through @noble for P-256 signatures (about
// 3 ms a verification): a handshake spent most of its time there. Keys here are imported from
// JWK (raw coordinates, no DER decoder) and every operation runs synchronously.
//
// The bytes are ts-mls's: raw 32-byte X25519 and Ed25519 keys, raw 32-byte P-256 scalars,
// uncompressed P-256 HPKE keys, DER ECDSA signatures, ciphertext followed by tag. Peers may run
// either implementation.

import { MlsTlsError } from '@mlstls/codec';
import type {
  CiphersuiteImpl,
  CiphersuiteName,
  Hash,
  Hpke,
  Kdf,
  PrivateKey,
  PublicKey,
  Signature,
} from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { nodeProvider } from './node.js';
import type { AeadAlgorithm } from './provider.js';
import { secureRandom } from './random.js';

type NodeCrypto = typeof import('node:crypto');
type NodeBuffer = typeof import('node:buffer').Buffer;
type KeyObject = import('node:crypto').KeyObject;
type ECDH = import('node:crypto').ECDH;

interface NodeModules {
  readonly crypto: NodeCrypto;
  readonly Buffer: NodeBuffer;
}

/**
 * node:crypto and node:buffer, loaded without a static import so that bundles for browsers and
 * workers still load this module (as @mlstls/crypto's node provider does).
 */
function loadNodeModules(): NodeModules | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  const buffer = proc?.getBuiltinModule?.('node:buffer') as { Buffer: NodeBuffer } | undefined;
  return crypto && buffer ? { crypto, Buffer: buffer.Buffer } : undefined;
}

type KemName = 'DHKEM-X25519-HKDF-SHA256' | 'DHKEM-P256-HKDF-SHA256';
type SignatureName = 'Ed25519' | 'P256';

interface SuiteAlgorithms {
  readonly kem: KemName;
  readonly aead: AeadAlgorithm;
  /** The HPKE AEAD id (RFC 9180 section 7.3). */
  readonly aeadId: number;
  readonly signature: SignatureName;
}

/** The suites this module speaks; every one hashes with SHA-256 and derives with HKDF-SHA256. */
const SUITES: Partial<Record<CiphersuiteName, SuiteAlgorithms>> = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: {
    kem: 'DHKEM-X25519-HKDF-SHA256',
    aead: 'aes-128-gcm',
    aeadId: 0x0001,
    signature: 'Ed25519',
  },
  MLS_128_DHKEMP256_AES128GCM_SHA256_P256: {
    kem: 'DHKEM-P256-HKDF-SHA256',
    aead: 'aes-128-gcm',
    aeadId: 0x0001,
    signature: 'P256',
  },
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: {
    kem: 'DHKEM-X25519-HKDF-SHA256',
    aead: 'chacha20-poly1305',
    aeadId: 0x0003,
    signature: 'Ed25519',
  },
};

const HASH = 'sha256';
/** Nh of SHA-256, and Nsecret of both KEMs. */
const HASH_LENGTH = 32;
const KDF_ID_HKDF_SHA256 = 0x0001;
const TAG_LENGTH = 16;
const NONCE_LENGTH = 12;

export interface NodeCiphersuiteOptions {
  /**
   * The randomness of HPKE and signature key generation (default: node:crypto's CSPRNG). HPKE
   * key pairs are DeriveKeyPair(random(Nsk)) (RFC 9180 section 7.1.3), so tests can pin an
   * ephemeral key and replay the RFC's vectors.
   */
  readonly randomBytes?: (length: number) => Uint8Array;
}

/**
 * The node:crypto implementation of MLS ciphersuite `name`, or `undefined` where the runtime
 * has no node:crypto or the suite is not 1, 2 or 3 (ts-mls's own implementation is then the one
 * to use).
 */
export function nodeCiphersuite(
  name: CiphersuiteName,
  options: NodeCiphersuiteOptions = {},
): CiphersuiteImpl | undefined {
  const suite = SUITES[name];
  const node = loadNodeModules();
  if (suite === undefined || node === undefined) return undefined;
  const randomBytes = options.randomBytes ?? secureRandom;
  const primitives = new Primitives(node, suite.aead);
  const kem =
    suite.kem === 'DHKEM-X25519-HKDF-SHA256'
      ? new X25519Kem(node, primitives)
      : new P256Kem(node, primitives);
  return {
    name,
    hash: hashOf(primitives),
    kdf: kdfOf(primitives),
    signature:
      suite.signature === 'Ed25519'
        ? ed25519Signature(primitives, randomBytes)
        : p256Signature(primitives, randomBytes),
    hpke: new BaseModeHpke(primitives, kem, suite.aeadId, randomBytes),
    rng: { randomBytes },
  };
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** I2OSP(value, 2). */
function twoBytes(value: number): Uint8Array {
  return Uint8Array.of(value >>> 8, value & 0xff);
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
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

function fromHex(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++)
    bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** A plain Uint8Array over a Buffer that node:crypto allocated for this result alone. */
function view(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** GCM would take any IV length; both AEADs here are defined for 12-byte nonces only. */
function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE_LENGTH) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `an AEAD nonce is ${NONCE_LENGTH} bytes`);
  }
}

/** SHA-256, HMAC-SHA256, HKDF-SHA256 and the suite's AEAD, through @mlstls/crypto. */
class Primitives {
  readonly #provider = nodeProvider();
  readonly #aead: AeadAlgorithm;
  readonly node: NodeModules;

  constructor(node: NodeModules, aead: AeadAlgorithm) {
    this.node = node;
    this.#aead = aead;
  }

  digest(data: Uint8Array): Uint8Array {
    return this.#provider.digest(HASH, data);
  }

  hmac(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
    return this.#provider.hmac(HASH, key, ...data);
  }

  /** HKDF-Extract (RFC 5869); an empty salt is HashLen zeros, which HMAC pads it to anyway. */
  extract(salt: Uint8Array, ...ikm: Uint8Array[]): Uint8Array {
    return this.hmac(salt, ...ikm);
  }

  /** HKDF-Expand of the concatenation of `info`, without joining it. */
  expand(prk: Uint8Array, info: readonly Uint8Array[], length: number): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0 || length > 255 * HASH_LENGTH) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `HKDF-Expand of ${length} bytes`);
    }
    const okm = new Uint8Array(length);
    let block: Uint8Array = EMPTY;
    for (let counter = 1, at = 0; at < length; counter++) {
      block = this.hmac(prk, block, ...info, Uint8Array.of(counter));
      okm.set(block.subarray(0, Math.min(block.length, length - at)), at);
      at += block.length;
    }
    return okm;
  }

  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    checkNonce(nonce);
    const aeadKey = this.#provider.aeadKey(this.#aead, key);
    const out = new Uint8Array(plaintext.length + TAG_LENGTH);
    aeadKey.seal(nonce, aad, [plaintext], out, 0);
    aeadKey.destroy();
    return out;
  }

  /** The plaintext; a ciphertext that does not authenticate is a `CryptoError`, as in ts-mls. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    checkNonce(nonce);
    const aeadKey = this.#provider.aeadKey(this.#aead, key);
    const plaintext = aeadKey.open(nonce, aad, ciphertext);
    aeadKey.destroy();
    if (plaintext === undefined)
      throw new CryptoError('AEAD: the ciphertext does not authenticate');
    return plaintext;
  }

  toBase64Url(bytes: Uint8Array): string {
    return this.node.Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(
      'base64url',
    );
  }

  /** A copy: small Buffers share a pool that must not leak into ts-mls state. */
  fromBase64Url(text: string): Uint8Array {
    return new Uint8Array(this.node.Buffer.from(text, 'base64url'));
  }

  /**
   * An Ed25519 or X25519 private key from its raw 32 bytes. JWK is the fast way in (PKCS#8 goes
   * through OpenSSL 3's decoders, ten times slower). Node reads only `d` of a private OKP JWK and
   * computes the public key itself, so `x` is a placeholder rather than a second scalar
   * multiplication; should a Node release start checking `x`, PKCS#8 takes over.
   */
  okpPrivateKey(curve: 'Ed25519' | 'X25519', seed: Uint8Array): KeyObject {
    const { crypto } = this.node;
    try {
      return crypto.createPrivateKey({
        key: { kty: 'OKP', crv: curve, d: this.toBase64Url(seed), x: UNUSED_OKP_X },
        format: 'jwk',
      });
    } catch {
      const prefix = curve === 'Ed25519' ? ED25519_PKCS8_PREFIX : X25519_PKCS8_PREFIX;
      return crypto.createPrivateKey({
        key: this.node.Buffer.from(concatBytes(prefix, seed)),
        format: 'der',
        type: 'pkcs8',
      });
    }
  }

  okpPublicKey(curve: 'Ed25519' | 'X25519', bytes: Uint8Array): KeyObject {
    return this.node.crypto.createPublicKey({
      key: { kty: 'OKP', crv: curve, x: this.toBase64Url(bytes) },
      format: 'jwk',
    });
  }

  /** The raw public key of an Ed25519 or X25519 key pair. */
  okpPublicBytes(publicKey: KeyObject): Uint8Array {
    return this.fromBase64Url(publicKey.export({ format: 'jwk' }).x ?? '');
  }
}

/** Any 32 bytes in base64url: Node wants a string `x` in a private OKP JWK, and ignores it. */
const UNUSED_OKP_X = 'A'.repeat(43);
/** The PKCS#8 headers of Ed25519 and X25519 private keys (RFC 8410), as WebCrypto exports them. */
const ED25519_PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');
const X25519_PKCS8_PREFIX = fromHex('302e020100300506032b656e04220420');

function hashOf(primitives: Primitives): Hash {
  return {
    digest: async (data) => primitives.digest(data),
    mac: async (key, data) => primitives.hmac(key, data),
    verifyMac: async (key, mac, data) => equalBytes(primitives.hmac(key, data), mac),
  };
}

function kdfOf(primitives: Primitives): Kdf {
  return {
    extract: async (salt, ikm) => primitives.extract(salt, ikm),
    expand: async (prk, info, length) => primitives.expand(prk, [info], length),
    size: HASH_LENGTH,
  };
}

// ---------------------------------------------------------------------------------------------
// Signatures

function signingKeyError(what: string): MlsTlsError {
  return new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', what);
}

/** A signing key as node:crypto holds it, and the bytes of its public key. */
interface SigningKey {
  readonly key: KeyObject;
  readonly publicKey: Uint8Array;
}

/**
 * Key objects by the array ts-mls holds the key in. Importing a key costs more than using it
 * (Ed25519: about 85 us to import a private key, 54 us to sign), and ts-mls passes the same array
 * for every signature of a group state, as a server passes the same credential for every
 * connection. An entry keeps a copy of the bytes and is used only while they still match, so a
 * key changed in place is imported again.
 */
class KeyCache<Key> {
  readonly #entries = new WeakMap<Uint8Array, { readonly bytes: Uint8Array; readonly key: Key }>();

  get(bytes: Uint8Array, make: (bytes: Uint8Array) => Key): Key {
    const entry = this.#entries.get(bytes);
    if (entry !== undefined && equalBytes(entry.bytes, bytes)) return entry.key;
    const key = make(bytes);
    this.put(bytes, key);
    return key;
  }

  /** Remembers `key` as the one `bytes` hold. */
  put(bytes: Uint8Array, key: Key): void {
    this.#entries.set(bytes, { bytes: bytes.slice(), key });
  }
}

/** Public keys kept by `PublicKeyCache`. */
const PUBLIC_KEYS = 256;

/**
 * Public key objects by the key's bytes, the most recently used `PUBLIC_KEYS` of them. Unlike
 * private keys, public ones may be looked up by content: a peer's key comes in a new array
 * each time its group state is decoded (every resumption and every stored update).
 */
class PublicKeyCache {
  readonly #keys = new Map<string, KeyObject | undefined>();

  get(
    bytes: Uint8Array,
    make: (bytes: Uint8Array) => KeyObject | undefined,
  ): KeyObject | undefined {
    let name = '';
    for (const byte of bytes) name += String.fromCharCode(byte);
    if (this.#keys.has(name)) {
      const key = this.#keys.get(name);
      this.#keys.delete(name);
      this.#keys.set(name, key);
      return key;
    }
    const key = make(bytes);
    if (this.#keys.size >= PUBLIC_KEYS) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(name, key);
    return key;
  }
}

// Process-wide: a key object holds nothing that depends on who asks for it.
const ed25519SigningKeys = new KeyCache<SigningKey>();
const ed25519VerifyingKeys = new PublicKeyCache();
const p256SigningKeys = new KeyCache<SigningKey>();
const p256VerifyingKeys = new PublicKeyCache();

/** How many (public key, message, signature) triples `VerifiedSignatures` keeps. */
const VERIFIED_SIGNATURES = 8;

/**
 * The last few signatures one handshake made or saw verify. Ed25519 and ECDSA verification are
 * functions of the public key, message and signature alone, so a triple that verified verifies
 * again, and one signed with the key of that public key verifies. Only positive answers are
 * kept, as copies, and only for one handshake of one endpoint: an answer is never one that
 * another endpoint in the process computed.
 */
class VerifiedSignatures {
  readonly #entries: {
    readonly publicKey: Uint8Array;
    readonly message: Uint8Array;
    readonly signature: Uint8Array;
  }[] = [];
  #next = 0;

  has(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    return this.#entries.some(
      (entry) =>
        equalBytes(entry.signature, signature) &&
        equalBytes(entry.publicKey, publicKey) &&
        equalBytes(entry.message, message),
    );
  }

  add(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): void {
    this.#entries[this.#next] = {
      publicKey: publicKey.slice(),
      message: message.slice(),
      signature: signature.slice(),
    };
    this.#next = (this.#next + 1) % VERIFIED_SIGNATURES;
  }
}

/** What a scheme of this module does, under `signatureOf`. */
interface SignatureScheme {
  signingKey(signKey: Uint8Array): SigningKey;
  verifyingKey(publicKey: Uint8Array): KeyObject | undefined;
  sign(message: Uint8Array, key: KeyObject): Uint8Array;
  verify(message: Uint8Array, key: KeyObject, signature: Uint8Array): boolean;
}

/** The same signatures with a fresh memory, for each `Signature` this module made. */
const rememberingVersions = new WeakMap<Signature, () => Signature>();

/**
 * sign and verify of one scheme, with its keys cached; with `verified`, its signatures and
 * verifications remembered (see `withHandshakeMemory`).
 */
function signatureOf(
  scheme: SignatureScheme,
  keygen: Signature['keygen'],
  verified?: VerifiedSignatures,
): Signature {
  const signature: Signature = {
    async sign(signKey, message) {
      const { key, publicKey } = scheme.signingKey(signKey);
      const signed = scheme.sign(message, key);
      verified?.add(publicKey, message, signed);
      return signed;
    },
    async verify(publicKey, message, signed) {
      if (verified?.has(publicKey, message, signed)) return true;
      const key = scheme.verifyingKey(publicKey);
      if (key === undefined) return false;
      let valid: boolean;
      try {
        valid = scheme.verify(message, key, signed);
      } catch {
        return false;
      }
      if (valid) verified?.add(publicKey, message, signed);
      return valid;
    },
    keygen,
  };
  rememberingVersions.set(signature, () => signatureOf(scheme, keygen, new VerifiedSignatures()));
  return signature;
}

/**
 * `cs` with signatures that remember, for one handshake: the last few (public key, message,
 * signature) triples signed or seen to verify are answered without verifying again (see
 * `VerifiedSignatures`). A handshake verifies some twice: ts-mls checks the initiator's
 * KeyPackage after the responder's own check, and the initiator verifies its own leaf in the
 * Welcome's tree. Drop the copy with the handshake. Another implementation's `cs` comes back as
 * it is.
 */
export function withHandshakeMemory(cs: CiphersuiteImpl): CiphersuiteImpl {
  const remembering = rememberingVersions.get(cs.signature);
  return remembering === undefined ? cs : { ...cs, signature: remembering() };
}

/**
 * Ed25519 (RFC 8032). Signing keys are what ts-mls's default emits on Node (WebCrypto's
 * 48-byte PKCS#8) or a raw 32-byte seed, as ts-mls accepts both.
 */
function ed25519Signature(
  primitives: Primitives,
  randomBytes: (length: number) => Uint8Array,
): Signature {
  const { crypto } = primitives.node;
  const seedOf = (signKey: Uint8Array): Uint8Array => {
    if (signKey.length === 32) return signKey;
    if (
      signKey.length === ED25519_PKCS8_PREFIX.length + 32 &&
      equalBytes(signKey.subarray(0, ED25519_PKCS8_PREFIX.length), ED25519_PKCS8_PREFIX)
    ) {
      return signKey.subarray(ED25519_PKCS8_PREFIX.length);
    }
    throw signingKeyError('an Ed25519 signing key is a 32-byte seed or its 48-byte PKCS#8');
  };
  const signingKey = (seed: Uint8Array): SigningKey => {
    const key = primitives.okpPrivateKey('Ed25519', seed);
    return { key, publicKey: primitives.okpPublicBytes(crypto.createPublicKey(key)) };
  };
  return signatureOf(
    {
      signingKey: (signKey) =>
        ed25519SigningKeys.get(signKey, (bytes) => signingKey(seedOf(bytes))),
      verifyingKey: (publicKey) =>
        ed25519VerifyingKeys.get(publicKey, (bytes) => {
          if (bytes.length !== 32) return undefined;
          try {
            return primitives.okpPublicKey('Ed25519', bytes);
          } catch {
            return undefined;
          }
        }),
      sign: (message, key) => view(crypto.sign(null, message, key)),
      verify: (message, key, signature) => crypto.verify(null, message, key, signature),
    },
    async () => {
      const seed = randomBytes(32);
      const signKey = concatBytes(ED25519_PKCS8_PREFIX, seed);
      // The pair's first signature (a KeyPackage's, a credential's) uses the key made here.
      const { publicKey } = ed25519SigningKeys.get(signKey, () => signingKey(seed));
      return { signKey, publicKey: publicKey.slice() };
    },
  );
}

/** The order n of P-256. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function bigintOf(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** Whether `scalar` (32 bytes, big-endian) is a valid P-256 private key: 0 < scalar < n. */
function isP256Scalar(scalar: Uint8Array): boolean {
  if (scalar.length !== 32) return false;
  const value = bigintOf(scalar);
  return value > 0n && value < P256_ORDER;
}

/**
 * The uncompressed point of a P-256 public key given compressed or uncompressed, or undefined
 * if it is not a point of the curve.
 */
function uncompressedP256(crypto: NodeCrypto, point: Uint8Array): Uint8Array | undefined {
  if (point.length === 65 && point[0] === 0x04) return point;
  try {
    return view(
      crypto.ECDH.convertKey(
        point,
        'prime256v1',
        undefined,
        undefined,
        'uncompressed',
      ) as Uint8Array,
    );
  } catch {
    return undefined;
  }
}

/**
 * ECDSA over P-256 with SHA-256, DER-encoded signatures (RFC 9420 section 5.1.1 via RFC 8446),
 * high S accepted as ts-mls's default (@noble, `lowS: false`) accepts it. Signing keys are raw
 * 32-byte scalars. Public keys are emitted uncompressed, as RFC 9420 section 5.1.1 asks;
 * compressed ones (ts-mls's default emits them) are accepted.
 */
function p256Signature(
  primitives: Primitives,
  randomBytes: (length: number) => Uint8Array,
): Signature {
  const { crypto } = primitives.node;
  const base64Url = (bytes: Uint8Array) => primitives.toBase64Url(bytes);
  const publicPoint = (scalar: Uint8Array): Uint8Array => {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(scalar);
    return view(ecdh.getPublicKey());
  };
  const jwk = (point: Uint8Array) => ({
    kty: 'EC',
    crv: 'P-256',
    x: base64Url(point.subarray(1, 33)),
    y: base64Url(point.subarray(33, 65)),
  });
  return signatureOf(
    {
      // Checked when imported: a cached key was a scalar when it was cached, and still is.
      signingKey: (signKey) =>
        p256SigningKeys.get(signKey, (scalar) => {
          if (!isP256Scalar(scalar)) {
            throw signingKeyError('a P-256 signing key is a 32-byte scalar');
          }
          const publicKey = publicPoint(scalar);
          const key = crypto.createPrivateKey({
            key: { ...jwk(publicKey), d: base64Url(scalar) },
            format: 'jwk',
          });
          return { key, publicKey };
        }),
      verifyingKey: (publicKey) =>
        p256VerifyingKeys.get(publicKey, (bytes) => {
          const point = uncompressedP256(crypto, bytes);
          if (point === undefined) return undefined;
          try {
            return crypto.createPublicKey({ key: jwk(point), format: 'jwk' });
          } catch {
            return undefined;
          }
        }),
      sign: (message, key) => view(crypto.sign(HASH, message, { key, dsaEncoding: 'der' })),
      verify: (message, key, signature) =>
        crypto.verify(HASH, message, { key, dsaEncoding: 'der' }, signature),
    },
    async () => {
      let signKey = randomBytes(32);
      while (!isP256Scalar(signKey)) signKey = randomBytes(32);
      return { signKey, publicKey: publicPoint(signKey) };
    },
  );
}

// ---------------------------------------------------------------------------------------------
// HPKE (RFC 9180), base mode, single shot: what ts-mls's `Hpke` asks for.

const HPKE_V1 = encoder.encode('HPKE-v1');
const MODE_BASE = Uint8Array.of(0x00);
const LABEL = {
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

/** LabeledExtract and LabeledExpand (RFC 9180 section 4) under one suite_id. */
class Labeled {
  readonly #primitives: Primitives;
  readonly #suiteId: Uint8Array;

  constructor(primitives: Primitives, suiteId: Uint8Array) {
    this.#primitives = primitives;
    this.#suiteId = suiteId;
  }

  extract(salt: Uint8Array, label: Uint8Array, ikm: Uint8Array): Uint8Array {
    return this.#primitives.extract(salt, HPKE_V1, this.#suiteId, label, ikm);
  }

  expand(prk: Uint8Array, label: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    const info_ = [twoBytes(length), HPKE_V1, this.#suiteId, label, info];
    return this.#primitives.expand(prk, info_, length);
  }
}

/** A KEM key as ts-mls holds it: opaque, typed as a WebCrypto key by ts-mls's interface. */
class KemPublicKey<Handle> {
  readonly type = 'public';
  readonly bytes: Uint8Array;
  readonly handle: Handle;

  constructor(bytes: Uint8Array, handle: Handle) {
    this.bytes = bytes;
    this.handle = handle;
  }
}

class KemPrivateKey<Private, Public> {
  readonly type = 'private';
  readonly bytes: Uint8Array;
  readonly handle: Private;
  readonly publicKey: KemPublicKey<Public>;

  constructor(bytes: Uint8Array, handle: Private, publicKey: KemPublicKey<Public>) {
    this.bytes = bytes;
    this.handle = handle;
    this.publicKey = publicKey;
  }
}

/** A DHKEM's group (RFC 9180 section 4.1): what differs between X25519 and P-256. */
interface DhGroup<Private, Public> {
  readonly kemId: number;
  /** Npk and Nenc. */
  readonly publicKeyLength: number;
  /** Nsk. */
  readonly privateKeyLength: number;
  deriveKeyPair(ikm: Uint8Array): KemPrivateKey<Private, Public>;
  /** DeserializePublicKey; throws on anything that is not a public key of the group. */
  publicKey(bytes: Uint8Array): KemPublicKey<Public>;
  /** DeserializePrivateKey; throws on anything that is not a private key of the group. */
  privateKey(bytes: Uint8Array): KemPrivateKey<Private, Public>;
  dh(privateKey: KemPrivateKey<Private, Public>, publicKey: KemPublicKey<Public>): Uint8Array;
}

function kemSuiteId(kemId: number): Uint8Array {
  return concatBytes(encoder.encode('KEM'), twoBytes(kemId));
}

/** DHKEM(X25519, HKDF-SHA256). Keys are KeyObjects imported from JWK. */
class X25519Kem implements DhGroup<KeyObject, KeyObject> {
  readonly kemId = 0x0020;
  readonly publicKeyLength = 32;
  readonly privateKeyLength = 32;
  readonly #primitives: Primitives;
  readonly #crypto: NodeCrypto;
  readonly #labeled: Labeled;

  constructor(node: NodeModules, primitives: Primitives) {
    this.#crypto = node.crypto;
    this.#primitives = primitives;
    this.#labeled = new Labeled(primitives, kemSuiteId(this.kemId));
  }

  deriveKeyPair(ikm: Uint8Array): KemPrivateKey<KeyObject, KeyObject> {
    const prk = this.#labeled.extract(EMPTY, LABEL.dkpPrk, ikm);
    return this.privateKey(this.#labeled.expand(prk, LABEL.sk, EMPTY, this.privateKeyLength));
  }

  publicKey(bytes: Uint8Array): KemPublicKey<KeyObject> {
    if (bytes.length !== this.publicKeyLength) throw new CryptoError('an X25519 key is 32 bytes');
    return new KemPublicKey(bytes.slice(), this.#primitives.okpPublicKey('X25519', bytes));
  }

  privateKey(bytes: Uint8Array): KemPrivateKey<KeyObject, KeyObject> {
    if (bytes.length !== this.privateKeyLength) throw new CryptoError('an X25519 key is 32 bytes');
    const handle = this.#primitives.okpPrivateKey('X25519', bytes);
    const publicHandle = this.#crypto.createPublicKey(handle);
    const publicKey = new KemPublicKey(this.#primitives.okpPublicBytes(publicHandle), publicHandle);
    return new KemPrivateKey(bytes.slice(), handle, publicKey);
  }

  dh(
    privateKey: KemPrivateKey<KeyObject, KeyObject>,
    publicKey: KemPublicKey<KeyObject>,
  ): Uint8Array {
    const shared = view(
      this.#crypto.diffieHellman({ privateKey: privateKey.handle, publicKey: publicKey.handle }),
    );
    // RFC 9180 section 7.1.4: a low-order peer key gives the all-zero value; abort.
    if (shared.every((byte) => byte === 0)) throw new CryptoError('X25519 gave the all-zero value');
    return shared;
  }
}

/**
 * DHKEM(P-256, HKDF-SHA256). A private key is an ECDH object holding the scalar; a public key
 * is its uncompressed point, checked to be on the curve when deserialized (and again by
 * OpenSSL in every computeSecret).
 */
class P256Kem implements DhGroup<ECDH, undefined> {
  readonly kemId = 0x0010;
  readonly publicKeyLength = 65;
  readonly privateKeyLength = 32;
  readonly #crypto: NodeCrypto;
  readonly #labeled: Labeled;

  constructor(node: NodeModules, primitives: Primitives) {
    this.#crypto = node.crypto;
    this.#labeled = new Labeled(primitives, kemSuiteId(this.kemId));
  }

  /** Rejection sampling of the scalar, with bitmask 0xff (RFC 9180 section 7.1.3). */
  deriveKeyPair(ikm: Uint8Array): KemPrivateKey<ECDH, undefined> {
    const prk = this.#labeled.extract(EMPTY, LABEL.dkpPrk, ikm);
    for (let counter = 0; counter < 256; counter++) {
      const candidate = this.#labeled.expand(
        prk,
        LABEL.candidate,
        Uint8Array.of(counter),
        this.privateKeyLength,
      );
      if (isP256Scalar(candidate)) return this.privateKey(candidate);
    }
    throw new CryptoError('DeriveKeyPair found no P-256 scalar');
  }

  publicKey(bytes: Uint8Array): KemPublicKey<undefined> {
    if (bytes.length !== this.publicKeyLength || bytes[0] !== 0x04) {
      throw new CryptoError('a P-256 HPKE key is an uncompressed point');
    }
    // Throws unless the point is on the curve.
    this.#crypto.ECDH.convertKey(bytes, 'prime256v1', undefined, undefined, 'compressed');
    return new KemPublicKey(bytes.slice(), undefined);
  }

  privateKey(bytes: Uint8Array): KemPrivateKey<ECDH, undefined> {
    if (!isP256Scalar(bytes)) throw new CryptoError('a P-256 HPKE private key is a scalar below n');
    const ecdh = this.#crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(bytes);
    const publicKey = new KemPublicKey(view(ecdh.getPublicKey()), undefined);
    return new KemPrivateKey(bytes.slice(), ecdh, publicKey);
  }

  dh(privateKey: KemPrivateKey<ECDH, undefined>, publicKey: KemPublicKey<undefined>): Uint8Array {
    return view(privateKey.handle.computeSecret(publicKey.bytes));
  }
}

type AnyPrivateKey = KemPrivateKey<unknown, unknown>;
type AnyPublicKey = KemPublicKey<unknown>;

/** A failure on input that came from the peer is ts-mls's `CryptoError` (alert decrypt_error). */
function asCryptoError(what: string, error: unknown): CryptoError {
  if (error instanceof CryptoError) return error;
  return new CryptoError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
}

function ownPrivateKey(key: PrivateKey): AnyPrivateKey {
  if (!(key instanceof KemPrivateKey)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'an HPKE key of another implementation');
  }
  return key;
}

function ownPublicKey(key: PublicKey): AnyPublicKey {
  if (!(key instanceof KemPublicKey)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'an HPKE key of another implementation');
  }
  return key;
}

/** The sender's and recipient's context, reduced to the secret the key schedule starts from. */
interface KeySchedule {
  readonly secret: Uint8Array;
  readonly context: Uint8Array;
}

/** HPKE base mode with one DHKEM, HKDF-SHA256 and the suite's AEAD. */
class BaseModeHpke implements Hpke {
  readonly keyLength: number;
  readonly nonceLength = NONCE_LENGTH;
  readonly #primitives: Primitives;
  readonly #kem: DhGroup<unknown, unknown>;
  readonly #kemLabeled: Labeled;
  readonly #labeled: Labeled;
  readonly #randomBytes: (length: number) => Uint8Array;
  /** LabeledExtract("", "psk_id_hash", ""): base mode has no PSK, so it never changes. */
  readonly #pskIdHash: Uint8Array;
  /**
   * The keys this instance exported, by the array it gave out: ts-mls exports a KeyPackage's
   * private keys and imports them again to join (an X25519 import costs about 40 us).
   */
  readonly #exported = new KeyCache<AnyPrivateKey>();

  constructor(
    primitives: Primitives,
    kem: DhGroup<unknown, unknown>,
    aeadId: number,
    randomBytes: (length: number) => Uint8Array,
  ) {
    this.keyLength = aeadId === 0x0001 ? 16 : 32;
    this.#primitives = primitives;
    this.#kem = kem;
    this.#kemLabeled = new Labeled(primitives, kemSuiteId(kem.kemId));
    const suiteId = concatBytes(
      encoder.encode('HPKE'),
      twoBytes(kem.kemId),
      twoBytes(KDF_ID_HKDF_SHA256),
      twoBytes(aeadId),
    );
    this.#labeled = new Labeled(primitives, suiteId);
    this.#randomBytes = randomBytes;
    this.#pskIdHash = this.#labeled.extract(EMPTY, LABEL.pskIdHash, EMPTY);
  }

  /** ExtractAndExpand (RFC 9180 section 4.1). */
  #sharedSecret(dh: Uint8Array, enc: Uint8Array, recipient: Uint8Array): Uint8Array {
    const prk = this.#kemLabeled.extract(EMPTY, LABEL.eaePrk, dh);
    const kemContext = concatBytes(enc, recipient);
    return this.#kemLabeled.expand(prk, LABEL.sharedSecret, kemContext, HASH_LENGTH);
  }

  /** Encap: a fresh ephemeral key pair, DeriveKeyPair(random(Nsk)). */
  #encap(recipient: AnyPublicKey): { sharedSecret: Uint8Array; enc: Uint8Array } {
    const ephemeral = this.#kem.deriveKeyPair(this.#randomBytes(this.#kem.privateKeyLength));
    const enc = ephemeral.publicKey.bytes;
    const dh = this.#kem.dh(ephemeral, recipient);
    return { sharedSecret: this.#sharedSecret(dh, enc, recipient.bytes), enc };
  }

  #decap(enc: Uint8Array, recipient: AnyPrivateKey): Uint8Array {
    const ephemeral = this.#kem.publicKey(enc);
    const dh = this.#kem.dh(recipient, ephemeral);
    return this.#sharedSecret(dh, enc, recipient.publicKey.bytes);
  }

  /** KeySchedule (RFC 9180 section 5.1) for mode_base, up to `secret`. */
  #keySchedule(sharedSecret: Uint8Array, info: Uint8Array): KeySchedule {
    const infoHash = this.#labeled.extract(EMPTY, LABEL.infoHash, info);
    const context = concatBytes(MODE_BASE, this.#pskIdHash, infoHash);
    const secret = this.#labeled.extract(sharedSecret, LABEL.secret, EMPTY);
    return { secret, context };
  }

  #keyAndNonce(schedule: KeySchedule): { key: Uint8Array; nonce: Uint8Array } {
    const { secret, context } = schedule;
    return {
      key: this.#labeled.expand(secret, LABEL.key, context, this.keyLength),
      // The first sequence number is 0, so the nonce of a single-shot message is base_nonce.
      nonce: this.#labeled.expand(secret, LABEL.baseNonce, context, this.nonceLength),
    };
  }

  /** Context.Export (RFC 9180 section 5.3). */
  #export(schedule: KeySchedule, exporterContext: Uint8Array, length: number): Uint8Array {
    const { secret, context } = schedule;
    const exporterSecret = this.#labeled.expand(secret, LABEL.exp, context, HASH_LENGTH);
    return this.#labeled.expand(exporterSecret, LABEL.sec, exporterContext, length);
  }

  async seal(
    publicKey: PublicKey,
    plaintext: Uint8Array,
    info: Uint8Array,
    aad?: Uint8Array,
  ): Promise<{ ct: Uint8Array; enc: Uint8Array }> {
    const { sharedSecret, enc } = this.#encap(ownPublicKey(publicKey));
    const { key, nonce } = this.#keyAndNonce(this.#keySchedule(sharedSecret, info));
    return { ct: this.#primitives.seal(key, nonce, aad ?? EMPTY, plaintext), enc };
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
      const schedule = this.#keySchedule(this.#decap(kemOutput, recipient), info);
      const { key, nonce } = this.#keyAndNonce(schedule);
      return this.#primitives.open(key, nonce, aad ?? EMPTY, ciphertext);
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
    const { sharedSecret, enc } = this.#encap(ownPublicKey(publicKey));
    const schedule = this.#keySchedule(sharedSecret, info);
    return { enc, secret: this.#export(schedule, exporterContext, length) };
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
      const schedule = this.#keySchedule(this.#decap(kemOutput, recipient), info);
      return this.#export(schedule, exporterContext, length);
    } catch (error) {
      throw asCryptoError('HPKE import secret', error);
    }
  }

  async importPrivateKey(k: Uint8Array): Promise<PrivateKey> {
    try {
      return this.#exported.get(k, (bytes) => this.#kem.privateKey(bytes)) as unknown as PrivateKey;
    } catch (error) {
      throw asCryptoError('HPKE private key', error);
    }
  }

  async importPublicKey(k: Uint8Array): Promise<PublicKey> {
    try {
      return this.#kem.publicKey(k) as unknown as PublicKey;
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

  async encryptAead(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array | undefined,
    plaintext: Uint8Array,
  ): Promise<Uint8Array> {
    return this.#primitives.seal(key, nonce, aad ?? EMPTY, plaintext);
  }

  async decryptAead(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array | undefined,
    ciphertext: Uint8Array,
  ): Promise<Uint8Array> {
    return this.#primitives.open(key, nonce, aad ?? EMPTY, ciphertext);
  }

  async deriveKeyPair(ikm: Uint8Array): Promise<{ privateKey: PrivateKey; publicKey: PublicKey }> {
    return this.#keyPair(this.#kem.deriveKeyPair(ikm));
  }

  /** GenerateKeyPair as DeriveKeyPair(random(Nsk)), which RFC 9180 section 4 allows. */
  async generateKeyPair(): Promise<{ privateKey: PrivateKey; publicKey: PublicKey }> {
    return this.#keyPair(this.#kem.deriveKeyPair(this.#randomBytes(this.#kem.privateKeyLength)));
  }

  #keyPair(key: AnyPrivateKey): { privateKey: PrivateKey; publicKey: PublicKey } {
    return {
      privateKey: key as unknown as PrivateKey,
      publicKey: key.publicKey as unknown as PublicKey,
    };
  }
}
