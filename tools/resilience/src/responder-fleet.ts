// The parent's side of a responder fleet: child processes running responder-process.ts, each
// an mlstls server on its own port, sharing one credential and one store.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EndpointCredential } from '@mlstls/node';
import { within } from '@mlstls/test-support';
import type {
  ResponderCommand,
  ResponderConfig,
  ResponderReport,
  ResponderStoreConfig,
} from './responder-process.js';

export type { ResponderReport, ResponderStoreConfig };

const RESPONDER_SCRIPT = fileURLToPath(new URL('./responder-process.ts', import.meta.url));
const require = createRequire(import.meta.url);
/** tsx's loader, by its path: the child runs TypeScript whatever its working directory. */
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
/** Loading tsx and the packages takes a second or two; a loaded machine may take longer. */
const START_TIMEOUT_MS = 30_000;

/** A running responder process and everything it has reported. */
export interface ResponderProcess {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly reports: readonly ResponderReport[];
  /** How the process ended, once it has. */
  readonly exit: { readonly code: number | null; readonly signal: string | null } | undefined;
  /** What it wrote to stderr, for failure messages. */
  readonly stderr: string;
  /**
   * Resolves once `condition` holds over the reports so far; rejects after `ms` or when the
   * process ends first.
   */
  until(
    condition: (reports: readonly ResponderReport[]) => boolean,
    what: string,
    ms: number,
  ): Promise<void>;
  send(command: ResponderCommand): void;
  /** Ends the process (SIGTERM, then SIGKILL after 2 s) and waits for its exit. */
  stop(): Promise<void>;
}

export async function startResponder(options: {
  readonly name: string;
  readonly credential: EndpointCredential;
  readonly store: ResponderStoreConfig;
  readonly exporterLabel: string;
}): Promise<ResponderProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', TSX_LOADER, RESPONDER_SCRIPT], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    // Bigints and byte arrays cross the channel as they are.
    serialization: 'advanced',
  });
  const reports: ResponderReport[] = [];
  let stderr = '';
  let exit: ResponderProcess['exit'];
  const wake: (() => void)[] = [];
  const notify = () => {
    for (const waiter of wake.splice(0)) waiter();
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.on('message', (message: ResponderReport) => {
    reports.push(message);
    notify();
  });
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    notify();
  });
  child.on('error', (error) => {
    stderr += `spawn error: ${error.message}\n`;
    exit ??= { code: null, signal: null };
    notify();
  });

  const until: ResponderProcess['until'] = async (condition, what, ms) => {
    try {
      await within(
        (async () => {
          while (!condition(reports)) {
            if (exit !== undefined) {
              throw new Error(`exited (${exit.code ?? exit.signal}):\n${stderr}`);
            }
            await new Promise<void>((resolve) => wake.push(resolve));
          }
        })(),
        ms,
        what,
      );
    } catch (error) {
      throw new Error(
        `${options.name}, waiting for ${what}: ${(error as Error).message}; its reports: ${summarize(reports)}`,
      );
    }
  };

  const config: ResponderConfig = {
    credential: options.credential,
    store: options.store,
    exporterLabel: options.exporterLabel,
  };
  child.send(config);
  const responder: ResponderProcess = {
    name: options.name,
    get pid() {
      return child.pid!;
    },
    get port() {
      const listening = reports.find((report) => report.type === 'listening');
      if (listening === undefined) throw new Error(`${options.name} is not listening`);
      return listening.port;
    },
    reports,
    get exit() {
      return exit;
    },
    get stderr() {
      return stderr;
    },
    until,
    send: (command) => {
      child.send(command);
    },
    stop: async () => {
      if (exit !== undefined) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 2_000);
      while (exit === undefined) await new Promise<void>((resolve) => wake.push(resolve));
      clearTimeout(force);
    },
  };
  try {
    await until(
      (all) => all.some((report) => report.type === 'listening'),
      'listening',
      START_TIMEOUT_MS,
    );
  } catch (error) {
    await responder.stop();
    throw error;
  }
  return responder;
}

/** Reports counted by type (and code), for failure messages. */
export function summarize(reports: readonly ResponderReport[]): string {
  const counts = new Map<string, number>();
  for (const report of reports) {
    const key =
      report.type === 'clientError' || report.type === 'socketError'
        ? `${report.type} ${report.code}`
        : report.type === 'secureConnection'
          ? `secureConnection${report.resumed ? ' (resumed)' : ''}`
          : report.type;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return JSON.stringify(Object.fromEntries(counts));
}
