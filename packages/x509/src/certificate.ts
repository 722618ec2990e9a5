import { MlsTlsError } from '@mlstls/codec';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_certificatePolicies,
  id_ce_cRLDistributionPoints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_pe_authorityInfoAccess,
  KeyUsage,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { BoundedCache, bytesKey } from './bounded-cache.js';
import {
  bitStringBytes,
  childrenOf,
  contentOf,
  type DerElement,
  encodingOf,
  equalBytes,
  expectElement,
  oidText,
  readElement,
  Tag,
} from './der.js';
import { nameText } from './names.js';

/** An AlgorithmIdentifier: its OID and the encoding of its parameters, if any. */
export interface AlgorithmIdentifier {
  readonly oid: string;
  /** The whole DER of the parameters (absent, or NULL, or a structure). */
  readonly parameters: Uint8Array | undefined;
}

export interface SubjectPublicKey {
  readonly algorithm: AlgorithmIdentifier;
  /** The subjectPublicKey BIT STRING's bytes: the raw key for Ed25519 and EC points. */
  readonly bits: Uint8Array;
}

/** KeyUsage bits as RFC 5280 numbers them, in the order of KeyUsageFlags. */
export const KeyUsageBit = {
  digitalSignature: 1,
  keyCertSign: 32,
} as const;

export const ExtendedKeyUsageOid = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  any: '2.5.29.37.0',
} as const;

/**
 * Extensions whose meaning this package either enforces (basic constraints, key usages,
 * subjectAltName) or may ignore without weakening anything (key identifiers, policies: no
 * policy is required, revocation pointers: revocation is not checked). Any other extension
 * marked critical makes the certificate unusable, as RFC 5280 4.2 asks; notably
 * nameConstraints, which is not enforced.
 */
const RECOGNIZED_EXTENSIONS: ReadonlySet<string> = new Set([
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_extKeyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_ce_authorityKeyIdentifier,
  id_ce_certificatePolicies,
  id_ce_cRLDistributionPoints,
  id_pe_authorityInfoAccess,
]);

/**
 * A certificate split into the parts that verification and description read. The signed bytes,
 * names and key are views of `der` (never re-encoded); extension values are decoded with
 * @peculiar/asn1-x509.
 */
