/**
 * Connection benchmark: mlstls through `@mlstls/node` against node:tls (TLS 1.3,
 * TLS_AES_128_GCM_SHA256) on 127.0.0.1, both measured in the same run, both ends of every
 * connection in this process (the memory figure runs each stack in a child process of its own).
 *
 *   pnpm bench:connection            (from tools/bench, once the packages are built)
 *   pnpm bench:connection -- --rounds 7 --only handshake,bulk --check
 *
 * Figures: handshakes/s (sequential and concurrent), bulk throughput over one connection,
 * the PCS update round trip against ts-mls's own commit + process, memory per idle connection.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isNativeAeadAvailable } from '@mlstls/crypto';
import {
  BulkSink,
  closeAll,
  connected,
  type HandshakeRound,
  handshakeLatency,
  handshakeRound,
  listenFirstByte,
  negotiated,
  openIdle,
  sendBulk,
} from './connection-load.js';
import {
  type Column,
  endLine,
  type Figure,
  formatHead,
  formatRow,
  machineSummary,
  median,
  packageVersion,
  positive,
  printFigures,
  spread,
  verdictLine,
} from './harness.js';
import { inMemoryHandshake, responderCredential } from './in-memory-handshake.js';
import { type MlstlsStack, mlstlsStack } from './mlstls-stack.js';
import { nodeTlsStack, TLS_SUITE } from './node-tls-stack.js';
import type { Stack } from './stack.js';
import {
  buildGroup,
  commitAndProcess,
  type HandshakeSteps,
  type Implementation,
  suite1Implementations,
} from './two-member-group.js';

const SECTIONS = ['handshake', 'bulk', 'update', 'memory'] as const;
type Section = (typeof SECTIONS)[number];

const { values: args } = parseArgs({
  // `pnpm bench:connection -- --rounds 9` may pass the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    rounds: { type: 'string', default: '7' },
    'round-ms': { type: 'string', default: '700' },
    'warmup-ms': { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '16' },
    'bulk-mib': { type: 'string', default: '256' },
    'bulk-write-kib': { type: 'string', default: '64' },
    'update-blocks': { type: 'string', default: '10' },
    'updates-per-block': { type: 'string', default: '5' },
    idle: { type: 'string', default: '2000' },
    only: { type: 'string', default: SECTIONS.join(',') },
    candidate: { type: 'string', default: 'mlstls' },
    /** `noble`: the portable crypto of Deno and browsers, in place of node:crypto. */
    provider: { type: 'string', default: 'node' },
    check: { type: 'boolean', default: false },
    'memory-child': { type: 'string' },
  },
});

if (args.provider !== 'node' && args.provider !== 'noble') {
  throw new Error(`--provider is node or noble, not ${args.provider}`);
}
const PROVIDER: 'node' | 'noble' = args.provider;

const ROUNDS = Math.floor(positive('rounds', args.rounds));
const ROUND_MS = positive('round-ms', args['round-ms']);
const WARMUP_MS = positive('warmup-ms', args['warmup-ms']);
const CONCURRENCY = Math.floor(positive('concurrency', args.concurrency));
const BULK_BYTES = Math.floor(positive('bulk-mib', args['bulk-mib']) * 2 ** 20);
const BULK_WRITE = Math.floor(positive('bulk-write-kib', args['bulk-write-kib']) * 1024);
const UPDATE_BLOCKS = Math.floor(positive('update-blocks', args['update-blocks']));
const UPDATES_PER_BLOCK = Math.floor(positive('updates-per-block', args['updates-per-block']));
const IDLE = Math.floor(positive('idle', args.idle));
const ONLY = new Set(args.only.split(',').map((name) => name.trim()));
for (const name of ONLY) {
  if (!SECTIONS.includes(name as Section)) throw new Error(`--only: unknown section ${name}`);
}

/** Untimed bytes at the start of each bulk connection: past TCP's ramp-up. */
const BULK_PRELUDE = 8 * 2 ** 20;
/** Unmeasured updates of each side before the update figure's blocks. */
const UPDATE_WARMUP = 20;
/** Handshakes in flight while the idle connections of the memory figure open. */
const IDLE_CONCURRENCY = 32;

