// A small X.509 issuer for tests, demos and development: certificates are made in the run, so
// nothing checked in can expire. Built on @peculiar/asn1-x509 and WebCrypto, like @mlstls/x509,
// but independent of it, so that a bug in one does not hide in the other. Portable: it uses the
// runtime's `crypto` global only (Node, Deno, browsers). Not a CA for production.
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';

// WebCrypto's types from the runtime's own `crypto` global (as @mlstls/x509 does), so that the
// declarations name neither the DOM library nor node:crypto.
type Subtle = typeof globalThis.crypto.subtle;
type CryptoKey = Awaited<ReturnType<Subtle['importKey']>>;
/** A WebCrypto key pair. */
export interface CryptoKeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}
/** A private key as JWK (RFC 7517, with `d`). */
export interface JsonWebKey {
  readonly kty?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly d?: string;
  readonly [member: string]: unknown;
}
type GenerateAlgorithm = { readonly name: string; readonly namedCurve?: string };

export interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly pem: string;
  /** The private key as PKCS#8 PEM ('-----BEGIN PRIVATE KEY-----'). */
  readonly keyPem: string;
  /** The private key as a JWK (with d). */
  readonly jwk: JsonWebKey;
  /**
   * The public key's raw bytes, as an MLS leaf holds its signature key: Ed25519 32 bytes, Ed448
   * 57 bytes, P-256, P-384, P-521 the uncompressed point (65, 97, 133 bytes).
   */
  readonly publicKey: Uint8Array;
  readonly keys: CryptoKeyPair;
  /** The CN. */
  readonly subject: string;
}

/**
 * The key types, the MLS signature schemes: Ed25519 (MLS suites 1 and 3), P-256 (2), Ed448 (4
 * and 6; Node's WebCrypto has it, Deno's and browsers' do not), P-521 (5), P-384 (7).
 */
export type KeyType = 'Ed25519' | 'P-256' | 'P-384' | 'P-521' | 'Ed448';

export interface IssueOptions {
  /** The subject's CN; '' for an empty subject name. */
  readonly subject: string;
  /** The issuing CA; absent: self-signed. */
  readonly issuer?: IssuedCertificate;
  /** The type of a new key (default Ed25519); ignored when `keys` is given. */
  readonly keyType?: KeyType;
  /** Reuse a key pair (of a KeyType, extractable). */
  readonly keys?: CryptoKeyPair;
  /** basicConstraints cA (critical), and key usage keyCertSign and cRLSign by default. */
  readonly ca?: boolean | { readonly pathLength?: number };
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Default: an hour ago, in whole seconds. */
  readonly notBefore?: Date;
  /** Default: a day after now, in whole seconds. */
  readonly notAfter?: Date;
  /** Key usage bits (critical); false leaves the extension out. */
  readonly keyUsage?: readonly KeyUsageName[] | false;
  readonly extendedKeyUsage?: readonly ('serverAuth' | 'clientAuth')[];
  /**
   * Whether to write subjectKeyIdentifier and authorityKeyIdentifier (default true); without
   * them, verifiers can tell same-named CAs apart only by trying their signatures.
   */
  readonly keyIdentifiers?: boolean;
  /** More extensions, as encoded values (e.g. an unknown critical one). */
  readonly extraExtensions?: readonly {
    readonly oid: string;
    readonly critical: boolean;
    readonly value: Uint8Array;
  }[];
}

/** The keyUsage bits a certificate made here can carry (RFC 5280 4.2.1.3). */
export type KeyUsageName = 'digitalSignature' | 'keyCertSign' | 'cRLSign' | 'keyEncipherment';

const ALGORITHMS: Readonly<Record<KeyType, GenerateAlgorithm>> = {
  Ed25519: { name: 'Ed25519' },
  'P-256': { name: 'ECDSA', namedCurve: 'P-256' },
  'P-384': { name: 'ECDSA', namedCurve: 'P-384' },
  'P-521': { name: 'ECDSA', namedCurve: 'P-521' },
  Ed448: { name: 'Ed448' },
};

