// Who the peer is (docs/protocol.md section 4, steps 2 and 3): an X.509 chain checked against trust
// anchors, the host name and the MLS signature key; a basic credential through the verifier
// callback or a pinned key. The rules are node:tls's, applied by the core so that every binding
// gets them alike.
import { MlsTlsError } from '@mlstls/codec';
import {
  checkServerIdentity as defaultCheckServerIdentity,
  describeCertificate,
  type PeerCertificate,
  TrustAnchors,
  verifyCertificateChain,
} from '@mlstls/x509';
import { equalBytes } from './mls.js';
import type { HandshakeInfo, PeerCredential } from './output.js';

/**
 * node:tls's `checkServerIdentity(hostname, cert)`: returns an Error when `cert` does not name
 * `hostname`. `tls.checkServerIdentity` itself can be passed.
 */
export type CheckServerIdentity = (hostname: string, cert: PeerCertificate) => Error | undefined;

/** Decides whether the peer's credential is acceptable; may throw an `MlsTlsError` to choose the alert. */
export type VerifyPeer = (peer: PeerCredential) => boolean | Promise<boolean>;

/** What the initiator checks of the responder. */
export interface ResponderAuthentication {
  readonly anchors: TrustAnchors | undefined;
  /** The name checked against the certificate; `''` when none was given. */
  readonly hostname: string;
  readonly checkServerIdentity: CheckServerIdentity | undefined;
  readonly peerSignaturePublicKey: Uint8Array | undefined;
  readonly verifyPeer: VerifyPeer | undefined;
  /** False lets a refused peer through, unauthorized. */
  readonly rejectUnauthorized: boolean;
}

/** What the responder checks of the initiator. */
export interface InitiatorAuthentication {
  readonly anchors: TrustAnchors | undefined;
  /** node:tls's `requestCert`: the initiator must present an X.509 chain that verifies. */
  readonly requestCert: boolean;
  readonly verifyPeer: VerifyPeer | undefined;
  /** False lets a refused peer through, unauthorized. */
  readonly rejectUnauthorized: boolean;
}

/**
 * The outcome, as the handshake reports it: `authorized`, or the refusal as
 * `authorizationError` when `rejectUnauthorized: false` let the peer through (else it is
 * thrown). `peerCertificate` is the peer's leaf as node:tls describes it, whenever the peer
 * presented one that parses.
 */
export type Authentication = Pick<
  HandshakeInfo,
  'authorized' | 'authorizationError' | 'peerCertificate'
>;

/** A check's result, before `rejectUnauthorized` decides what a refusal does. */
interface Verdict {
  readonly authorized: boolean;
  readonly error?: MlsTlsError;
  readonly certificate?: PeerCertificate;
}

const NO_ANCHORS = TrustAnchors.from([]);

/**
 * The initiator's checks, failing closed: an X.509 responder must chain to `anchors`, be valid
 * `now`, hold the MLS signature key and name `hostname`; a basic one needs a pinned key or a
 * verifier. A pinned key and a verifier, when given, are asked as well, whatever the kind.
 */
export async function authenticateResponder(
  peer: PeerCredential,
  rules: ResponderAuthentication,
  now: number,
): Promise<Authentication> {
  return settle(await checkResponder(peer, rules, now), rules.rejectUnauthorized);
}

async function checkResponder(
  peer: PeerCredential,
  rules: ResponderAuthentication,
  now: number,
): Promise<Verdict> {
  let certificate: PeerCertificate | undefined;
  try {
    if (peer.credential.credentialType === 'x509') {
      certificate = await verifyCertificateChain(peer.credential.certificates, {
        anchors: rules.anchors ?? NO_ANCHORS,
        now,
        purpose: 'server',
        signaturePublicKey: peer.signaturePublicKey,
      });
      checkHostname(rules, certificate);
    } else if (rules.peerSignaturePublicKey === undefined && rules.verifyPeer === undefined) {
      throw new MlsTlsError(
        'ERR_MLSTLS_BAD_CERTIFICATE',
        'no verifier or pinned key to authenticate the responder',
      );
    }
    if (
      rules.peerSignaturePublicKey !== undefined &&
      !equalBytes(rules.peerSignaturePublicKey, peer.signaturePublicKey)
    ) {
      throw new MlsTlsError(
        'ERR_MLSTLS_BAD_CERTIFICATE',
        'the responder signature key is not the pinned key',
      );
    }
    await askVerifier(rules.verifyPeer, peer, 'responder');
    return { authorized: true, ...(certificate === undefined ? {} : { certificate }) };
  } catch (error) {
    return refused(error, certificate ?? describeLeaf(peer));
  }
}

