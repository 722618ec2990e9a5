// The CLI as users run it: child processes of the TypeScript source (through tsx, so no build
// of this package is needed), driven on stdin and read on stdout and stderr.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(packageDir, 'src', 'main.ts');

/**
 * How long a wait for a line or an exit may take. Each step takes well under a second alone,
 * but CI runs every package's tests at once on 2 cores, where a child's start (tsx, then the
 * packages) has taken over 15 s.
 */
const WAIT_MS = 60_000;

const running = new Set<CliProcess>();

/** Kills every process still running: for `afterEach`. */
export function killAll(): void {
  for (const cli of running) cli.kill();
  running.clear();
}

/** A running `mlstls` command. */
export class CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly #exit: Promise<number>;
  #waiters: (() => void)[] = [];

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), main, ...args], {
      cwd: packageDir,
      stdio: 'pipe',
      env: { ...process.env, MLSTLS_KEYLOGFILE: '' },
    });
    running.add(this);
    this.child.stdout.on('data', (chunk: Buffer) => this.#append('stdout', chunk));
    this.child.stderr.on('data', (chunk: Buffer) => this.#append('stderr', chunk));
    this.child.stdin.on('error', () => {}); // a process that exited does not read
    this.#exit = once(this.child, 'exit').then(([code]) => {
      running.delete(this);
      this.#wake();
      return code as number;
    });
  }

  /** Types a line on stdin. */
  type(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /**
   * Resolves with the match once stdout (or stderr) matches `pattern` at or after `from`
   * characters; fails after `ms`, showing what the process printed.
   */
  async waitFor(
    pattern: RegExp,
    options: { from?: number; stream?: 'stdout' | 'stderr'; ms?: number } = {},
  ): Promise<RegExpMatchArray> {
    const { from = 0, stream = 'stdout', ms = WAIT_MS } = options;
    const deadline = Date.now() + ms;
    for (;;) {
      const match = this[stream].slice(from).match(pattern);
      if (match !== null) return match;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `no ${pattern} in ${stream} (exit ${this.child.exitCode})\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`,
        );
      }
      await new Promise<void>((wake) => {
        this.#waiters.push(wake);
        setTimeout(wake, Math.max(0, deadline - Date.now()) + 1).unref();
      });
    }
  }

  /** The exit code; fails after `ms`. */
  async exitCode(ms = WAIT_MS): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`did not exit\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`)),
        ms,
      );
    });
    try {
      return await Promise.race([this.#exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  #append(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this[stream] += chunk.toString();
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

export function mlstls(...args: string[]): CliProcess {
  return new CliProcess(args);
}

/** An s_server on an ephemeral 127.0.0.1 port: its port and, without -cert, its key to pin. */
export async function startServer(
  ...args: string[]
): Promise<{ server: CliProcess; port: string; pin: string | undefined }> {
  const server = mlstls('s_server', '-accept', '127.0.0.1:0', ...args);
  const [, port] = (await server.waitFor(/^ACCEPT 127\.0\.0\.1:(\d+)$/m)) as [string, string];
  const pin = args.includes('-cert') ? undefined : (await server.waitFor(/^PIN ([0-9a-f]+)$/m))[1];
  return { server, port, pin };
}
