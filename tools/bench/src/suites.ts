/**
 * Every MLS ciphersuite (issue 17): for each suite `@mlstls/state-machine` supports, the Node
 * binding's handshakes/s, one PCS update, bulk throughput and the bytes of client_hello and
 * server_hello on the wire, beside node:tls (TLS 1.3, X25519 + Ed25519, the TLS 1.3 suite of the
 * same AEAD) measured the same way in the same run, on 127.0.0.1, both ends in this process.
 *
 *   pnpm bench:suites                (from tools/bench, once the packages are built)
 *   pnpm bench:suites -- --suites 1,83,84,87 --rounds 5 --markdown
 *
 * The method is the connection benchmark's (`src/connection-load.ts`), shortened so that all 19
 * suites fit in about 3 minutes on 2 cores: rounds are time-bound, so a slow suite makes fewer
 * handshakes and updates in the same time (each row prints how many).
 */
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { isNativeAeadAvailable } from '@mlstls/crypto';
import {
  type HandshakeInfo,
  SUPPORTED_CIPHERSUITES,
  type SuiteParameters,
  TRACING_CHANNELS,
} from '@mlstls/state-machine';
import {
  BulkSink,
  closeAll,
  connected,
  type HandshakeRound,
  handshakeRound,
  listenFirstByte,
  negotiated,
  sendBulk,
} from './connection-load.js';
import {
  type Column,
  endLine,
  formatHead,
  formatRow,
  loadAverage,
  machineSummary,
  median,
  packageVersion,
  positive,
  spread,
} from './harness.js';
import { type MlstlsStack, mlstlsStack } from './mlstls-stack.js';
import { type NodeTlsStack, nodeTlsStack } from './node-tls-stack.js';
import type { Listening, Stack } from './stack.js';

const { values: args } = parseArgs({
  // `pnpm bench:suites -- --rounds 5` may pass the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    suites: { type: 'string', default: SUPPORTED_CIPHERSUITES.map((suite) => suite.id).join(',') },
    rounds: { type: 'string', default: '3' },
    'round-ms': { type: 'string', default: '300' },
    'warmup-ms': { type: 'string', default: '300' },
    'bulk-mib': { type: 'string', default: '16' },
    'update-ms': { type: 'string', default: '500' },
    'min-updates': { type: 'string', default: '5' },
    'size-samples': { type: 'string', default: '3' },
    /** Suites measured once more on the portable implementation, for reference (`-`: none). */
    portable: { type: 'string', default: '1' },
    markdown: { type: 'boolean', default: false },
  },
});

const ROUNDS = Math.floor(positive('rounds', args.rounds));
const ROUND_MS = positive('round-ms', args['round-ms']);
const WARMUP_MS = positive('warmup-ms', args['warmup-ms']);
const BULK_BYTES = Math.floor(positive('bulk-mib', args['bulk-mib']) * 2 ** 20);
const UPDATE_MS = positive('update-ms', args['update-ms']);
const MIN_UPDATES = Math.floor(positive('min-updates', args['min-updates']));
const SIZE_SAMPLES = Math.floor(positive('size-samples', args['size-samples']));
function suiteList(option: string, text: string): SuiteParameters[] {
  if (text === '-') return [];
  return text.split(',').map((item) => {
    const suite = SUPPORTED_CIPHERSUITES.find((known) => known.id === Number(item.trim()));
    if (suite === undefined) throw new Error(`--${option}: no supported suite ${item}`);
    return suite;
  });
}

/** What to measure: each suite on the node provider, then the `--portable` ones on `noble`. */
const RUNS: readonly { suite: SuiteParameters; provider: 'node' | 'noble' }[] = [
  ...suiteList('suites', args.suites).map((suite) => ({ suite, provider: 'node' as const })),
  ...suiteList('portable', args.portable).map((suite) => ({ suite, provider: 'noble' as const })),
];

