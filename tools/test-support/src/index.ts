export { type RedisServer, redisServer } from './redis-server.js';
export { within } from './within.js';
