import { MlsTlsError } from '@mlstls/codec';
import {
  id_mgf1,
  id_RSASSA_PSS,
  id_rsaEncryption,
  id_sha256,
  id_sha384,
  id_sha512,
  RsaSaPssParams,
} from '@peculiar/asn1-rsa';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { BoundedCache, bytesKey } from './bounded-cache.js';
import type { ParsedCertificate } from './certificate.js';
import { childrenOf, contentOf, equalBytes, readElement, Tag } from './der.js';
import { curveOf, EC_PUBLIC_KEY_OID, ED448_OID, ED25519_OID } from './signature-key.js';
import {
  type ImportAlgorithm,
  subtle,
  type VerifyAlgorithm,
  type WebCryptoKey,
} from './webcrypto.js';

type Hash = 'SHA-256' | 'SHA-384' | 'SHA-512';

const HASHES: Readonly<Record<string, Hash>> = {
  [id_sha256]: 'SHA-256',
  [id_sha384]: 'SHA-384',
  [id_sha512]: 'SHA-512',
};

/** The signature algorithms verified here, by OID; SHA-1 and MD5 are refused as broken. */
const SIGNATURE_ALGORITHMS: Readonly<
  Record<
    string,
    {
      readonly family: 'rsa' | 'ecdsa' | 'eddsa' | 'rsa-pss';
      readonly hash?: Hash;
      /** EdDSA: the WebCrypto name, and the key's algorithm OID (the signature's own). */
      readonly name?: 'Ed25519' | 'Ed448';
    }
  >
> = {
  '1.2.840.113549.1.1.11': { family: 'rsa', hash: 'SHA-256' },
  '1.2.840.113549.1.1.12': { family: 'rsa', hash: 'SHA-384' },
  '1.2.840.113549.1.1.13': { family: 'rsa', hash: 'SHA-512' },
  [id_RSASSA_PSS]: { family: 'rsa-pss' },
  '1.2.840.10045.4.3.2': { family: 'ecdsa', hash: 'SHA-256' },
  '1.2.840.10045.4.3.3': { family: 'ecdsa', hash: 'SHA-384' },
  '1.2.840.10045.4.3.4': { family: 'ecdsa', hash: 'SHA-512' },
  [ED25519_OID]: { family: 'eddsa', name: 'Ed25519' },
  [ED448_OID]: { family: 'eddsa', name: 'Ed448' },
};

/** The DER encoding of NULL, the parameters RSA PKCS#1 v1.5 algorithms carry. */
const DER_NULL = Uint8Array.of(0x05, 0x00);

interface VerificationPlan {
  /** The key import's algorithm; also names the cache entry, since it binds the hash. */
  readonly importAlgorithm: ImportAlgorithm;
  readonly cacheKey: string;
  /** The SPKI to import: the issuer's own, or rewritten for a portable RSA-PSS import. */
  readonly spki: Uint8Array;
  readonly verifyAlgorithm: VerifyAlgorithm;
  /** The signature as WebCrypto takes it, or undefined when it cannot be one. */
  readonly signature: Uint8Array | undefined;
}

/**
 * Imported keys per certificate and per import algorithm. Trust anchors are parsed once and
 * kept, so their keys are imported once for every chain they verify; the WeakMap lets a
 * certificate and its keys go together.
 */
const importedKeys = new WeakMap<ParsedCertificate, Map<string, Promise<WebCryptoKey>>>();

/**
 * Imported keys of any issuer, by import algorithm and SubjectPublicKeyInfo: a server's
 * intermediate comes in a new copy with every handshake (or is re-issued with the same key),
 * and importing its key costs more than the signature it checks. A public key reveals nothing,
 * so sharing it between connections leaks nothing; bounded, so peers cannot grow it.
 */
export const issuerKeys = new BoundedCache<Promise<WebCryptoKey>>(256);

/**
 * The issuer SubjectPublicKeyInfos (as `bytesKey`) whose signature each certificate is known to
 * carry. Whether a signature verifies depends only on the certificate's bytes and the issuer's
 * key, so it is checked once per pair; only for certificates whose bytes never change, and as
 * long as they live: the shared parses live in a bounded cache (parseCertificateCached). A few
 * issuers per certificate at most: one key signs a certificate, cross-signing makes a handful.
 */
const verifiedIssuers = new WeakMap<ParsedCertificate, string[]>();
const MAX_VERIFIED_ISSUERS = 4;