/**
 * The certificate signature algorithm follows the issuer's key: EdDSA by its own OID (RFC 8410
 * 3), ECDSA with the hash of the curve's size (RFC 5758 3.2), r and s `size` bytes each.
 */
const EDDSA_OIDS: Readonly<Record<string, string>> = {
  Ed25519: '1.3.101.112',
  Ed448: '1.3.101.113',
};
const ECDSA_SIGNATURES: Readonly<
  Record<string, { readonly oid: string; readonly hash: string; readonly size: number }>
> = {
  'P-256': { oid: '1.2.840.10045.4.3.2', hash: 'SHA-256', size: 32 },
  'P-384': { oid: '1.2.840.10045.4.3.3', hash: 'SHA-384', size: 48 },
  'P-521': { oid: '1.2.840.10045.4.3.4', hash: 'SHA-512', size: 66 },
};

export function generateKeys(keyType: KeyType = 'Ed25519'): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHMS[keyType], true, [
    'sign',
    'verify',
  ]) as Promise<CryptoKeyPair>;
}

/** A certificate for `options.subject`, signed by `options.issuer` or by itself. */
export async function issueCertificate(options: IssueOptions): Promise<IssuedCertificate> {
  const keys = options.keys ?? (await generateKeys(options.keyType));
  const spki = AsnConvert.parse(
    await crypto.subtle.exportKey('spki', keys.publicKey),
    SubjectPublicKeyInfo,
  );
  const signer = options.issuer?.keys ?? keys;
  const signatureAlgorithm = signatureAlgorithmOf(signer.privateKey);
  const now = Math.floor(Date.now() / 1000) * 1000;
  const subjectName = commonName(options.subject);
  const issuerName = options.issuer === undefined ? subjectName : issuerNameOf(options.issuer);

  const extensions: Extension[] = [];
  const add = (oid: string, critical: boolean, value: unknown): void => {
    extensions.push(
      new Extension({
        extnID: oid,
        critical,
        extnValue: new OctetString(AsnConvert.serialize(value)),
      }),
    );
  };
  const ca = options.ca !== undefined && options.ca !== false;
  if (ca) {
    const pathLength = typeof options.ca === 'object' ? options.ca.pathLength : undefined;
    add(
      id_ce_basicConstraints,
      true,
      new BasicConstraints(
        pathLength === undefined ? { cA: true } : { cA: true, pathLenConstraint: pathLength },
      ),
    );
  }
  const usage = options.keyUsage ?? (ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature']);
  if (usage !== false) {
    const flags = usage.reduce((bits, name) => bits | KeyUsageFlags[name], 0);
    add(id_ce_keyUsage, true, new KeyUsage(flags));
  }
  if (options.extendedKeyUsage !== undefined) {
    const oids = { serverAuth: id_kp_serverAuth, clientAuth: id_kp_clientAuth };
    add(
      id_ce_extKeyUsage,
      false,
      new ExtendedKeyUsage(options.extendedKeyUsage.map((name) => oids[name])),
    );
  }
  const names = [
    ...(options.dnsNames ?? []).map((dNSName) => new GeneralName({ dNSName })),
    ...(options.ipAddresses ?? []).map((iPAddress) => new GeneralName({ iPAddress })),
  ];
  if (names.length > 0) add(id_ce_subjectAltName, false, new SubjectAlternativeName(names));
  if (options.keyIdentifiers !== false) {
    const subjectKeyId = await keyIdentifier(spki);
    add(id_ce_subjectKeyIdentifier, false, new KeyIdentifier(subjectKeyId));
    const authorityKeyId =
      options.issuer === undefined ? subjectKeyId : await keyIdentifier(spkiOf(options.issuer));
    add(
      id_ce_authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) }),
    );
  }
  for (const extra of options.extraExtensions ?? []) {
    extensions.push(
      new Extension({
        extnID: extra.oid,
        critical: extra.critical,
        extnValue: new OctetString(extra.value),
      }),
    );
  }

  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: randomSerial(),
    signature: signatureAlgorithm.identifier,
    issuer: issuerName,
    validity: new Validity({
      notBefore: options.notBefore ?? new Date(now - 60 * 60 * 1000),
      notAfter: options.notAfter ?? new Date(now + 24 * 60 * 60 * 1000),
    }),
    subject: subjectName,
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  const tbsDer = AsnConvert.serialize(tbs);
  const signature = await signatureAlgorithm.sign(signer.privateKey, tbsDer);
  const der = new Uint8Array(
    AsnConvert.serialize(
      new Certificate({
        tbsCertificate: tbs,
        signatureAlgorithm: signatureAlgorithm.identifier,
        signatureValue: signature,
      }),
    ),
  );
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    der,
    pem: toPem('CERTIFICATE', der),
    keyPem: toPem('PRIVATE KEY', pkcs8),
    jwk: (await crypto.subtle.exportKey('jwk', keys.privateKey)) as JsonWebKey,
    publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey)),
    keys,
    subject: options.subject,
  };
}

