// `pnpm model-check` (the CI bound) and `pnpm model-check:large`: explores every part of the
// bound, prints the figures and the first counterexample, and exits 1 on a violation.
// `--part NAME` runs one part; `--writes N` and the like change it; `--replay '<sequence>'`
// re-executes one reported sequence.
import { parseArgs } from 'node:util';
import { BOUND_SETS, type Bounds, describeBounds, type PerSide } from './bounds.js';
import { parseSequence } from './events.js';
import { explore, noStats, replaySequence, type Stats } from './explore.js';
import { formatResult, formatStats } from './report.js';
import { INVARIANTS } from './violation.js';
import type { Fault } from './world.js';

const { values } = parseArgs({
  options: {
    bound: { type: 'string', default: 'ci' },
    part: { type: 'string' },
    seed: { type: 'string', default: 'model-check' },
    fault: { type: 'string' },
    order: { type: 'string', default: 'dfs' },
    'max-transitions': { type: 'string' },
    replay: { type: 'string' },
    writes: { type: 'string' },
    updates: { type: 'string' },
    'key-updates': { type: 'string' },
    breaks: { type: 'string' },
    crashes: { type: 'string' },
    rollbacks: { type: 'string' },
    depth: { type: 'string' },
  },
});

const FAULTS: readonly Fault[] = ['drop-writes', 'repeat-random'];

/** The parts to explore: the bound's, or one of them, changed by the command line. */
function parts(): Bounds[] {
  const set = BOUND_SETS[values.bound as keyof typeof BOUND_SETS];
  if (set === undefined) throw new Error(`unknown bound ${values.bound}: ci or large`);
  const chosen =
    values.part === undefined ? set.parts : set.parts.filter((p) => p.name === values.part);
  if (chosen.length === 0) {
    throw new Error(`no part ${values.part}: ${set.parts.map((p) => p.name).join(', ')}`);
  }
  const count = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const changes = {
    writes: count(values.writes),
    updates: count(values.updates),
    keyUpdates: count(values['key-updates']),
    breaks: count(values.breaks),
    crashes: count(values.crashes),
    rollbacks: count(values.rollbacks),
    depth: count(values.depth),
  };
  const changed = Object.values(changes).some((value) => value !== undefined);
  return chosen.map((part) => {
    if (!changed) return part;
    const pick = (value: number | undefined, base: PerSide): PerSide => value ?? base;
    return {
      ...part,
      name: `${part.name}, changed`,
      writes: pick(changes.writes, part.writes),
      updates: pick(changes.updates, part.updates),
      keyUpdates: pick(changes.keyUpdates, part.keyUpdates),
      breaks: changes.breaks ?? part.breaks,
      crashes: changes.crashes ?? part.crashes,
      rollbacks: changes.rollbacks ?? part.rollbacks,
      depth: changes.depth ?? part.depth,
    };
  });
}

async function main(): Promise<number> {
  const fault = values.fault as Fault | undefined;
  if (fault !== undefined && !FAULTS.includes(fault)) {
    throw new Error(`unknown fault ${fault}: ${FAULTS.join(' or ')}`);
  }
  const chosen = parts();
  if (values.replay !== undefined) {
    const violation = await replaySequence(parseSequence(values.replay), {
      bounds: chosen[0]!,
      seed: values.seed,
      fault,
    });
    if (violation === undefined) {
      console.log('the sequence runs without a violation');
      return 0;
    }
    console.log(`VIOLATION of ${INVARIANTS[violation.invariant]}\n  ${violation.message}`);
    return 1;
  }
  console.log(
    `mlstls model check of the real Initiator and Responder (suite 1, seed ${values.seed}), bound ${values.bound}` +
      (fault === undefined ? '' : `, fault ${fault}`),
  );
  const totals: Stats = noStats();
  for (const bounds of chosen) {
    console.log(`\npart ${describeBounds(bounds)}`);
    const result = await explore({
      bounds,
      seed: values.seed,
      fault,
      order: values.order === 'bfs' ? 'bfs' : 'dfs',
      ...(values['max-transitions'] === undefined
        ? {}
        : { maxTransitions: Number(values['max-transitions']) }),
      progress: (stats) => console.log(`  ... ${formatStats(stats)}`),
    });
    console.log(formatResult(result));
    for (const key of Object.keys(totals) as (keyof Stats)[]) {
      totals[key] =
        key === 'maxDepth'
          ? Math.max(totals[key], result.stats[key])
          : totals[key] + result.stats[key];
    }
    if (result.violation !== undefined) return 1;
  }
  if (chosen.length > 1) console.log(`\nbound ${values.bound} in all: ${formatStats(totals)}`);
  return 0;
}

process.exitCode = await main();
