import { MlsTlsError } from '@mlstls/codec';
import { decodeBase64 } from './base64.js';
import type { ParsedCertificate } from './certificate.js';
import { childrenOf, contentOf, expectElement, oidText, Tag } from './der.js';
import { type CertificateInput, looksLikePem, parseCertificates, pemBlocks } from './pem.js';
import { EC_PUBLIC_KEY_OID, ED25519_OID, isSignatureKey, P256_OID } from './signature-key.js';
import { type ImportAlgorithm, subtle } from './webcrypto.js';

/** A credential mlstls can present: structurally the state machine's EndpointCredential. */
export interface X509EndpointCredential {
  readonly credential: { readonly credentialType: 'x509'; readonly certificates: Uint8Array[] };
  /** 'Ed25519' or 'P256' (ts-mls's signature algorithm names). */
  readonly signatureAlgorithm: 'Ed25519' | 'P256';
  /** Ed25519: raw 32 bytes. P-256: SEC1 uncompressed 65 bytes. */
  readonly signaturePublicKey: Uint8Array;
  /**
   * Ed25519: the 48-byte PKCS#8 of the seed, which ts-mls's own WebCrypto signer needs.
   * P-256: the raw 32-byte scalar d.
   */
  readonly signaturePrivateKey: Uint8Array;
}

/**
 * The members of a JSON Web Key (RFC 7517) that a credential reads. WebCrypto's and
 * node:crypto's JsonWebKey both fit, without this package depending on either's types.
 */
export interface JsonWebKey {
  readonly kty?: string;
  readonly crv?: string;
  readonly d?: string;
  readonly x?: string;
  readonly y?: string;
}

/** The PKCS#8 PrivateKeyInfo of an Ed25519 seed, up to the seed itself (RFC 8410 7). */
const ED25519_PKCS8_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
);

/**
 * The credential of `certificates` (DER, leaf first) and the leaf's private key as a JWK (OKP
 * Ed25519 with d and x, or EC P-256 with d, x, y). Synchronous. The leaf's key must be the
 * JWK's public key, else ERR_MLSTLS_INVALID_ARGUMENT (node's "key values mismatch"); other key
 * types are ERR_MLSTLS_UNSUPPORTED: MLS suites 1-3 sign with Ed25519 or P-256 only. That d
 * belongs to x (and y) is taken on trust, as the JWK's producer made both.
 */
export function x509CredentialFromJwk(
  certificates: readonly Uint8Array[],
  privateKey: JsonWebKey,
): X509EndpointCredential {
  const parsed = parseCertificates(certificates);
  const leaf = parsed[0];
  if (leaf === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'an X.509 credential needs a certificate');
  }
  const key = signatureKeyOf(privateKey);
  if (!isSignatureKey(leaf.publicKey, key.signaturePublicKey)) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      `the key does not match the certificate ${leaf.subjectText} (key values mismatch)`,
    );
  }
  return {
    credential: { credentialType: 'x509', certificates: parsed.map(({ der }) => der) },
    ...key,
  };
}

/**
 * The credential of `cert` (the chain, leaf first) and `key`, a PKCS#8 private key in PEM
 * ('-----BEGIN PRIVATE KEY-----') or DER. Portable: WebCrypto imports the key and exports it
 * as a JWK for x509CredentialFromJwk.
 */
export async function loadX509Credential(options: {
  cert: CertificateInput;
  key: string | Uint8Array;
}): Promise<X509EndpointCredential> {
  const certificates = parseCertificates(options.cert);
  const pkcs8 = pkcs8Of(options.key);
  const algorithm = importAlgorithmOf(pkcs8);
  let jwk: JsonWebKey;
  try {
    const key = await subtle().importKey('pkcs8', pkcs8, algorithm, true, ['sign']);
    jwk = await subtle().exportKey('jwk', key);
  } catch (error) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`key` does not import as PKCS#8', {
      cause: error,
    });
  }
  return x509CredentialFromJwk(
    certificates.map((certificate: ParsedCertificate) => certificate.der),
    jwk,
  );
}

