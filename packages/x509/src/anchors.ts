import { MlsTlsError } from '@mlstls/codec';
import type { ParsedCertificate } from './certificate.js';
import { equalBytes } from './der.js';
import { hex } from './hex.js';
import { type CertificateInput, parseCertificates } from './pem.js';

/** The parsed anchors of each TrustAnchors, kept out of its public shape. */
const anchorLists = new WeakMap<TrustAnchors, AnchorIndex>();

interface AnchorIndex {
  /** Anchors by their encoded subject, in hex: chain building looks issuers up by name. */
  readonly bySubject: ReadonlyMap<string, readonly ParsedCertificate[]>;
}

/**
 * Certificates trusted as anchors (node:tls's `ca`), parsed once. Any certificate in it is an
 * anchor (as Go's crypto/x509 does; a CA intermediate given as `ca` is trusted as is, no path
 * to a root needed). Keep one and reuse it: each anchor's public key is imported into WebCrypto
 * once, on first use.
 */
export class TrustAnchors {
  readonly size: number;

  private constructor(certificates: readonly ParsedCertificate[]) {
    const bySubject = new Map<string, ParsedCertificate[]>();
    let size = 0;
    for (const certificate of certificates) {
      const key = hex(certificate.subject);
      const same = bySubject.get(key) ?? [];
      // The same certificate given twice is one anchor.
      if (same.some((anchor) => equalBytes(anchor.der, certificate.der))) continue;
      same.push(certificate);
      bySubject.set(key, same);
      size++;
    }
    this.size = size;
    anchorLists.set(this, { bySubject });
  }

  /** The anchors of `ca`: PEM text, DER, or a list; junk throws ERR_MLSTLS_INVALID_ARGUMENT. */
  static from(ca: CertificateInput): TrustAnchors {
    return new TrustAnchors(parseCertificates(ca));
  }
}

/** The anchors whose subject is the encoded name `subject`. */
export function anchorsNamed(
  anchors: TrustAnchors,
  subject: Uint8Array,
): readonly ParsedCertificate[] {
  const index = anchorLists.get(anchors);
  if (index === undefined) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      '`anchors` must come from TrustAnchors.from() of this copy of @mlstls/x509',
    );
  }
  return index.bySubject.get(hex(subject)) ?? [];
}
