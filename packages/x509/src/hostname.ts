import { MlsTlsError } from '@mlstls/codec';
import type { PeerCertificate } from './describe.js';
import { canonicalIp, ipLiteral, parseIp } from './ip.js';

/** node's JSON string pattern for the quoted entries of `subjectaltname`. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings exclude these.
const JSON_STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/;

/**
 * node:tls's checkServerIdentity(hostname, cert), portable: undefined when `cert` names
 * `hostname`, else ERR_MLSTLS_CERT_ALTNAME_INVALID with node's message. IP literals (v4 and v6,
 * normalized) match only IP Address SANs. DNS names compare case-insensitively, a trailing dot
 * ignored; a wildcard only as the whole leftmost label ('*.example.com' matches
 * 'a.example.com', not 'example.com' nor 'a.b.example.com'; node also accepts 'f*.example.com',
 * this does not), never for IP, never in a name of fewer than 3 labels. The subject CN is used
 * only when the certificate has no DNS SANs, as node does. An empty hostname never matches.
 */
export function checkServerIdentity(
  hostname: string,
  cert: PeerCertificate,
): MlsTlsError | undefined {
  const altNames = cert.subjectaltname;
  const entries = altNames === undefined || altNames === '' ? [] : splitAltNames(altNames);
  if (entries === undefined) return mismatch("the certificate's altnames do not parse");
  const dnsNames: string[] = [];
  const ipTexts: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ipTexts.push(entry.slice(11));
  }
  // "example.com." is "example.com"; an empty hostname falls through to match nothing.
  const host = String(hostname).replace(/\.$/, '');
  const ip = ipLiteral(host);
  if (ip !== undefined) {
    // IP SANs are read only for an IP hostname: a DNS name never matches one.
    const ips = ipTexts.map(parseIp).filter((address) => address !== undefined);
    const text = canonicalIp(ip);
    if (ips.some((candidate) => canonicalIp(candidate) === text)) return undefined;
    return mismatch(`IP: ${host} is not in the cert's list: ${ips.map(canonicalIp).join(', ')}`);
  }
  const cn = cert.subject.CN;
  if (dnsNames.length > 0) {
    if (dnsNames.some((pattern) => hostMatches(host, pattern))) return undefined;
    return mismatch(`Host: ${host}. is not in the cert's altnames: ${altNames}`);
  }
  if (cn !== undefined && cn !== '') {
    // Only without DNS names does the common name count (RFC 6125 6.4.4, as node).
    const names = Array.isArray(cn) ? cn : [cn];
    if (names.some((pattern) => hostMatches(host, pattern))) return undefined;
    return mismatch(`Host: ${host}. is not cert's CN: ${cn}`);
  }
  return mismatch('Cert does not contain a DNS name');
}

function mismatch(reason: string): MlsTlsError {
  return new MlsTlsError(
    'ERR_MLSTLS_CERT_ALTNAME_INVALID',
    `Hostname/IP does not match certificate's altnames: ${reason}`,
  );
}

/** `host` (no trailing dot) against one DNS name or CN of a certificate. */
function hostMatches(host: string, pattern: string): boolean {
  const hostLabels = host.toLowerCase().split('.');
  const patternLabels = pattern.replace(/\.$/, '').toLowerCase().split('.');
  if (pattern === '' || hostLabels.length !== patternLabels.length) return false;
  if (hostLabels.includes('') || patternLabels.includes('')) return false;
  // IDNA U-labels, blanks and control characters: nothing good comes from matching them.
  if (patternLabels.some((label) => /[^\u0021-\u007f]/u.test(label))) return false;
  for (let i = patternLabels.length - 1; i > 0; i--) {
    if (hostLabels[i] !== patternLabels[i]) return false;
  }
  const [first] = patternLabels;
  if (first === '*') {
    // RFC 6125 6.4.3 and the CA/Browser Forum: '*' as the whole leftmost label, standing for
    // exactly one label, and not directly under a top-level domain.
    return patternLabels.length >= 3;
  }
  // Anything else with a '*' in it ('f*', 'xn--*') matches nothing and only itself literally.
  return !first!.includes('*') && hostLabels[0] === first;
}

/** node's splitting of `subjectaltname`: ', ' between entries, JSON-quoted parts unescaped. */
function splitAltNames(altNames: string): string[] | undefined {
  if (!altNames.includes('"')) return altNames.split(', ');
  const result: string[] = [];
  let token = '';
  let offset = 0;
  while (offset !== altNames.length) {
    const nextSeparator = altNames.indexOf(', ', offset);
    const nextQuote = altNames.indexOf('"', offset);
    if (nextQuote !== -1 && (nextSeparator === -1 || nextQuote < nextSeparator)) {
      token += altNames.slice(offset, nextQuote);
      const match = JSON_STRING.exec(altNames.slice(nextQuote));
      if (match === null) return undefined;
      token += JSON.parse(match[0]) as string;
      offset = nextQuote + match[0].length;
    } else if (nextSeparator !== -1) {
      token += altNames.slice(offset, nextSeparator);
      result.push(token);
      token = '';
      offset = nextSeparator + 2;
    } else {
      token += altNames.slice(offset);
      offset = altNames.length;
    }
  }
  result.push(token);
  return result;
}
