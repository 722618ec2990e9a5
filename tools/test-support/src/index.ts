export {
  generateKeys,
  type IssuedCertificate,
  type IssueOptions,
  issueCertificate,
  type KeyType,
  toPem,
} from '@mlstls/x509-issuer';
export { type TestPki, testPki } from './pki.js';
export { type RedisServer, type RedisServerOptions, redisServer } from './redis-server.js';
export { type Stalls, stallProbe } from './stall-probe.js';
export { within } from './within.js';
