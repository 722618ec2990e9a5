/**
 * A small A/B harness: a baseline and a candidate doing the same work per item, warmed up,
 * then timed in alternating rounds, each side reported as the median of its rounds.
 */
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, platform } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Does `count` items of work and returns the number of payload bytes it handled. */
export type Round = (count: number) => number;

export interface Contender {
  readonly name: string;
  /** Called before each round, outside the timed region: fresh state (keys, protectors). */
  setup(): Round;
}

export interface CompareOptions {
  /** Payload bytes one item handles: every round must report exactly `count * itemBytes`. */
  readonly itemBytes: number;
  /** Warm-up time of each side before timing, in milliseconds. */
  readonly warmupMs: number;
  /** Target length of one timed round of the slower side, in milliseconds. */
  readonly roundMs: number;
  /** Timed rounds of each side at most. */
  readonly rounds: number;
  /** Timed rounds of each side at least, whatever the budget. */
  readonly minRounds: number;
  /** No round pair starts after this many milliseconds of timed rounds. */
  readonly budgetMs: number;
}

export interface Comparison {
  /** Items per timed round, the same for both sides. */
  readonly count: number;
  /** Throughput of each timed round in MB/s (10^6 payload bytes per second). */
  readonly baseline: readonly number[];
  readonly candidate: readonly number[];
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Collects garbage (when Node runs with --expose-gc) so that no round pays for another's. */
function collectGarbage(): void {
  gc?.();
}

/** Nanoseconds of one call of `round(count)`, after checking the bytes it reports. */
function time(round: Round, count: number, itemBytes: number, name: string): number {
  const start = process.hrtime.bigint();
  const bytes = round(count);
  const elapsed = Number(process.hrtime.bigint() - start);
  if (bytes !== count * itemBytes) {
    throw new Error(`${name}: ${bytes} bytes for ${count} items of ${itemBytes}`);
  }
  return elapsed;
}

/** Runs `round` in growing batches for at least `ms`; returns nanoseconds per item at the end. */
function warmUp(contender: Contender, ms: number, itemBytes: number): number {
  const round = contender.setup();
  const deadline = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  let count = 1;
  let perItem = Number.POSITIVE_INFINITY;
  while (process.hrtime.bigint() < deadline) {
    const elapsed = time(round, count, itemBytes, contender.name);
    perItem = elapsed / count;
    // Batches of about 20 ms once the speed is known, so that the estimate is not all startup.
    count = Math.max(1, Math.min(count * 2, Math.ceil(20e6 / perItem)));
  }
  return perItem;
}

export function compare(
  baseline: Contender,
  candidate: Contender,
  options: CompareOptions,
): Comparison {
  const { itemBytes } = options;
  // Interleaved warm-up, in two halves, so that both sides reach optimized code.
  let slowest = 0;
  for (let half = 0; half < 2; half++) {
    const a = warmUp(baseline, options.warmupMs / 2, itemBytes);
    const b = warmUp(candidate, options.warmupMs / 2, itemBytes);
    slowest = Math.max(a, b);
  }
  const count = Math.max(1, Math.round((options.roundMs * 1e6) / slowest));
  const toMBps = (ns: number) => (count * itemBytes * 1e3) / ns;

  const baselineMBps: number[] = [];
  const candidateMBps: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < options.rounds; i++) {
    const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (i >= options.minRounds && elapsedMs > options.budgetMs) break;
    // Alternate which side goes first, so that drift (clock, heat, heap) hits both alike.
    const order: [Contender, number[]][] =
      i % 2 === 0
        ? [
            [baseline, baselineMBps],
            [candidate, candidateMBps],
          ]
        : [
            [candidate, candidateMBps],
            [baseline, baselineMBps],
          ];
    for (const [contender, results] of order) {
      const round = contender.setup();
      collectGarbage();
      results.push(toMBps(time(round, count, itemBytes, contender.name)));
    }
  }
  return { count, baseline: baselineMBps, candidate: candidateMBps };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function digits(value: number): string {
  const size = Math.abs(value);
  if (size >= 100) return value.toFixed(0);
  if (size >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Median and min-max of a sample, e.g. `812 (700-850)`, or the value alone for one sample. */
export function spread(values: readonly number[]): string {
  if (values.length === 0) return '-';
  if (values.length === 1) return digits(values[0]!);
  return `${digits(median(values))} (${digits(Math.min(...values))}-${digits(Math.max(...values))})`;
}

/** The min-max of ratios, e.g. `0.85-1.02`, or `-` for fewer than two. */
export function range(values: readonly number[]): string {
  if (values.length < 2) return '-';
  return `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;
}

/** The version of an installed package, read beside the file a specifier resolves to. */
export function packageVersion(specifier: string, name: string): string {
  let url = new URL('.', import.meta.resolve(specifier));
  for (let depth = 0; depth < 4; depth++) {
    try {
      const manifest = JSON.parse(
        readFileSync(fileURLToPath(new URL('package.json', url)), 'utf8'),
      );
      if (manifest.name === name) return String(manifest.version);
    } catch {
      // no package.json at this level: go up
    }
    url = new URL('..', url);
  }
  return 'unknown';
}

/** The CPU model and core count, e.g. `CPU: AMD EPYC, 2 cores`. */
export function cpuSummary(): string {
  return `CPU: ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores`;
}

/** Node version, CPU model and core count: the first lines of every benchmark. */
export function machineSummary(): string[] {
  return [
    `Node ${process.version} (V8 ${process.versions.v8}, OpenSSL ${process.versions.openssl}), ${platform()} ${arch()}`,
    cpuSummary(),
    `GC between rounds: ${gc ? 'yes (--expose-gc)' : 'no (run with --expose-gc for it)'}`,
  ];
}

export interface Column {
  readonly title: string;
  readonly width: number;
  readonly align: 'left' | 'right';
}

/** Fixed-width rows, so that a table can be printed one row at a time as results arrive. */
export function formatRow(columns: readonly Column[], cells: readonly string[]): string {
  return columns
    .map((column, i) => {
      const cell = cells[i] ?? '';
      return column.align === 'left' ? cell.padEnd(column.width) : cell.padStart(column.width);
    })
    .join('  ')
    .trimEnd();
}

function formatRule(columns: readonly Column[]): string {
  return columns.map((column) => '-'.repeat(column.width)).join('  ');
}

/** A table's head: the titles, and a rule under them; each line after `indent`. */
export function formatHead(columns: readonly Column[], indent = ''): string {
  const titles = formatRow(
    columns,
    columns.map((column) => column.title),
  );
  return `${indent}${titles}\n${indent}${formatRule(columns)}`;
}

/** The 1, 5 and 15 minute load averages, as the benchmarks print them. */
export function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

/** The last line of every benchmark: the load average, and the run's time since `startedNs`. */
export function endLine(startedNs: bigint): string {
  const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9;
  return `Load average at end ${loadAverage()}; total time ${seconds.toFixed(1)} s.`;
}

interface Target {
  readonly direction: '>=' | '<=';
  readonly value: number;
}

/** A figure measured on a baseline and on mlstls in the same run, with its target ratio. */
export interface Figure {
  /** What is measured, with its unit. */
  readonly name: string;
  readonly baselineName: string;
  readonly baseline: readonly number[];
  readonly candidate: readonly number[];
  /** Ratios of samples taken side by side (round pairs, blocks), for the ratio's range. */
  readonly pairRatios: readonly number[];
  readonly target: Target;
}

/** mlstls's median over the baseline's. */
function ratioOf(figure: Figure): number {
  return median(figure.candidate) / median(figure.baseline);
}

function met(figure: Figure): boolean {
  const ratio = ratioOf(figure);
  return figure.target.direction === '>='
    ? ratio >= figure.target.value
    : ratio <= figure.target.value;
}

const SUMMARY: readonly Column[] = [
  { title: 'figure', width: 34, align: 'left' },
  { title: 'baseline', width: 22, align: 'left' },
  { title: 'baseline median (min-max)', width: 25, align: 'right' },
  { title: 'mlstls median (min-max)', width: 23, align: 'right' },
  { title: 'ratio', width: 5, align: 'right' },
  { title: 'ratio min-max', width: 13, align: 'right' },
  { title: 'target', width: 7, align: 'left' },
  { title: 'verdict', width: 7, align: 'left' },
];

/**
 * Prints the summary table of `figures`, one row each with its ratio and verdict; returns the
 * figures that missed their target, as `name ratio`, for `verdictLine`.
 */
export function printFigures(figures: readonly Figure[]): string[] {
  console.log(formatHead(SUMMARY));
  const missed: string[] = [];
  for (const figure of figures) {
    const ratio = ratioOf(figure);
    const ok = met(figure);
    if (!ok) missed.push(`${figure.name} ${ratio.toFixed(2)}`);
    console.log(
      formatRow(SUMMARY, [
        figure.name,
        figure.baselineName,
        spread(figure.baseline),
        spread(figure.candidate),
        ratio.toFixed(2),
        range(figure.pairRatios),
        `${figure.target.direction} ${figure.target.value}`,
        ok ? 'met' : 'MISSED',
      ]),
    );
  }
  return missed;
}

/** The verdict line of a benchmark with targets: every one met, or the ones missed. */
export function verdictLine(missed: readonly string[]): string {
  return missed.length === 0
    ? 'Every target met.'
    : `Targets MISSED: ${missed.join('; ')}. See tools/bench/README.md for the analysis.`;
}

/** A numeric option that must be above 0: `--name` as given on the command line. */
export function positive(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`--${name} must be > 0`);
  return number;
}
