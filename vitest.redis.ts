// A vitest globalSetup that gives tests a Redis server: `inject('redisUrl')`.
//
// With REDIS_URL set (CI starts one server for every package), that server is used as it is:
// tests must then key everything randomly and never stop or flush it. Otherwise a private
// redis-server from PATH is started on a free port of 127.0.0.1, without persistence, and
// killed after the run. Use it from a package's vitest.config.ts:
//
//   test: { globalSetup: ['../../vitest.redis.ts'] }
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the server of this run. */
    redisUrl: string;
  }
}

/** How long a started server may take to answer PING. */
const START_TIMEOUT_MS = 5_000;
const INSTALL_HINT =
  'install it (Debian/Ubuntu: apt-get install -y --no-install-recommends redis-server) ' +
  'or set REDIS_URL to a server the tests may write to';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const given = process.env.REDIS_URL;
  if (given !== undefined && given !== '') {
    project.provide('redisUrl', given);
    return;
  }

  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  server.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  server.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // Rejects if the server cannot start or dies before it answers; once it has answered, an
  // exit (our own teardown) is expected, so the rejection is then ignored.
  const startFailure = new Promise<never>((_, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error(`redis-server is not on PATH: ${INSTALL_HINT}`)
          : new Error(`redis-server did not start: ${error.message}`),
      );
    });
    server.once('exit', (code, signal) => {
      reject(
        new Error(
          `redis-server exited at once (code ${code}, signal ${signal}):\n${output.trim()}`,
        ),
      );
    });
  });
  startFailure.catch(() => {});

  try {
    // Without a pid the spawn failed; its 'error' event is on its way.
    const running = () => server.exitCode === null && server.signalCode === null;
    await Promise.race([
      server.pid === undefined ? startFailure : waitForPong(port, running),
      startFailure,
    ]);
  } catch (error) {
    await stop(server);
    throw error;
  }

  project.provide('redisUrl', `redis://127.0.0.1:${port}`);
  return () => stop(server);
}

/** A port nothing listens on now (the OS picks it; a race with other processes is unlikely). */
async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') throw new Error('no free port found');
  return address.port;
}

/** Resolves once the server answers PING; rejects after START_TIMEOUT_MS. */
async function waitForPong(port: number, running: () => boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && running()) {
    if (await answersPing(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms`);
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.pid === undefined || server.exitCode !== null || server.signalCode !== null) return;
  const exited = once(server, 'exit');
  process.kill(server.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  }, 2_000);
  await exited;
  clearTimeout(timer);
}
