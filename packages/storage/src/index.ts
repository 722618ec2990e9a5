export { claimSession, type SessionClaim } from './claims.js';
export { decodeSessionRecord, encodeSessionRecord } from './encoding.js';
export { checkTtl, MemoryStore, type MemoryStoreOptions } from './memory.js';
export {
  DEFAULT_SESSION_TTL,
  isAtVersion,
  SESSION_FORMAT,
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
  type StoreOptions,
  versionOf,
} from './store.js';