function commonName(cn: string): Name {
  if (cn === '') return new Name([]);
  return new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue({ utf8String: cn }) }),
    ]),
  ]);
}

/** The issuer's subject as it encoded it, so that names compare equal byte for byte. */
function issuerNameOf(issuer: IssuedCertificate): Name {
  return AsnConvert.parse(issuer.der, Certificate).tbsCertificate.subject;
}

function spkiOf(certificate: IssuedCertificate): SubjectPublicKeyInfo {
  return AsnConvert.parse(certificate.der, Certificate).tbsCertificate.subjectPublicKeyInfo;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
async function keyIdentifier(spki: SubjectPublicKeyInfo): Promise<ArrayBuffer> {
  return crypto.subtle.digest('SHA-1', spki.subjectPublicKey);
}

function signatureAlgorithmOf(key: CryptoKey): {
  identifier: AlgorithmIdentifier;
  sign: (key: CryptoKey, data: ArrayBuffer) => Promise<ArrayBuffer>;
} {
  const { name, namedCurve } = key.algorithm as GenerateAlgorithm;
  const eddsa = EDDSA_OIDS[name];
  if (eddsa !== undefined) {
    return {
      identifier: new AlgorithmIdentifier({ algorithm: eddsa }),
      sign: (privateKey, data) => crypto.subtle.sign({ name }, privateKey, data),
    };
  }
  const ecdsa = name === 'ECDSA' ? ECDSA_SIGNATURES[namedCurve ?? ''] : undefined;
  if (ecdsa === undefined) {
    const kind = [name, namedCurve].filter(Boolean).join(' ');
    throw new TypeError(
      `cannot sign certificates with a ${kind} key: the issuer's key is one of Ed25519, P-256, P-384, P-521, Ed448`,
    );
  }
  const { oid, hash, size } = ecdsa;
  return {
    identifier: new AlgorithmIdentifier({ algorithm: oid }),
    sign: async (privateKey, data) => {
      // WebCrypto signs ECDSA as r||s; X.509 carries a DER SEQUENCE of two INTEGERs.
      const raw = new Uint8Array(
        await crypto.subtle.sign({ name: 'ECDSA', hash }, privateKey, data),
      );
      return AsnConvert.serialize(
        new ECDSASigValue({
          r: positive(raw.subarray(0, size)),
          s: positive(raw.subarray(size)),
        }),
      );
    },
  };
}

/** An unsigned big-endian integer as INTEGER content: no extra zeros, a zero before a high bit. */
function positive(bytes: Uint8Array): ArrayBuffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const out = new Uint8Array(trimmed[0]! & 0x80 ? trimmed.length + 1 : trimmed.length);
  out.set(trimmed, out.length - trimmed.length);
  return out.buffer;
}

function randomSerial(): ArrayBuffer {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  // Positive and without a leading zero byte, as RFC 5280 4.1.2.2 wants.
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial.buffer;
}

/** PEM: base64 in 64-character lines between BEGIN and END lines. */
export function toPem(label: string, der: Uint8Array): string {
  let binary = '';
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
