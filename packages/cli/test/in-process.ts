// A command run in this process, as main() runs it but with its own terminal: lines typed on
// a stream instead of stdin, stdout and stderr collected. Far cheaper than a child process
// (no tsx start), for tests that run the commands many times.
import { PassThrough } from 'node:stream';
import type { Terminal } from '../src/connection-console.js';

const WAIT_MS = 30_000;

export class InProcessCli {
  stdout = '';
  stderr = '';
  readonly input = new PassThrough();
  /** The command's exit code; rejects with what it threw (a `UsageError`, for one). */
  readonly exit: Promise<number>;
  #done = false;
  #waiters: (() => void)[] = [];

  constructor(
    run: (args: readonly string[], terminal: Terminal) => number | Promise<number>,
    args: readonly string[],
  ) {
    this.input.on('error', () => {}); // a command that quit reads no more
    const terminal: Terminal = {
      out: (line) => this.#append('stdout', `${line}\n`),
      err: (line) => this.#append('stderr', `${line}\n`),
      data: (chunk) => this.#append('stdout', chunk.toString()),
      input: this.input,
    };
    this.exit = (async () => run(args, terminal))().finally(() => {
      this.#done = true;
      this.#wake();
    });
    this.exit.catch(() => {}); // awaited by the test that cares
  }

  /** Types a line, as on stdin. */
  type(line: string): void {
    if (!this.input.destroyed) this.input.write(`${line}\n`);
  }

  /** Resolves with the match once `stream` matches `pattern`; fails after `ms`. */
  async waitFor(
    pattern: RegExp,
    options: { stream?: 'stdout' | 'stderr'; ms?: number } = {},
  ): Promise<RegExpMatchArray> {
    const { stream = 'stdout', ms = WAIT_MS } = options;
    const deadline = Date.now() + ms;
    for (;;) {
      const match = this[stream].match(pattern);
      if (match !== null) return match;
      if (this.#done || Date.now() > deadline) {
        throw new Error(
          `no ${pattern} in ${stream}${this.#done ? ' (exited)' : ''}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`,
        );
      }
      await new Promise<void>((wake) => {
        this.#waiters.push(wake);
        setTimeout(wake, Math.max(0, deadline - Date.now()) + 1).unref();
      });
    }
  }

  #append(stream: 'stdout' | 'stderr', text: string): void {
    this[stream] += text;
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
