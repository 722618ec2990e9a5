import { MlsTlsError } from '@mlstls/codec';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { id_rsaEncryption, RSAPublicKey } from '@peculiar/asn1-rsa';
import { AsnConvert } from '@peculiar/asn1-schema';
import { KeyUsageBit, type ParsedCertificate, parseCertificateCached } from './certificate.js';
import { childrenOf, contentOf, oidText, readElement, Tag } from './der.js';
import { hex } from './hex.js';
import { nameObject, nameRfc2253 } from './names.js';
import { EC_PUBLIC_KEY_OID } from './signature-key.js';

/**
 * node:tls's getPeerCertificate() object (https://nodejs.org/api/tls.html#certificate-object),
 * built synchronously and portably; Buffers become Uint8Array. The fingerprints and
 * `issuerCertificate` are computed on first read, then kept: they are enumerable properties
 * like the others for spreading, `JSON.stringify` and `util.inspect`.
 */
export interface PeerCertificate {
  /** Short names as keys (C ST L O OU CN ...), a repeated one as an array; no prototype. */
  readonly subject: Readonly<Record<string, string | string[]>>;
  readonly issuer: Readonly<Record<string, string | string[]>>;
  /** node's format: 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'. */
  readonly subjectaltname?: string;
  /**
   * authorityInfoAccess: each access method and location type ('OCSP - URI', 'CA Issuers -
   * URI') with its locations; no prototype.
   */
  readonly infoAccess?: Readonly<Record<string, string[]>>;
  /** basicConstraints cA, and keyCertSign if key usage is present (OpenSSL's X509_check_ca). */
  readonly ca: boolean;
  /** RSA: the modulus in upper-case hex. */
  readonly modulus?: string;
  /** RSA: the modulus size; EC: the curve's order size. */
  readonly bits?: number;
  /** RSA: the public exponent as '0x10001'. */
  readonly exponent?: string;
  /**
   * RSA: the SubjectPublicKeyInfo DER; EC: the point as encoded (as node gives both). Other
   * keys, where node gives none: the subjectPublicKey bits (for Ed25519, the raw 32 bytes).
   */
  readonly pubkey: Uint8Array;
  /** EC: OpenSSL's curve name ('prime256v1') and the NIST one ('P-256'). */
  readonly asn1Curve?: string;
  readonly nistCurve?: string;
  /** OpenSSL's format, 'Nov 27 07:00:00 2026 GMT'. */
  readonly valid_from: string;
  readonly valid_to: string;
  /** Upper-case hex as node prints it (no leading zero bytes). */
  readonly serialNumber: string;
  /** SHA-1 of the DER, 'AB:CD:...'. */
  readonly fingerprint: string;
  readonly fingerprint256: string;
  readonly fingerprint512: string;
  /** Extended key usage OIDs, when the extension is present. */
  readonly ext_key_usage?: readonly string[];
  readonly raw: Uint8Array;
  /**
   * With the detailed form: the next certificate of the verified path; the last one points to
   * itself when it is self-issued (as node's getPeerCertificate(true)), so this is a cycle.
   */
  readonly issuerCertificate?: PeerCertificate;
}

type MutablePeerCertificate = { -readonly [K in keyof PeerCertificate]: PeerCertificate[K] };

/**
 * The node:tls certificate object of `der` (a DER certificate). `issuers`, when given, are the
 * rest of the path in order, linked through `issuerCertificate`; given as [] for a self-issued
 * certificate, it links to itself. DER that does not parse throws ERR_MLSTLS_INVALID_ARGUMENT.
 */
export function describeCertificate(
  der: Uint8Array,
  issuers?: readonly Uint8Array[],
): PeerCertificate {
  const parse = (bytes: Uint8Array): ParsedCertificate => {
    try {
      return parseCertificateCached(bytes);
    } catch (error) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'not an X.509 certificate', {
        cause: error,
      });
    }
  };
  const leaf = parse(der);
  if (issuers === undefined) return describe(leaf);
  return describePath([leaf, ...issuers.map(parse)]);
}

