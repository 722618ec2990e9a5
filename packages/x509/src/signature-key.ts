import type { SubjectPublicKey } from './certificate.js';
import { contentOf, equalBytes, oidText, readElement, Tag } from './der.js';

export const ED25519_OID = '1.3.101.112';
export const ED448_OID = '1.3.101.113';
export const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';
const P256_OID = '1.2.840.10045.3.1.7';
const P384_OID = '1.3.132.0.34';
const P521_OID = '1.3.132.0.35';

/**
 * The signature schemes an X.509 credential key can sign MLS with, by ts-mls's names (its
 * `Ciphersuite.signature`): Ed25519 for suites 1 and 3, P256 for 2, Ed448 for 4 and 6, P521
 * for 5, P384 for 7.
 */
export type X509SignatureAlgorithm = 'Ed25519' | 'Ed448' | 'P256' | 'P384' | 'P521';

/** An EdDSA key type: its SPKI algorithm OID and the length of its raw keys (RFC 8410). */
export interface EdwardsKey {
  readonly algorithm: 'Ed25519' | 'Ed448';
  readonly oid: string;
  /** Raw public key and raw private key (the seed) length. */
  readonly size: number;
}

/** An ECDSA curve: its OID, WebCrypto and JWK name, field size and equation's p and b. */
export interface EcdsaCurve {
  readonly algorithm: 'P256' | 'P384' | 'P521';
  readonly oid: string;
  readonly name: 'P-256' | 'P-384' | 'P-521';
  /** Bytes of a field element and of a scalar. */
  readonly size: number;
  readonly p: bigint;
  /** y^2 = x^3 - 3x + b (mod p). */
  readonly b: bigint;
}

export const EDWARDS_KEYS: readonly EdwardsKey[] = [
  { algorithm: 'Ed25519', oid: ED25519_OID, size: 32 },
  { algorithm: 'Ed448', oid: ED448_OID, size: 57 },
];

/** SEC 2 / FIPS 186-4 D.1.2. */
export const ECDSA_CURVES: readonly EcdsaCurve[] = [
  {
    algorithm: 'P256',
    oid: P256_OID,
    name: 'P-256',
    size: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  {
    algorithm: 'P384',
    oid: P384_OID,
    name: 'P-384',
    size: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
  {
    algorithm: 'P521',
    oid: P521_OID,
    name: 'P-521',
    size: 66,
    p: (1n << 521n) - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  },
];

/**
 * Whether a certificate's key is `signatureKey`, an MLS signature key as ts-mls holds it:
 * Ed25519 raw 32 bytes, Ed448 raw 57 bytes, or a P-256, P-384 or P-521 SEC1 point,
 * uncompressed (65, 97, 133 bytes) or compressed (33, 49, 67). Points compare as points, so
 * either encoding on either side matches the other.
 */
export function isSignatureKey(publicKey: SubjectPublicKey, signatureKey: Uint8Array): boolean {
  const { algorithm, bits } = publicKey;
  const edwards = EDWARDS_KEYS.find(({ oid }) => oid === algorithm.oid);
  if (edwards !== undefined) {
    return (
      algorithm.parameters === undefined &&
      bits.length === edwards.size &&
      equalBytes(bits, signatureKey)
    );
  }
  if (algorithm.oid !== EC_PUBLIC_KEY_OID) return false;
  const curve = curveOf(algorithm.parameters);
  if (curve === undefined) return false;
  const a = compressedPoint(curve, bits);
  const b = compressedPoint(curve, signatureKey);
  return a !== undefined && b !== undefined && equalBytes(a, b);
}

/** The supported ECDSA curve named by EC parameters (a namedCurve OID), if any. */
export function curveOf(parameters: Uint8Array | undefined): EcdsaCurve | undefined {
  if (parameters === undefined) return undefined;
  try {
    const element = readElement(parameters, 0);
    if (element.tag !== Tag.OID || element.end !== parameters.length) return undefined;
    const oid = oidText(contentOf(parameters, element));
    return ECDSA_CURVES.find((curve) => curve.oid === oid);
  } catch {
    return undefined;
  }
}

/**
 * The compressed form of a point of `curve`, or undefined if `point` is not one. An
 * uncompressed point must lie on the curve: comparing by x and the parity of y is only sound
 * for points.
 */
function compressedPoint(curve: EcdsaCurve, point: Uint8Array): Uint8Array | undefined {
  const { size, p, b } = curve;
  if (point.length === size + 1 && (point[0] === 0x02 || point[0] === 0x03)) {
    return toBigInt(point.subarray(1)) < p ? point : undefined;
  }
  if (point.length !== 2 * size + 1 || point[0] !== 0x04) return undefined;
  const x = toBigInt(point.subarray(1, size + 1));
  const y = toBigInt(point.subarray(size + 1));
  if (x >= p || y >= p) return undefined;
  if ((y * y - (x * x * x - 3n * x + b)) % p !== 0n) return undefined;
  const compressed = new Uint8Array(size + 1);
  compressed[0] = 0x02 | (point[2 * size]! & 1);
  compressed.set(point.subarray(1, size + 1), 1);
  return compressed;
}

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}
