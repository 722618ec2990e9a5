import { MlsTlsError } from '@mlstls/codec';
import type { AeadAlgorithm, HashAlgorithm } from '@mlstls/crypto';
import type { CiphersuiteName } from 'ts-mls';

/** What the record layer takes from an MLS ciphersuite (docs/protocol.md section 3). */
export interface SuiteParameters {
  readonly id: number;
  readonly name: CiphersuiteName;
  readonly hash: HashAlgorithm;
  readonly aead: AeadAlgorithm;
  /**
   * The TLS 1.3 cipher suite with the same AEAD and hash, as `getCipher()` reports it: RFC 8446's
   * name where it registers the pair, else one made the same way (`TLS_AES_256_GCM_SHA512`).
   */
  readonly tlsName: string;
  /** The optional packages its portable implementation needs, none for most suites. */
  readonly requires: readonly SuitePackage[];
}

/**
 * An optional package a suite's portable implementation loads (ts-mls's optional peer
 * dependencies, each pinned by ts-mls 1.6.4): `npm i mlstls` installs none of them.
 */
export interface SuitePackage {
  readonly name: string;
  readonly version: string;
}

const X448: SuitePackage = { name: '@hpke/dhkem-x448', version: '1.8.0' };
const ML_KEM: SuitePackage = { name: '@hpke/ml-kem', version: '0.3.0' };
const X_WING: SuitePackage = { name: '@hpke/hybridkem-x-wing', version: '0.7.0' };
const ML_DSA: SuitePackage = { name: '@noble/post-quantum', version: '0.5.2' };

/** The TLS 1.3 name of an AEAD and hash; RFC 8446 registers only the SHA-256 and SHA-384 ones. */
function tlsName(aead: AeadAlgorithm, hash: HashAlgorithm): string {
  const cipher = { 'aes-128-gcm': 'AES_128_GCM', 'aes-256-gcm': 'AES_256_GCM' }[
    aead as 'aes-128-gcm' | 'aes-256-gcm'
  ];
  return `TLS_${cipher ?? 'CHACHA20_POLY1305'}_${hash.toUpperCase()}`;
}

function suite(
  id: number,
  name: CiphersuiteName,
  hash: HashAlgorithm,
  aead: AeadAlgorithm,
  requires: readonly SuitePackage[] = [],
): SuiteParameters {
  return { id, name, hash, aead, tlsName: tlsName(aead, hash), requires };
}

/**
 * The MLS ciphersuites mlstls speaks, by id: every one ts-mls 1.6.4 implements, the seven of
 * RFC 9420 and the post-quantum ones (ML-KEM, X-Wing, ML-DSA-87). The record layer takes each
 * suite's AEAD and hash (docs/protocol.md section 3).
 */
export const SUPPORTED_CIPHERSUITES: readonly SuiteParameters[] = [
  suite(1, 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', 'sha256', 'aes-128-gcm'),
  suite(2, 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256', 'sha256', 'aes-128-gcm'),
  suite(3, 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519', 'sha256', 'chacha20-poly1305'),
  suite(4, 'MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448', 'sha512', 'aes-256-gcm', [X448]),
  suite(5, 'MLS_256_DHKEMP521_AES256GCM_SHA512_P521', 'sha512', 'aes-256-gcm'),
  suite(6, 'MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448', 'sha512', 'chacha20-poly1305', [
    X448,
  ]),
  suite(7, 'MLS_256_DHKEMP384_AES256GCM_SHA384_P384', 'sha384', 'aes-256-gcm'),
  suite(77, 'MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519', 'sha256', 'aes-128-gcm', [ML_KEM]),
  suite(78, 'MLS_128_MLKEM512_CHACHA20POLY1305_SHA256_Ed25519', 'sha256', 'chacha20-poly1305', [
    ML_KEM,
  ]),
  suite(79, 'MLS_256_MLKEM768_AES256GCM_SHA384_Ed25519', 'sha384', 'aes-256-gcm', [ML_KEM]),
  suite(80, 'MLS_256_MLKEM768_CHACHA20POLY1305_SHA384_Ed25519', 'sha384', 'chacha20-poly1305', [
    ML_KEM,
  ]),
  suite(81, 'MLS_256_MLKEM1024_AES256GCM_SHA512_Ed25519', 'sha512', 'aes-256-gcm', [ML_KEM]),
  suite(82, 'MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519', 'sha512', 'chacha20-poly1305', [
    ML_KEM,
  ]),
  suite(83, 'MLS_256_XWING_AES256GCM_SHA512_Ed25519', 'sha512', 'aes-256-gcm', [X_WING]),
  suite(84, 'MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519', 'sha512', 'chacha20-poly1305', [
    X_WING,
  ]),
  suite(85, 'MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87', 'sha512', 'aes-256-gcm', [
    ML_KEM,
    ML_DSA,
  ]),
  suite(86, 'MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_MLDSA87', 'sha512', 'chacha20-poly1305', [
    ML_KEM,
    ML_DSA,
  ]),
  suite(87, 'MLS_256_XWING_AES256GCM_SHA512_MLDSA87', 'sha512', 'aes-256-gcm', [X_WING, ML_DSA]),
  suite(88, 'MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87', 'sha512', 'chacha20-poly1305', [
    X_WING,
    ML_DSA,
  ]),
];

/** A ciphersuite as the API takes it: its RFC 9420 id or its name. */
export type CiphersuiteChoice = number | CiphersuiteName;

/** The parameters of a supported suite; anything else is `ERR_MLSTLS_UNSUPPORTED`. */
export function suiteParameters(choice: CiphersuiteChoice): SuiteParameters {
  const suite = findSuite(choice);
  if (suite === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_UNSUPPORTED', `MLS ciphersuite ${String(choice)}`);
  }
  return suite;
}

export function findSuite(choice: CiphersuiteChoice): SuiteParameters | undefined {
  return SUPPORTED_CIPHERSUITES.find((suite) => suite.id === choice || suite.name === choice);
}