const gc = (globalThis as { gc?: () => void }).gc;
const nowNs = () => process.hrtime.bigint();
const seconds = (since: bigint) => Number(nowNs() - since) / 1e9;

// ---- figures and their report --------------------------------------------------------------

const figures: Figure[] = [];

function printSummary(): string[] {
  console.log('');
  console.log('Summary (ratio = mlstls median / baseline median):');
  return printFigures(figures);
}

/** Runs `measure` for each stack in turn, `ROUNDS` times, the first stack alternating. */
async function alternate<T>(
  stacks: readonly [Stack, Stack],
  measure: (stack: Stack) => Promise<T>,
): Promise<[T[], T[]]> {
  const results: [T[], T[]] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const index of order) {
      gc?.();
      results[index]!.push(await measure(stacks[index]!));
    }
  }
  return results;
}

// ---- 1. handshakes -------------------------------------------------------------------------

const HANDSHAKE_COLUMNS: readonly Column[] = [
  { title: 'stack', width: 8, align: 'left' },
  { title: 'in flight', width: 9, align: 'right' },
  { title: 'handshakes/s', width: 20, align: 'right' },
  { title: 'latency ms', width: 20, align: 'right' },
  { title: 'CPU ms/handshake', width: 20, align: 'right' },
  { title: 'handshakes', width: 10, align: 'right' },
];

async function handshakes(stacks: readonly [Stack, Stack]): Promise<void> {
  console.log('');
  console.log(
    `1. Handshakes to the first byte (connect, full handshake, server writes 1 byte, client ends): ` +
      `${ROUNDS} alternating rounds of ~${ROUND_MS} ms per stack after ${WARMUP_MS} ms of warm-up, ` +
      'both ends in this process, CPU = process user+system time (all threads) per handshake.',
  );
  const servers = await Promise.all(stacks.map((stack) => listenFirstByte(stack)));
  const ports = new Map(stacks.map((stack, i) => [stack, servers[i]!.port]));
  for (const stack of stacks) {
    const { suite, version } = await negotiated(stack, ports.get(stack)!);
    console.log(`   ${stack.name}: getCipher() -> ${suite}, ${version}`);
    if (suite !== TLS_SUITE || version !== 'TLSv1.3') {
      throw new Error(`${stack.name} negotiated ${suite} ${version}, not ${TLS_SUITE} TLSv1.3`);
    }
  }
  console.log(formatHead(HANDSHAKE_COLUMNS));
  for (const concurrency of [1, CONCURRENCY]) {
    for (const stack of stacks) {
      await handshakeRound(stack, ports.get(stack)!, concurrency, WARMUP_MS);
    }
    const [base, cand] = await alternate(stacks, (stack) =>
      handshakeRound(stack, ports.get(stack)!, concurrency, ROUND_MS),
    );
    const print = (stack: Stack, rounds: readonly HandshakeRound[]) =>
      console.log(
        formatRow(HANDSHAKE_COLUMNS, [
          stack.name,
          String(concurrency),
          spread(rounds.map((round) => round.perSecond)),
          spread(rounds.flatMap((round) => round.latenciesMs)),
          spread(rounds.map((round) => round.cpuMsPerHandshake)),
          String(rounds.reduce((sum, round) => sum + round.handshakes, 0)),
        ]),
      );
    print(stacks[0], base);
    print(stacks[1], cand);
    figures.push({
      name: `handshakes/s, ${concurrency === 1 ? 'sequential' : `${concurrency} in flight`}`,
      baselineName: stacks[0].name,
      baseline: base.map((round) => round.perSecond),
      candidate: cand.map((round) => round.perSecond),
      pairRatios: cand.map((round, i) => round.perSecond / base[i]!.perSecond),
      target: { direction: '>=', value: 0.5 },
    });
  }
  await Promise.all(servers.map((server) => server.close()));
}

const STEP_NAMES: Record<keyof HandshakeSteps, string> = {
  credentialKeygen: 'initiator: Ed25519 key pair for its ephemeral credential',
  initiatorKeyPackage: 'initiator: generateKeyPackage',
  verifyKeyPackage: "responder: verify the initiator's KeyPackage",
  responderKeyPackage: 'responder: generateKeyPackage (own leaf)',
  createGroupAndAdd: 'responder: createGroup + createCommit(Add, ratchet tree)',
  joinGroup: 'initiator: joinGroup(Welcome)',
  exporters: 'both: MLS-Exporter for the record keys',
};