type SignatureKey = Omit<X509EndpointCredential, 'credential'>;

function signatureKeyOf(jwk: JsonWebKey): SignatureKey {
  const member = (name: 'd' | 'x' | 'y'): Uint8Array => {
    const text = jwk[name];
    const bytes = typeof text === 'string' ? decodeBase64(text, 'jwk') : undefined;
    if (bytes?.length !== 32) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        `the JWK's "${name}" is not 32 bytes of base64url${name === 'd' ? ' (a private key is needed)' : ''}`,
      );
    }
    return bytes;
  };
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    const seed = member('d');
    const pkcs8 = new Uint8Array(ED25519_PKCS8_PREFIX.length + 32);
    pkcs8.set(ED25519_PKCS8_PREFIX);
    pkcs8.set(seed, ED25519_PKCS8_PREFIX.length);
    return {
      signatureAlgorithm: 'Ed25519',
      signaturePublicKey: member('x'),
      signaturePrivateKey: pkcs8,
    };
  }
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    const d = member('d');
    const point = new Uint8Array(65);
    point[0] = 0x04;
    point.set(member('x'), 1);
    point.set(member('y'), 33);
    return { signatureAlgorithm: 'P256', signaturePublicKey: point, signaturePrivateKey: d };
  }
  throw new MlsTlsError(
    'ERR_MLSTLS_UNSUPPORTED',
    `a ${[jwk.kty, jwk.crv].filter(Boolean).join(' ') || 'typeless'} key cannot sign MLS: suites 1 to 3 sign with Ed25519 or P-256`,
  );
}

function pkcs8Of(key: string | Uint8Array): Uint8Array {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`key` is PEM text or DER bytes');
  }
  if (typeof key !== 'string' && !looksLikePem(key)) return key.slice();
  const text = typeof key === 'string' ? key : new TextDecoder().decode(key);
  const [pkcs8] = pemBlocks(text, 'PRIVATE KEY');
  if (pkcs8 !== undefined) return pkcs8;
  const other = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  throw new MlsTlsError(
    'ERR_MLSTLS_INVALID_ARGUMENT',
    other === undefined
      ? '`key` holds no PRIVATE KEY PEM block'
      : `\`key\` is ${other === 'ENCRYPTED PRIVATE KEY' ? 'encrypted' : `a ${other}`}: give an unencrypted PKCS#8 PRIVATE KEY (openssl pkcs8 -topk8 -nocrypt)`,
  );
}

/** The WebCrypto algorithm of a PKCS#8 key, read from its privateKeyAlgorithm. */
function importAlgorithmOf(pkcs8: Uint8Array): ImportAlgorithm {
  let oid: string;
  let curve: string | undefined;
  try {
    const info = expectElement(pkcs8, 0, Tag.SEQUENCE, 'PrivateKeyInfo');
    const algorithm = childrenOf(pkcs8, info)[1];
    if (algorithm?.tag !== Tag.SEQUENCE) throw new Error('no privateKeyAlgorithm');
    const [id, parameters] = childrenOf(pkcs8, algorithm);
    if (id?.tag !== Tag.OID) throw new Error('no algorithm OID');
    oid = oidText(contentOf(pkcs8, id));
    curve = parameters?.tag === Tag.OID ? oidText(contentOf(pkcs8, parameters)) : undefined;
  } catch (error) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`key` is not a PKCS#8 private key', {
      cause: error,
    });
  }
  if (oid === ED25519_OID) return { name: 'Ed25519' };
  if (oid === EC_PUBLIC_KEY_OID && curve === P256_OID)
    return { name: 'ECDSA', namedCurve: 'P-256' };
  throw new MlsTlsError(
    'ERR_MLSTLS_UNSUPPORTED',
    `a key of algorithm ${oid}${curve === undefined ? '' : ` on ${curve}`} cannot sign MLS: suites 1 to 3 sign with Ed25519 or P-256`,
  );
}
