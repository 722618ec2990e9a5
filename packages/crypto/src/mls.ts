// MLS ciphersuites 1 to 7 on node:crypto, for ts-mls: every suite whose algorithms node:crypto
// has on Node 20 (X25519, X448, P-256, P-384, P-521, Ed25519, Ed448, SHA-256/384/512,
// AES-128/256-GCM, ChaCha20-Poly1305). ts-mls's default implementation goes through WebCrypto,
// which imports every key from PKCS#8 (about 0.4 ms in OpenSSL 3) and makes one asynchronous
// round trip per HMAC block, and through @noble for ECDSA and Ed448 signatures (about 3 ms a
// P-256 verification, more for the larger curves) and X448: a handshake spent most of its time
// there. Keys here are imported from JWK (raw coordinates, no DER decoder) and every operation
// runs synchronously.
//
// The bytes are ts-mls's: raw X25519, X448, Ed25519 and Ed448 keys (32, 56, 32 and 57 bytes),
// raw big-endian P-256, P-384 and P-521 scalars (32, 48, 66 bytes), uncompressed HPKE points,
// DER ECDSA signatures (SHA-256, SHA-384, SHA-512 by curve), pure Ed448 with an empty context,
// ciphertext followed by tag. The KDF of each suite, and of its KEM, is HKDF with the suite's
// hash, whose Nh is also the size of the MLS secrets and of the record key schedule's secrets
// (docs/protocol.md section 3); the record AEAD is the suite's. Peers may run either
// implementation. What this shares with the WebCrypto implementation (webcrypto-mls.ts) is
// mls-common.ts.

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
  checkExpandLength,
  checkNonce,
  concatBytes,
  type EcCurve,
  ED448,
  ED25519,
  EMPTY,
  eddsaSeed,
  equalBytes,
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
  type OkpCurve,
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
  X448,
  X25519,
} from './mls-common.js';
import { nodeProvider } from './node.js';
import { type AeadAlgorithm, aeadParameters, type HashAlgorithm, hashLength } from './provider.js';
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

/** The suites this module speaks: all of 1 to 7. */
const SUITES: Partial<Record<CiphersuiteName, SuiteAlgorithms>> = MLS_SUITES;

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
 * has no node:crypto or the suite is none of 1 to 7 (ts-mls's own implementation is then the one
 * to use: the post-quantum suites).
 */
export function nodeCiphersuite(
  name: CiphersuiteName,
  options: NodeCiphersuiteOptions = {},
): CiphersuiteImpl | undefined {
  const suite = SUITES[name];
  const node = loadNodeModules();
  if (suite === undefined || node === undefined) return undefined;
  const randomBytes = options.randomBytes ?? secureRandom;
  const primitives = new Primitives(node, suite.hash, suite.aead);
  return {
    name,
    hash: hashOf(primitives),
    kdf: kdfOf(primitives),
    signature: signatureFor(suite.signature, primitives, randomBytes),
    hpke: new BaseModeHpke(primitives, kemFor(suite.kem, primitives), suite.aeadId, randomBytes),
    rng: { randomBytes },
  };
}