/** Writes of the bulk transfer, as the connection benchmark's default. */
const BULK_WRITE = 64 * 1024;
/** Untimed bytes at the start of each bulk connection: past TCP's ramp-up. */
const BULK_PRELUDE = 2 ** 20;
/** Handshakes a round of a slow suite lasts for, at least (within `MAX_ROUND_FACTOR`). */
const MIN_PER_ROUND = 3;
/** The longest handshake round, in `--round-ms`. */
const MAX_ROUND_FACTOR = 4;
/** Unmeasured updates before the timed ones. */
const UPDATE_WARMUP = 3;

const gc = (globalThis as { gc?: () => void }).gc;
const nowNs = () => process.hrtime.bigint();

/** The TLS 1.3 suite node:tls runs beside an MLS suite: the one with its record AEAD. */
const NODE_TLS_SUITE: Record<string, string> = {
  'aes-128-gcm': 'TLS_AES_128_GCM_SHA256',
  'aes-256-gcm': 'TLS_AES_256_GCM_SHA384',
  'chacha20-poly1305': 'TLS_CHACHA20_POLY1305_SHA256',
};

/** Runs `measure` on each stack in turn, `ROUNDS` times, the first one alternating. */
async function alternate<T>(
  stacks: readonly [Stack, Stack],
  measure: (stack: Stack, index: number) => Promise<T>,
): Promise<[T[], T[]]> {
  const results: [T[], T[]] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    for (const index of round % 2 === 0 ? [0, 1] : [1, 0]) {
      gc?.();
      results[index]!.push(await measure(stacks[index]!, index));
    }
  }
  return results;
}

// ---- first flights on the wire -------------------------------------------------------------

/** The bytes of each side's first flight, TLS record headers included, and its records. */
interface Flights {
  readonly client: number;
  readonly server: number;
  /** The content types of each flight's records, in order (22 handshake, 23 protected, ...). */
  readonly clientTypes: readonly number[];
  readonly serverTypes: readonly number[];
}

/** The content types of the whole records in `bytes` (RFC 8446 5.1 headers). */
function recordTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + 5 <= bytes.length; at += 5 + bytes.readUInt16BE(at + 3)) {
    types.push(bytes[at]!);
  }
  return types;
}

/**
 * A TCP relay on 127.0.0.1 to `target` that counts, per connection, the bytes the client sends
 * before the server's first byte (its first flight: client_hello, or node:tls's ClientHello)
 * and the bytes the server sends from then until the client's next byte (server_hello, or
 * node:tls's ServerHello to Finished). Connections are measured one at a time.
 */
