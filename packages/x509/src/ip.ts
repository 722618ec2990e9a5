const V4_OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** A zone index as node's net.isIPv6 allows it after '%'. */
const ZONE = /%[0-9a-zA-Z\-.:]+$/;

/**
 * The address of a hostname that is an IP literal as node's net.isIP() decides (dotted IPv4
 * without leading zeros, IPv6 text with an optional zone index, which is dropped as node's
 * canonicalizeIP drops it), or undefined for a DNS name.
 */
export function ipLiteral(hostname: string): Uint8Array | undefined {
  return hostname.includes(':') ? parseIPv6(hostname.replace(ZONE, '')) : parseIPv4(hostname);
}

/** The 4 or 16 bytes of an IP literal without zone index, or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => V4_OCTET.test(part))) return undefined;
  return Uint8Array.from(parts, Number);
}

function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 1 || halves[1] === '' ? [] : halves[1]!.split(':');
  const groups: number[] = [];
  const all = [...head, ...tail];
  for (const [index, part] of all.entries()) {
    if (V6_GROUP.test(part)) {
      groups.push(Number.parseInt(part, 16));
    } else if (index === all.length - 1 && part.includes('.')) {
      // An IPv4 dotted quad may end the address ('::ffff:127.0.0.1').
      const v4 = parseIPv4(part);
      if (v4 === undefined) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      return undefined;
    }
  }
  const compressed = halves.length === 2;
  if (compressed ? groups.length > 7 : groups.length !== 8) return undefined;
  const headGroups = compressed ? groups.slice(0, head.length) : groups;
  const tailGroups = compressed ? groups.slice(head.length) : [];
  const words = [...headGroups, ...new Array(8 - groups.length).fill(0), ...tailGroups];
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

/**
 * The canonical text of an address, as inet_ntop (and so node's canonicalizeIP) writes it:
 * the longest run of two or more zero groups as '::', lower case, IPv4-mapped and
 * IPv4-compatible addresses ending in a dotted quad.
 */
export function canonicalIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = { base: -1, length: 0 };
  let current = { base: -1, length: 0 };
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      current =
        current.base === -1 ? { base: i, length: 1 } : { ...current, length: current.length + 1 };
      if (current.length > best.length) best = current;
    } else {
      current = { base: -1, length: 0 };
    }
  }
  if (best.length < 2) best = { base: -1, length: 0 };
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.length) {
      if (i === best.base) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (
      i === 6 &&
      best.base === 0 &&
      (best.length === 6 || (best.length === 5 && words[5] === 0xffff))
    ) {
      text += bytes.subarray(12).join('.');
      break;
    }
    text += words[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.length === 8) text += ':';
  return text;
}