/**
 * Where an mlstls handshake's time goes: the raw ts-mls steps, the state machines in memory, the
 * whole over sockets. One sample of each in turn, so that the machine's load falls on all alike.
 */
async function handshakeProfile(stacks: readonly [Stack, Stack] | undefined): Promise<void> {
  const samples = 20;
  const implementations = await suite1Implementations();
  const keys = await Promise.all(implementations.map(({ cs }) => cs.signature.keygen()));
  const credential = await responderCredential();
  const servers = stacks ? await Promise.all(stacks.map((stack) => listenFirstByte(stack))) : [];
  const steps: HandshakeSteps[][] = implementations.map(() => []);
  const inMemory: number[] = [];
  const sockets: number[][] = [[], []];
  for (let i = 0; i < samples + 3; i++) {
    const measured = i >= 3;
    for (const [index, { cs }] of implementations.entries()) {
      const built = await buildGroup(cs, keys[index]!);
      if (measured) steps[index]!.push(built.steps);
    }
    const elapsed = await inMemoryHandshake(credential);
    if (measured) inMemory.push(elapsed);
    for (const [index, stack] of (stacks ?? []).entries()) {
      const latency = await handshakeLatency(stack, servers[index]!.port);
      if (measured) sockets[index]!.push(latency);
    }
  }
  await Promise.all(servers.map((server) => server.close()));

  console.log('');
  console.log(
    `   Profile of one mlstls handshake, suite 1, ms: medians of ${samples} samples, one of each ` +
      'row in turn, after 3 unmeasured. Raw ts-mls steps on each implementation of the suite, ' +
      'the last being the one mlstls runs on:',
  );
  const label = (text: string) => `   ${text.padEnd(60)}`;
  const cell = (value: number) => value.toFixed(2).padStart(20);
  console.log(label('') + implementations.map(({ name }) => name.padStart(20)).join(''));
  for (const key of Object.keys(STEP_NAMES) as (keyof HandshakeSteps)[]) {
    console.log(
      label(STEP_NAMES[key]) +
        steps.map((samplesOf) => cell(median(samplesOf.map((step) => step[key])))).join(''),
    );
  }
  const totals = steps.map((samplesOf) =>
    median(samplesOf.map((step) => Object.values(step).reduce((sum, value) => sum + value, 0))),
  );
  console.log(
    label('raw ts-mls work, median of the per-handshake sums') + totals.map(cell).join(''),
  );
  const total = totals.at(-1)!;
  const stateMachines = median(inMemory);
  console.log(label('@mlstls/state-machine pair in memory (no sockets)') + cell(stateMachines));
  if (stacks === undefined) return;
  for (const [index, stack] of stacks.entries()) {
    console.log(
      label(`${stack.name} over sockets, to the first byte`) + cell(median(sockets[index]!)),
    );
  }
  const latency = median(sockets[1]!);
  const share = (part: number) => `${((100 * part) / latency).toFixed(0)}%`;
  console.log(
    `   Share of the mlstls socket handshake: raw ts-mls ${share(total)}, rest of the state ` +
      `machines ${share(stateMachines - total)}, binding and sockets ${share(latency - stateMachines)}.`,
  );
}

// ---- 2. bulk throughput --------------------------------------------------------------------

/** What a bulk figure is of: its name and its least ratio. */
interface BulkRow {
  readonly number: string;
  readonly name: string;
  readonly target: number;
}

