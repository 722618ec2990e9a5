import { MlsTlsError } from '@mlstls/codec';
import { anchorsNamed, type TrustAnchors } from './anchors.js';
import {
  ExtendedKeyUsageOid,
  KeyUsageBit,
  type ParsedCertificate,
  parseCertificateCached,
} from './certificate.js';
import { equalBytes } from './der.js';
import { describePath, type PeerCertificate } from './describe.js';
import { nameText } from './names.js';
import { signedBy } from './signature.js';
import { isSignatureKey } from './signature-key.js';

export type CertificatePurpose = 'server' | 'client';

export interface ChainVerification {
  readonly anchors: TrustAnchors;
  /** Milliseconds since the Unix epoch: the injected clock, never Date.now() inside. */
  readonly now: number;
  /**
   * Which extended key usage the leaf needs if it has the EKU extension: serverAuth or
   * clientAuth (anyExtendedKeyUsage also does).
   */
  readonly purpose: CertificatePurpose;
  /**
   * The MLS leaf's signature public key as ts-mls holds it: Ed25519 raw 32 bytes, Ed448 raw 57
   * bytes, a P-256, P-384 or P-521 SEC1 point, uncompressed (65, 97, 133 bytes) or compressed
   * (33, 49, 67 bytes).
   */
  readonly signaturePublicKey: Uint8Array;
}

/** Certificates in one path, leaf and anchor included (OpenSSL's default depth allows more). */
const MAX_PATH_LENGTH = 10;
/**
 * Candidate issuers tried in one verification. Bounds the work a peer can cause by sending
 * many certificates with the same name, each of which could start another branch.
 */
const MAX_CANDIDATES = 64;

const PURPOSE_OIDS: Readonly<Record<CertificatePurpose, string>> = {
  server: ExtendedKeyUsageOid.serverAuth,
  client: ExtendedKeyUsageOid.clientAuth,
};

/**
 * Verifies `chain` (DER, leaf first, then intermediates in any order; may contain extras) and
 * returns the leaf as node:tls describes it, linked through `issuerCertificate` along the
 * verified path up to and including the anchor. Throws MlsTlsError:
 * - ERR_MLSTLS_BAD_CERTIFICATE: empty chain, DER that does not parse, a signature that does not
 *   verify, an unsupported algorithm, an unknown critical extension on the path;
 * - ERR_MLSTLS_UNKNOWN_CA: no path from the leaf to an anchor;
 * - ERR_MLSTLS_CERT_NOT_YET_VALID / ERR_MLSTLS_CERT_HAS_EXPIRED: a certificate of the path,
 *   the anchor included (as OpenSSL), outside its validity at `now`, in whole seconds;
 * - ERR_MLSTLS_CERT_INVALID_PURPOSE: leaf key usage without digitalSignature, an extended key
 *   usage without the purpose, an issuer that is not a CA or may not sign certificates, a
 *   pathLenConstraint exceeded;
 * - ERR_MLSTLS_CERT_KEY_MISMATCH: the leaf's key is not `signaturePublicKey`.
 *
 * Paths link a certificate to one whose encoded subject equals its encoded issuer and whose key
 * verifies its signature; when several candidates match, each is tried.
 */
export async function verifyCertificateChain(
  chain: readonly Uint8Array[],
  options: ChainVerification,
): Promise<PeerCertificate> {
  const { now, purpose, signaturePublicKey } = options;
  if (!Number.isFinite(now)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`now` must be a time in milliseconds');
  }
  if (purpose !== 'server' && purpose !== 'client') {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', "`purpose` is 'server' or 'client'");
  }
  if (!(signaturePublicKey instanceof Uint8Array)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`signaturePublicKey` must be bytes');
  }
  if (chain.length === 0) {
    throw new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', 'the certificate chain is empty');
  }
  // Shared parses: the same chain comes with every handshake with a server (see the caches).
  const certificates = chain.map((der) => parseCertificateCached(der));
  const search = new PathSearch(options, certificates.slice(1));
  const leaf = certificates[0]!;
  // A leaf that is itself an anchor is trusted as is (as a self-signed certificate in `ca`).
  const anchoredLeaf = search.anchorEqualTo(leaf);
  const path = await search.extend([anchoredLeaf ?? leaf], anchoredLeaf !== undefined);
  if (path === undefined) throw search.failure(leaf);
  if (!isSignatureKey(leaf.publicKey, signaturePublicKey)) {
    throw new MlsTlsError(
      'ERR_MLSTLS_CERT_KEY_MISMATCH',
      `the key of certificate ${leaf.subjectText} is not the peer's MLS signature key`,
    );
  }
  return describePath(path);
}

