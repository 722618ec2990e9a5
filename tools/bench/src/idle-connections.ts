/**
 * Idle-connection benchmark: 10,000 idle connections (by default) between a client process and
 * a server process on 127.0.0.1, node:tls against mlstls, in the same run; the memory each
 * connection holds on each side, and the time to open them all.
 *
 *   pnpm bench:idle            (from tools/bench, once the packages are built)
 *   pnpm bench:idle -- --connections 2000 --check
 *
 * Per stack: a server child and a client child (`idle-connections-child.ts`, --expose-gc); the
 * client opens and closes a warm-up batch, both sides collect garbage and read
 * process.memoryUsage() (the baseline), the client opens the connections (a bounded number of
 * handshakes in flight), and once the server holds every one of them secure and they have sat
 * idle a while, both sides collect garbage and read it again. Growth / connections = the cost of
 * one idle connection on that side.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ed25519Certificate, TLS_SUITE } from './ed25519-certificate.js';
import {
  type Column,
  endLine,
  formatHead,
  formatRow,
  machineSummary,
  positive,
  verdictLine,
} from './harness.js';
import type { FromIdleChild, StackName, ToIdleChild, Usage } from './idle-connections-child.js';

const { values: args } = parseArgs({
  // `pnpm bench:idle -- --connections 2000` may pass the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    connections: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '64' },
    'settle-ms': { type: 'string', default: '500' },
    'handshake-timeout-ms': { type: 'string', default: '30000' },
    check: { type: 'boolean', default: false },
  },
});

const CONNECTIONS = Math.floor(positive('connections', args.connections));
const CONCURRENCY = Math.floor(positive('concurrency', args.concurrency));
const WARMUP = Math.floor(positive('warmup', args.warmup));
const SETTLE_MS = positive('settle-ms', args['settle-ms']);
const HANDSHAKE_TIMEOUT_MS = positive('handshake-timeout-ms', args['handshake-timeout-ms']);

/** Targets, mlstls / node:tls, both sides summed. */
const HEAP_TARGET = 2;
const RSS_TARGET = 1;

const nowNs = () => process.hrtime.bigint();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- file descriptors ----------------------------------------------------------------------

/** Descriptors a child needs: one per connection, and some for Node itself. */
const DESCRIPTORS = CONNECTIONS + WARMUP + 256;

/**
 * The soft and hard limits on open files a child would inherit, from the shell's `ulimit`.
 * Node raises its soft limit to the hard one when it starts, so the hard limit is what counts.
 */
function fileLimits(): { soft: number; hard: number } {
  const [soft, hard] = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => (line.trim() === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line)));
  return { soft: soft!, hard: hard! };
}

const LIMITS = fileLimits();
/**
 * Below the connections' needs, children start through `sh -c 'ulimit -n ...'`, which raises
 * the hard limit too where that is allowed (root); elsewhere the child fails to start, and the
 * error says so.
 */
const RAISE = Math.min(LIMITS.soft, LIMITS.hard) < DESCRIPTORS;

// ---- the child processes -------------------------------------------------------------------

/** Every child started, killed by pid when this process exits, however it exits. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

/** How long a child may take for anything but opening the connections. */
const ANSWER_TIMEOUT_MS = 60_000;

class IdleChild {
  readonly #child: ChildProcess;
  readonly name: string;

