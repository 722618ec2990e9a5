// The soak test of @mlstls/node: `node dist/soak.js [--connections N] [--seconds S] [--seed X]
// [--sample-ms MS] [--think-ms MS]`. It keeps N mlstls connections open for S seconds against
// an echo server in a child process of its own (soak-server.ts) and measures that process's
// memory over time. Each connection, with choices from a seeded PRNG, writes random data and
// checks its echo byte for byte, makes PCS updates and key updates, and ends gracefully or
// abruptly; some go through a plain TCP relay, most resume their slot's stored session, and
// each one that ends is replaced. Then every connection closes gracefully, and a summary says
// which errors were expected (caused by the run's own abrupt closes, src/errors.ts) and which
// were not, and whether the server's RSS stayed flat (src/memory.ts). The last line of stdout
// is the summary as JSON. Exit code 0 only with no unexpected error and a flat RSS.
import { setMaxListeners } from 'node:events';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { CLOSE_TIMEOUT_MS, type ClientCounters, Clients, OP_TIMEOUT_MS } from './client.js';
import { REFUSED_RESUMPTION, SERVER_ERRORS_AFTER_ABRUPT } from './errors.js';
import { type MemorySample, RSS_GROWTH_LIMIT, rssVerdict, WARMUP_FRACTION } from './memory.js';
import { parseOptions, type SoakOptions, USAGE, UsageError } from './options.js';
import { bump, type Counts, codeOf, type ServerStats } from './protocol.js';
import { Relay } from './relay.js';
import { ServerProcess } from './server-process.js';
import { sleep, TIMED_OUT, within } from './wait.js';