/**
 * Whether `issuer`'s key signed `certificate`. A signature that is wrong resolves false; an
 * algorithm or key this package cannot verify with throws ERR_MLSTLS_BAD_CERTIFICATE.
 * `remember`: `certificate`'s bytes are private and never change (a parse of a copy, see
 * parseCertificateCached), so that a signature found good may be remembered with it.
 */
export async function signedBy(
  certificate: ParsedCertificate,
  issuer: ParsedCertificate,
  remember = false,
): Promise<boolean> {
  const issuerKey = bytesKey(issuer.spki);
  if (verifiedIssuers.get(certificate)?.includes(issuerKey)) return true;
  const plan = verificationPlan(certificate, issuer);
  if (plan.signature === undefined) return false;
  const key = await importedKey(issuer, issuerKey, plan);
  let verified: boolean;
  try {
    verified = await subtle().verify(plan.verifyAlgorithm, key, plan.signature, certificate.tbs);
  } catch {
    // A signature of the wrong length or shape is a signature that does not verify.
    return false;
  }
  if (verified && remember) {
    // Read again: another verification may have remembered one meanwhile.
    const issuers = verifiedIssuers.get(certificate) ?? [];
    if (!issuers.includes(issuerKey)) {
      if (issuers.length >= MAX_VERIFIED_ISSUERS) issuers.shift();
      issuers.push(issuerKey);
      verifiedIssuers.set(certificate, issuers);
    }
  }
  return verified;
}

function unverifiable(message: string): never {
  throw new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', message);
}

function verificationPlan(
  certificate: ParsedCertificate,
  issuer: ParsedCertificate,
): VerificationPlan {
  const { oid, parameters } = certificate.signatureAlgorithm;
  const algorithm = SIGNATURE_ALGORITHMS[oid];
  if (algorithm === undefined) {
    unverifiable(
      `the signature algorithm ${oid} of ${certificate.subjectText} is not supported (RSA PKCS#1 v1.5 and RSA-PSS with SHA-2, ECDSA, Ed25519, Ed448 are)`,
    );
  }
  const key = issuer.publicKey.algorithm;
  function mismatch(): never {
    unverifiable(
      `the key of ${issuer.subjectText} cannot make the ${algorithm!.family} signature of ${certificate.subjectText}`,
    );
  }
  switch (algorithm.family) {
    case 'rsa': {
      if (key.oid !== id_rsaEncryption) mismatch();
      // RFC 4055 asks for NULL parameters; some encoders omit them.
      if (parameters !== undefined && !equalBytes(parameters, DER_NULL)) {
        unverifiable(`bad RSA signature parameters in ${certificate.subjectText}`);
      }
      const hash = algorithm.hash!;
      return {
        importAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash },
        cacheKey: `RSASSA-PKCS1-v1_5/${hash}`,
        spki: issuer.spki,
        verifyAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
        signature: certificate.signature,
      };
    }
    case 'rsa-pss': {
      if (key.oid !== id_rsaEncryption && key.oid !== id_RSASSA_PSS) mismatch();
      const { hash, saltLength } = pssParameters(parameters, certificate);
      if (key.oid === id_RSASSA_PSS && key.parameters !== undefined) {
        // A PSS key's own parameters restrict the hash it may sign with (RFC 4055 3.1).
        if (pssParameters(key.parameters, issuer).hash !== hash) mismatch();
      }
      return {
        importAlgorithm: { name: 'RSA-PSS', hash },
        cacheKey: `RSA-PSS/${hash}`,
        // WebCrypto imports RSA keys only under rsaEncryption; the key itself is the same.
        spki:
          key.oid === id_rsaEncryption
            ? issuer.spki
            : new Uint8Array(
                AsnConvert.serialize(
                  new SubjectPublicKeyInfo({
                    algorithm: new AlgorithmIdentifier({
                      algorithm: id_rsaEncryption,
                      parameters: null,
                    }),
                    subjectPublicKey: issuer.publicKey.bits.slice().buffer,
                  }),
                ),
              ),
        verifyAlgorithm: { name: 'RSA-PSS', saltLength },
        signature: certificate.signature,
      };
    }
    case 'ecdsa': {
      if (key.oid !== EC_PUBLIC_KEY_OID || parameters !== undefined) mismatch();
      // The curve fixes the byte length of r and s in WebCrypto's raw signature.
      const curve = curveOf(key.parameters);
      if (curve === undefined) {
        unverifiable(`the elliptic curve of ${issuer.subjectText} is not supported`);
      }
      return {
        importAlgorithm: { name: 'ECDSA', namedCurve: curve.name },
        cacheKey: `ECDSA/${curve.name}`,
        spki: issuer.spki,
        verifyAlgorithm: { name: 'ECDSA', hash: algorithm.hash! },
        signature: rawEcdsaSignature(certificate.signature, curve.size),
      };
    }
    case 'eddsa': {
      // RFC 8410 3: the signature algorithm is the key's, without parameters.
      if (key.oid !== oid || key.parameters !== undefined || parameters !== undefined) mismatch();
      const name = algorithm.name!;
      return {
        importAlgorithm: { name },
        cacheKey: name,
        spki: issuer.spki,
        verifyAlgorithm: { name },
        signature: certificate.signature,
      };
    }
  }
}

