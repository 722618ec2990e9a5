import type { SubjectPublicKey } from './certificate.js';
import { contentOf, equalBytes, oidText, readElement, Tag } from './der.js';

export const ED25519_OID = '1.3.101.112';
export const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';
export const P256_OID = '1.2.840.10045.3.1.7';

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/**
 * Whether a certificate's key is `signatureKey`, an MLS signature key as ts-mls holds it:
 * Ed25519 raw 32 bytes, or a P-256 SEC1 point, uncompressed (65 bytes) or compressed (33).
 * Points compare as points, so either encoding on either side matches the other.
 */
export function isSignatureKey(publicKey: SubjectPublicKey, signatureKey: Uint8Array): boolean {
  const { algorithm, bits } = publicKey;
  if (algorithm.oid === ED25519_OID) {
    return (
      algorithm.parameters === undefined && bits.length === 32 && equalBytes(bits, signatureKey)
    );
  }
  if (algorithm.oid !== EC_PUBLIC_KEY_OID || !isNamedCurve(algorithm.parameters, P256_OID)) {
    return false;
  }
  const a = compressedP256(bits);
  const b = compressedP256(signatureKey);
  return a !== undefined && b !== undefined && equalBytes(a, b);
}

function isNamedCurve(parameters: Uint8Array | undefined, curve: string): boolean {
  if (parameters === undefined) return false;
  try {
    const element = readElement(parameters, 0);
    return (
      element.tag === Tag.OID &&
      element.end === parameters.length &&
      oidText(contentOf(parameters, element)) === curve
    );
  } catch {
    return false;
  }
}

/**
 * The compressed form of a P-256 point, or undefined if `point` is not one. An uncompressed
 * point must lie on the curve: comparing by x and the parity of y is only sound for points.
 */
function compressedP256(point: Uint8Array): Uint8Array | undefined {
  if (point.length === 33 && (point[0] === 0x02 || point[0] === 0x03)) {
    return toBigInt(point.subarray(1)) < P ? point : undefined;
  }
  if (point.length !== 65 || point[0] !== 0x04) return undefined;
  const x = toBigInt(point.subarray(1, 33));
  const y = toBigInt(point.subarray(33));
  if (x >= P || y >= P) return undefined;
  if ((y * y - (x * x * x - 3n * x + B)) % P !== 0n) return undefined;
  const compressed = new Uint8Array(33);
  compressed[0] = 0x02 | (point[64]! & 1);
  compressed.set(point.subarray(1, 33), 1);
  return compressed;
}

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}