/**
 * The description of `path[0]` linked through its issuers, as node's detailed form. Each issuer
 * is described when `issuerCertificate` is first read: most callers read only the leaf.
 */
export function describePath(path: readonly ParsedCertificate[]): PeerCertificate {
  return describeFrom(path, 0);
}

function describeFrom(path: readonly ParsedCertificate[], index: number): PeerCertificate {
  const description = describe(path[index]!);
  if (index + 1 < path.length) {
    defineLazy(description, 'issuerCertificate', () => describeFrom(path, index + 1));
  } else if (path[index]!.selfIssued) {
    description.issuerCertificate = description;
  }
  return description;
}

/**
 * Makes `key` of `description` an enumerable property computed on its first read (or set by a
 * write), from then on a plain data property. Spreading, `JSON.stringify`, `Object.entries`
 * and deep equality read it as any other property; only `Object.getOwnPropertyDescriptor`
 * tells, until then.
 */
function defineLazy<K extends keyof MutablePeerCertificate>(
  description: Partial<MutablePeerCertificate>,
  key: K,
  compute: () => MutablePeerCertificate[K],
): void {
  const settle = (value: MutablePeerCertificate[K]): MutablePeerCertificate[K] => {
    // Fails only on a frozen description, which then computes on every read.
    Reflect.defineProperty(description, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
    return value;
  };
  Object.defineProperty(description, key, {
    get: () => settle(compute()),
    set: settle,
    enumerable: true,
    configurable: true,
  });
}

/**
 * node's util.inspect hook (by its registered symbol, so nothing here needs node): computes the
 * lazy properties so that a description prints its values, then lets inspect print it as is.
 */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

function inspectSettled(this: Record<string, unknown>): unknown {
  for (const key of Object.keys(this)) void this[key];
  return this;
}

const CURVES: Readonly<
  Record<string, { readonly asn1Curve: string; readonly nistCurve?: string; readonly bits: number }>
> = {
  '1.2.840.10045.3.1.7': { asn1Curve: 'prime256v1', nistCurve: 'P-256', bits: 256 },
  '1.3.132.0.34': { asn1Curve: 'secp384r1', nistCurve: 'P-384', bits: 384 },
  '1.3.132.0.35': { asn1Curve: 'secp521r1', nistCurve: 'P-521', bits: 521 },
  '1.3.132.0.10': { asn1Curve: 'secp256k1', bits: 256 },
};

function describe(certificate: ParsedCertificate): MutablePeerCertificate {
  const { der, publicKey } = certificate;
  // Built in node's key order, so that both print alike.
  const description: Partial<MutablePeerCertificate> = {
    subject: nameObject(certificate.subject),
    issuer: nameObject(certificate.issuer),
  };
  if (certificate.subjectAltNames.length > 0) {
    description.subjectaltname = certificate.subjectAltNames.map(generalNameText).join(', ');
  }
  if (certificate.authorityInfoAccess !== undefined) {
    description.infoAccess = infoAccessObject(certificate.authorityInfoAccess);
  }
  const keyUsage = certificate.keyUsage;
  description.ca =
    certificate.basicConstraints?.ca === true &&
    (keyUsage === undefined || (keyUsage & KeyUsageBit.keyCertSign) !== 0);
  if (publicKey.algorithm.oid === id_rsaEncryption) {
    const key = AsnConvert.parse(publicKey.bits, RSAPublicKey);
    const modulus = stripZeros(new Uint8Array(key.modulus));
    description.modulus = hex(modulus);
    description.bits = bitLength(modulus);
    description.exponent = `0x${BigInt(`0x${hex(stripZeros(new Uint8Array(key.publicExponent))) || '0'}`).toString(16)}`;
    description.pubkey = certificate.spki.slice();
  } else if (publicKey.algorithm.oid === EC_PUBLIC_KEY_OID) {
    const curve = CURVES[namedCurveOid(publicKey.algorithm.parameters) ?? ''];
    if (curve !== undefined) description.bits = curve.bits;
    description.pubkey = publicKey.bits.slice();
    if (curve !== undefined) {
      description.asn1Curve = curve.asn1Curve;
      if (curve.nistCurve !== undefined) description.nistCurve = curve.nistCurve;
    }
  } else {
    description.pubkey = publicKey.bits.slice();
  }
  description.valid_from = opensslTime(certificate.notBefore);
  description.valid_to = opensslTime(certificate.notAfter);
  // Three hashes of the whole DER in JavaScript, which few callers read: computed when read.
  defineLazy(description, 'fingerprint', () => hex(sha1(der), ':'));
  defineLazy(description, 'fingerprint256', () => hex(sha256(der), ':'));
  defineLazy(description, 'fingerprint512', () => hex(sha512(der), ':'));
  if (certificate.extendedKeyUsage !== undefined) {
    description.ext_key_usage = [...certificate.extendedKeyUsage];
  }
  description.serialNumber = serialText(certificate.serialNumber);
  description.raw = der.slice();
  Object.defineProperty(description, INSPECT, { value: inspectSettled });
  return description as MutablePeerCertificate;
}

function namedCurveOid(parameters: Uint8Array | undefined): string | undefined {
  if (parameters === undefined) return undefined;
  const element = readElement(parameters, 0);
  return element.tag === Tag.OID ? oidText(contentOf(parameters, element)) : undefined;
}

function stripZeros(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

function bitLength(bytes: Uint8Array): number {
  return bytes.length === 0 ? 0 : (bytes.length - 1) * 8 + (32 - Math.clz32(bytes[0]!));
}

/** BN_bn2hex of the serial: whole bytes, no leading zero bytes, '-' for a negative one. */
function serialText(content: Uint8Array): string {
  if (content[0]! & 0x80) {
    // Two's complement: the magnitude is the complement plus one.
    let value = 0n;
    for (const byte of content) value = (value << 8n) | BigInt(byte);
    const magnitude = (1n << BigInt(content.length * 8)) - value;
    let digits = magnitude.toString(16).toUpperCase();
    if (digits.length % 2) digits = `0${digits}`;
    return `-${digits}`;
  }
  return hex(stripZeros(content)) || '0';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** OpenSSL's ASN1_TIME_print: 'Dec  7 07:53:12 2026 GMT'. */
function opensslTime(time: number): string {
  const date = new Date(time);
  const two = (value: number): string => String(value).padStart(2, '0');
  return `${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} ${date.getUTCFullYear()} GMT`;
}

/** OpenSSL's long names of access methods, which node prints. */
const ACCESS_METHODS: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.48.1': 'OCSP',
  '1.3.6.1.5.5.7.48.2': 'CA Issuers',
  '1.3.6.1.5.5.7.48.3': 'AD Time Stamping',
  '1.3.6.1.5.5.7.48.5': 'CA Repository',
};

/**
 * node's `infoAccess`: it prints each AccessDescription as 'OCSP - URI:http://...' and splits
 * the line at its first colon, unquoting a JSON-quoted value.
 */
function infoAccessObject(value: Uint8Array): Record<string, string[]> {
  const object: Record<string, string[]> = Object.create(null);
  const list = readElement(value, 0);
  if (list.tag !== Tag.SEQUENCE) return object;
  for (const description of childrenOf(value, list)) {
    const [method, location] = childrenOf(value, description);
    if (method?.tag !== Tag.OID || location === undefined) continue;
    const oid = oidText(contentOf(value, method));
    const line = `${ACCESS_METHODS[oid] ?? oid} - ${generalNameText(value.subarray(location.start, location.end))}`;
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const key = line.slice(0, colon);
    let text = line.slice(colon + 1);
    if (text.startsWith('"')) text = JSON.parse(text) as string;
    const values = object[key];
    if (values === undefined) object[key] = [text];
    else values.push(text);
  }
  return object;
}

/** node's names for otherName types it prints, and whether the value is UTF8String or IA5. */
const OTHER_NAMES: Readonly<Record<string, { readonly prefix: string; readonly utf8: boolean }>> = {
  '1.3.6.1.5.5.7.8.9': { prefix: 'SmtpUTF8Mailbox', utf8: true },
  '1.3.6.1.5.5.7.8.5': { prefix: 'XmppAddr', utf8: true },
  '1.3.6.1.5.5.7.8.7': { prefix: 'SRVName', utf8: false },
  '1.3.6.1.4.1.311.20.2.3': { prefix: 'UPN', utf8: true },
  '1.3.6.1.5.5.7.8.8': { prefix: 'NAIRealm', utf8: true },
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One GeneralName as node prints it in `subjectaltname` (PrintGeneralName in node's C++). */
function generalNameText(encoded: Uint8Array): string {
  const element = readElement(encoded, 0);
  const content = contentOf(encoded, element);
  switch (element.tag) {
    case 0x82:
      return `DNS:${altName(content, false)}`;
    case 0x81:
      return `email:${altName(content, false)}`;
    case 0x86:
      return `URI:${altName(content, false)}`;
    case 0x87:
      return `IP Address:${ipText(content)}`;
    case 0x88:
      return `Registered ID:${oidText(content)}`;
    case 0xa4: {
      const name = encoded.subarray(element.contentStart, element.end);
      return `DirName:${altName(encoder.encode(nameRfc2253(name)), true)}`;
    }
    case 0xa0:
      return `othername:${otherNameText(encoded, element)}`;
    case 0xa3:
      return 'X400Name:<unsupported>';
    case 0xa5:
      return 'EdiPartyName:<unsupported>';
    default:
      return '<unsupported>';
  }
}

function otherNameText(encoded: Uint8Array, element: ReturnType<typeof readElement>): string {
  const [type, wrapper] = childrenOf(encoded, element);
  if (type?.tag !== Tag.OID || wrapper?.tag !== 0xa0) return '<unsupported>';
  const known = OTHER_NAMES[oidText(contentOf(encoded, type))];
  const value = readElement(encoded, wrapper.contentStart, wrapper.end);
  if (known === undefined || value.tag !== (known.utf8 ? 0x0c : 0x16)) return '<unsupported>';
  return altName(contentOf(encoded, value), known.utf8, known.prefix);
}

/** IPv4 dotted; IPv6 as eight upper-case groups, uncompressed ('0:0:0:0:0:0:0:1'). */
function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) {
      groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16).toUpperCase());
    }
    return groups.join(':');
  }
  return `<invalid length=${bytes.length}>`;
}