function pssParameters(
  parameters: Uint8Array | undefined,
  certificate: ParsedCertificate,
): { hash: Hash; saltLength: number } {
  function refuse(): never {
    unverifiable(
      `the RSA-PSS parameters of ${certificate.subjectText} are not supported (SHA-2 with MGF1 of the same hash)`,
    );
  }
  // Absent parameters mean SHA-1 throughout (RFC 4055), which is refused.
  if (parameters === undefined) refuse();
  let params: RsaSaPssParams;
  try {
    params = AsnConvert.parse(parameters, RsaSaPssParams);
  } catch {
    refuse();
  }
  const hash = HASHES[params.hashAlgorithm.algorithm];
  if (hash === undefined || params.maskGenAlgorithm.algorithm !== id_mgf1) refuse();
  const mgfHash =
    params.maskGenAlgorithm.parameters instanceof ArrayBuffer
      ? AsnConvert.parse(params.maskGenAlgorithm.parameters, AlgorithmIdentifier).algorithm
      : undefined;
  if (HASHES[mgfHash ?? ''] !== hash || params.trailerField !== 1) refuse();
  return { hash, saltLength: params.saltLength };
}

/**
 * An X.509 ECDSA signature (DER SEQUENCE of INTEGER r and s) as WebCrypto's fixed-size r||s,
 * or undefined if it is not one.
 */
function rawEcdsaSignature(der: Uint8Array, size: number): Uint8Array | undefined {
  try {
    const sequence = readElement(der, 0);
    if (sequence.tag !== Tag.SEQUENCE || sequence.end !== der.length) return undefined;
    const integers = childrenOf(der, sequence);
    if (integers.length !== 2) return undefined;
    const raw = new Uint8Array(size * 2);
    for (const [index, integer] of integers.entries()) {
      if (integer.tag !== Tag.INTEGER) return undefined;
      let value = contentOf(der, integer);
      // Negative values are not signatures; one leading zero keeps a high bit positive.
      if (value.length === 0 || value[0]! & 0x80) return undefined;
      if (value[0] === 0 && value.length > 1) {
        if (!(value[1]! & 0x80)) return undefined;
        value = value.subarray(1);
      }
      if (value.length > size) return undefined;
      raw.set(value, index * size + size - value.length);
    }
    return raw;
  } catch {
    return undefined;
  }
}

function importedKey(
  issuer: ParsedCertificate,
  issuerKey: string,
  plan: VerificationPlan,
): Promise<WebCryptoKey> {
  let keys = importedKeys.get(issuer);
  if (keys === undefined) {
    keys = new Map();
    importedKeys.set(issuer, keys);
  }
  let key = keys.get(plan.cacheKey);
  if (key === undefined) {
    // The SPKI imported is the issuer's own, or a function of it (RSA-PSS), so the issuer's
    // SPKI and the algorithm name the key.
    key = issuerKeys
      .getOrCreate(`${plan.cacheKey}\n${issuerKey}`, () =>
        subtle().importKey('spki', plan.spki, plan.importAlgorithm, false, ['verify']),
      )
      .catch((error: unknown) => {
        throw new MlsTlsError(
          'ERR_MLSTLS_BAD_CERTIFICATE',
          `the ${plan.cacheKey} public key of ${issuer.subjectText} does not import into WebCrypto`,
          { cause: error },
        );
      });
    keys.set(plan.cacheKey, key);
  }
  return key;
}
