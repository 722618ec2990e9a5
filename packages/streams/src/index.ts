export { MlsTlsError } from '@mlstls/codec';
export {
  type CheckServerIdentity,
  type EndpointCredential,
  type EpochCause,
  generateCredential,
  type HandshakeInfo,
  type PeerCredential,
} from '@mlstls/state-machine';
export { MemoryStore, type SessionStore } from '@mlstls/storage';
export { type PeerCertificate, TrustAnchors } from '@mlstls/x509';
export { secureClient } from './client.js';
export { MlsTlsStream } from './connection.js';
export type {
  ClientOptions,
  ConnectionCallbacks,
  ServerOptions,
  SharedOptions,
  StreamTransport,
} from './options.js';
export { secureServer } from './server.js';
export { type FromWebSocketOptions, fromWebSocket, type WebSocketLike } from './websocket.js';
