import { MlsTlsError } from '@mlstls/codec';
import type { ParsedCertificate } from './certificate.js';
import { equalBytes } from './der.js';
import { hex } from './hex.js';
import { type CertificateInput, parseCertificates } from './pem.js';

/** The parsed anchors of each TrustAnchors, or how to parse them, kept out of its public shape. */
const anchorLists = new WeakMap<TrustAnchors, AnchorIndex | (() => AnchorIndex)>();

interface AnchorIndex {
  /** Anchors by their encoded subject, in hex: chain building looks issuers up by name. */
  readonly bySubject: ReadonlyMap<string, readonly ParsedCertificate[]>;
  readonly size: number;
}

/**
 * Certificates trusted as anchors (node:tls's `ca`), parsed once. Any certificate in it is an
 * anchor (as Go's crypto/x509 does; a CA intermediate given as `ca` is trusted as is, no path
 * to a root needed). Keep one and reuse it: each anchor's public key is imported into WebCrypto
 * once, on first use.
 */
export class TrustAnchors {
  private constructor(index: AnchorIndex | (() => AnchorIndex)) {
    anchorLists.set(this, index);
  }

  /** How many distinct certificates are trusted. */
  get size(): number {
    return indexOf(this).size;
  }

  /** The anchors of `ca`: PEM text, DER, or a list; junk throws ERR_MLSTLS_INVALID_ARGUMENT. */
  static from(ca: CertificateInput): TrustAnchors {
    return new TrustAnchors(indexAnchors(parseCertificates(ca)));
  }

  /**
   * Anchors parsed on first use: for a large bundle that many connections never need, such as
   * a platform's roots (node:tls's 144 take tens of milliseconds to parse). Junk in it throws
   * ERR_MLSTLS_INVALID_ARGUMENT at that first use.
   */
  static lazy(ca: () => CertificateInput): TrustAnchors {
    return new TrustAnchors(() => indexAnchors(parseCertificates(ca())));
  }
}

function indexAnchors(certificates: readonly ParsedCertificate[]): AnchorIndex {
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
  return { bySubject, size };
}

function indexOf(anchors: TrustAnchors): AnchorIndex {
  const entry = anchorLists.get(anchors);
  if (entry === undefined) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      '`anchors` must come from TrustAnchors.from() of this copy of @mlstls/x509',
    );
  }
  if (typeof entry !== 'function') return entry;
  const index = entry();
  anchorLists.set(anchors, index);
  return index;
}

/** The anchors whose subject is the encoded name `subject`. */
export function anchorsNamed(
  anchors: TrustAnchors,
  subject: Uint8Array,
): readonly ParsedCertificate[] {
  return indexOf(anchors).bySubject.get(hex(subject)) ?? [];
}