/**
 * The responder's checks. With `requestCert` the initiator must present an X.509 chain that
 * verifies against `anchors` (`certificate_required` without one); without it only a verifier,
 * if given, decides, and no verifier leaves the peer unauthorized, as node:tls's servers do.
 */
export async function authenticateInitiator(
  peer: PeerCredential,
  rules: InitiatorAuthentication,
  now: number,
): Promise<Authentication> {
  return settle(await checkInitiator(peer, rules, now), rules.rejectUnauthorized);
}

async function checkInitiator(
  peer: PeerCredential,
  rules: InitiatorAuthentication,
  now: number,
): Promise<Verdict> {
  let certificate: PeerCertificate | undefined;
  try {
    if (rules.requestCert) {
      if (peer.credential.credentialType !== 'x509') {
        throw new MlsTlsError(
          'ERR_MLSTLS_CERTIFICATE_REQUIRED',
          'the server requires a client certificate, and the client presented a basic credential',
        );
      }
      certificate = await verifyCertificateChain(peer.credential.certificates, {
        anchors: rules.anchors ?? NO_ANCHORS,
        now,
        purpose: 'client',
        signaturePublicKey: peer.signaturePublicKey,
      });
    }
    certificate ??= describeLeaf(peer);
    await askVerifier(rules.verifyPeer, peer, 'initiator');
    const authorized = rules.requestCert || rules.verifyPeer !== undefined;
    return { authorized, ...(certificate === undefined ? {} : { certificate }) };
  } catch (error) {
    return refused(error, certificate ?? describeLeaf(peer));
  }
}

/**
 * The X.509 leaf as node:tls describes it, without checking it: for a peer that was not
 * verified. Nothing for a basic credential, or a leaf that does not parse.
 */
function describeLeaf(peer: PeerCredential): PeerCertificate | undefined {
  if (peer.credential.credentialType !== 'x509') return undefined;
  const leaf = peer.credential.certificates[0];
  if (leaf === undefined) return undefined;
  try {
    return describeCertificate(leaf);
  } catch {
    return undefined;
  }
}

function checkHostname(rules: ResponderAuthentication, certificate: PeerCertificate): void {
  const check = rules.checkServerIdentity ?? defaultCheckServerIdentity;
  let failure: Error | undefined;
  try {
    failure = check(rules.hostname, certificate);
  } catch (error) {
    failure = error instanceof Error ? error : new Error('checkServerIdentity threw');
  }
  if (failure === undefined) return;
  if (failure instanceof MlsTlsError) throw failure;
  throw new MlsTlsError('ERR_MLSTLS_CERT_ALTNAME_INVALID', failure.message, { cause: failure });
}

async function askVerifier(
  verifyPeer: VerifyPeer | undefined,
  peer: PeerCredential,
  role: 'initiator' | 'responder',
): Promise<void> {
  if (verifyPeer === undefined) return;
  if (!(await verifyPeer(peer))) {
    throw new MlsTlsError(
      'ERR_MLSTLS_BAD_CERTIFICATE',
      `the verifier refused the ${role} credential`,
    );
  }
}

/** A refusal is thrown, unless `rejectUnauthorized: false` lets the peer through. */
function settle(verdict: Verdict, rejectUnauthorized: boolean): Authentication {
  const { authorized, error, certificate } = verdict;
  if (error !== undefined && rejectUnauthorized) throw error;
  return {
    authorized,
    ...(error === undefined ? {} : { authorizationError: error }),
    ...(certificate === undefined ? {} : { peerCertificate: certificate }),
  };
}

function refused(error: unknown, certificate: PeerCertificate | undefined): Verdict {
  const failure =
    error instanceof MlsTlsError
      ? error
      : new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', 'the peer credential check failed', {
          cause: error,
        });
  return {
    authorized: false,
    error: failure,
    ...(certificate === undefined ? {} : { certificate }),
  };
}
