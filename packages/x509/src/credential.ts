import { MlsTlsError } from '@mlstls/codec';
import { decodeBase64 } from './base64.js';
import type { ParsedCertificate } from './certificate.js';
import { childrenOf, contentOf, expectElement, oidText, Tag } from './der.js';
import { type CertificateInput, looksLikePem, parseCertificates, pemBlocks } from './pem.js';
import {
  EC_PUBLIC_KEY_OID,
  ECDSA_CURVES,
  EDWARDS_KEYS,
  isSignatureKey,
  type X509SignatureAlgorithm,
} from './signature-key.js';
import { type ImportAlgorithm, subtle } from './webcrypto.js';

/** A credential mlstls can present: structurally the state machine's EndpointCredential. */
export interface X509EndpointCredential {
  readonly credential: { readonly credentialType: 'x509'; readonly certificates: Uint8Array[] };
  /**
   * The MLS signature scheme, by ts-mls's names (`Ciphersuite.signature`): 'Ed25519' (suites 1
   * and 3), 'P256' (2), 'Ed448' (4 and 6), 'P521' (5), 'P384' (7). The credential signs for
   * the suites whose signature scheme this is.
   */
  readonly signatureAlgorithm: X509SignatureAlgorithm;
  /**
   * Ed25519: raw 32 bytes. Ed448: raw 57 bytes. P-256, P-384, P-521: the SEC1 uncompressed
   * point, 65, 97 or 133 bytes.
   */
  readonly signaturePublicKey: Uint8Array;
  /**
   * Ed25519: the 48-byte PKCS#8 of the seed, which ts-mls's own WebCrypto signer needs.
   * Ed448: the raw 57-byte secret (RFC 8032). P-256, P-384, P-521: the raw big-endian scalar d,
   * 32, 48 or 66 bytes.
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
 * Ed25519 or Ed448 with d and x, or EC P-256, P-384 or P-521 with d, x, y). Synchronous. The
 * leaf's key must be the JWK's public key, else ERR_MLSTLS_INVALID_ARGUMENT (node's "key values
 * mismatch"); other key types are ERR_MLSTLS_UNSUPPORTED: MLS suites 1-7 sign with these five
 * only. That d belongs to x (and y) is taken on trust, as the JWK's producer made both.
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
    // A WebCrypto without the algorithm (Ed448, outside Node) says NotSupportedError.
    if ((error as { name?: unknown } | undefined)?.name === 'NotSupportedError') {
      throw new MlsTlsError(
        'ERR_MLSTLS_UNSUPPORTED',
        `this runtime's WebCrypto cannot import a ${typeof algorithm === 'string' ? algorithm : algorithm.name} key`,
        { cause: error },
      );
    }
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
  const member = (name: 'd' | 'x' | 'y', size: number): Uint8Array => {
    const text = jwk[name];
    const bytes = typeof text === 'string' ? decodeBase64(text, 'jwk') : undefined;
    if (bytes?.length !== size) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        `the JWK's "${name}" is not ${size} bytes of base64url${name === 'd' ? ' (a private key is needed)' : ''}`,
      );
    }
    return bytes;
  };
  const edwards =
    jwk.kty === 'OKP' ? EDWARDS_KEYS.find(({ algorithm }) => algorithm === jwk.crv) : undefined;
  if (edwards?.algorithm === 'Ed25519') {
    const seed = member('d', 32);
    const pkcs8 = new Uint8Array(ED25519_PKCS8_PREFIX.length + 32);
    pkcs8.set(ED25519_PKCS8_PREFIX);
    pkcs8.set(seed, ED25519_PKCS8_PREFIX.length);
    return {
      signatureAlgorithm: 'Ed25519',
      signaturePublicKey: member('x', 32),
      signaturePrivateKey: pkcs8,
    };
  }
  if (edwards !== undefined) {
    // ts-mls signs Ed448 with @noble/curves, which takes the raw secret.
    return {
      signatureAlgorithm: edwards.algorithm,
      signaturePublicKey: member('x', edwards.size),
      signaturePrivateKey: member('d', edwards.size),
    };
  }
  const curve = jwk.kty === 'EC' ? ECDSA_CURVES.find(({ name }) => name === jwk.crv) : undefined;
  if (curve !== undefined) {
    const { size } = curve;
    const d = member('d', size);
    const point = new Uint8Array(2 * size + 1);
    point[0] = 0x04;
    point.set(member('x', size), 1);
    point.set(member('y', size), size + 1);
    return {
      signatureAlgorithm: curve.algorithm,
      signaturePublicKey: point,
      signaturePrivateKey: d,
    };
  }
  throw new MlsTlsError(
    'ERR_MLSTLS_UNSUPPORTED',
    `a ${[jwk.kty, jwk.crv].filter(Boolean).join(' ') || 'typeless'} key cannot sign MLS: ${SCHEMES}`,
  );
}

/** What the unsupported-key errors say can sign. */
const SCHEMES = 'MLS suites 1 to 7 sign with Ed25519, P-256, Ed448, P-521 or P-384';

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
  const edwards = EDWARDS_KEYS.find((key) => key.oid === oid);
  if (edwards !== undefined) return { name: edwards.algorithm };
  const ecdsa =
    oid === EC_PUBLIC_KEY_OID ? ECDSA_CURVES.find(({ oid }) => oid === curve) : undefined;
  if (ecdsa !== undefined) return { name: 'ECDSA', namedCurve: ecdsa.name };
  throw new MlsTlsError(
    'ERR_MLSTLS_UNSUPPORTED',
    `a key of algorithm ${oid}${curve === undefined ? '' : ` on ${curve}`} cannot sign MLS: ${SCHEMES}`,
  );
}
