/**
 * The Redis server of the resumption benchmark: `REDIS_URL` when set, else a private
 * `redis-server` from PATH on a free port of 127.0.0.1, without persistence, stopped by its pid
 * at the end. Every wait is bounded; a server that cannot be had is a reason to skip, not a
 * failure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** How long a started server may take to answer PING. */
const START_TIMEOUT_MS = 5_000;
/** How long a stopped server may take to exit before SIGKILL. */
const STOP_TIMEOUT_MS = 2_000;

export interface RedisServer {
  readonly url: string;
  /** Where it comes from, for the report: `REDIS_URL` or the started binary's version. */
  readonly origin: string;
  /** Stops the server if this process started it. */
  stop(): Promise<void>;
}

/** A Redis server to use, or why there is none. */
export async function redisServer(): Promise<RedisServer | { readonly skipped: string }> {
  const given = process.env.REDIS_URL;
  if (given !== undefined && given !== '') {
    return { url: given, origin: 'REDIS_URL', stop: async () => {} };
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
  const failed = new Promise<string>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === 'ENOENT'
          ? 'redis-server is not on PATH and REDIS_URL is not set'
          : `redis-server did not start: ${error.message}`,
      ),
    );
    server.once('exit', (code, signal) =>
      resolve(`redis-server exited (code ${code}, signal ${signal}): ${output.trim()}`),
    );
  });
  const running = () => server.exitCode === null && server.signalCode === null;
  const outcome = await Promise.race([
    server.pid === undefined ? failed : waitForPong(port, running),
    failed,
  ]);
  if (outcome !== true) {
    await stop(server);
    return { skipped: typeof outcome === 'string' ? outcome : 'redis-server did not answer PING' };
  }
  const version = /version=([0-9.]+)/.exec(output)?.[1];
  return {
    url: `redis://127.0.0.1:${port}`,
    origin: `redis-server ${version ?? ''} started on 127.0.0.1:${port} (pid ${server.pid}, --save '' --appendonly no)`,
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

/** True once the server answers PING; false after START_TIMEOUT_MS or when it has exited. */
async function waitForPong(port: number, running: () => boolean): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && running()) {
    if (await answersPing(port)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
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