const MiB = 1024 * 1024;
/** Bound on one stats request to the server (it collects garbage first). */
const STATS_TIMEOUT_MS = 10_000;
/** The run stops early past this many unexpected errors: the report is made by then. */
const MAX_UNEXPECTED = 1000;

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const sum = (counts: Counts): number => Object.values(counts).reduce((total, n) => total + n, 0);
const list = (counts: Counts): string => {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${code} ${n}`).join(', ');
};

/**
 * The server's errors split by the rule of src/errors.ts: the codes an abrupt close causes
 * count as expected up to one per abrupt close (and per destroy after a failure), refused
 * resumptions up to the client's refusals that followed an abrupt close; the rest, and any
 * excess, is unexpected.
 */
function classifyServerErrors(
  server: ServerStats['counters'],
  client: ClientCounters,
): { expected: Counts; unexpected: Counts; budget: number } {
  const expected: Counts = {};
  const unexpected: Counts = {};
  const budget = sum(client.abruptCloses) + client.destroyedAfterFailure;
  let left = budget;
  let refusalsLeft = client.refusedAfterAbrupt;
  const sources = [
    ["'error'", server.socketErrors],
    ["'tlsClientError'", server.clientErrors],
  ] as const;
  for (const [event, counts] of sources) {
    for (const [code, n] of Object.entries(counts)) {
      const key = `${event} ${code}`;
      let allowed = 0;
      if (SERVER_ERRORS_AFTER_ABRUPT.includes(code)) {
        allowed = Math.min(n, left);
        left -= allowed;
      } else if (event === "'tlsClientError'" && code === REFUSED_RESUMPTION) {
        allowed = Math.min(n, refusalsLeft);
        refusalsLeft -= allowed;
      }
      if (allowed > 0) bump(expected, key, allowed);
      if (n > allowed) bump(unexpected, allowed > 0 ? `${key} (over budget)` : key, n - allowed);
    }
  }
  // A server socket that ended truncated (the binding's `truncated`, no 'error') used up an
  // abrupt close too: truncations beyond what is left are graceful closes that lost their
  // close_notify.
  const truncatedOver = server.truncated - left;
  if (truncatedOver > 0) bump(unexpected, 'truncated server sockets (over budget)', truncatedOver);
  for (const [what, n] of Object.entries(server.uncaught)) bump(unexpected, what, n);
  return { expected, unexpected, budget };
}

async function run(options: SoakOptions): Promise<boolean> {
  const durationMs = options.seconds * 1000;
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  const server = await ServerProcess.start();
  const relay = await Relay.start(server.port);
  const stopping = new AbortController();
  const stopped = stopping.signal;
  // Every slot's pause listens to it: one listener per connection is no leak.
  setMaxListeners(0, stopped);
  const stop = (): void => stopping.abort();
  let earlyEnd: string | undefined;
  const endEarly = (why: string): void => {
    earlyEnd ??= why;
    stop();
  };
  void server.exited.then(() => {
    if (!stopped.aborted)
      endEarly(`the server process exited (${server.exit?.code ?? server.exit?.signal})`);
  });
  // Our own bugs or the binding's, in this process: counted, not fatal.
  const parentUncaught: Counts = {};
  process.on('uncaughtException', (error) => {
    bump(parentUncaught, `uncaughtException ${codeOf(error)}`);
    process.stderr.write(`soak: uncaught exception: ${String(error)}\n`);
  });
  process.on('unhandledRejection', (error) => {
    bump(parentUncaught, `unhandledRejection ${codeOf(error)}`);
    process.stderr.write(`soak: unhandled rejection: ${String(error)}\n`);
  });

  const clients = new Clients({
    serverPort: server.port,
    signaturePublicKey: server.signaturePublicKey,
    relay,
    seed: options.seed,
    thinkMs: options.thinkMs,
    stopped,
  });
  const counters = clients.counters;
  console.log(
    `soak: ${options.connections} connections for ${options.seconds} s, seed ${options.seed}, ` +
      `sample every ${secs(options.sampleMs)}, mean think time ${options.thinkMs} ms; ` +
      `server (a child process) on 127.0.0.1:${server.port}, relay on 127.0.0.1:${relay.port}; ` +
      `${cpus().length} cores, Node ${process.version}`,
  );

  // Connections start spread over the first 10% of the run (10 s at most), not all at once.
  const rampMs = Math.min(10_000, durationMs * 0.1);
  const slots = Array.from({ length: options.connections }, (_, slot) =>
    clients.runSlot(slot, (rampMs * slot) / options.connections),
  );

  // Samples every sampleMs, and always at the end of warm-up and at the end of the run.
  const warmupEndMs = Math.round(durationMs * WARMUP_FRACTION);
  const times = new Set<number>();
  for (let t = options.sampleMs; t < durationMs; t += options.sampleMs) times.add(t);
  times.add(warmupEndMs);
  times.add(durationMs);
  const samples: MemorySample[] = [];
  // Warm-up ends at its time, or later once every slot has completed its first handshake: on a
  // loaded runner the ramp can outlast it, and memory taken by connections still arriving is
  // not growth.
  let warmedUp = false;
  const serverStatsTimeouts = { n: 0 };
  for (const t of [...times].sort((a, b) => a - b)) {
    await sleep(t - elapsed(), stopped);
    if (stopped.aborted) break;
    const at = elapsed();
    const stats = await server.stats(STATS_TIMEOUT_MS);
    if (stats === undefined) {
      serverStatsTimeouts.n++;
      continue;
    }
    const { rss, heapUsed, heapTotal, external } = stats.memory;
    const endsWarmup = !warmedUp && t >= warmupEndMs && clients.started === options.connections;
    if (endsWarmup) warmedUp = true;
    samples.push({
      elapsedMs: at,
      rss,
      heapUsed,
      heapTotal,
      external,
      warmupEnd: endsWarmup,
    });
    console.log(
      `${secs(at).padStart(8)}  open ${clients.open}  handshakes ${counters.handshakes}  ` +
        `resumed ${counters.resumed}  updates ${counters.updates}  key updates ${counters.keyUpdates}  ` +
        `echoed ${mib(counters.bytesEchoed)}  server rss ${mib(rss)}  heap+external ${mib(heapUsed + external)}  ` +
        `client rss ${mib(process.memoryUsage().rss)}  unexpected ${clients.unexpectedTotal}`,
    );
    if (clients.unexpectedTotal >= MAX_UNEXPECTED) {
      endEarly(`${clients.unexpectedTotal} unexpected errors`);
    }
  }
  const loadMs = elapsed();
  stop();

  // Every connection finishes its operation and closes gracefully (all bounded).
  const drainMs = OP_TIMEOUT_MS + 2 * CLOSE_TIMEOUT_MS + 5000;
  if ((await within(Promise.all(slots), drainMs)) === TIMED_OUT) {
    bump(counters.unexpected, 'TIMEOUT_DRAIN');
    for (const socket of clients.live) socket.destroy();
  }
  const clientsLeft = clients.live.size;
  if (clientsLeft > 0) bump(counters.unexpected, 'CLIENT_SOCKETS_LEFT_OPEN', clientsLeft);
  // The relay's pairs close after their peers: give them a moment.
  for (let waited = 0; relay.open > 0 && waited < 5000; waited += 50) await sleep(50);
  const relayLeft = relay.open;
  if (relayLeft > 0) bump(counters.unexpected, 'RELAY_PAIRS_LEFT_OPEN', relayLeft);
  await relay.close();
  const final = await server.stop(10_000, 20_000);
  const closedMs = elapsed();
  const serverLeft = final === undefined ? '?' : final.openSockets + final.tcpConnections;
  console.log(
    `${secs(closedMs).padStart(8)}  closed; left open: ${clientsLeft} client sockets, ${relayLeft} relay pairs, ${serverLeft} server connections`,
  );
  for (const [what, n] of Object.entries(parentUncaught)) bump(counters.unexpected, what, n);

  // ---- the summary -------------------------------------------------------------------------
  const serverUnexpectedExtra: Counts = {};
  if (final === undefined) bump(serverUnexpectedExtra, 'SERVER_DID_NOT_REPORT');
  if (serverStatsTimeouts.n > 0)
    bump(serverUnexpectedExtra, 'SERVER_STATS_TIMEOUT', serverStatsTimeouts.n);
  if (final !== undefined && final.openSockets + final.tcpConnections > 0) {
    bump(
      serverUnexpectedExtra,
      'SERVER_SOCKETS_LEFT_OPEN',
      final.openSockets + final.tcpConnections,
    );
  }
  if (earlyEnd !== undefined) bump(serverUnexpectedExtra, `RUN_ENDED_EARLY: ${earlyEnd}`);
  const classified =
    final === undefined
      ? { expected: {}, unexpected: {}, budget: 0 }
      : classifyServerErrors(final.counters, counters);
  const serverUnexpected = { ...classified.unexpected };
  for (const [code, n] of Object.entries(serverUnexpectedExtra)) bump(serverUnexpected, code, n);
  const verdict = rssVerdict(samples, durationMs);
  const unexpectedTotal = sum(counters.unexpected) + sum(serverUnexpected);
  const pass = unexpectedTotal === 0 && verdict.flat;

  const s = final?.counters;
  const abrupt = sum(counters.abruptCloses);
  const lines = [
    '',
    `soak: ${secs(loadMs)} of load with ${options.connections} connections, then ${secs(closedMs - loadMs)} closing them (seed ${options.seed})`,
    `client: ${counters.connections} connections, ${counters.handshakes} handshakes (${counters.handshakes - counters.resumed} full, ${counters.resumed} resumed); ` +
      `${counters.resumptionsTried} resumptions tried, ${counters.resumptionsRefused} refused (${counters.refusedAfterAbrupt} right after an abrupt close)`,
    `        ${counters.updates} updates, ${counters.keyUpdates} key updates (${counters.keyUpdatesRequested} asking the server for one; ${counters.keyUpdatesReceived} received), ` +
      `${counters.echoes} echoes: ${mib(counters.bytesEchoed)} checked byte for byte`,
    `        closes: ${counters.gracefulCloses} graceful, ${abrupt} abrupt (${list(counters.abruptCloses)}; in the middle of: ${list(counters.abruptPhases)}), ` +
      `${counters.destroyedAfterFailure} destroyed after a failure; ${counters.truncated} client sockets ended truncated`,
    s === undefined
      ? 'server: no final report'
      : `server: ${s.handshakes} handshakes (${s.resumed} resumed), epochs ${list(s.epochs)}, key updates ${list(s.keyUpdates)}, ` +
        `${mib(s.bytesEchoed)} echoed, ${s.closed} sockets closed, ${s.truncated} ended truncated` +
        (s.truncatedKnown === 0
          ? ' (the binding has no socket.truncated yet)'
          : ` (of ${s.truncatedKnown} reporting it)`),
    'errors, client side:',
    `  expected:   ${list(counters.expected)}`,
    `  UNEXPECTED: ${list(counters.unexpected)}`,
    `errors, server side (budget of the abrupt-close codes: ${classified.budget}, one per abrupt close or destroy after a failure):`,
    `  expected:   ${list(classified.expected)}`,
    `  UNEXPECTED: ${list(serverUnexpected)}`,
    `server RSS, each sample after a full GC (${samples.length} samples):`,
    ...chunk(
      samples.map((sample) => `${secs(sample.elapsedMs)} ${mib(sample.rss)}`),
      6,
    ).map((row) => `  ${row.join(' | ')}`),
    `  rule: the highest RSS of the last third (from ${secs(verdict.lastThirdFromMs)}) <= the RSS at the end of warm-up (${secs(verdict.baseline?.elapsedMs ?? verdict.warmupEndMs)}) x ${1 + RSS_GROWTH_LIMIT}`,
    verdict.baseline === undefined || verdict.peak === undefined
      ? '  not enough samples: RSS not shown flat'
      : `  end of warm-up ${secs(verdict.baseline.elapsedMs)}: ${mib(verdict.baseline.rss)}; peak of the last third ${secs(verdict.peak.elapsedMs)}: ${mib(verdict.peak.rss)} ` +
        `(${verdict.growth >= 0 ? '+' : ''}${(verdict.growth * 100).toFixed(1)}%, limit +${RSS_GROWTH_LIMIT * 100}%): ${verdict.flat ? 'flat' : 'NOT FLAT'}`,
    `result: ${pass ? 'PASS' : 'FAIL'} (${unexpectedTotal} unexpected errors, RSS ${verdict.flat ? 'flat' : 'not flat'})`,
  ];
  for (const line of lines) console.log(line);
  const round = (n: number): number => Math.round(n * 10) / 10;
  const summary = {
    soak: {
      pass,
      options,
      loadSeconds: round(loadMs / 1000),
      closingSeconds: round((closedMs - loadMs) / 1000),
      cores: cpus().length,
      node: process.version,
      unexpected: unexpectedTotal,
      client: { ...counters, unexpected: counters.unexpected },
      server:
        final === undefined
          ? null
          : { ...final.counters, expected: classified.expected, unexpected: serverUnexpected },
      serverErrorBudget: classified.budget,
      rss: {
        rule: 'max RSS of the samples taken from 2/3 of the run to its end <= RSS of the sample taken at 25% of the run x 1.10',
        baselineMiB: verdict.baseline === undefined ? null : round(verdict.baseline.rss / MiB),
        baselineAtSeconds:
          verdict.baseline === undefined ? null : round(verdict.baseline.elapsedMs / 1000),
        peakMiB: verdict.peak === undefined ? null : round(verdict.peak.rss / MiB),
        peakAtSeconds: verdict.peak === undefined ? null : round(verdict.peak.elapsedMs / 1000),
        growthPercent: Number.isFinite(verdict.growth) ? round(verdict.growth * 100) : null,
        limitPercent: RSS_GROWTH_LIMIT * 100,
        flat: verdict.flat,
        samples: samples.map((sample) => ({
          seconds: round(sample.elapsedMs / 1000),
          rssMiB: round(sample.rss / MiB),
          heapUsedMiB: round(sample.heapUsed / MiB),
          heapTotalMiB: round(sample.heapTotal / MiB),
          externalMiB: round(sample.external / MiB),
        })),
      },
    },
  };
  console.log(JSON.stringify(summary));
  return pass;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const rows: T[][] = [];
  for (let index = 0; index < items.length; index += size)
    rows.push(items.slice(index, index + size));
  return rows;
}

let options: SoakOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  if (error.message !== '') console.error(`soak: ${error.message}`);
  console.error(USAGE);
  process.exit(error.message === '' ? 0 : 2);
}
run(options).then(
  (pass) => process.exit(pass ? 0 : 1),
  (error: unknown) => {
    console.error('soak: the run failed:', error);
    process.exit(1);
  },
);
