// A vitest globalSetup that gives tests a Redis server: `inject('redisUrl')`.
//
// With REDIS_URL set (CI starts one server for every package), that server is used as it is:
// tests must then key everything randomly and never stop or flush it. Otherwise a private
// redis-server from PATH is started on a free port of 127.0.0.1, without persistence, and
// killed after the run. Use it from a package's vitest.config.ts:
//
//   test: { globalSetup: ['../../vitest.redis.ts'] }
import type { TestProject } from 'vitest/node';
import { redisServer } from './tools/test-support/src/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the server of this run. */
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const server = await redisServer(process.env.REDIS_URL);
  project.provide('redisUrl', server.url);
  return server.started ? () => server.stop() : undefined;
}
