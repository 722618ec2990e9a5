export { TrustAnchors } from './anchors.js';
export {
  type CertificatePurpose,
  type ChainVerification,
  verifyCertificateChain,
} from './chain.js';
export {
  type JsonWebKey,
  loadX509Credential,
  type X509EndpointCredential,
  x509CredentialFromJwk,
} from './credential.js';
export { describeCertificate, type PeerCertificate } from './describe.js';
export { checkServerIdentity } from './hostname.js';
export { type CertificateInput, decodeCertificates } from './pem.js';
export type { X509SignatureAlgorithm } from './signature-key.js';
