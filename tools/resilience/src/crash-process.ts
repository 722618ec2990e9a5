// The parent's side of the crash test's child processes (test/fixtures/crash-child.ts): each
// runs one crash agent, told over IPC what to do, and may kill itself at a persist point.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { within } from '@mlstls/test-support';
import {
  type CrashAgentConfig,
  type CrashAgentHandle,
  CrashCommandError,
  type CrashCommandName,
  type CrashCommands,
} from './crash-agent.js';

/** The parent's messages: the agent's configuration first, then its commands. */
export type CrashParentMessage =
  | { readonly type: 'open'; readonly config: CrashAgentConfig }
  | {
      readonly type: 'call';
      readonly id: number;
      readonly name: CrashCommandName;
      readonly argument: unknown;
    };

/** The child's messages. */
export type CrashChildMessage =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'reply'; readonly id: number; readonly result: unknown }
  | {
      readonly type: 'reply';
      readonly id: number;
      readonly error: { readonly code: string; readonly message: string };
    }
  /** Something escaped every handler: the child exits after this. */
  | { readonly type: 'fatal'; readonly message: string };

/** Where a child kills itself: the `crashAt`th compare-and-set of the process (0: never). */
export interface CrashPlan {
  readonly crashAt: number;
  readonly mode: 'before' | 'after' | 'beforeSend';
}

export const NO_CRASH: CrashPlan = { crashAt: 0, mode: 'before' };

interface CrashExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running child and its agent. */
export interface CrashChild extends CrashAgentHandle {
  readonly pid: number;
  /** Settles once the child has exited. */
  readonly exited: Promise<CrashExit>;
  /** What it wrote to stderr and any fatal report, for failure messages. */
  readonly stderr: string;
  /** SIGKILL, if it still runs, and waits for its exit. */
  stop(): Promise<void>;
}

const CHILD_SCRIPT = fileURLToPath(new URL('../test/fixtures/crash-child.ts', import.meta.url));
const require = createRequire(import.meta.url);
/**
 * What the child loads before its script, by path, so that its working directory does not
 * matter: the built packages, then tsx's ESM loader for the TypeScript of the child and its
 * agent. The packages come first because they are JavaScript: loaded behind tsx's hooks,
 * every one of their modules would cross to the hooks' thread, which doubles a child's start
 * (about 1.7 s of CPU instead of 1.1), and the test starts over sixty children.
 */
const PRELOADS = ['@mlstls/node', '@mlstls/storage-sqlite', 'tsx/esm'].flatMap((name) => [
  '--import',
  pathToFileURL(require.resolve(name)).href,
]);
/** Loading tsx and the packages takes a second or two; a loaded machine may take longer. */
const START_TIMEOUT_MS = 30_000;

export async function startCrashChild(options: {
  readonly name: string;
  readonly config: CrashAgentConfig;
  readonly plan: CrashPlan;
  /** How long one command may take. */
  readonly callTimeoutMs: number;
}): Promise<CrashChild> {
  const { name, plan } = options;
  const child: ChildProcess = spawn(process.execPath, [...PRELOADS, CHILD_SCRIPT], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    // Bigints and byte arrays cross the channel as they are.
    serialization: 'advanced',
    env: { ...process.env, CRASH_AT: String(plan.crashAt), CRASH_MODE: plan.mode },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<CrashExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      stderr += `spawn error: ${error.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  const describeExit = (exit: CrashExit) =>
    `${name} exited (${exit.signal ?? `code ${exit.code}`})${stderr === '' ? '' : `:\n${stderr}`}`;
  // Rejects once the child has exited: every wait on it races this.
  const gone = exited.then((exit) => Promise.reject(new CrashChildExit(describeExit(exit), exit)));
  gone.catch(() => {});

  const replies = new Map<number, (message: CrashChildMessage & { type: 'reply' }) => void>();
  let ready: (port: number) => void;
  const readyPort = new Promise<number>((resolve) => {
    ready = resolve;
  });
  child.on('message', (message: CrashChildMessage) => {
    if (message.type === 'ready') ready(message.port);
    else if (message.type === 'fatal') stderr += `fatal: ${message.message}\n`;
    else replies.get(message.id)?.(message);
  });
  const post = (message: CrashParentMessage) => {
    if (child.connected) child.send(message);
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };

  let nextId = 0;
  const call: CrashAgentHandle['call'] = <K extends CrashCommandName>(
    command: K,
    argument: CrashCommands[K][0],
  ) => {
    const id = ++nextId;
    const reply = new Promise<CrashCommands[K][1]>((resolve, reject) => {
      replies.set(id, (message) => {
        replies.delete(id);
        if ('error' in message) {
          reject(new CrashCommandError(message.error.code, `${name}: ${message.error.message}`));
        } else {
          resolve(message.result as CrashCommands[K][1]);
        }
      });
    });
    post({ type: 'call', id, name: command, argument });
    return within(Promise.race([reply, gone]), options.callTimeoutMs, `${name}: ${command}`);
  };

  post({ type: 'open', config: options.config });
  let port: number;
  try {
    port = await within(Promise.race([readyPort, gone]), START_TIMEOUT_MS, `${name}: start`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    get pid() {
      return child.pid!;
    },
    port,
    exited,
    get stderr() {
      return stderr;
    },
    call,
    stop,
  };
}

/** A command's wait ended because the child exited. */
class CrashChildExit extends Error {
  readonly exit: CrashExit;

  constructor(message: string, exit: CrashExit) {
    super(message);
    this.name = 'CrashChildExit';
    this.exit = exit;
  }
}
