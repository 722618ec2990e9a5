/**
 * The Redis server of the tests (vitest.redis.ts), the fleet demo and the resumption benchmark:
 * the one a URL names (REDIS_URL), or a private `redis-server` from PATH on a free port of
 * 127.0.0.1, without persistence, stopped by its pid. Every wait is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** How long a started server may take to answer PING. */
const START_TIMEOUT_MS = 5_000;
/** How long a stopped server may take to exit before SIGKILL. */
const STOP_TIMEOUT_MS = 2_000;

const INSTALL_HINT =
  'install it (Debian/Ubuntu: apt-get install -y --no-install-recommends redis-server) ' +
  'or set REDIS_URL to a server that may be written to';

export interface RedisServer {
  readonly url: string;
  /** Where it comes from, for reports: `REDIS_URL` or the started binary and its pid. */
  readonly origin: string;
  /** Whether this process started it (and `stop()` ends it). */
  readonly started: boolean;
  stop(): Promise<void>;
}

/** `url` when given, else a started redis-server; rejects with the reason when none can be had. */
export async function redisServer(url: string | undefined): Promise<RedisServer> {
  if (url !== undefined && url !== '') {
    return { url, origin: 'REDIS_URL', started: false, stop: async () => {} };
  }
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    if (output.length < 4096) output += chunk.toString();
  };
  server.stdout?.on('data', collect);
  server.stderr?.on('data', collect);
  // Rejects if the server cannot start or dies before it answers; after that an exit (our own
  // stop) is expected, so the rejection is ignored.
  const failed = new Promise<never>((_, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'ENOENT'
            ? `redis-server is not on PATH: ${INSTALL_HINT}`
            : `redis-server did not start: ${error.message}`,
        ),
      ),
    );
    server.once('exit', (code, signal) =>
      reject(
        new Error(`redis-server exited at once (code ${code}, signal ${signal}): ${output.trim()}`),
      ),
    );
  });
  failed.catch(() => {});
  try {
    const running = () => server.exitCode === null && server.signalCode === null;
    // Without a pid the spawn failed; its 'error' event is on its way.
    await Promise.race([server.pid === undefined ? failed : untilPong(port, running), failed]);
  } catch (error) {
    await stop(server);
    throw error;
  }
  const version = /version=([0-9.]+)/.exec(output)?.[1] ?? '';
  return {
    url: `redis://127.0.0.1:${port}`,
    origin: `redis-server ${version} started on 127.0.0.1:${port} (pid ${server.pid}, --save '' --appendonly no)`,
    started: true,
    stop: () => stop(server),
  };
}

/** A port nothing listens on now (the OS picks it; a race with another process is unlikely). */
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

/** Resolves once the server answers PING; rejects after START_TIMEOUT_MS or once it exited. */
async function untilPong(port: number, running: () => boolean): Promise<void> {
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
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/** SIGTERM by pid, SIGKILL after STOP_TIMEOUT_MS. */
async function stop(server: ChildProcess): Promise<void> {
  if (server.pid === undefined || server.exitCode !== null || server.signalCode !== null) return;
  const exited = once(server, 'exit');
  process.kill(server.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
