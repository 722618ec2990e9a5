export { MlsTlsError } from '@mlstls/codec';
export {
  type CheckServerIdentity,
  type EndpointCredential,
  type EpochCause,
  generateCredential,
  type PeerCredential,
} from '@mlstls/state-machine';
export type { PeerCertificate } from '@mlstls/x509';
export { type ConnectOptions, connect } from './connect.js';
export type { SharedOptions } from './options.js';
export {
  createSecureContext,
  MlsTlsSecureContext,
  type SecureContextOptions,
} from './secure-context.js';
export { createServer, MlsTlsServer, type ServerOptions } from './server.js';
export { type CipherInfo, MlsTlsSocket } from './socket.js';