/**
 * node's PrintAltName: a name with nothing that could confuse splitting the list is printed as
 * is; any other is JSON-quoted with commas, control and (outside UTF-8) non-ASCII bytes as
 * \u00XX, so that no certificate can smuggle an extra entry into `subjectaltname`.
 */
function altName(bytes: Uint8Array, utf8: boolean, prefix?: string): string {
  const safe = bytes.every(
    (byte) =>
      byte !== 0x22 &&
      byte !== 0x5c &&
      byte !== 0x2c &&
      byte !== 0x27 &&
      byte >= 0x20 &&
      byte !== 0x7f &&
      (utf8 || byte <= 0x7e),
  );
  const prefixText = prefix === undefined ? '' : `${prefix}:`;
  if (safe) return prefixText + decoder.decode(bytes);
  const out: number[] = [];
  for (const byte of bytes) {
    if (byte === 0x5c) out.push(0x5c, 0x5c);
    else if (byte === 0x22) out.push(0x5c, 0x22);
    else if ((byte >= 0x20 && byte !== 0x2c && byte <= 0x7e) || (utf8 && byte & 0x80))
      out.push(byte);
    else out.push(...encoder.encode(`\\u${byte.toString(16).padStart(4, '0')}`));
  }
  return `"${prefixText}${decoder.decode(Uint8Array.from(out))}"`;
}
