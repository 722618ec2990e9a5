import { parseCertificate } from './certificate.js';
import { equalBytes } from './der.js';

/**
 * Whether two X.509 credentials (DER chains, leaf first) name the same peer, for MLS credential
 * updates (RFC 9420 5.3.1: an update must not change the identity): their leaves have the same
 * encoded subject and the same set of subjectAltNames, each compared by its encoding, order and
 * repeats aside. Keys, issuers and validity may change, as on a renewal. Empty chains and
 * leaves that do not parse are never the same.
 */
export function sameCertificateIdentity(
  a: readonly Uint8Array[],
  b: readonly Uint8Array[],
): boolean {
  const [leafA] = a;
  const [leafB] = b;
  if (leafA === undefined || leafB === undefined) return false;
  let first: ReturnType<typeof parseCertificate>;
  let second: ReturnType<typeof parseCertificate>;
  try {
    first = parseCertificate(leafA);
    second = parseCertificate(leafB);
  } catch {
    return false;
  }
  if (!equalBytes(first.subject, second.subject)) return false;
  const contains = (names: readonly Uint8Array[], name: Uint8Array): boolean =>
    names.some((other) => equalBytes(other, name));
  return (
    first.subjectAltNames.every((name) => contains(second.subjectAltNames, name)) &&
    second.subjectAltNames.every((name) => contains(first.subjectAltNames, name))
  );
}
