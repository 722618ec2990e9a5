/**
 * An mlstls responder in a child process of its own, on a Redis store shared with the others:
 * what the parent side of the resumption benchmark holds of it, and the messages both sides
 * pass over the IPC channel. The child is `resumption-responder.ts`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { EndpointCredential } from '@mlstls/node';
import type { StoreTiming } from './timed-store.js';

/** A basic credential as JSON: its byte strings in hex. */
export interface CredentialJson {
  readonly identity: string;
  readonly signatureAlgorithm: string;
  readonly signaturePublicKey: string;
  readonly signaturePrivateKey: string;
}

function credentialToJson(credential: EndpointCredential): CredentialJson {
  if (credential.credential.credentialType !== 'basic') {
    throw new Error('only a basic credential goes to a responder process');
  }
  return {
    identity: hex(credential.credential.identity),
    signatureAlgorithm: credential.signatureAlgorithm,
    signaturePublicKey: hex(credential.signaturePublicKey),
    signaturePrivateKey: hex(credential.signaturePrivateKey),
  };
}

export function credentialFromJson(json: CredentialJson): EndpointCredential {
  return {
    credential: { credentialType: 'basic', identity: bytes(json.identity) },
    signatureAlgorithm: json.signatureAlgorithm,
    signaturePublicKey: bytes(json.signaturePublicKey),
    signaturePrivateKey: bytes(json.signaturePrivateKey),
  };
}

const hex = (data: Uint8Array) => Buffer.from(data).toString('hex');
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

/** Parent to child. */
export type ToResponder =
  | {
      readonly type: 'start';
      readonly url: string;
      readonly prefix: string;
      readonly credential: CredentialJson;
    }
  | { readonly type: 'stats' }
  | { readonly type: 'stop' };

/** What a responder has done since it started. */
export interface ResponderStats {
  readonly store: StoreTiming;
  /** Process CPU time, user + system, in milliseconds. */
  readonly cpuMs: number;
  readonly connections: number;
  /** Errors of its connections, by code: a resumption refused or superseded shows here. */
  readonly errors: Readonly<Record<string, number>>;
}

/** Child to parent. */
export type FromResponder =
  | { readonly type: 'listening'; readonly port: number }
  | ({ readonly type: 'stats' } & ResponderStats)
  | { readonly type: 'failed'; readonly message: string };

/** How long a child may take to start listening, answer, or exit. */
const CHILD_TIMEOUT_MS = 10_000;

export interface ResponderProcess {
  readonly port: number;
  readonly pid: number;
  stats(): Promise<ResponderStats>;
  stop(): Promise<void>;
}

/** Forks a responder on the Redis server at `url`, with `credential`, and waits for its port. */
export async function startResponder(
  url: string,
  prefix: string,
  credential: EndpointCredential,
): Promise<ResponderProcess> {
  const child = fork(fileURLToPath(new URL('./resumption-responder.ts', import.meta.url)), [], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const send = (message: ToResponder) => child.send(message);
  try {
    send({ type: 'start', url, prefix, credential: credentialToJson(credential) });
    const reply = await next(child);
    if (reply.type !== 'listening') {
      throw new Error(
        `responder process: ${reply.type === 'failed' ? reply.message : 'no port given'}`,
      );
    }
    return {
      port: reply.port,
      pid: child.pid!,
      async stats() {
        send({ type: 'stats' });
        const answer = await next(child);
        if (answer.type !== 'stats') throw new Error('responder process: no stats given');
        const { type: _type, ...stats } = answer;
        return stats;
      },
      stop: () => stop(child, send),
    };
  } catch (error) {
    await stop(child, send);
    throw error;
  }
}

/** The child's next message, within CHILD_TIMEOUT_MS. */
async function next(child: ChildProcess): Promise<FromResponder> {
  // Aborted once settled, so that no listener stays behind on the child.
  const done = new AbortController();
  const { signal } = done;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      once(child, 'message', { signal }).then(([message]) => message as FromResponder),
      once(child, 'exit', { signal }).then(([code]) => {
        throw new Error(`responder process exited (code ${code})`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error('responder process did not answer')),
          CHILD_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    done.abort();
  }
}

/** Asks the child to stop, then SIGKILLs it by pid if it has not exited in time. */
async function stop(child: ChildProcess, send: (message: ToResponder) => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) send({ type: 'stop' });
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
    }
  }, CHILD_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
