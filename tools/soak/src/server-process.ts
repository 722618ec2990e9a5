// The parent's side of the soak's server process (soak-server.ts): started with
// `process.execPath`, spoken to over the IPC channel, every request bounded.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerCommand, ServerReport, ServerStats } from './protocol.js';
import { TIMED_OUT, within } from './wait.js';

const SERVER_SCRIPT = fileURLToPath(new URL('./soak-server.js', import.meta.url));
/** Loading the packages and generating the credential; a loaded machine takes longer. */
const START_TIMEOUT_MS = 30_000;

export class ServerProcess {
  readonly port: number;
  readonly signaturePublicKey: Uint8Array;
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (report: ServerReport | undefined) => void>();
  #nextId = 1;
  #exit: { code: number | null; signal: string | null } | undefined;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** The last 4000 characters the process wrote to stderr (also passed on to ours). */
  readonly #log: { text: string };

  private constructor(
    child: ChildProcess,
    listening: { port: number; signaturePublicKey: Uint8Array },
    exited: Promise<void>,
    log: { text: string },
  ) {
    this.#child = child;
    this.#log = log;
    this.port = listening.port;
    this.signaturePublicKey = listening.signaturePublicKey;
    this.exited = exited;
    child.on('message', (report: ServerReport) => {
      if (report.type === 'listening') return;
      const resolve = this.#waiting.get(report.id);
      this.#waiting.delete(report.id);
      resolve?.(report);
    });
    // Requests still waiting get no answer from a process that is gone.
    void exited.then(() => {
      for (const resolve of this.#waiting.values()) resolve(undefined);
      this.#waiting.clear();
    });
  }

  static async start(): Promise<ServerProcess> {
    // --expose-gc: each sample is taken after a full collection (soak-server.ts).
    const child = spawn(process.execPath, ['--expose-gc', SERVER_SCRIPT], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const log = { text: '' };
    child.stderr?.on('data', (chunk: Buffer) => {
      log.text = (log.text + chunk.toString()).slice(-4000);
      process.stderr.write(chunk);
    });
    let exit: { code: number | null; signal: string | null } | undefined;
    const exited = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        resolve();
      });
      child.on('error', (error) => {
        log.text += `spawn error: ${error.message}\n`;
        exit ??= { code: null, signal: null };
        resolve();
      });
    });
    const listening = await within(
      Promise.race([
        new Promise<{ port: number; signaturePublicKey: Uint8Array }>((resolve) => {
          child.on('message', (report: ServerReport) => {
            if (report.type === 'listening') resolve(report);
          });
        }),
        exited.then(() => undefined),
      ]),
      START_TIMEOUT_MS,
    );
    if (listening === TIMED_OUT || listening === undefined) {
      child.kill('SIGKILL');
      throw new Error(
        `the server process did not start${exit ? ` (exit ${exit.code ?? exit.signal})` : ` within ${START_TIMEOUT_MS} ms`}:\n${log.text}`,
      );
    }
    const server = new ServerProcess(child, listening, exited, log);
    child.on('exit', (code, signal) => {
      server.#exit = { code, signal };
    });
    return server;
  }

  /** How the process ended, once it has. */
  get exit(): { code: number | null; signal: string | null } | undefined {
    return this.#exit;
  }

  get stderr(): string {
    return this.#log.text;
  }

  /** The server's memory and counters, or `undefined` after `ms` without an answer. */
  async stats(ms: number): Promise<ServerStats | undefined> {
    return this.#request((id) => ({ type: 'stats', id }), ms);
  }

  /** Stops the server (it waits up to `waitMs` for its sockets), its last stats, and its exit. */
  async stop(waitMs: number, ms: number): Promise<ServerStats | undefined> {
    const stats = await this.#request((id) => ({ type: 'stop', id, waitMs }), ms);
    if ((await within(this.exited, 5000)) === TIMED_OUT) {
      this.#child.kill('SIGKILL');
      await within(this.exited, 5000);
    }
    return stats;
  }

  /** Ends the process at once (an early end of the run). */
  kill(): void {
    if (this.#exit === undefined) this.#child.kill('SIGKILL');
  }

  async #request(
    make: (id: number) => ServerCommand,
    ms: number,
  ): Promise<ServerStats | undefined> {
    if (this.#exit !== undefined || !this.#child.connected) return undefined;
    const id = this.#nextId++;
    const answered = new Promise<ServerReport | undefined>((resolve) =>
      this.#waiting.set(id, resolve),
    );
    this.#child.send(make(id));
    const report = await within(answered, ms);
    this.#waiting.delete(id);
    if (report === TIMED_OUT || report === undefined || report.type === 'listening') {
      return undefined;
    }
    return report.stats;
  }
}
