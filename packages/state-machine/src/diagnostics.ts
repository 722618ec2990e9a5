// Observability, as undici and ioredis offer it: diagnostics_channel tracing channels and
// util.debuglog, loaded without a static import so that browsers and workers (which have
// neither) still load the core. Node and Deno both have them.
//
// Nothing published here or logged carries a secret: only roles, epochs, suite names, group
// ids (sent in the clear in every PrivateMessage), error codes and the public HandshakeInfo.

import type { Role } from './traffic.js';

interface TracingChannel {
  readonly hasSubscribers: boolean;
  tracePromise<T>(fn: () => Promise<T>, context: object): Promise<T>;
}

interface DiagnosticsChannel {
  tracingChannel(name: string): TracingChannel;
}

type DebugLog = ((format: string, ...args: unknown[]) => void) & { enabled?: boolean };

interface Builtins {
  readonly handshake?: TracingChannel;
  readonly update?: TracingChannel;
  readonly resume?: TracingChannel;
  readonly debug?: DebugLog;
}

/** The channel names, for subscribers: `diagnostics_channel.tracingChannel(name)`. */
export const TRACING_CHANNELS = {
  handshake: 'mlstls:handshake',
  update: 'mlstls:update',
  resume: 'mlstls:resume',
} as const;

let builtins: Builtins | undefined;

function load(): Builtins {
  if (builtins !== undefined) return builtins;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const channels = proc?.getBuiltinModule?.('node:diagnostics_channel') as
    | Partial<DiagnosticsChannel>
    | undefined;
  const util = proc?.getBuiltinModule?.('node:util') as
    | { debuglog?: (section: string) => DebugLog }
    | undefined;
  const tracing = (name: string): TracingChannel | undefined =>
    typeof channels?.tracingChannel === 'function' ? channels.tracingChannel(name) : undefined;
  builtins = {
    ...optional('handshake', tracing(TRACING_CHANNELS.handshake)),
    ...optional('update', tracing(TRACING_CHANNELS.update)),
    ...optional('resume', tracing(TRACING_CHANNELS.resume)),
    ...optional('debug', util?.debuglog?.('mlstls')),
  };
  return builtins;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** What a trace of `kind` starts with; Node adds `result` or `error` when it ends. */
export interface TraceContext {
  readonly role: Role;
  /** The epoch when the traced operation started. */
  readonly epoch: bigint;
}

/**
 * Traces `promise` on the `kind` channel when it has subscribers (start now, asyncEnd or error
 * when it settles). The traced promise's own rejection is the caller's: this one is muted.
 */
export function trace<T>(
  kind: keyof typeof TRACING_CHANNELS,
  context: TraceContext,
  promise: Promise<T>,
): void {
  const channel = load()[kind];
  if (channel?.hasSubscribers !== true) return;
  channel.tracePromise(() => promise, context).then(undefined, () => {});
}

/** The settling side of a trace `startTrace` began. */
export interface TraceEnd<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Begins a trace on the `kind` channel whose end the caller settles later, or returns
 * `undefined` (and makes nothing) when the channel has no subscribers.
 */
export function startTrace<T>(
  kind: keyof typeof TRACING_CHANNELS,
  context: TraceContext,
): TraceEnd<T> | undefined {
  if (load()[kind]?.hasSubscribers !== true) return undefined;
  let end!: TraceEnd<T>;
  const outcome = new Promise<T>((resolve, reject) => {
    end = { resolve, reject };
  });
  trace(kind, context, outcome);
  return end;
}

/** `util.debuglog('mlstls')`: printed with `NODE_DEBUG=mlstls`. Never give it a secret. */
export function debug(format: string, ...args: unknown[]): void {
  const log = load().debug;
  if (log === undefined || log.enabled === false) return;
  log(format, ...args);
}