async function bulk(stacks: readonly [Stack, Stack], row: BulkRow): Promise<void> {
  console.log('');
  console.log(
    `${row.number}. Bulk (${row.name}): ${BULK_BYTES / 2 ** 20} MiB one way over one connection, client to server in ` +
      `writes of ${BULK_WRITE / 1024} KiB with backpressure, both ends in this process; from the ` +
      `first write to the last byte read; ${ROUNDS} alternating rounds per stack, each on a new ` +
      `connection that first carries ${BULK_PRELUDE / 2 ** 20} MiB untimed, after a warm-up ` +
      'connection of 32 MiB. MB/s = 10^6 bytes per second.',
  );
  const chunk = new Uint8Array(randomBytes(BULK_WRITE));
  const sinks = stacks.map(() => new BulkSink());
  const servers = await Promise.all(stacks.map((stack, i) => stack.listen(sinks[i]!.onConnection)));
  for (const [i, stack] of stacks.entries()) {
    const client = await connected(stack, servers[i]!.port);
    const { suite, version } = stack.describe(client);
    console.log(`   ${stack.name}: getCipher() -> ${suite}, ${version}`);
    await sendBulk(client, sinks[i]!, 32 * 2 ** 20, chunk);
    await closeAll([client]);
  }
  // A new connection per round: one connection's own pace (its TCP buffers' growth, where its
  // memory lies) differs from another's by up to a third, and would fall on one stack only.
  const [baseRounds, candRounds] = await alternate(stacks, async (stack) => {
    const i = stacks.indexOf(stack);
    const client = await connected(stack, servers[i]!.port);
    await sendBulk(client, sinks[i]!, BULK_PRELUDE, chunk);
    gc?.();
    const cpuStart = process.cpuUsage();
    const ns = await sendBulk(client, sinks[i]!, BULK_BYTES, chunk);
    const cpu = process.cpuUsage(cpuStart);
    await closeAll([client]);
    // MB per second of wall time, and per second of process CPU time (less moved by the load).
    return { wall: (BULK_BYTES * 1e3) / ns, cpu: BULK_BYTES / (cpu.user + cpu.system) };
  });
  const base = baseRounds.map((round) => round.wall);
  const cand = candRounds.map((round) => round.wall);
  const baseCpu = baseRounds.map((round) => round.cpu);
  const candCpu = candRounds.map((round) => round.cpu);
  console.log(
    `   ${stacks[0].name} MB/s ${spread(base)}, per CPU-second ${spread(baseCpu)}; ` +
      `${stacks[1].name} MB/s ${spread(cand)}, per CPU-second ${spread(candCpu)}; ` +
      `CPU-time ratio ${(median(candCpu) / median(baseCpu)).toFixed(2)}`,
  );
  figures.push({
    name: `bulk MB/s, ${row.name}`,
    baselineName: stacks[0].name,
    baseline: base,
    candidate: cand,
    pairRatios: cand.map((value, i) => value / base[i]!),
    target: { direction: '>=', value: row.target },
  });
  await Promise.all(servers.map((server) => server.close()));
}

// ---- 3. PCS update -------------------------------------------------------------------------

/** Milliseconds of one raw self-update at a time, on a group of its own. */
async function rawUpdates({ cs }: Implementation): Promise<() => Promise<number>> {
  let { group } = await buildGroup(cs, await cs.signature.keygen());
  const raw = async () => {
    const start = nowNs();
    group = await commitAndProcess(group, cs);
    return Number(nowNs() - start) / 1e6;
  };
  for (let i = 0; i < UPDATE_WARMUP; i++) await raw();
  return raw;
}

