import { MlsTlsError } from '@mlstls/codec';

/**
 * One DER element of `bytes`: its tag byte and where its header, content and end lie. The
 * certificate parser needs these offsets because signatures cover the exact encoded bytes of
 * the TBSCertificate, and names compare by their encoding: a re-encoding would not do.
 */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** ERR_MLSTLS_BAD_CERTIFICATE for DER that is not what `what` should be. */
export function malformed(what: string): never {
  throw new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', `malformed DER: ${what}`);
}

/**
 * The element at `offset`, which must end by `limit`. Only DER is read: one-byte tags (X.509
 * needs no others), definite lengths in their shortest form.
 */
export function readElement(bytes: Uint8Array, offset: number, limit = bytes.length): DerElement {
  if (offset + 2 > limit) malformed('truncated header');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) malformed('multi-byte tag');
  let length = bytes[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    // Four length bytes already allow 4 GiB; none of our inputs come near.
    if (count === 0 || count > 4) malformed('unsupported length form');
    if (contentStart + count > limit) malformed('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[contentStart + i]!;
    if (bytes[contentStart] === 0 || length < 0x80) malformed('length not in its shortest form');
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) malformed('truncated content');
  return { tag, start: offset, contentStart, end };
}

/** `element`, checking its tag. */
export function expectElement(
  bytes: Uint8Array,
  offset: number,
  tag: number,
  what: string,
  limit = bytes.length,
): DerElement {
  const element = readElement(bytes, offset, limit);
  if (element.tag !== tag) malformed(`${what}: unexpected tag 0x${element.tag.toString(16)}`);
  return element;
}

/** The elements inside a constructed `element`, which must fill it exactly. */
export function childrenOf(bytes: Uint8Array, element: DerElement): DerElement[] {
  const children: DerElement[] = [];
  let offset = element.contentStart;
  while (offset < element.end) {
    const child = readElement(bytes, offset, element.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The whole encoding of `element` (header and content), without a copy. */
export function encodingOf(bytes: Uint8Array, element: DerElement): Uint8Array {
  return bytes.subarray(element.start, element.end);
}

/** The content of `element`, without a copy. */
export function contentOf(bytes: Uint8Array, element: DerElement): Uint8Array {
  return bytes.subarray(element.contentStart, element.end);
}

/** The bits of a BIT STRING whose length is a whole number of bytes (keys and signatures). */
export function bitStringBytes(bytes: Uint8Array, element: DerElement): Uint8Array {
  if (element.tag !== Tag.BIT_STRING || element.end === element.contentStart) {
    malformed('expected a BIT STRING');
  }
  if (bytes[element.contentStart] !== 0) malformed('a BIT STRING of whole bytes expected');
  return bytes.subarray(element.contentStart + 1, element.end);
}

/** The dotted text of an OBJECT IDENTIFIER's content. */
export function oidText(content: Uint8Array): string {
  if (content.length === 0) malformed('empty OBJECT IDENTIFIER');
  const arcs: string[] = [];
  let value = 0n;
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!;
    if (value === 0n && byte === 0x80) malformed('OBJECT IDENTIFIER arc not in its shortest form');
    value = (value << 7n) | BigInt(byte & 0x7f);
    if (byte & 0x80) continue;
    if (arcs.length === 0) {
      const first = value < 80n ? value / 40n : 2n;
      arcs.push(first.toString(), (value - first * 40n).toString());
    } else {
      arcs.push(value.toString());
    }
    value = 0n;
  }
  if (content[content.length - 1]! & 0x80) malformed('truncated OBJECT IDENTIFIER');
  return arcs.join('.');
}

/** Equal bytes, for names, keys and certificates compared by their encoding. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
