/**
 * Deno benchmark (issue 18): `@mlstls/deno` against Deno's own TLS (rustls) in ONE Deno 2.9.6
 * process (the `deno` npm package of packages/deno, run offline on the built packages), both
 * ends of every connection on 127.0.0.1; then `@mlstls/streams` in headless Chromium over an
 * in-page loopback, where there is no TLS to compare with.
 *
 *   pnpm bench:deno            (from tools/bench, once the packages are built)
 *   pnpm bench:deno -- --rounds 7 --only deno --provider=noble --check
 *
 * Figures: sequential handshakes/s (connect, both ends' handshakes complete, close), and bulk
 * MB/s (32 MiB in 64 KiB writes over one connection, read to the end by the other end; the
 * median of several connections). Every connection uses the run's chain, made by
 * @mlstls/test-support: an Ed25519 root, a P-256 intermediate, an Ed25519 leaf for localhost
 * and 127.0.0.1; servers send leaf + intermediate, clients trust the root.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { testPki } from '@mlstls/test-support';
import type { DenoChildConfig, DenoChildReport, DenoSamples } from './deno-child.js';
import {
  type Column,
  cpuSummary,
  endLine,
  type Figure,
  formatHead,
  formatRow,
  loadAverage,
  positive,
  printFigures,
  spread,
  verdictLine,
} from './harness.js';
import { runInChromium } from './streams-browser.js';

const SECTIONS = ['deno', 'browser'] as const;
type Section = (typeof SECTIONS)[number];

const { values: args } = parseArgs({
  // `pnpm bench:deno -- --rounds 7` may pass the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    rounds: { type: 'string', default: '5' },
    'round-ms': { type: 'string', default: '800' },
    'warmup-ms': { type: 'string', default: '2000' },
    'bulk-mib': { type: 'string', default: '32' },
    'bulk-write-kib': { type: 'string', default: '64' },
    'bulk-connections': { type: 'string', default: '5' },
    provider: { type: 'string' },
    only: { type: 'string', default: SECTIONS.join(',') },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
    check: { type: 'boolean', default: false },
  },
});

const ONLY = new Set(args.only.split(',').map((name) => name.trim()));
for (const name of ONLY) {
  if (!SECTIONS.includes(name as Section)) throw new Error(`--only: unknown section ${name}`);
}
const load = {
  rounds: Math.floor(positive('rounds', args.rounds)),
  roundMs: positive('round-ms', args['round-ms']),
  warmupMs: positive('warmup-ms', args['warmup-ms']),
  bulkBytes: Math.floor(positive('bulk-mib', args['bulk-mib']) * 2 ** 20),
  writeBytes: Math.floor(positive('bulk-write-kib', args['bulk-write-kib']) * 1024),
  bulkConnections: Math.floor(positive('bulk-connections', args['bulk-connections'])),
};
const PROVIDER = args.provider;
/** Issue 18's targets, as ratios of mlstls to Deno's TLS. */
const HANDSHAKE_TARGET = 0.4;
const BULK_TARGET = 0.2;