async function updates(candidate: MlstlsStack | undefined): Promise<void> {
  const count = UPDATE_BLOCKS * UPDATES_PER_BLOCK;
  const implementations = await suite1Implementations();
  // The implementation mlstls runs on: the raw figure equivalent to a connection's.
  const equivalent = implementations.at(-1)!;
  console.log('');
  console.log(
    '3. PCS update: `socket.update()` on a live connection (client commits, resolves on the ' +
      "server's confirmation) vs ts-mls createCommit + processMessage on an equivalent two-member " +
      `group in this process, on ${equivalent.name}; ${UPDATE_BLOCKS} alternating blocks of ` +
      `${UPDATES_PER_BLOCK} per side after ${UPDATE_WARMUP} unmeasured; ms per update.`,
  );
  for (const implementation of implementations) {
    if (implementation === equivalent && candidate !== undefined) continue;
    const raw = await rawUpdates(implementation);
    const times: number[] = [];
    for (let i = 0; i < count; i++) times.push(await raw());
    console.log(`   raw ts-mls on ${implementation.name}: ms ${spread(times)}`);
  }
  if (candidate === undefined) return;
  const raw = await rawUpdates(equivalent);
  const server = await candidate.listen((socket) => {
    socket.on('error', () => {});
    socket.resume();
  });
  const client = await connected(candidate, server.port);
  client.on('error', () => {});
  const socketUpdate = async () => {
    const start = nowNs();
    await candidate.update(client);
    return Number(nowNs() - start) / 1e6;
  };
  const epochBefore = candidate.epoch(client);
  for (let i = 0; i < UPDATE_WARMUP; i++) await socketUpdate();
  const rawTimes: number[] = [];
  const socketTimes: number[] = [];
  const blockRatios: number[] = [];
  // Process CPU time per update, block by block: less moved by the machine's load than wall time.
  const rawCpu: number[] = [];
  const socketCpu: number[] = [];
  for (let block = 0; block < UPDATE_BLOCKS; block++) {
    const rawBlock: number[] = [];
    const socketBlock: number[] = [];
    const sides: [() => Promise<number>, number[], number[]][] = [
      [raw, rawBlock, rawCpu],
      [socketUpdate, socketBlock, socketCpu],
    ];
    if (block % 2 === 1) sides.reverse();
    for (const [run, into, cpuInto] of sides) {
      gc?.();
      const cpuStart = process.cpuUsage();
      for (let i = 0; i < UPDATES_PER_BLOCK; i++) into.push(await run());
      const cpu = process.cpuUsage(cpuStart);
      cpuInto.push((cpu.user + cpu.system) / 1e3 / UPDATES_PER_BLOCK);
    }
    rawTimes.push(...rawBlock);
    socketTimes.push(...socketBlock);
    blockRatios.push(median(socketBlock) / median(rawBlock));
  }
  const epochs = candidate.epoch(client) - epochBefore;
  if (epochs !== BigInt(UPDATE_WARMUP + count)) {
    throw new Error(`${UPDATE_WARMUP + count} updates moved the epoch by ${epochs}`);
  }
  console.log(
    `   raw ts-mls on ${equivalent.name}: ms ${spread(rawTimes)}, CPU ms ${spread(rawCpu)}; ` +
      `socket.update() ms ${spread(socketTimes)}, CPU ms ${spread(socketCpu)}; CPU-time ratio ` +
      `${(median(socketCpu) / median(rawCpu)).toFixed(2)}; epoch ${epochBefore} -> ` +
      `${candidate.epoch(client)}`,
  );
  figures.push({
    name: 'PCS update round trip, ms',
    baselineName: 'ts-mls commit+process',
    baseline: rawTimes,
    candidate: socketTimes,
    pairRatios: blockRatios,
    target: { direction: '<=', value: 1.5 },
  });
  await closeAll([client]);
  await server.close();
}

// ---- 4. memory per idle connection -----------------------------------------------------------

interface MemoryResult {
  readonly stack: string;
  readonly connections: number;
  readonly openSeconds: number;
  /** Bytes per connection (client and server end together). */
  readonly heapUsed: number;
  readonly external: number;
  readonly rss: number;
}

