export {
  type EndpointCredential,
  type EpochCause,
  generateCredential,
  type HandshakeInfo,
  MemoryStore,
  MlsTlsError,
  type PeerCertificate,
  type SessionStore,
} from '@mlstls/streams';
export { MlsTlsConn, type MlsTlsHandshakeInfo } from './conn.js';
export { type ConnectOptions, connect } from './connect.js';
export type { NetAddr } from './deno-types.js';
export { type ListenOptions, listen, MlsTlsListener } from './listen.js';
export type { DenoSharedOptions } from './options.js';
