export {
  generateKeys,
  type IssuedCertificate,
  type IssueOptions,
  issueCertificate,
  type KeyType,
  type TestPki,
  testPki,
  toPem,
} from './certificates.js';
export { type RedisServer, redisServer } from './redis-server.js';
export { within } from './within.js';