/** In a child process: opens the idle connections of one stack and reports the growth. */
async function memoryChild(name: string): Promise<void> {
  if (gc === undefined) throw new Error('the memory child needs --expose-gc');
  const collect = async () => {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stack = name.startsWith('mlstls') ? mlstlsStack(PROVIDER) : nodeTlsStack();
  // Warm-up: code loaded and compiled, pools and caches filled, before the first measurement.
  const warm = await openIdle(stack, 64, IDLE_CONCURRENCY);
  await closeAll([...warm.open.clients, ...warm.open.servers]);
  await warm.listening.close();
  await collect();
  const before = process.memoryUsage();
  const start = nowNs();
  const { open, listening } = await openIdle(stack, IDLE, IDLE_CONCURRENCY);
  const openSeconds = seconds(start);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await collect();
  const after = process.memoryUsage();
  const result: MemoryResult = {
    stack: stack.name,
    connections: open.clients.length,
    openSeconds,
    heapUsed: (after.heapUsed - before.heapUsed) / IDLE,
    external: (after.external - before.external) / IDLE,
    rss: (after.rss - before.rss) / IDLE,
  };
  process.send?.(result);
  await closeAll([...open.clients, ...open.servers]);
  await listening.close();
}

function runMemoryChild(name: string): Promise<MemoryResult> {
  const execArgv = process.execArgv.includes('--expose-gc')
    ? process.execArgv
    : [...process.execArgv, '--expose-gc'];
  const child = fork(
    fileURLToPath(import.meta.url),
    ['--memory-child', name, '--idle', String(IDLE), '--provider', PROVIDER],
    { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  return new Promise((resolve, reject) => {
    let result: MemoryResult | undefined;
    child.on('message', (message) => {
      result = message as MemoryResult;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`the ${name} memory child exited with ${code} and no result`));
    });
  });
}

async function memory(stacks: readonly [Stack, Stack]): Promise<void> {
  console.log('');
  console.log(
    `4. Memory per idle connection: ${IDLE} connections open at once (${IDLE_CONCURRENCY} ` +
      'handshakes in flight while opening), client and server ends in one child process per ' +
      'stack (so a connection counts both ends), after 64 warm-up connections; growth of ' +
      'process.memoryUsage() after forced GC, divided by the connection count.',
  );
  const results: MemoryResult[] = [];
  for (const stack of stacks) {
    const result = await runMemoryChild(stack.name.startsWith('mlstls') ? stack.name : 'node:tls');
    results.push(result);
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    console.log(
      `   ${stack.name.padEnd(8)} heap ${kib(result.heapUsed)} + external ${kib(result.external)} = ` +
        `${kib(result.heapUsed + result.external)}; RSS ${kib(result.rss)}; ` +
        `${result.connections} opened in ${result.openSeconds.toFixed(1)} s`,
    );
  }
  const [base, cand] = results as [MemoryResult, MemoryResult];
  const heapAndExternal = (result: MemoryResult) => (result.heapUsed + result.external) / 1024;
  figures.push({
    name: 'idle connection, heap+external KiB',
    baselineName: stacks[0].name,
    baseline: [heapAndExternal(base)],
    candidate: [heapAndExternal(cand)],
    pairRatios: [],
    // node:tls keeps most of a connection in OpenSSL's memory, which only RSS counts.
    target: { direction: '<=', value: 2 },
  });
  figures.push({
    name: 'idle connection, RSS KiB',
    baselineName: stacks[0].name,
    baseline: [base.rss / 1024],
    candidate: [cand.rss / 1024],
    pairRatios: [],
    target: { direction: '<=', value: 1 },
  });
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = nowNs();
  console.log('mlstls connection benchmark: @mlstls/node vs node:tls, TLS 1.3 on 127.0.0.1');
  for (const line of machineSummary()) console.log(line);
  console.log(
    `ts-mls ${packageVersion('ts-mls', 'ts-mls')}; @mlstls/node from ` +
      `${new URL(import.meta.resolve('@mlstls/node')).pathname}; load average at start ` +
      `${loadavg()
        .map((load) => load.toFixed(2))
        .join(' ')}`,
  );
  const baseline = nodeTlsStack();
  // `--candidate node:tls` is an A/A run: the noise floor of the method, node:tls against itself.
  const mlstls = args.candidate === 'node:tls' ? undefined : mlstlsStack(PROVIDER);
  const stacks = [baseline, mlstls ?? nodeTlsStack()] as const;

  if (ONLY.has('handshake')) {
    await handshakes(stacks);
    // The shares are those of an mlstls handshake on node:crypto: no sockets in an A/A run,
    // and none for the portable path, whose steps the profile does not run.
    if (PROVIDER === 'node') await handshakeProfile(mlstls ? stacks : undefined);
  }
  if (ONLY.has('bulk')) {
    // The fastest provider on Node (the native AEAD where it built), then JavaScript alone.
    const native = isNativeAeadAvailable() && PROVIDER === 'node';
    await bulk(stacks, {
      number: '2',
      name: native ? 'AES-128-GCM, native AEAD' : `AES-128-GCM, ${PROVIDER}`,
      target: 0.9,
    });
    if (native && mlstls !== undefined) {
      await bulk([baseline, mlstlsStack('node:crypto')], {
        number: '2b',
        name: 'AES-128-GCM, JavaScript on node:crypto',
        target: 0.75,
      });
    }
  }
  if (ONLY.has('update')) await updates(mlstls);
  if (ONLY.has('memory')) await memory(stacks);

  const missed = printSummary();
  console.log('');
  console.log(verdictLine(missed));
  console.log(endLine(started));
  if (args.check && missed.length > 0) process.exitCode = 1;
}

if (args['memory-child'] !== undefined) await memoryChild(args['memory-child']);
else await main();