/** The run's chain: the servers' chain and key, the root the clients trust. */
interface Pem {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');

/** The Deno executable of packages/deno's `deno` devDependency (not its Node wrapper). */
function denoBinary(): string {
  const require = createRequire(join(root, 'packages', 'deno', 'package.json'));
  return (require('deno/install_api.cjs') as { runInstall(): string }).runInstall();
}

/** Runs deno-child.ts under Deno with `config`, handing each report to `onReport`. */
async function runDeno(
  config: DenoChildConfig,
  onReport: (report: DenoChildReport) => void,
): Promise<void> {
  const child = spawn(
    denoBinary(),
    [
      'run',
      '-A',
      '--no-lock',
      '--no-check',
      // deno-child.ts imports web-streams-load.ts as `.js`, as the TypeScript sources do.
      '--sloppy-imports',
      '--v8-flags=--expose-gc',
      join(here, 'deno-child.ts'),
      JSON.stringify(config),
    ],
    {
      cwd: join(here, '..'),
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  for await (const line of createInterface({ input: child.stdout! })) {
    onReport(JSON.parse(line) as DenoChildReport);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`deno exited with ${code}`);
}

const STACK_COLUMNS: readonly Column[] = [
  { title: 'stack', width: 28, align: 'left' },
  { title: 'median (min-max)', width: 22, align: 'right' },
];

/** A section's title, then each stack's median and range. */
function printSection(title: string, samples: DenoSamples): void {
  console.log('');
  console.log(title);
  console.log(formatHead(STACK_COLUMNS, '  '));
  for (const [name, values] of [
    ['Deno.connectTls', samples.connectTls],
    ['Deno.startTls, TCP_NODELAY', samples.startTls],
    ['@mlstls/deno', samples.mlstls],
  ] as const) {
    console.log(`  ${formatRow(STACK_COLUMNS, [name, spread(values)])}`);
  }
}

/** The figures of mlstls against each of the two rustls stacks. */
function figuresOf(name: string, samples: DenoSamples, target: number): Figure[] {
  const against = (baselineName: string, baseline: readonly number[], suffix = ''): Figure => ({
    name: `${name}${suffix}`,
    baselineName,
    baseline,
    candidate: samples.mlstls,
    pairRatios: samples.mlstls.map((value, i) => value / baseline[i]!),
    target: { direction: '>=', value: target },
  });
  return [
    against('Deno.connectTls', samples.connectTls),
    against('startTls, TCP_NODELAY', samples.startTls, ', NODELAY'),
  ];
}

/** The Deno part; returns the figures missed. */
async function denoPart(pem: Pem): Promise<string[]> {
  const figures: Figure[] = [];
  const provider = PROVIDER === undefined ? {} : { provider: PROVIDER };
  await runDeno({ ...pem, ...load, ...provider }, (report) => {
    if ('started' in report) {
      const { deno, v8 } = report.started;
      console.log(
        `Deno ${deno} (V8 ${v8}), one process, both ends of every connection on 127.0.0.1`,
      );
    } else if ('checked' in report) {
      const { crypto, ciphersuite, authorized, peer } = report.checked;
      const asked = PROVIDER === undefined ? 'no provider option' : `provider '${PROVIDER}'`;
      console.log(
        `@mlstls/deno ran on crypto '${crypto}' (${asked}), ${ciphersuite}, ` +
          `chain ${authorized ? 'verified' : 'NOT verified'} (leaf CN ${peer})`,
      );
    } else if ('handshakes' in report) {
      printSection(
        `1. Sequential handshakes/s (connect, both ends' handshakes complete, close): ` +
          `${load.rounds} rounds of ${load.roundMs} ms per stack after ${load.warmupMs} ms of ` +
          'warm-up, each stack first in turn',
        report.handshakes,
      );
      console.log(
        '  Deno.connectTls sets no TCP_NODELAY: its Finished waits for a delayed ACK. WebCrypto ' +
          `waited up to ${report.settleMs.toFixed(0)} ms before a round, untimed (deno-child.ts).`,
      );
      figures.push(...figuresOf('handshakes/s, sequential', report.handshakes, HANDSHAKE_TARGET));
    } else {
      printSection(
        `2. Bulk MB/s: ${load.bulkBytes / 2 ** 20} MiB in ${load.writeBytes / 1024} KiB writes ` +
          `over one connection, read to the end by the server; ${load.bulkConnections} ` +
          'connections per stack, each stack first in turn',
        report.bulk,
      );
      const name = `bulk MB/s, median of ${load.bulkConnections}`;
      figures.push(...figuresOf(name, report.bulk, BULK_TARGET));
    }
  });
  console.log('');
  console.log("Summary (ratio = mlstls median / Deno's median; issue 18's targets):");
  return printFigures(figures);
}

const BROWSER_COLUMNS: readonly Column[] = [
  { title: 'provider', width: 10, align: 'left' },
  { title: 'crypto', width: 10, align: 'left' },
  { title: 'handshakes/s (min-max)', width: 22, align: 'right' },
  { title: 'bulk MB/s (min-max)', width: 22, align: 'right' },
];

async function browserPart(pem: Pem): Promise<void> {
  console.log('');
  if (!existsSync(args.chromium)) {
    console.log(
      `No Chromium at ${args.chromium} (--chromium, or CHROMIUM_PATH): browser part skipped.`,
    );
    return;
  }
  // The default (no provider option), the portable one, and --provider when it is another.
  const providers = [...new Set([null, 'noble', PROVIDER ?? null])];
  const { version, rows } = await runInChromium(args.chromium, { ...pem, ...load, providers });
  console.log(
    `3. Chromium ${version}, headless, one page: @mlstls/streams client and server over an ` +
      'in-page loopback (two TransformStreams); the same figures, no TLS to compare with',
  );
  console.log(formatHead(BROWSER_COLUMNS, '  '));
  for (const row of rows) {
    console.log(
      `  ${formatRow(BROWSER_COLUMNS, [
        row.provider ?? 'default',
        row.crypto,
        spread(row.handshakes),
        spread(row.bulk),
      ])}`,
    );
  }
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  console.log(
    "Deno benchmark (issue 18): @mlstls/deno against Deno's TLS; @mlstls/streams in Chromium",
  );
  console.log(`${cpuSummary()}; load average at start ${loadAverage()}`);
  const pki = await testPki();
  const pem = {
    cert: pki.server.pem + pki.intermediate.pem,
    key: pki.server.keyPem,
    ca: pki.root.pem,
  };
  let missed: string[] | undefined;
  if (ONLY.has('deno')) {
    console.log('');
    missed = await denoPart(pem);
  }
  if (ONLY.has('browser')) await browserPart(pem);
  console.log('');
  if (missed !== undefined) console.log(verdictLine(missed));
  console.log(endLine(started));
  if (args.check && (missed?.length ?? 0) > 0) process.exitCode = 1;
}

await main();