/** A plain Uint8Array over a Buffer that node:crypto allocated for this result alone. */
function view(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The suite's hash, HMAC and HKDF with it, and its AEAD, through @mlstls/crypto. */
class Primitives {
  readonly #provider = nodeProvider();
  readonly node: NodeModules;
  readonly hash: HashAlgorithm;
  /** Nh: the size of a digest, a MAC, a KDF secret, and the KEM's Nsecret. */
  readonly hashLength: number;
  readonly aead: AeadAlgorithm;

  constructor(node: NodeModules, hash: HashAlgorithm, aead: AeadAlgorithm) {
    this.node = node;
    this.hash = hash;
    this.hashLength = hashLength(hash);
    this.aead = aead;
  }

  digest(data: Uint8Array): Uint8Array {
    return this.#provider.digest(this.hash, data);
  }

  hmac(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
    return this.#provider.hmac(this.hash, key, ...data);
  }

  /** HKDF-Extract (RFC 5869); an empty salt is HashLen zeros, which HMAC pads it to anyway. */
  extract(salt: Uint8Array, ...ikm: Uint8Array[]): Uint8Array {
    return this.hmac(salt, ...ikm);
  }

  /** HKDF-Expand of the concatenation of `info`, without joining it. */
  expand(prk: Uint8Array, info: readonly Uint8Array[], length: number): Uint8Array {
    checkExpandLength(length, this.hashLength);
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
    const aeadKey = this.#provider.aeadKey(this.aead, key);
    const out = new Uint8Array(plaintext.length + TAG_LENGTH);
    aeadKey.seal(nonce, aad, [plaintext], out, 0);
    aeadKey.destroy();
    return out;
  }

  /** The plaintext; a ciphertext that does not authenticate is a `CryptoError`, as in ts-mls. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    checkNonce(nonce);
    const aeadKey = this.#provider.aeadKey(this.aead, key);
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
   * An Ed25519, Ed448, X25519 or X448 private key from its raw bytes. JWK is the fast way in
   * (PKCS#8 goes through OpenSSL 3's decoders, ten times slower). Node reads only `d` of a
   * private OKP JWK and computes the public key itself, so `x` is a placeholder rather than a
   * second scalar multiplication; should a Node release start checking `x`, PKCS#8 takes over.
   */
  okpPrivateKey(curve: OkpCurve, seed: Uint8Array): KeyObject {
    const { crypto } = this.node;
    try {
      return crypto.createPrivateKey({
        key: { kty: 'OKP', crv: curve.name, d: this.toBase64Url(seed), x: UNUSED_OKP_X },
        format: 'jwk',
      });
    } catch {
      return crypto.createPrivateKey({
        key: this.node.Buffer.from(concatBytes(curve.pkcs8Prefix, seed)),
        format: 'der',
        type: 'pkcs8',
      });
    }
  }

  okpPublicKey(curve: OkpCurve, bytes: Uint8Array): KeyObject {
    return this.node.crypto.createPublicKey({
      key: { kty: 'OKP', crv: curve.name, x: this.toBase64Url(bytes) },
      format: 'jwk',
    });
  }

  /** The raw public key of an OKP key pair. */
  okpPublicBytes(publicKey: KeyObject): Uint8Array {
    return this.fromBase64Url(publicKey.export({ format: 'jwk' }).x ?? '');
  }
}

/** Any bytes in base64url: Node wants a string `x` in a private OKP JWK, and ignores it. */
const UNUSED_OKP_X = 'A'.repeat(43);

// ---------------------------------------------------------------------------------------------
// Signatures

/** A signing key as node:crypto holds it, and the bytes of its public key. */
interface SigningKey {
  readonly key: KeyObject;
  readonly publicKey: Uint8Array;
}

/**
 * The key objects of one signature scheme. Process-wide, one per scheme: a key object holds
 * nothing that depends on who asks for it. Importing costs more than signing (Ed25519: about
 * 85 us to import a private key, 54 us to sign), and a server passes the same credential for
 * every connection.
 */
interface SchemeKeys {
  readonly signing: HeldKeyCache<SigningKey>;
  readonly verifying: RecentKeyCache<KeyObject | undefined>;
}

function schemeKeys(): SchemeKeys {
  return { signing: new HeldKeyCache(), verifying: new RecentKeyCache() };
}

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

/** An EdDSA curve (RFC 8032): pure EdDSA, an empty Ed448 context, as @noble signs. */
interface EdCurve extends OkpCurve<'Ed25519' | 'Ed448'> {
  /**
   * What keygen emits: the PKCS#8 of the seed (Ed25519: what ts-mls's default emits on Node,
   * through WebCrypto) or the raw seed (Ed448: what it emits through @noble, the only form
   * @noble signs with).
   */
  readonly keygenPkcs8: boolean;
  readonly keys: SchemeKeys;
}

const NODE_ED25519: EdCurve = { ...ED25519, keygenPkcs8: true, keys: schemeKeys() };
const NODE_ED448: EdCurve = { ...ED448, keygenPkcs8: false, keys: schemeKeys() };

/** The signature scheme `name` of a suite. */
function signatureFor(
  name: SignatureName,
  primitives: Primitives,
  randomBytes: (length: number) => Uint8Array,
): Signature {
  switch (name) {
    case 'Ed25519':
      return eddsaSignature(primitives, NODE_ED25519, randomBytes);
    case 'Ed448':
      return eddsaSignature(primitives, NODE_ED448, randomBytes);
    case 'P256':
      return ecdsaSignature(primitives, NODE_P256, randomBytes);
    case 'P384':
      return ecdsaSignature(primitives, NODE_P384, randomBytes);
    case 'P521':
      return ecdsaSignature(primitives, NODE_P521, randomBytes);
  }
}

/**
 * Ed25519 or Ed448 (RFC 8032). Signing keys are a raw seed (32 or 57 bytes) or its PKCS#8, as
 * ts-mls's default accepts for Ed25519 (and emits on Node); public keys and signatures are raw.
 */
function eddsaSignature(
  primitives: Primitives,
  curve: EdCurve,
  randomBytes: (length: number) => Uint8Array,
): Signature {
  const { crypto } = primitives.node;
  const { pkcs8Prefix, keyLength } = curve;
  const signingKey = (seed: Uint8Array): SigningKey => {
    const key = primitives.okpPrivateKey(curve, seed);
    return { key, publicKey: primitives.okpPublicBytes(crypto.createPublicKey(key)) };
  };
  return signatureOf(
    {
      signingKey: (signKey) =>
        curve.keys.signing.get(signKey, (bytes) => signingKey(eddsaSeed(curve, bytes))),
      verifyingKey: (publicKey) =>
        curve.keys.verifying.get(publicKey, (bytes) => {
          if (bytes.length !== keyLength) return undefined;
          try {
            return primitives.okpPublicKey(curve, bytes);
          } catch {
            return undefined;
          }
        }),
      sign: (message, key) => view(crypto.sign(null, message, key)),
      verify: (message, key, signature) => crypto.verify(null, message, key, signature),
    },
    async () => {
      const seed = randomBytes(keyLength);
      const signKey = curve.keygenPkcs8 ? concatBytes(pkcs8Prefix, seed) : seed.slice();
      // The pair's first signature (a KeyPackage's, a credential's) uses the key made here.
      const { publicKey } = curve.keys.signing.get(signKey, () => signingKey(seed));
      return { signKey, publicKey: publicKey.slice() };
    },
  );
}

/** A NIST prime curve as node:crypto knows it, with its signature keys. */
interface NodeEcCurve extends EcCurve {
  readonly opensslName: 'prime256v1' | 'secp384r1' | 'secp521r1';
  readonly keys: SchemeKeys;
}

const NODE_P256: NodeEcCurve = { ...P256, opensslName: 'prime256v1', keys: schemeKeys() };
const NODE_P384: NodeEcCurve = { ...P384, opensslName: 'secp384r1', keys: schemeKeys() };
const NODE_P521: NodeEcCurve = { ...P521, opensslName: 'secp521r1', keys: schemeKeys() };

/**
 * The uncompressed point of a public key of `curve` given compressed or uncompressed, or
 * undefined if it is not a point of the curve.
 */
function uncompressedPoint(
  crypto: NodeCrypto,
  curve: NodeEcCurve,
  point: Uint8Array,
): Uint8Array | undefined {
  if (point.length === 1 + 2 * curve.scalarLength && point[0] === 0x04) return point;
  try {
    return view(
      crypto.ECDH.convertKey(
        point,
        curve.opensslName,
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
 * ECDSA over P-256 with SHA-256, P-384 with SHA-384 or P-521 with SHA-512, DER-encoded
 * signatures (RFC 9420 section 5.1.1 via RFC 8446), high S accepted as ts-mls's default
 * (@noble, `lowS: false`) accepts it. Signing keys are raw scalars (32, 48, 66 bytes). Public
 * keys are emitted uncompressed, as RFC 9420 section 5.1.1 asks; compressed ones (ts-mls's
 * default emits them) are accepted.
 */
function ecdsaSignature(
  primitives: Primitives,
  curve: NodeEcCurve,
  randomBytes: (length: number) => Uint8Array,
): Signature {
  const { crypto } = primitives.node;
  const { scalarLength, hash } = curve;
  const base64Url = (bytes: Uint8Array) => primitives.toBase64Url(bytes);
  const publicPoint = (scalar: Uint8Array): Uint8Array => {
    const ecdh = crypto.createECDH(curve.opensslName);
    ecdh.setPrivateKey(scalar);
    return view(ecdh.getPublicKey());
  };
  const jwk = (point: Uint8Array) => ({
    kty: 'EC',
    crv: curve.name,
    x: base64Url(point.subarray(1, 1 + scalarLength)),
    y: base64Url(point.subarray(1 + scalarLength, 1 + 2 * scalarLength)),
  });
  return signatureOf(
    {
      // Checked when imported: a cached key was a scalar when it was cached, and still is.
      signingKey: (signKey) =>
        curve.keys.signing.get(signKey, (scalar) => {
          if (!isScalar(curve, scalar)) {
            throw signingKeyError(`a ${curve.name} signing key is a ${scalarLength}-byte scalar`);
          }
          const publicKey = publicPoint(scalar);
          const key = crypto.createPrivateKey({
            key: { ...jwk(publicKey), d: base64Url(scalar) },
            format: 'jwk',
          });
          return { key, publicKey };
        }),
      verifyingKey: (publicKey) =>
        curve.keys.verifying.get(publicKey, (bytes) => {
          const point = uncompressedPoint(crypto, curve, bytes);
          if (point === undefined) return undefined;
          try {
            return crypto.createPublicKey({ key: jwk(point), format: 'jwk' });
          } catch {
            return undefined;
          }
        }),
      sign: (message, key) => view(crypto.sign(hash, message, { key, dsaEncoding: 'der' })),
      verify: (message, key, signature) =>
        crypto.verify(hash, message, { key, dsaEncoding: 'der' }, signature),
    },
    async () => {
      const signKey = randomScalar(curve, randomBytes);
      return { signKey, publicKey: publicPoint(signKey) };
    },
  );
}

// ---------------------------------------------------------------------------------------------
// HPKE (RFC 9180), base mode, single shot: what ts-mls's `Hpke` asks for.

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

/** A DHKEM's group (RFC 9180 section 4.1): what differs between X25519, X448 and the P curves. */
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

/** The DHKEM `name` of a suite, with the suite's primitives (its hash is the KEM's). */
function kemFor(name: KemName, primitives: Primitives): DhGroup<unknown, unknown> {
  switch (name) {
    case 'DHKEM-X25519-HKDF-SHA256':
      return new OkpKem(primitives, X25519, 0x0020);
    case 'DHKEM-X448-HKDF-SHA512':
      return new OkpKem(primitives, X448, 0x0021);
    case 'DHKEM-P256-HKDF-SHA256':
      return new EcKem(primitives, NODE_P256, 0x0010);
    case 'DHKEM-P384-HKDF-SHA384':
      return new EcKem(primitives, NODE_P384, 0x0011);
    case 'DHKEM-P521-HKDF-SHA512':
      return new EcKem(primitives, NODE_P521, 0x0012);
  }
}

/**
 * DHKEM(X25519, HKDF-SHA256) or DHKEM(X448, HKDF-SHA512). Keys are KeyObjects imported from
 * JWK; a private key is the raw, unclamped scalar, which X25519 and X448 clamp as they use it
 * (RFC 7748 section 5).
 */
class OkpKem implements DhGroup<KeyObject, KeyObject> {
  readonly kemId: number;
  readonly publicKeyLength: number;
  readonly privateKeyLength: number;
  readonly #primitives: Primitives;
  readonly #curve: OkpCurve<'X25519' | 'X448'>;
  readonly #crypto: NodeCrypto;
  readonly #labeled: Labeled<Uint8Array>;

  constructor(primitives: Primitives, curve: OkpCurve<'X25519' | 'X448'>, kemId: number) {
    this.kemId = kemId;
    this.publicKeyLength = curve.keyLength;
    this.privateKeyLength = curve.keyLength;
    this.#crypto = primitives.node.crypto;
    this.#primitives = primitives;
    this.#curve = curve;
    this.#labeled = new Labeled(primitives, kemSuiteId(kemId));
  }

  deriveKeyPair(ikm: Uint8Array): KemPrivateKey<KeyObject, KeyObject> {
    const prk = this.#labeled.extract(EMPTY, LABEL.dkpPrk, ikm);
    return this.privateKey(this.#labeled.expand(prk, LABEL.sk, EMPTY, this.privateKeyLength));
  }

  #lengthError(): CryptoError {
    return new CryptoError(`an ${this.#curve.name} key is ${this.#curve.keyLength} bytes`);
  }

  publicKey(bytes: Uint8Array): KemPublicKey<KeyObject> {
    if (bytes.length !== this.publicKeyLength) throw this.#lengthError();
    return new KemPublicKey(bytes.slice(), this.#primitives.okpPublicKey(this.#curve, bytes));
  }

  privateKey(bytes: Uint8Array): KemPrivateKey<KeyObject, KeyObject> {
    if (bytes.length !== this.privateKeyLength) throw this.#lengthError();
    const handle = this.#primitives.okpPrivateKey(this.#curve, bytes);
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
    if (shared.every((byte) => byte === 0)) {
      throw new CryptoError(`${this.#curve.name} gave the all-zero value`);
    }
    return shared;
  }
}

/**
 * DHKEM(P-256, HKDF-SHA256), DHKEM(P-384, HKDF-SHA384) or DHKEM(P-521, HKDF-SHA512). A private
 * key is an ECDH object holding the scalar; a public key is its uncompressed point, checked to
 * be on the curve when deserialized (and again by OpenSSL in every computeSecret).
 */
class EcKem implements DhGroup<ECDH, undefined> {
  readonly kemId: number;
  readonly publicKeyLength: number;
  readonly privateKeyLength: number;
  readonly #curve: NodeEcCurve;
  readonly #crypto: NodeCrypto;
  readonly #labeled: Labeled<Uint8Array>;

  constructor(primitives: Primitives, curve: NodeEcCurve, kemId: number) {
    this.kemId = kemId;
    this.publicKeyLength = 1 + 2 * curve.scalarLength;
    this.privateKeyLength = curve.scalarLength;
    this.#curve = curve;
    this.#crypto = primitives.node.crypto;
    this.#labeled = new Labeled(primitives, kemSuiteId(kemId));
  }

  /** Rejection sampling of the scalar, its first byte masked (RFC 9180 section 7.1.3). */
  deriveKeyPair(ikm: Uint8Array): KemPrivateKey<ECDH, undefined> {
    const prk = this.#labeled.extract(EMPTY, LABEL.dkpPrk, ikm);
    for (let counter = 0; counter < 256; counter++) {
      const candidate = this.#labeled.expand(
        prk,
        LABEL.candidate,
        Uint8Array.of(counter),
        this.privateKeyLength,
      );
      candidate[0]! &= this.#curve.bitmask;
      if (isScalar(this.#curve, candidate)) return this.privateKey(candidate);
    }
    throw new CryptoError(`DeriveKeyPair found no ${this.#curve.name} scalar`);
  }

  publicKey(bytes: Uint8Array): KemPublicKey<undefined> {
    if (bytes.length !== this.publicKeyLength || bytes[0] !== 0x04) {
      throw new CryptoError(`a ${this.#curve.name} HPKE key is an uncompressed point`);
    }
    // Throws unless the point is on the curve.
    this.#crypto.ECDH.convertKey(
      bytes,
      this.#curve.opensslName,
      undefined,
      undefined,
      'compressed',
    );
    return new KemPublicKey(bytes.slice(), undefined);
  }

  privateKey(bytes: Uint8Array): KemPrivateKey<ECDH, undefined> {
    let scalar = bytes;
    if (this.#curve.padsShortPrivateKeys && bytes.length < this.privateKeyLength) {
      scalar = new Uint8Array(this.privateKeyLength);
      scalar.set(bytes, this.privateKeyLength - bytes.length);
    }
    if (!isScalar(this.#curve, scalar)) {
      throw new CryptoError(`a ${this.#curve.name} HPKE private key is a scalar below n`);
    }
    const ecdh = this.#crypto.createECDH(this.#curve.opensslName);
    ecdh.setPrivateKey(scalar);
    const publicKey = new KemPublicKey(view(ecdh.getPublicKey()), undefined);
    return new KemPrivateKey(scalar.slice(), ecdh, publicKey);
  }

  dh(privateKey: KemPrivateKey<ECDH, undefined>, publicKey: KemPublicKey<undefined>): Uint8Array {
    return view(privateKey.handle.computeSecret(publicKey.bytes));
  }
}

type AnyPrivateKey = KemPrivateKey<unknown, unknown>;
type AnyPublicKey = KemPublicKey<unknown>;

function ownPrivateKey(key: PrivateKey): AnyPrivateKey {
  return ownKey(key, KemPrivateKey);
}

function ownPublicKey(key: PublicKey): AnyPublicKey {
  return ownKey(key, KemPublicKey);
}

/** The sender's and recipient's context, reduced to the secret the key schedule starts from. */
interface KeySchedule {
  readonly secret: Uint8Array;
  readonly context: Uint8Array;
}

/** HPKE base mode with one DHKEM, HKDF with the suite's hash and the suite's AEAD. */
class BaseModeHpke implements Hpke {
  readonly keyLength: number;
  readonly nonceLength = NONCE_LENGTH;
  readonly #primitives: Primitives;
  readonly #kem: DhGroup<unknown, unknown>;
  readonly #kemLabeled: Labeled<Uint8Array>;
  readonly #labeled: Labeled<Uint8Array>;
  readonly #randomBytes: (length: number) => Uint8Array;
  /** LabeledExtract("", "psk_id_hash", ""): base mode has no PSK, so it never changes. */
  readonly #pskIdHash: Uint8Array;
  /**
   * The keys this instance exported, by the array it gave out: ts-mls exports a KeyPackage's
   * private keys and imports them again to join (an X25519 import costs about 40 us).
   */
  readonly #exported = new HeldKeyCache<AnyPrivateKey>();

  constructor(
    primitives: Primitives,
    kem: DhGroup<unknown, unknown>,
    aeadId: number,
    randomBytes: (length: number) => Uint8Array,
  ) {
    this.keyLength = aeadParameters(primitives.aead).keyLength;
    this.#primitives = primitives;
    this.#kem = kem;
    this.#kemLabeled = new Labeled(primitives, kemSuiteId(kem.kemId));
    this.#labeled = new Labeled(primitives, hpkeSuiteId(kem.kemId, primitives.hash, aeadId));
    this.#randomBytes = randomBytes;
    this.#pskIdHash = this.#labeled.extract(EMPTY, LABEL.pskIdHash, EMPTY);
  }

  /** ExtractAndExpand (RFC 9180 section 4.1). */
  #sharedSecret(dh: Uint8Array, enc: Uint8Array, recipient: Uint8Array): Uint8Array {
    const prk = this.#kemLabeled.extract(EMPTY, LABEL.eaePrk, dh);
    const kemContext = concatBytes(enc, recipient);
    // Nsecret is the Nh of the KEM's hash, which is the suite's.
    return this.#kemLabeled.expand(
      prk,
      LABEL.sharedSecret,
      kemContext,
      this.#primitives.hashLength,
    );
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
    const exporterSecret = this.#labeled.expand(
      secret,
      LABEL.exp,
      context,
      this.#primitives.hashLength,
    );
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
    return keyPairOf(this.#kem.deriveKeyPair(ikm));
  }

  /** GenerateKeyPair as DeriveKeyPair(random(Nsk)), which RFC 9180 section 4 allows. */
  async generateKeyPair(): Promise<{ privateKey: PrivateKey; publicKey: PublicKey }> {
    return keyPairOf(this.#kem.deriveKeyPair(this.#randomBytes(this.#kem.privateKeyLength)));
  }
}