export class ParsedCertificate {
  readonly der: Uint8Array;
  /** The TBSCertificate's encoding: what the issuer signed. */
  readonly tbs: Uint8Array;
  /** 1 or 3 (v2 has nothing this package reads). */
  readonly version: number;
  /** The serial number's INTEGER content (two's complement, big-endian). */
  readonly serialNumber: Uint8Array;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signature: Uint8Array;
  /** The encoded issuer Name; chains link by comparing these encodings. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** notBefore and notAfter, in milliseconds since the Unix epoch (whole seconds). */
  readonly notBefore: number;
  readonly notAfter: number;
  /** The encoded SubjectPublicKeyInfo, as WebCrypto imports it. */
  readonly spki: Uint8Array;
  readonly publicKey: SubjectPublicKey;
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength?: number } | undefined;
  /** KeyUsage bits (KeyUsageFlags), if the extension is present. */
  readonly keyUsage: number | undefined;
  /** ExtendedKeyUsage OIDs, if the extension is present. */
  readonly extendedKeyUsage: readonly string[] | undefined;
  /** The encoding of each GeneralName of subjectAltName, in order ([] without the extension). */
  readonly subjectAltNames: readonly Uint8Array[];
  /** subjectKeyIdentifier, if present. */
  readonly subjectKeyIdentifier: Uint8Array | undefined;
  /** authorityKeyIdentifier's keyIdentifier, if present: the issuer's subjectKeyIdentifier. */
  readonly authorityKeyIdentifier: Uint8Array | undefined;
  /** The encoded authorityInfoAccess value, which only descriptions read. */
  readonly authorityInfoAccess: Uint8Array | undefined;
  /** Critical extensions this package does not recognize (see RECOGNIZED_EXTENSIONS). */
  readonly unknownCriticalExtensions: readonly string[];

  constructor(der: Uint8Array) {
    this.der = der;
    const outer = expectElement(der, 0, Tag.SEQUENCE, 'Certificate');
    if (outer.end !== der.length) malformed('bytes after the certificate');
    const [tbs, signatureAlgorithm, signature, ...rest] = childrenOf(der, outer);
    if (tbs?.tag !== Tag.SEQUENCE || signatureAlgorithm === undefined || signature === undefined) {
      malformed('Certificate');
    }
    if (rest.length > 0) malformed('Certificate has more than three fields');
    this.tbs = encodingOf(der, tbs);
    this.signatureAlgorithm = readAlgorithm(der, signatureAlgorithm);
    this.signature = bitStringBytes(der, signature);

    const fields = childrenOf(der, tbs);
    let next = 0;
    this.version = 1;
    if (fields[0]?.tag === 0xa0) {
      const version = expectElement(der, fields[0].contentStart, Tag.INTEGER, 'version');
      const value = contentOf(der, version);
      if (value.length !== 1 || value[0]! > 2) malformed('unknown certificate version');
      this.version = value[0]! + 1;
      next = 1;
    }
    const field = (tag: number, what: string): DerElement => {
      const element = fields[next++];
      if (element?.tag !== tag) malformed(what);
      return element;
    };
    const serial = field(Tag.INTEGER, 'serialNumber');
    this.serialNumber = contentOf(der, serial);
    if (this.serialNumber.length === 0) malformed('empty serialNumber');
    const innerAlgorithm = field(Tag.SEQUENCE, 'signature');
    // RFC 5280 4.1.1.2: the algorithm outside the signed part must be the one inside it, or an
    // attacker could change what a verifier thinks was signed.
    if (!equalBytes(encodingOf(der, innerAlgorithm), encodingOf(der, signatureAlgorithm))) {
      malformed('the signature algorithm differs from the one in the signed part');
    }
    this.issuer = encodingOf(der, field(Tag.SEQUENCE, 'issuer'));
    const validity = childrenOf(der, field(Tag.SEQUENCE, 'validity'));
    if (validity.length !== 2) malformed('validity');
    this.notBefore = readTime(der, validity[0]!);
    this.notAfter = readTime(der, validity[1]!);
    this.subject = encodingOf(der, field(Tag.SEQUENCE, 'subject'));
    const spki = field(Tag.SEQUENCE, 'subjectPublicKeyInfo');
    this.spki = encodingOf(der, spki);
    const [keyAlgorithm, keyBits, ...keyRest] = childrenOf(der, spki);
    if (keyAlgorithm === undefined || keyBits === undefined || keyRest.length > 0) {
      malformed('subjectPublicKeyInfo');
    }
    this.publicKey = {
      algorithm: readAlgorithm(der, keyAlgorithm),
      bits: bitStringBytes(der, keyBits),
    };

    let extensions: DerElement | undefined;
    for (const optional of fields.slice(next)) {
      // issuerUniqueID [1] and subjectUniqueID [2] are skipped; extensions are [3].
      if (optional.tag === 0xa3 && extensions === undefined) extensions = optional;
      else if (optional.tag !== 0x81 && optional.tag !== 0x82 && optional.tag !== 0xa1) {
        malformed('unexpected field in TBSCertificate');
      }
    }
    const parsed =
      extensions === undefined ? new Map<string, RawExtension>() : readExtensions(der, extensions);
    const unknownCritical: string[] = [];
    for (const [oid, { critical }] of parsed) {
      if (critical && !RECOGNIZED_EXTENSIONS.has(oid)) unknownCritical.push(oid);
    }
    this.unknownCriticalExtensions = unknownCritical;
    const value = (oid: string): ArrayBufferView | undefined => parsed.get(oid)?.value;
    const basic = value(id_ce_basicConstraints);
    const constraints = basic === undefined ? undefined : decode(basic, BasicConstraints);
    this.basicConstraints =
      constraints === undefined
        ? undefined
        : constraints.pathLenConstraint === undefined
          ? { ca: constraints.cA }
          : { ca: constraints.cA, pathLength: constraints.pathLenConstraint };
    const keyUsage = value(id_ce_keyUsage);
    this.keyUsage = keyUsage === undefined ? undefined : decode(keyUsage, KeyUsage).toNumber();
    const extendedKeyUsage = value(id_ce_extKeyUsage);
    this.extendedKeyUsage =
      extendedKeyUsage === undefined ? undefined : [...decode(extendedKeyUsage, ExtendedKeyUsage)];
    const altNames = parsed.get(id_ce_subjectAltName);
    this.subjectAltNames = altNames === undefined ? [] : readGeneralNames(altNames.value);
    this.authorityInfoAccess = parsed.get(id_pe_authorityInfoAccess)?.value;
    const subjectKeyId = value(id_ce_subjectKeyIdentifier);
    this.subjectKeyIdentifier =
      subjectKeyId === undefined
        ? undefined
        : new Uint8Array(decode(subjectKeyId, SubjectKeyIdentifier).buffer);
    const authorityKeyId = value(id_ce_authorityKeyIdentifier);
    const keyIdentifier =
      authorityKeyId === undefined
        ? undefined
        : decode(authorityKeyId, AuthorityKeyIdentifier).keyIdentifier;
    this.authorityKeyIdentifier =
      keyIdentifier === undefined ? undefined : new Uint8Array(keyIdentifier.buffer);
  }

  /** The subject as text for error messages ("O=Example, CN=leaf"). */
  get subjectText(): string {
    return nameText(this.subject);
  }

  /** Whether subject and issuer are the same name (self-issued, RFC 5280 6.1). */
  get selfIssued(): boolean {
    return equalBytes(this.subject, this.issuer);
  }
}

