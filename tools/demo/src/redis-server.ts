import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** A Redis server for the fleet demo: `url`, and `stop()` if the demo started it. */
export interface RedisServer {
  readonly url: string;
  /** Whether this process started it (and `stop()` ends it). */
  readonly started: boolean;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 5_000;
const INSTALL_HINT =
  'install redis-server (Debian/Ubuntu: apt-get install -y --no-install-recommends ' +
  'redis-server; macOS: brew install redis) or set REDIS_URL to a server the demo may write to';

/**
 * `url` when given (REDIS_URL), else a private redis-server from PATH on a free port of
 * 127.0.0.1, without persistence, ready to answer PING within 5 s.
 */
export async function redisServer(url: string | undefined): Promise<RedisServer> {
  if (url !== undefined && url !== '') return { url, started: false, stop: async () => {} };

  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--port', String(port)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'ENOENT'
            ? `redis-server is not installed: ${INSTALL_HINT}`
            : `redis-server did not start: ${error.message}`,
        ),
      ),
    );
    child.once('exit', (code, signal) =>
      reject(new Error(`redis-server exited at once (${code ?? signal}): ${stderr.trim()}`)),
    );
  });
  failed.catch(() => {});
  const stop = async () => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(child.pid, 'SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(force);
  };
  try {
    await Promise.race([untilPong(port), failed]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, started: true, stop };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  return port;
}

async function untilPong(port: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
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
