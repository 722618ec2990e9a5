/**
 * The Redis server of the tests (vitest.redis.ts), the fleet demo and the resumption benchmark:
 * the one a URL names (REDIS_URL), or a private `redis-server` from PATH on a free port of
 * 127.0.0.1, without persistence, stopped by its pid. Every wait is bounded. A test that needs
 * persistence (a snapshot, then a restart from it) starts its own with `dir` and `port`.
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
  /** The started server's pid (to pause it with SIGSTOP, say); undefined for REDIS_URL's. */
  readonly pid?: number | undefined;
  /** Resolves once a started server has exited (SIGTERM by pid, then SIGKILL); also after a kill. */
  stop(): Promise<void>;
}

/** For a started server only (with a `url`, `redisServer` rejects them). */
export interface RedisServerOptions {
  /**
   * RDB persistence in this existing directory, as `dump.rdb`: the server loads it when it
   * starts, and writes it only on an explicit `SAVE` (`--save ''`, no automatic snapshot, no
   * AOF), so a test decides when the snapshot is taken. Default: no persistence.
   */
  readonly dir?: string;
  /** The port to listen on, to start a server again where its clients know it (default: a free one). */
  readonly port?: number;
}

/** `url` when given, else a started redis-server; rejects with the reason when none can be had. */
export async function redisServer(
  url: string | undefined,
  options: RedisServerOptions = {},
): Promise<RedisServer> {
  if (url !== undefined && url !== '') {
    if (options.dir !== undefined || options.port !== undefined) {
      throw new Error('dir and port are for a started redis-server, not for a given url');
    }
    return { url, origin: 'REDIS_URL', started: false, stop: async () => {} };
  }
  const port = options.port ?? (await freePort());
  const persistence =
    options.dir === undefined ? [] : ['--dir', options.dir, '--dbfilename', 'dump.rdb'];
  const server = spawn(
    'redis-server',
    [
      '--save',
      '',
      '--appendonly',
      'no',
      ...persistence,
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
    ],
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
    origin: `redis-server ${version} started on 127.0.0.1:${port} (pid ${server.pid}, --save '' --appendonly no${options.dir === undefined ? '' : ` --dir ${options.dir} --dbfilename dump.rdb`})`,
    started: true,
    pid: server.pid,
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

/**
 * SIGTERM by pid, SIGKILL after STOP_TIMEOUT_MS. A server the caller killed already (by its
 * pid) is not reaped yet until its 'exit' event, so the SIGTERM reaches its zombie harmlessly.
 */
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