  constructor(name: string) {
    this.name = name;
    const script = fileURLToPath(new URL('./idle-connections-child.ts', import.meta.url));
    const execArgv = process.execArgv.includes('--expose-gc')
      ? process.execArgv
      : [...process.execArgv, '--expose-gc'];
    const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
    this.#child = RAISE
      ? // The IPC channel is a descriptor that survives the shell's exec.
        spawn(
          'sh',
          [
            '-c',
            `ulimit -n ${DESCRIPTORS} && exec "$0" "$@"`,
            process.execPath,
            ...execArgv,
            script,
          ],
          { stdio: [...stdio] },
        )
      : fork(script, [], { execArgv, stdio: [...stdio] });
    children.add(this.#child);
    // Failures reach `ask`; none may crash this process.
    this.#child.on('error', () => {});
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Sends `message` and waits for the child's answer, within `timeoutMs`. */
  async ask(message: ToIdleChild, timeoutMs = ANSWER_TIMEOUT_MS): Promise<FromIdleChild> {
    const child = this.#child;
    const done = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const gone = (what: string): never => {
        throw new Error(
          `${this.name}: ${what}` +
            (RAISE
              ? `; it was started with ulimit -n ${DESCRIPTORS} (--connections ` +
                `${CONNECTIONS}), above the hard limit ${LIMITS.hard}: raise that (ulimit -Hn)`
              : ''),
        );
      };
      const answer = once(child, 'message', { signal: done.signal });
      child.send(message);
      const reply = await Promise.race([
        answer.then(
          ([reply]) => reply as FromIdleChild,
          (error: unknown) => gone(String(error)),
        ),
        once(child, 'exit', { signal: done.signal }).then(([code]) =>
          gone(`exited (code ${code})`),
        ),
        // A send to a child that has exited fails (EPIPE) before its 'exit' may be seen.
        once(child, 'error', { signal: done.signal }).then(([error]) => gone(String(error))),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`${this.name}: no answer to ${message.type} in ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      if (reply.type === 'failed') throw new Error(`${this.name}: ${reply.message}`);
      return reply;
    } finally {
      clearTimeout(timer);
      done.abort();
    }
  }

  async usage(): Promise<Usage> {
    const reply = await this.ask({ type: 'measure' });
    if (reply.type !== 'memory') throw new Error(`${this.name}: no memory figures`);
    return reply;
  }

  async count(): Promise<{ open: number; failed: number }> {
    const reply = await this.ask({ type: 'count' });
    if (reply.type !== 'count') throw new Error(`${this.name}: no count`);
    return reply;
  }

  /** Asks the child to stop, then SIGKILLs it by pid if it has not exited in time. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      // Not events.once: it would reject on the child's 'error' (a send to a closed channel).
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.connected) child.send({ type: 'stop' } satisfies ToIdleChild);
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          process.kill(child.pid, 'SIGKILL');
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    children.delete(child);
  }
}

/** Polls the server until it holds `count` secure connections, within `timeoutMs`. */
async function serverHolds(server: IdleChild, count: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { open } = await server.count();
    if (open === count || Date.now() > deadline) return open;
    await sleep(50);
  }
}

// ---- one stack -----------------------------------------------------------------------------

type Side = 'client' | 'server';

interface StackResult {
  readonly stack: StackName;
  readonly opened: number;
  readonly failed: number;
  /** Secure connections the server held at the second measurement. */
  readonly serverHeld: number;
  readonly openSeconds: number;
  readonly errors: readonly string[];
  /** Growth per connection, in bytes, by side. */
  readonly growth: Readonly<Record<Side, Usage>>;
}

function perConnection(after: Usage, before: Usage, count: number): Usage {
  const per = (key: keyof Usage) => (after[key] - before[key]) / count;
  return {
    rss: per('rss'),
    heapUsed: per('heapUsed'),
    external: per('external'),
    arrayBuffers: per('arrayBuffers'),
  };
}

async function runStack(
  stack: StackName,
  pem: { key: string; cert: string },
): Promise<StackResult> {
  const server = new IdleChild(`${stack} server`);
  const client = new IdleChild(`${stack} client`);
  try {
    const listening = await server.ask({ type: 'listen', stack, ...pem });
    if (listening.type !== 'listening') throw new Error(`${stack} server: no port`);
    await client.ask({
      type: 'target',
      stack,
      port: listening.port,
      cert: pem.cert,
      pin: listening.pin,
    });
    console.log(
      `   ${stack}: server pid ${server.pid} on port ${listening.port}, client pid ${client.pid}`,
    );

    // Warm-up: code compiled, pools and caches filled, then everything closed again.
    const warm = await client.ask(
      { type: 'open', count: WARMUP, concurrency: CONCURRENCY, timeoutMs: HANDSHAKE_TIMEOUT_MS },
      HANDSHAKE_TIMEOUT_MS * 2,
    );
    if (warm.type !== 'opened' || warm.opened !== WARMUP) {
      throw new Error(`${stack}: warm-up failed ${JSON.stringify(warm)}`);
    }
    const warmHeld = await serverHolds(server, WARMUP, 10_000);
    await client.ask({ type: 'close-all' });
    const left = await serverHolds(server, 0, 10_000);
    if (warmHeld !== WARMUP || left !== 0) {
      throw new Error(
        `${stack}: the server held ${warmHeld} of ${WARMUP} warm-up connections, ${left} after close`,
      );
    }
    const before = { client: await client.usage(), server: await server.usage() };

    // Opening may take a while (mlstls: about 5 ms of CPU per handshake), so its own bound:
    // every handshake has HANDSHAKE_TIMEOUT_MS, the whole at most 50 ms per connection + 60 s.
    const opened = await client.ask(
      {
        type: 'open',
        count: CONNECTIONS,
        concurrency: CONCURRENCY,
        timeoutMs: HANDSHAKE_TIMEOUT_MS,
      },
      CONNECTIONS * 50 + 60_000,
    );
    if (opened.type !== 'opened') throw new Error(`${stack}: opening gave no count`);
    // The server reports a connection after the client does (both stacks): wait for it.
    const serverHeld = await serverHolds(server, opened.opened, 30_000);
    await sleep(SETTLE_MS);
    const after = { client: await client.usage(), server: await server.usage() };
    const { failed: serverFailed } = await server.count();
    const clientHeld = (await client.count()).open;
    if (clientHeld !== opened.opened) {
      throw new Error(`${stack}: the client held ${clientHeld} of ${opened.opened} connections`);
    }
    const divisor = Math.max(opened.opened, 1);
    return {
      stack,
      opened: opened.opened,
      failed: opened.failed + serverFailed,
      serverHeld,
      openSeconds: opened.seconds,
      errors: opened.errors,
      growth: {
        client: perConnection(after.client, before.client, divisor),
        server: perConnection(after.server, before.server, divisor),
      },
    };
  } finally {
    await Promise.all([client.stop(), server.stop()]);
  }
}

// ---- the report ----------------------------------------------------------------------------

const kib = (bytes: number) => (bytes / 1024).toFixed(1);
const heapAndExternal = (usage: Usage) => usage.heapUsed + usage.external;
const both = (result: StackResult): Usage => {
  const { client, server } = result.growth;
  return {
    rss: client.rss + server.rss,
    heapUsed: client.heapUsed + server.heapUsed,
    external: client.external + server.external,
    arrayBuffers: client.arrayBuffers + server.arrayBuffers,
  };
};
const sideOf = (result: StackResult, side: Side | 'both') =>
  side === 'both' ? both(result) : result.growth[side];

const MEMORY_COLUMNS: readonly Column[] = [
  { title: 'stack', width: 8, align: 'left' },
  { title: 'side', width: 6, align: 'left' },
  { title: 'heap KiB', width: 8, align: 'right' },
  { title: 'external KiB', width: 12, align: 'right' },
  { title: 'heap+external KiB', width: 17, align: 'right' },
  { title: 'RSS KiB', width: 7, align: 'right' },
  { title: 'opened', width: 6, align: 'right' },
  { title: 'failed', width: 6, align: 'right' },
  { title: 'open s', width: 6, align: 'right' },
  { title: 'conns/s', width: 7, align: 'right' },
];

const RATIO_COLUMNS: readonly Column[] = [
  { title: 'side', width: 6, align: 'left' },
  { title: 'heap+external ratio', width: 19, align: 'right' },
  { title: 'RSS ratio', width: 9, align: 'right' },
  { title: 'heap ratio', width: 10, align: 'right' },
];

const TARGET_COLUMNS: readonly Column[] = [
  { title: 'target', width: 62, align: 'left' },
  { title: 'measured', width: 24, align: 'right' },
  { title: 'verdict', width: 7, align: 'left' },
];

function report(base: StackResult, cand: StackResult): string[] {
  console.log('');
  console.log(
    'Per idle connection, growth of process.memoryUsage() after forced GC over the baseline, ' +
      'divided by the connections opened; both = client + server:',
  );
  console.log(formatHead(MEMORY_COLUMNS));
  for (const result of [base, cand]) {
    for (const side of ['client', 'server', 'both'] as const) {
      const usage = sideOf(result, side);
      console.log(
        formatRow(MEMORY_COLUMNS, [
          result.stack,
          side,
          kib(usage.heapUsed),
          kib(usage.external),
          kib(heapAndExternal(usage)),
          kib(usage.rss),
          side === 'both' ? String(result.opened) : '',
          side === 'both' ? String(result.failed) : '',
          side === 'both' ? result.openSeconds.toFixed(1) : '',
          side === 'both' ? (result.opened / result.openSeconds).toFixed(0) : '',
        ]),
      );
    }
  }

  console.log('');
  console.log('Ratios mlstls / node:tls, per side:');
  console.log(formatHead(RATIO_COLUMNS));
  for (const side of ['client', 'server', 'both'] as const) {
    const a = sideOf(cand, side);
    const b = sideOf(base, side);
    console.log(
      formatRow(RATIO_COLUMNS, [
        side,
        (heapAndExternal(a) / heapAndExternal(b)).toFixed(2),
        (a.rss / b.rss).toFixed(2),
        (a.heapUsed / b.heapUsed).toFixed(2),
      ]),
    );
  }

  const heapRatio = heapAndExternal(both(cand)) / heapAndExternal(both(base));
  const rssRatio = both(cand).rss / both(base).rss;
  const allOpen = (result: StackResult) =>
    result.opened === CONNECTIONS && result.failed === 0 && result.serverHeld === CONNECTIONS;
  const targets: [string, string, boolean][] = [
    [
      `heap+external per idle connection, both sides <= ${HEAP_TARGET}x node:tls`,
      `${heapRatio.toFixed(2)}x`,
      heapRatio <= HEAP_TARGET,
    ],
    [
      `RSS per idle connection, both sides <= ${RSS_TARGET}x node:tls`,
      `${rssRatio.toFixed(2)}x`,
      rssRatio <= RSS_TARGET,
    ],
    [
      `${CONNECTIONS.toLocaleString('en-US')} idle mlstls connections open, none failed`,
      `${cand.opened} open, ${cand.failed} failed`,
      allOpen(cand),
    ],
  ];
  console.log('');
  console.log(formatHead(TARGET_COLUMNS));
  const missed: string[] = [];
  for (const [name, measured, ok] of targets) {
    if (!ok) missed.push(`${name}: ${measured}`);
    console.log(formatRow(TARGET_COLUMNS, [name, measured, ok ? 'met' : 'MISSED']));
  }
  if (!allOpen(base)) {
    console.log(
      `   (node:tls itself: ${base.opened} opened, ${base.failed} failed, the server held ` +
        `${base.serverHeld}: the baseline is not whole.)`,
    );
  }
  return missed;
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = nowNs();
  console.log(
    'mlstls idle-connection benchmark: @mlstls/node vs node:tls, client and server in separate ' +
      'processes on 127.0.0.1',
  );
  for (const line of machineSummary()) console.log(line);
  console.log(
    `Load average at start ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}; open files per process: soft ${LIMITS.soft}, hard ${LIMITS.hard}` +
      (RAISE ? `; children started with sh -c 'ulimit -n ${DESCRIPTORS}'` : ''),
  );
  console.log(
    `Method: per stack a server and a client child process (--expose-gc). The client opens ` +
      `${WARMUP} warm-up connections and closes them; both sides collect garbage and read ` +
      `process.memoryUsage() (baseline); the client opens ${CONNECTIONS} connections, ` +
      `${CONCURRENCY} handshakes in flight; once the server holds all of them secure, after ` +
      `${SETTLE_MS} ms idle, both sides collect garbage and read it again. node:tls: TLS 1.3, ` +
      `${TLS_SUITE}, Ed25519 certificate, one client SecureContext; mlstls: @mlstls/node, ` +
      'suite 1, the basic credential the server generates, pinned by the client ' +
      '(peerSignaturePublicKey).',
  );
  const pem = ed25519Certificate();
  const results: StackResult[] = [];
  for (const stack of ['node:tls', 'mlstls'] as const) {
    const result = await runStack(stack, pem);
    results.push(result);
    console.log(
      `   ${stack}: ${result.opened} opened, ${result.failed} failed, server held ` +
        `${result.serverHeld}, in ${result.openSeconds.toFixed(1)} s` +
        (result.errors.length > 0 ? `; first errors: ${result.errors.join(' | ')}` : ''),
    );
  }
  const missed = report(results[0]!, results[1]!);
  console.log('');
  console.log(verdictLine(missed));
  console.log(endLine(started));
  if (args.check && missed.length > 0) process.exitCode = 1;
}

await main();
