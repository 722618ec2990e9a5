export { type NodeCiphersuiteOptions, nodeCiphersuite } from '@mlstls/crypto/mls';
export type { CheckServerIdentity, VerifyPeer } from './authentication.js';
export { generateCredential } from './credential.js';
export { TRACING_CHANNELS, type TraceContext } from './diagnostics.js';
export { DEFAULT_MAX_UNAUTHENTICATED_BYTES, type EndpointOptions } from './endpoint.js';
export { Initiator, type InitiatorOptions } from './initiator.js';
export {
  KeyPackagePool,
  type KeyPackagePoolOptions,
  type KeyPackageRequest,
  type KeyPackageSupply,
  type PreparedKeyPackage,
} from './key-package-pool.js';
export type { EndpointCredential, MlsImplementation } from './mls.js';
export type { ProtocolName } from './negotiation.js';
export type {
  EpochCause,
  HandshakeInfo,
  Output,
  PeerCredential,
  SessionSnapshot,
} from './output.js';
export { Responder, type ResponderOptions } from './responder.js';
export { migrateSessionRecord } from './session.js';
export {
  type CiphersuiteChoice,
  SUPPORTED_CIPHERSUITES,
  type SuitePackage,
  type SuiteParameters,
  suiteParameters,
} from './suites.js';
export type { Role, TrafficKeys } from './traffic.js';
