import {
  childrenOf,
  contentOf,
  encodingOf,
  expectElement,
  malformed,
  oidText,
  Tag,
} from './der.js';
import { hex } from './hex.js';

/** OpenSSL's short names of attribute types, which node:tls uses as keys of `subject`. */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.16': 'postalAddress',
  '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox',
  '2.5.4.20': 'telephoneNumber',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

/** One attribute of a Name, with `plus` set when it shares its RDN with the one before. */
interface NameAttribute {
  readonly key: string;
  /** The value as UTF-8 text, or undefined when it is not a string type. */
  readonly text: string | undefined;
  /** The value's whole encoding (RFC 2253 prints unknown types as its hex). */
  readonly encoded: Uint8Array;
  readonly plus: boolean;
}

const utf8 = new TextDecoder('utf-8');

/** The attributes of an encoded Name, in encoding order. */
function nameAttributes(name: Uint8Array): NameAttribute[] {
  const attributes: NameAttribute[] = [];
  const sequence = expectElement(name, 0, Tag.SEQUENCE, 'Name');
  if (sequence.end !== name.length) malformed('bytes after the Name');
  for (const rdn of childrenOf(name, sequence)) {
    if (rdn.tag !== Tag.SET) malformed('RelativeDistinguishedName');
    childrenOf(name, rdn).forEach((pair, index) => {
      const [type, value, ...rest] = pair.tag === Tag.SEQUENCE ? childrenOf(name, pair) : [];
      if (type?.tag !== Tag.OID || value === undefined || rest.length > 0) {
        malformed('AttributeTypeAndValue');
      }
      const oid = oidText(contentOf(name, type));
      attributes.push({
        key: SHORT_NAMES[oid] ?? oid,
        text: stringValue(value.tag, contentOf(name, value)),
        encoded: encodingOf(name, value),
        plus: index > 0,
      });
    });
  }
  return attributes;
}

/** OpenSSL's ASN1_STRING_to_UTF8: each string type read in its own encoding. */
function stringValue(tag: number, bytes: Uint8Array): string | undefined {
  switch (tag) {
    case 0x0c: // UTF8String
      return utf8.decode(bytes);
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x14: // TeletexString, read as Latin-1 as OpenSSL does
    case 0x15: // VideotexString
    case 0x16: // IA5String
    case 0x19: // GraphicString
    case 0x1a: // VisibleString
    case 0x1b: // GeneralString
      return String.fromCharCode(...bytes);
    case 0x1e: {
      // BMPString: UTF-16 big-endian.
      let text = '';
      for (let i = 0; i + 1 < bytes.length; i += 2) {
        text += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
      }
      return text;
    }
    case 0x1c: {
      // UniversalString: UTF-32 big-endian.
      let text = '';
      for (let i = 0; i + 3 < bytes.length; i += 4) {
        const point =
          ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
        text += point <= 0x10ffff ? String.fromCodePoint(point) : '\ufffd';
      }
      return text;
    }
    default:
      return undefined;
  }
}

/**
 * A Name as node:tls's certificate object gives it: short names as keys, a repeated key
 * collecting its values into an array, and no prototype (as node's).
 */
export function nameObject(name: Uint8Array): Record<string, string | string[]> {
  const object: Record<string, string | string[]> = Object.create(null);
  for (const { key, text, encoded } of nameAttributes(name)) {
    const value = text ?? `#${hex(encoded)}`;
    const previous = object[key];
    if (previous === undefined) object[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else object[key] = [previous, value];
  }
  return object;
}

/**
 * A Name in RFC 2253 form, as OpenSSL's XN_FLAG_RFC2253 prints it: the last RDN first, `,`
 * between RDNs and `+` inside one, special characters escaped, non-string values as #hex.
 * Non-ASCII characters stay as they are (node prints DirName with those flags).
 */
export function nameRfc2253(name: Uint8Array): string {
  const attributes = nameAttributes(name);
  // Group into RDNs so that the order of RDNs reverses while the order inside one stays.
  const rdns: NameAttribute[][] = [];
  for (const attribute of attributes) {
    if (attribute.plus && rdns.length > 0) rdns[rdns.length - 1]!.push(attribute);
    else rdns.push([attribute]);
  }
  return rdns
    .reverse()
    .map((rdn) =>
      rdn
        .map(
          ({ key, text, encoded }) =>
            `${key}=${text === undefined ? `#${hex(encoded)}` : escapeRfc2253(text)}`,
        )
        .join('+'),
    )
    .join(',');
}

/**
 * A Name for error messages: RFC 2253 with control characters escaped (a peer's name must not
 * be able to forge log lines), or a placeholder for an empty or unreadable one.
 */
export function nameText(name: Uint8Array): string {
  let text: string;
  try {
    text = nameRfc2253(name);
  } catch {
    return '(unreadable name)';
  }
  if (text === '') return '(empty name)';
  let safe = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    safe += code < 0x20 || code === 0x7f ? `\\${hex(Uint8Array.of(code))}` : char;
  }
  return safe;
}

function escapeRfc2253(text: string): string {
  let escaped = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (',+"\\<>;'.includes(char)) escaped += `\\${char}`;
    else if ((i === 0 && (char === '#' || char === ' ')) || (i === text.length - 1 && char === ' '))
      escaped += `\\${char}`;
    else escaped += char;
  }
  return escaped;
}