/** One depth-first search for a path from the leaf to an anchor, with what failed on the way. */
class PathSearch {
  private candidatesLeft = MAX_CANDIDATES;
  /** The first reason a complete path was refused, other than its signatures. */
  private pathError: MlsTlsError | undefined;
  /** The first signature that did not verify: likely a wrong candidate, so reported last. */
  private signatureError: MlsTlsError | undefined;
  /** The first certificate whose issuer was found nowhere. */
  private deadEnd: ParsedCertificate | undefined;
  private readonly signatures = new Map<
    ParsedCertificate,
    Map<ParsedCertificate, Promise<MlsTlsError | undefined>>
  >();

  constructor(
    private readonly options: ChainVerification,
    private readonly intermediates: readonly ParsedCertificate[],
  ) {}

  /** The anchor with the same encoding as `certificate`, if it is one. */
  anchorEqualTo(certificate: ParsedCertificate): ParsedCertificate | undefined {
    return anchorsNamed(this.options.anchors, certificate.subject).find((candidate) =>
      equalBytes(candidate.der, certificate.der),
    );
  }

  /** A verified path that starts with `path`, or undefined. `anchored`: path's last is one. */
  async extend(
    path: readonly ParsedCertificate[],
    anchored: boolean,
  ): Promise<readonly ParsedCertificate[] | undefined> {
    if (anchored) return (await this.accepts(path)) ? path : undefined;
    if (path.length >= MAX_PATH_LENGTH) {
      this.pathError ??= new MlsTlsError(
        'ERR_MLSTLS_UNKNOWN_CA',
        `no trust anchor within ${MAX_PATH_LENGTH} certificates of ${path[0]!.subjectText}`,
      );
      return undefined;
    }
    const last = path[path.length - 1]!;
    const anchors = anchorsNamed(this.options.anchors, last.issuer).filter((anchor) =>
      mayHaveIssued(anchor, last),
    );
    const candidates: { certificate: ParsedCertificate; anchor: boolean }[] = anchors.map(
      (certificate) => ({ certificate, anchor: true }),
    );
    for (const certificate of this.intermediates) {
      if (!equalBytes(certificate.subject, last.issuer) || !mayHaveIssued(certificate, last)) {
        continue;
      }
      // A sent copy of an anchor is the anchor, tried above.
      if (anchors.some((anchor) => equalBytes(anchor.der, certificate.der))) continue;
      candidates.push({ certificate, anchor: false });
    }
    let found = false;
    for (const { certificate, anchor } of candidates) {
      // No certificate twice in one path: cycles end here.
      if (path.some((step) => equalBytes(step.der, certificate.der))) continue;
      found = true;
      if (--this.candidatesLeft < 0) return undefined;
      const result = await this.extend([...path, certificate], anchor);
      if (result !== undefined) return result;
    }
    if (!found) this.deadEnd ??= last;
    return undefined;
  }

  /** The error for a search that found no path. */
  failure(leaf: ParsedCertificate): MlsTlsError {
    if (this.pathError !== undefined) return this.pathError;
    if (this.signatureError !== undefined) return this.signatureError;
    if (this.options.anchors.size === 0) {
      return new MlsTlsError('ERR_MLSTLS_UNKNOWN_CA', 'no trust anchors are configured (`ca`)');
    }
    if (leaf.selfIssued) {
      return new MlsTlsError(
        'ERR_MLSTLS_UNKNOWN_CA',
        `self-signed certificate ${leaf.subjectText} is not a trust anchor`,
      );
    }
    const end = this.deadEnd ?? leaf;
    return new MlsTlsError(
      'ERR_MLSTLS_UNKNOWN_CA',
      `unable to get the issuer ${nameText(end.issuer)} of certificate ${end.subjectText}: it is neither a trust anchor nor in the chain`,
    );
  }

  /** Whether a complete path holds; if not, what failed is kept for `failure()`. */
  private async accepts(path: readonly ParsedCertificate[]): Promise<boolean> {
    // All signatures of the path at once: WebCrypto works off the main thread, so they overlap.
    const outcomes = path
      .slice(0, -1)
      .map((certificate, i) => this.signed(certificate, path[i + 1]!));
    for (const outcome of outcomes) {
      const error = await outcome;
      if (error !== undefined) {
        this.signatureError ??= error;
        return false;
      }
    }
    const error = pathRuleBroken(path, this.options);
    if (error === undefined) return true;
    this.pathError ??= error;
    return false;
  }

