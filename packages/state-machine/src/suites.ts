import { MlsTlsError } from '@mlstls/codec';
import type { AeadAlgorithm, HashAlgorithm } from '@mlstls/crypto';
import type { CiphersuiteName } from 'ts-mls';

/** What the record layer takes from an MLS ciphersuite (docs/protocol.md section 3). */
export interface SuiteParameters {
  readonly id: number;
  readonly name: CiphersuiteName;
  readonly hash: HashAlgorithm;
  readonly aead: AeadAlgorithm;
  /** The TLS 1.3 cipher suite with the same AEAD and hash, as `getCipher()` reports it. */
  readonly tlsName: string;
}

/** The MLS ciphersuites mlstls speaks, by RFC 9420 id. */
export const SUPPORTED_CIPHERSUITES: readonly SuiteParameters[] = [
  {
    id: 1,
    name: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
    hash: 'sha256',
    aead: 'aes-128-gcm',
    tlsName: 'TLS_AES_128_GCM_SHA256',
  },
  {
    id: 2,
    name: 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256',
    hash: 'sha256',
    aead: 'aes-128-gcm',
    tlsName: 'TLS_AES_128_GCM_SHA256',
  },
  {
    id: 3,
    name: 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519',
    hash: 'sha256',
    aead: 'chacha20-poly1305',
    tlsName: 'TLS_CHACHA20_POLY1305_SHA256',
  },
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