async function flightRelay(
  target: number,
): Promise<{ port: number; next(): Promise<Flights>; close(): Promise<void> }> {
  let settle: ((flights: Flights) => void) | undefined;
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.once('close', () => sockets.delete(socket));
    }
    let phase: 'client' | 'server' | 'done' = 'client';
    const client: Buffer[] = [];
    const server: Buffer[] = [];
    downstream.on('data', (chunk: Buffer) => {
      if (phase === 'client') client.push(chunk);
      else if (phase === 'server') {
        phase = 'done';
        const [clientBytes, serverBytes] = [Buffer.concat(client), Buffer.concat(server)];
        settle?.({
          client: clientBytes.length,
          server: serverBytes.length,
          clientTypes: recordTypes(clientBytes),
          serverTypes: recordTypes(serverBytes),
        });
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (phase === 'client') phase = 'server';
      if (phase === 'server') server.push(chunk);
      downstream.write(chunk);
    });
    downstream.on('end', () => upstream.end());
    upstream.on('end', () => downstream.end());
    downstream.on('close', () => upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    next: () =>
      new Promise<Flights>((resolve) => {
        settle = resolve;
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `SIZE_SAMPLES` connections to the first byte through a relay; their flights. */
async function firstFlights(
  stack: Stack,
  listening: Listening,
  alias?: (port: number) => void,
): Promise<Flights[]> {
  const relay = await flightRelay(listening.port);
  alias?.(relay.port);
  const samples: Flights[] = [];
  for (let i = 0; i < SIZE_SAMPLES; i++) {
    const flights = relay.next();
    await negotiated(stack, relay.port);
    samples.push(await flights);
  }
  await relay.close();
  return samples;
}

// ---- the MLS implementation a handshake ran on ---------------------------------------------

/**
 * Which MLS implementation each end's handshake ran on: `HandshakeInfo.crypto`, read from the
 * `mlstls:handshake` tracing channel (the binding's sockets do not expose it), as
 * `client/server`; `?` where the built state machine does not report it.
 */
async function implementationOf(stack: Stack, port: number): Promise<string> {
  const seen: string[] = [];
  const channel = `tracing:${TRACING_CHANNELS.handshake}:asyncEnd`;
  const onEnd = (message: unknown) => {
    const context = message as { role?: string; result?: Partial<HandshakeInfo> };
    seen.push(`${context.role}:${context.result?.crypto ?? '?'}`);
  };
  subscribe(channel, onEnd);
  try {
    await negotiated(stack, port);
    // The responder's handshake completes on the key confirmation, after the client's.
    for (let i = 0; i < 50 && seen.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    unsubscribe(channel, onEnd);
  }
  const of = (role: string) =>
    seen.find((entry) => entry.startsWith(`${role}:`))?.slice(role.length + 1) ?? '?';
  const [client, server] = [of('initiator'), of('responder')];
  return client === server ? client : `${client}/${server}`;
}

// ---- one suite -----------------------------------------------------------------------------

interface SuiteResult {
  readonly suite: SuiteParameters;
  readonly crypto: string;
  readonly handshakes: readonly [HandshakeRound[], HandshakeRound[]];
  readonly updatesMs: readonly number[];
  readonly bulk: readonly [number[], number[]];
  readonly flights: readonly [Flights[], Flights[]];
}

/**
 * Handshakes/s to the first byte, node:tls and the suite in alternating rounds. A stack whose
 * warm-up handshakes were slow gets longer rounds, of `MIN_PER_ROUND` handshakes at least (up
 * to `MAX_ROUND_FACTOR` times `ROUND_MS`).
 */
async function handshakes(
  stacks: readonly [Stack, Stack],
): Promise<[HandshakeRound[], HandshakeRound[]]> {
  const servers = await Promise.all(stacks.map((stack) => listenFirstByte(stack)));
  const roundMs: number[] = [];
  for (const [i, stack] of stacks.entries()) {
    const warm = await handshakeRound(stack, servers[i]!.port, 1, WARMUP_MS);
    const latency = median(warm.latenciesMs);
    roundMs.push(
      Math.min(Math.max(ROUND_MS, MIN_PER_ROUND * latency), MAX_ROUND_FACTOR * ROUND_MS),
    );
  }
  const rounds = await alternate(stacks, (stack, i) =>
    handshakeRound(stack, servers[i]!.port, 1, roundMs[i]!),
  );
  await Promise.all(servers.map((server) => server.close()));
  return rounds;
}

/** MB/s of `BULK_BYTES` one way, each round on a new connection after `BULK_PRELUDE` untimed. */
async function bulk(stacks: readonly [Stack, Stack]): Promise<[number[], number[]]> {
  const chunk = new Uint8Array(randomBytes(BULK_WRITE));
  const sinks = stacks.map(() => new BulkSink());
  const servers = await Promise.all(stacks.map((stack, i) => stack.listen(sinks[i]!.onConnection)));
  // A warm-up connection per stack.
  for (const [i, stack] of stacks.entries()) {
    const client = await connected(stack, servers[i]!.port);
    await sendBulk(client, sinks[i]!, BULK_BYTES, chunk);
    await closeAll([client]);
  }
  const rounds = await alternate(stacks, async (stack, i) => {
    const client = await connected(stack, servers[i]!.port);
    await sendBulk(client, sinks[i]!, BULK_PRELUDE, chunk);
    gc?.();
    const ns = await sendBulk(client, sinks[i]!, BULK_BYTES, chunk);
    await closeAll([client]);
    return (BULK_BYTES * 1e3) / ns;
  });
  await Promise.all(servers.map((server) => server.close()));
  return rounds;
}

/**
 * Milliseconds of `socket.update()` on one connection (the client commits, resolves on the
 * server's confirmation), until `UPDATE_MS` have passed and `MIN_UPDATES` are done.
 */
async function updates(stack: MlstlsStack): Promise<number[]> {
  const server = await stack.listen((socket) => {
    socket.on('error', () => {});
    socket.resume();
  });
  const client = await connected(stack, server.port);
  client.on('error', () => {});
  const epochBefore = stack.epoch(client);
  for (let i = 0; i < UPDATE_WARMUP; i++) await stack.update(client);
  gc?.();
  const times: number[] = [];
  const deadline = nowNs() + BigInt(Math.round(UPDATE_MS * 1e6));
  while (times.length < MIN_UPDATES || nowNs() < deadline) {
    const start = nowNs();
    await stack.update(client);
    times.push(Number(nowNs() - start) / 1e6);
  }
  const moved = stack.epoch(client) - epochBefore;
  if (moved !== BigInt(UPDATE_WARMUP + times.length)) {
    throw new Error(`${UPDATE_WARMUP + times.length} updates moved the epoch by ${moved}`);
  }
  await closeAll([client]);
  await server.close();
  return times;
}

async function measureSuite(
  suite: SuiteParameters,
  provider: 'node' | 'noble',
  baseline: NodeTlsStack,
): Promise<SuiteResult> {
  const candidate = mlstlsStack(provider, suite.id);
  const stacks = [baseline, candidate] as const;
  // One connection of each, checked and timed for nothing: loads the suite's code.
  const checks = await Promise.all(stacks.map((stack) => listenFirstByte(stack)));
  const expected = [NODE_TLS_SUITE[suite.aead], suite.tlsName];
  for (const [i, stack] of stacks.entries()) {
    const { suite: name, version } = await negotiated(stack, checks[i]!.port);
    if (name !== expected[i] || version !== 'TLSv1.3') {
      throw new Error(`${stack.name} negotiated ${name} ${version}, not ${expected[i]} TLSv1.3`);
    }
  }
  const crypto = await implementationOf(candidate, checks[1]!.port);
  const flights: [Flights[], Flights[]] = [
    await firstFlights(baseline, checks[0]!),
    await firstFlights(candidate, checks[1]!, (port) => candidate.relay(port, checks[1]!.port)),
  ];
  await Promise.all(checks.map((check) => check.close()));
  // mlstls's first flights are client_hello and server_hello alone, in plaintext records.
  for (const flight of flights[1]) {
    if ([...flight.clientTypes, ...flight.serverTypes].some((type) => type !== 22)) {
      throw new Error(
        `suite ${suite.id}: first flights of record types ${flight.clientTypes} / ${flight.serverTypes}`,
      );
    }
  }
  const handshakeRounds = await handshakes(stacks);
  const updatesMs = await updates(candidate);
  const bulkRounds = await bulk(stacks);
  return { suite, crypto, handshakes: handshakeRounds, updatesMs, bulk: bulkRounds, flights };
}

// ---- report --------------------------------------------------------------------------------

const COLUMNS: readonly Column[] = [
  { title: 'id', width: 3, align: 'right' },
  { title: 'KEM', width: 11, align: 'left' },
  { title: 'signature', width: 9, align: 'left' },
  { title: 'AEAD', width: 17, align: 'left' },
  { title: 'hash', width: 6, align: 'left' },
  { title: 'MLS on', width: 8, align: 'left' },
  { title: 'handshakes/s', width: 16, align: 'right' },
  { title: 'node:tls', width: 16, align: 'right' },
  { title: 'ratio', width: 5, align: 'right' },
  { title: 'n', width: 4, align: 'right' },
  { title: 'CPU ms/hs', width: 9, align: 'right' },
  { title: 'update ms', width: 18, align: 'right' },
  { title: 'n', width: 3, align: 'right' },
  { title: 'bulk MB/s', width: 15, align: 'right' },
  { title: 'node:tls', width: 15, align: 'right' },
  { title: 'ratio', width: 5, align: 'right' },
  { title: 'client_hello B', width: 14, align: 'right' },
  { title: 'server_hello B', width: 14, align: 'right' },
];

/** KEM, AEAD, hash and signature of a suite, from its name (`MLS_<level>_<KEM>_<AEAD>_...`). */
function parts(suite: SuiteParameters): {
  kem: string;
  aead: string;
  hash: string;
  signature: string;
} {
  const [, , kem = '', aead = '', hash = '', signature = ''] = suite.name.split('_');
  return { kem: kem.replace(/^DHKEM/, ''), aead, hash, signature };
}

/** A size, or its min-max where the samples differ (ECDSA signatures vary by a byte or two). */
function bytes(values: readonly number[]): string {
  const least = Math.min(...values);
  const most = Math.max(...values);
  return least === most ? String(least) : `${least}-${most}`;
}

function perSecond(rounds: readonly HandshakeRound[]): number[] {
  return rounds.map((round) => round.perSecond);
}

/** A suite's figures as printed: medians with their min-max, ratios, counts. */
interface Row {
  readonly id: string;
  readonly kem: string;
  readonly signature: string;
  readonly aead: string;
  readonly hash: string;
  readonly crypto: string;
  readonly handshakes: readonly number[];
  readonly baseHandshakes: readonly number[];
  readonly handshakeCount: number;
  readonly cpuMs: number;
  readonly updatesMs: readonly number[];
  readonly bulk: readonly number[];
  readonly baseBulk: readonly number[];
  readonly clientHello: string;
  readonly serverHello: string;
}

function rowOf(result: SuiteResult): Row {
  const [baseRounds, candRounds] = result.handshakes;
  return {
    id: String(result.suite.id),
    ...parts(result.suite),
    crypto: result.crypto,
    handshakes: perSecond(candRounds),
    baseHandshakes: perSecond(baseRounds),
    handshakeCount: candRounds.reduce((sum, round) => sum + round.handshakes, 0),
    cpuMs: median(candRounds.map((round) => round.cpuMsPerHandshake)),
    updatesMs: result.updatesMs,
    bulk: result.bulk[1],
    baseBulk: result.bulk[0],
    clientHello: bytes(result.flights[1].map((flight) => flight.client)),
    serverHello: bytes(result.flights[1].map((flight) => flight.server)),
  };
}

const ratio = (candidate: readonly number[], baseline: readonly number[]) =>
  (median(candidate) / median(baseline)).toFixed(2);

/** Three significant digits or so, as `spread` prints a median. */
const medianText = (values: readonly number[]) => spread([median(values)]);

function cells(row: Row): string[] {
  return [
    row.id,
    row.kem,
    row.signature,
    row.aead,
    row.hash,
    row.crypto,
    spread(row.handshakes),
    spread(row.baseHandshakes),
    ratio(row.handshakes, row.baseHandshakes),
    String(row.handshakeCount),
    row.cpuMs.toFixed(1),
    spread(row.updatesMs),
    String(row.updatesMs.length),
    spread(row.bulk),
    spread(row.baseBulk),
    ratio(row.bulk, row.baseBulk),
    row.clientHello,
    row.serverHello,
  ];
}

/** The table of tools/bench/README.md: medians only. */
function markdown(rows: readonly Row[]): string[] {
  const lines = [
    '| id | KEM | signature | AEAD | hash | MLS on | handshakes/s | node:tls | ratio | CPU ms/handshake | update ms | bulk MB/s | node:tls | ratio | client_hello B | server_hello B |',
    '| -: | --- | --- | --- | --- | --- | -: | -: | -: | -: | -: | -: | -: | -: | -: | -: |',
  ];
  for (const row of rows) {
    const values = [
      row.id,
      row.kem,
      row.signature,
      row.aead,
      row.hash,
      row.crypto,
      medianText(row.handshakes),
      medianText(row.baseHandshakes),
      ratio(row.handshakes, row.baseHandshakes),
      row.cpuMs.toFixed(1),
      medianText(row.updatesMs),
      medianText(row.bulk),
      medianText(row.baseBulk),
      ratio(row.bulk, row.baseBulk),
      row.clientHello,
      row.serverHello,
    ];
    lines.push(`| ${values.join(' | ')} |`);
  }
  return lines;
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = nowNs();
  console.log(
    'mlstls ciphersuite benchmark: every MLS suite through @mlstls/node vs node:tls, TLS 1.3 on 127.0.0.1',
  );
  for (const line of machineSummary()) console.log(line);
  console.log(
    `ts-mls ${packageVersion('ts-mls', 'ts-mls')}; record AEAD ` +
      `${isNativeAeadAvailable() ? 'native (@mlstls/crypto-native) for AES-GCM' : 'node:crypto'}; ` +
      `load average at start ${loadAverage()}`,
  );
  console.log(
    `Per suite: ${SIZE_SAMPLES} connections through a counting relay for the first flights ` +
      `(bytes each way before the other side answers, record headers included); handshakes to ` +
      `the first byte, 1 in flight, ${ROUNDS} alternating rounds of ~${ROUND_MS} ms per stack ` +
      `(or of ${MIN_PER_ROUND} handshakes, up to ${MAX_ROUND_FACTOR * ROUND_MS} ms, for a slow ` +
      `suite) after ${WARMUP_MS} ms of warm-up each (n = the suite's handshakes timed; CPU = process ` +
      `time, both ends); socket.update() on one connection, ${UPDATE_WARMUP} unmeasured then ` +
      `for ${UPDATE_MS} ms and at least ${MIN_UPDATES} (n); bulk ${BULK_BYTES / 2 ** 20} MiB one ` +
      `way in ${BULK_WRITE / 1024} KiB writes, ${ROUNDS} alternating rounds per stack, each on a ` +
      `new connection after ${BULK_PRELUDE / 2 ** 20} MiB untimed. node:tls: TLS 1.3, X25519, ` +
      "an Ed25519 certificate, the TLS 1.3 suite of the MLS suite's AEAD. Medians (min-max); " +
      'ratio = mlstls median / node:tls median.',
  );
  const baselines = new Map<string, NodeTlsStack>();
  const baselineFor = (suite: SuiteParameters) => {
    const ciphers = NODE_TLS_SUITE[suite.aead];
    if (ciphers === undefined) throw new Error(`no TLS 1.3 suite for ${suite.aead}`);
    let stack = baselines.get(ciphers);
    if (stack === undefined) {
      stack = nodeTlsStack(ciphers);
      baselines.set(ciphers, stack);
    }
    return stack;
  };

  console.log('');
  console.log(formatHead(COLUMNS));
  const results: SuiteResult[] = [];
  const skipped: string[] = [];
  const nodeTlsFlights = new Map<string, Flights[]>();
  for (const { suite, provider } of RUNS) {
    const suiteStart = nowNs();
    let result: SuiteResult;
    try {
      result = await measureSuite(suite, provider, baselineFor(suite));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'ERR_MLSTLS_UNSUPPORTED') throw error;
      skipped.push(`${suite.id} (${(error as Error).message})`);
      console.log(`${String(suite.id).padStart(3)}  skipped: ${(error as Error).message}`);
      continue;
    }
    results.push(result);
    nodeTlsFlights.set(NODE_TLS_SUITE[suite.aead]!, [
      ...(nodeTlsFlights.get(NODE_TLS_SUITE[suite.aead]!) ?? []),
      ...result.flights[0],
    ]);
    console.log(
      `${formatRow(COLUMNS, cells(rowOf(result)))}  (${(Number(nowNs() - suiteStart) / 1e9).toFixed(1)} s)`,
    );
  }

  console.log('');
  const allBase = results.flatMap((result) => perSecond(result.handshakes[0]));
  const allBaseBulk = results.flatMap((result) => result.bulk[0]);
  const allBaseCpu = results.flatMap((result) =>
    result.handshakes[0].map((round) => round.cpuMsPerHandshake),
  );
  console.log(
    `node:tls over the whole run: handshakes/s ${spread(allBase)}, CPU ms/handshake ` +
      `${spread(allBaseCpu)}, bulk MB/s ${spread(allBaseBulk)}.`,
  );
  for (const [ciphers, flights] of nodeTlsFlights) {
    console.log(
      `node:tls ${ciphers} first flights: ClientHello ${bytes(flights.map((f) => f.client))} B, ` +
        `ServerHello to Finished ${bytes(flights.map((f) => f.server))} B.`,
    );
  }
  if (skipped.length > 0) console.log(`Skipped (optional package missing): ${skipped.join('; ')}`);
  if (args.markdown) {
    console.log('');
    for (const line of markdown(results.map(rowOf))) console.log(line);
  }
  console.log(endLine(started));
}

await main();