  /** Whether `issuer` signed `certificate`: undefined if so, else why not. Never rejects. */
  private signed(
    certificate: ParsedCertificate,
    issuer: ParsedCertificate,
  ): Promise<MlsTlsError | undefined> {
    let byIssuer = this.signatures.get(certificate);
    if (byIssuer === undefined) {
      byIssuer = new Map();
      this.signatures.set(certificate, byIssuer);
    }
    let outcome = byIssuer.get(issuer);
    if (outcome === undefined) {
      // Every certificate here is a parse of private bytes (a shared parse, or an anchor's).
      outcome = signedBy(certificate, issuer, true).then(
        (verified) =>
          verified
            ? undefined
            : new MlsTlsError(
                'ERR_MLSTLS_BAD_CERTIFICATE',
                `the signature of certificate ${certificate.subjectText} does not verify with the key of ${issuer.subjectText}`,
              ),
        (error: unknown) =>
          error instanceof MlsTlsError
            ? error
            : new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', 'the signature could not be checked', {
                cause: error,
              }),
      );
      byIssuer.set(issuer, outcome);
    }
    return outcome;
  }
}

/**
 * Whether `issuer` may have issued `certificate` by their key identifiers: when both are
 * there, they must agree (as OpenSSL's X509_check_akid). A CA of the same name with another
 * key is then no candidate, so a chain to it reads as an unknown CA, not a bad signature.
 */
function mayHaveIssued(issuer: ParsedCertificate, certificate: ParsedCertificate): boolean {
  const expected = certificate.authorityKeyIdentifier;
  const actual = issuer.subjectKeyIdentifier;
  return expected === undefined || actual === undefined || equalBytes(expected, actual);
}

/**
 * The first RFC 5280 rule that `path` (leaf first, anchor last, signatures verified) breaks, in
 * OpenSSL's order: critical extensions and purposes first, then validity periods.
 */
function pathRuleBroken(
  path: readonly ParsedCertificate[],
  { now, purpose }: ChainVerification,
): MlsTlsError | undefined {
  const purposeOid = PURPOSE_OIDS[purpose];
  const leaf = path[0]!;
  for (const [depth, certificate] of path.entries()) {
    const [unknown] = certificate.unknownCriticalExtensions;
    if (unknown !== undefined) {
      return new MlsTlsError(
        'ERR_MLSTLS_BAD_CERTIFICATE',
        `certificate ${certificate.subjectText} has the critical extension ${unknown}, which is not supported`,
      );
    }
    const usages = certificate.extendedKeyUsage;
    if (
      usages !== undefined &&
      !usages.includes(purposeOid) &&
      !usages.includes(ExtendedKeyUsageOid.any)
    ) {
      return new MlsTlsError(
        'ERR_MLSTLS_CERT_INVALID_PURPOSE',
        `certificate ${certificate.subjectText} is not for TLS ${purpose} authentication (extended key usage)`,
      );
    }
    if (depth === 0) continue;
    // An issuer: Go and RFC 5280 6.1.4 require basicConstraints cA, also of the anchor.
    if (certificate.basicConstraints?.ca !== true) {
      return new MlsTlsError(
        'ERR_MLSTLS_CERT_INVALID_PURPOSE',
        `certificate ${certificate.subjectText} issued ${path[depth - 1]!.subjectText} but is not a CA (basicConstraints)`,
      );
    }
    if (certificate.keyUsage !== undefined && !(certificate.keyUsage & KeyUsageBit.keyCertSign)) {
      return new MlsTlsError(
        'ERR_MLSTLS_CERT_INVALID_PURPOSE',
        `certificate ${certificate.subjectText} may not sign certificates (key usage without keyCertSign)`,
      );
    }
    const limit = certificate.basicConstraints.pathLength;
    if (limit !== undefined) {
      // RFC 5280 6.1.4 (l): self-issued intermediates (key rollover) do not count.
      const below = path.slice(1, depth).filter((step) => !step.selfIssued).length;
      if (below > limit) {
        return new MlsTlsError(
          'ERR_MLSTLS_CERT_INVALID_PURPOSE',
          `certificate ${certificate.subjectText} allows ${limit} intermediate CAs below it, the path has ${below}`,
        );
      }
    }
  }
  if (leaf.keyUsage !== undefined && !(leaf.keyUsage & KeyUsageBit.digitalSignature)) {
    return new MlsTlsError(
      'ERR_MLSTLS_CERT_INVALID_PURPOSE',
      `certificate ${leaf.subjectText} may not sign (key usage without digitalSignature)`,
    );
  }
  // OpenSSL compares whole seconds: a certificate is valid through the last second of notAfter.
  const second = Math.floor(now / 1000) * 1000;
  for (const certificate of path) {
    if (second < certificate.notBefore) {
      return new MlsTlsError(
        'ERR_MLSTLS_CERT_NOT_YET_VALID',
        `certificate ${certificate.subjectText} is not valid before ${new Date(certificate.notBefore).toISOString()}`,
      );
    }
    if (second > certificate.notAfter) {
      return new MlsTlsError(
        'ERR_MLSTLS_CERT_HAS_EXPIRED',
        `certificate ${certificate.subjectText} expired at ${new Date(certificate.notAfter).toISOString()}`,
      );
    }
  }
  return undefined;
}