/**
 * `der` parsed, or ERR_MLSTLS_BAD_CERTIFICATE naming what did not parse. The bytes are kept as
 * given (not copied): callers own them and must not change them.
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  try {
    return new ParsedCertificate(der);
  } catch (error) {
    if (error instanceof MlsTlsError) throw error;
    throw new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', 'the certificate does not parse', {
      cause: error,
    });
  }
}

/**
 * Certificates parsed from peers' chains, by their DER. A server sends the same intermediate
 * (and a client reconnecting gets the same leaf) on every handshake, and parsing is most of
 * what a verification costs in JavaScript. Bounded in count and in bytes of DER (a copy and a
 * key of the same size are kept per entry, with the parse), so peers cannot grow it.
 */
export const parsedCertificates = new BoundedCache<ParsedCertificate>(256, 1 << 20);

/**
 * `der` parsed, as `parseCertificate`, shared with earlier parses of the same bytes. The parse
 * is over a private copy, so a caller reusing its buffer cannot change a cached certificate.
 */
export function parseCertificateCached(der: Uint8Array): ParsedCertificate {
  return parsedCertificates.getOrCreate(
    bytesKey(der),
    () => parseCertificate(der.slice()),
    der.length,
  );
}

function malformed(what: string): never {
  throw new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', `malformed certificate: ${what}`);
}

function decode<T>(value: ArrayBufferView, type: new () => T): T {
  try {
    return AsnConvert.parse(value, type);
  } catch (error) {
    throw new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', `malformed extension ${type.name}`, {
      cause: error,
    });
  }
}

function readAlgorithm(der: Uint8Array, element: DerElement): AlgorithmIdentifier {
  if (element.tag !== Tag.SEQUENCE) malformed('AlgorithmIdentifier');
  const [oid, parameters, ...rest] = childrenOf(der, element);
  if (oid?.tag !== Tag.OID || rest.length > 0) malformed('AlgorithmIdentifier');
  return {
    oid: oidText(contentOf(der, oid)),
    parameters: parameters === undefined ? undefined : encodingOf(der, parameters),
  };
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 4.1.2.5 fixes. */
function readTime(der: Uint8Array, element: DerElement): number {
  const text = String.fromCharCode(...contentOf(der, element));
  const match =
    element.tag === 0x17
      ? /^(\d\d)(\d{10})Z$/.exec(text)
      : element.tag === 0x18
        ? /^(\d{4})(\d{10})Z$/.exec(text)
        : null;
  if (match === null) malformed('validity time');
  const digits = Number(match[1]);
  // RFC 5280 4.1.2.5.1: UTCTime years 50-99 are 19xx, 00-49 are 20xx.
  const year = element.tag === 0x18 ? digits : digits >= 50 ? 1900 + digits : 2000 + digits;
  const rest = match[2]!;
  const part = (index: number): number => Number(rest.slice(index, index + 2));
  const [month, day, hour, minute, second] = [part(0), part(2), part(4), part(6), part(8)];
  const time = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls over out-of-range fields (month 13, second 60); such a time is malformed.
  const check = new Date(time);
  if (
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    check.getUTCHours() !== hour ||
    check.getUTCMinutes() !== minute ||
    check.getUTCSeconds() !== second
  ) {
    malformed('validity time out of range');
  }
  return time;
}

interface RawExtension {
  readonly critical: boolean;
  readonly value: Uint8Array;
}

function readExtensions(der: Uint8Array, wrapper: DerElement): Map<string, RawExtension> {
  const list = readElement(der, wrapper.contentStart, wrapper.end);
  if (list.tag !== Tag.SEQUENCE || list.end !== wrapper.end) malformed('extensions');
  const extensions = new Map<string, RawExtension>();
  for (const extension of childrenOf(der, list)) {
    if (extension.tag !== Tag.SEQUENCE) malformed('extension');
    const parts = childrenOf(der, extension);
    const oid = parts[0];
    if (oid?.tag !== Tag.OID) malformed('extension');
    let critical = false;
    let valueIndex = 1;
    if (parts[1]?.tag === 0x01) {
      const flag = contentOf(der, parts[1]);
      if (flag.length !== 1) malformed('extension criticality');
      // DER omits a FALSE default, but older CAs wrote it out; both read as written.
      critical = flag[0] !== 0;
      valueIndex = 2;
    }
    const value = parts[valueIndex];
    if (value?.tag !== Tag.OCTET_STRING || parts.length !== valueIndex + 1) malformed('extension');
    const id = oidText(contentOf(der, oid));
    // RFC 5280 4.2: "A certificate MUST NOT include more than one instance of a particular
    // extension"; two could be read two ways.
    if (extensions.has(id)) malformed(`extension ${id} appears twice`);
    extensions.set(id, { critical, value: contentOf(der, value) });
  }
  return extensions;
}

function readGeneralNames(value: Uint8Array): Uint8Array[] {
  const list = expectElement(value, 0, Tag.SEQUENCE, 'subjectAltName');
  if (list.end !== value.length) malformed('subjectAltName');
  return childrenOf(value, list).map((name) => encodingOf(value, name));
}
