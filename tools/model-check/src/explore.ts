// Stateless exploration: endpoints cannot be cloned, so a state is reached by re-executing its
// event sequence from the start in a new world. A fingerprint of the observable world skips
// states already seen. Crash variants of a step (a crash of either side before or after each of
// its compare-and-sets) are discovered by executing the step without a crash first.
//
// Depth-first (the default) continues on the live world into a state's first successor, so
// that only the other successors re-execute their sequence; breadth-first re-executes every
// transition and finds shortest counterexamples. A depth-first counterexample is shortened by
// deleting events while the same invariant still fails.
import type { Bounds } from './bounds.js';
import { type Crash, formatSequence, type Step } from './events.js';
import { fingerprint, replayInput } from './fingerprint.js';
import { dayClock } from './random.js';
import { SIDES, type Side } from './side.js';
import type { CrashPoint } from './store.js';
import { INVARIANTS, type Invariant, Violation } from './violation.js';
import { type Fault, World, type WorldOptions } from './world.js';

export interface ExploreOptions {
  readonly bounds: Bounds;
  readonly seed?: string;
  readonly fault?: Fault | undefined;
  readonly order?: 'dfs' | 'bfs';
  /** Stop after this many transitions (default: none). */
  readonly maxTransitions?: number;
  /** Called every 500 transitions with the figures so far. */
  readonly progress?: (stats: Stats) => void;
}

export interface Stats {
  /** Distinct fingerprints reached. */
  states: number;
  /** Transitions tried (each an event applied to a state). */
  transitions: number;
  /** Events executed in all, re-executions included. */
  events: number;
  maxDepth: number;
  /** States with nothing in flight, where liveness and agreement were checked. */
  quietStates: number;
  /** States reached by a crash at a persist point. */
  crashes: number;
  /** Rollbacks replayed (each a distinct replay). */
  rollbacks: number;
  elapsedMs: number;
}

/** Stats before anything was explored. */
export function noStats(): Stats {
  return {
    states: 0,
    transitions: 0,
    events: 0,
    maxDepth: 0,
    quietStates: 0,
    crashes: 0,
    rollbacks: 0,
    elapsedMs: 0,
  };
}

interface Counterexample {
  readonly invariant: Invariant;
  readonly description: string;
  readonly message: string;
  readonly steps: readonly Step[];
  /** The sequence as `--replay` takes it. */
  readonly sequence: string;
  /** The length of the sequence the search met it with, before shortening. */
  readonly foundAtLength: number;
}

export interface ExploreResult {
  readonly stats: Stats;
  readonly violation?: Counterexample;
  /** Whether every transition within the bounds was tried. */
  readonly complete: boolean;
}

const POINTS: readonly CrashPoint[] = ['before', 'after'];

export async function explore(options: ExploreOptions): Promise<ExploreResult> {
  const search = new Search(options);
  return search.run();
}

class Search {
  readonly #options: ExploreOptions;
  readonly #bounds: Bounds;
  readonly #world: WorldOptions;
  readonly #seen = new Set<string>();
  /** Replay inputs already tried by a rollback. */
  readonly #replays = new Set<string>();
  /** Sequences still to try: a state's sequence plus the event to apply to it. */
  readonly #frontier: Step[][] = [];
  readonly #stats: Stats = noStats();
  readonly #started = performance.now();

  constructor(options: ExploreOptions) {
    this.#options = options;
    this.#bounds = options.bounds;
    this.#world = worldOptions(options);
  }

  async run(): Promise<ExploreResult> {
    const dfs = this.#options.order !== 'bfs';
    this.#frontier.push([]);
    for (;;) {
      const next = dfs ? this.#frontier.pop() : this.#frontier.shift();
      if (next === undefined || this.#exhausted()) break;
      let steps = next;
      try {
        await this.#visit(steps, dfs, (longer) => {
          steps = longer;
        });
      } catch (error) {
        if (!(error instanceof Violation)) throw error;
        return this.#result(await this.#counterexample(error, steps));
      }
    }
    return this.#result(undefined);
  }

  /**
   * Executes `steps` and, while each state reached is new, checks it and queues its successors;
   * depth-first, it goes on into the first successor on the same world.
   */
  async #visit(
    start: readonly Step[],
    continueLive: boolean,
    reached: (steps: Step[]) => void,
  ): Promise<void> {
    const world = await World.create(this.#world);
    let steps = [...start];
    let writes: Record<Side, number> = { initiator: 0, responder: 0 };
    for (const step of steps) writes = await world.apply(step);
    this.#stats.events += steps.length;
    for (;;) {
      this.#stats.transitions++;
      this.#progress();
      this.#queueCrashes(steps, writes, world);
      if (!(await this.#isNew(world, steps))) return;
      const successors = await this.#successors(world, steps);
      if (successors.length === 0 || world.current.quiet || !continueLive) {
        for (const event of successors.reverse()) this.#frontier.push([...steps, { event }]);
        await this.#checkLeaf(world, steps);
        return;
      }
      const [first, ...others] = successors;
      for (const event of others.reverse()) this.#frontier.push([...steps, { event }]);
      steps = [...steps, { event: first! }];
      reached(steps);
      writes = await world.apply(steps[steps.length - 1]!);
      this.#stats.events++;
      if (this.#exhausted()) return;
    }
  }

  /** Crash variants of the last step: each compare-and-set of each side, before and after. */
  #queueCrashes(steps: readonly Step[], writes: Record<Side, number>, world: World): void {
    const last = steps[steps.length - 1];
    if (last === undefined || last.crash !== undefined || last.event.kind === 'rollback') return;
    if (world.used.crashes >= this.#bounds.crashes) return;
    const prefix = steps.slice(0, -1);
    for (const side of SIDES) {
      for (let write = 1; write <= writes[side]; write++) {
        for (const point of POINTS) {
          const crash: Crash = { side, write, point };
          this.#frontier.push([...prefix, { event: last.event, crash }]);
        }
      }
    }
  }

  async #isNew(world: World, steps: readonly Step[]): Promise<boolean> {
    const print = await fingerprint(world, this.#bounds);
    if (this.#seen.has(print)) return false;
    this.#seen.add(print);
    const stats = this.#stats;
    stats.states++;
    stats.maxDepth = Math.max(stats.maxDepth, steps.length);
    const last = steps[steps.length - 1];
    if (last?.crash !== undefined) stats.crashes++;
    if (last?.event.kind === 'rollback') stats.rollbacks++;
    return true;
  }

  /** The enabled events, less rollbacks whose replay was already tried from another state. */
  async #successors(world: World, steps: readonly Step[]): Promise<Step['event'][]> {
    if (steps.length >= this.#bounds.depth) return [];
    const events = await world.enabled(this.#bounds);
    return events.filter((event) => {
      if (event.kind !== 'rollback') return true;
      const input = replayInput(world.connections[event.connection - 1]!);
      if (this.#replays.has(input)) return false;
      this.#replays.add(input);
      return true;
    });
  }

  /**
   * A state the search does not go on from on this world: at the depth bound everything in
   * flight is delivered; with nothing in flight, liveness, agreement and data flow are checked.
   */
  async #checkLeaf(world: World, steps: readonly Step[]): Promise<void> {
    if (steps.length >= this.#bounds.depth) await world.drain();
    if (await world.checkQuiet()) this.#stats.quietStates++;
  }

  #exhausted(): boolean {
    const limit = this.#options.maxTransitions;
    return limit !== undefined && this.#stats.transitions >= limit;
  }

  #progress(): void {
    if (this.#stats.transitions % 500 !== 0) return;
    this.#stats.elapsedMs = performance.now() - this.#started;
    this.#options.progress?.({ ...this.#stats });
  }

  async #counterexample(violation: Violation, found: readonly Step[]): Promise<Counterexample> {
    const steps = await shorten(found, violation.invariant, this.#options);
    const again = await replaySequence(steps, this.#options);
    const final = again ?? violation;
    return {
      invariant: final.invariant,
      description: INVARIANTS[final.invariant],
      message: final.message,
      steps,
      sequence: formatSequence(steps),
      foundAtLength: found.length,
    };
  }

  #result(violation: Counterexample | undefined): ExploreResult {
    this.#stats.elapsedMs = performance.now() - this.#started;
    return {
      stats: { ...this.#stats },
      complete: violation === undefined && this.#frontier.length === 0 && !this.#exhausted(),
      ...(violation === undefined ? {} : { violation }),
    };
  }
}

function worldOptions(options: { seed?: string; fault?: Fault | undefined }): WorldOptions {
  return { seed: options.seed ?? 'model-check', now: dayClock(), fault: options.fault };
}

/**
 * Deletes events from a counterexample while the shorter sequence still violates `invariant`:
 * one event at a time, then two, until no deletion does. A delivery left with nothing to
 * deliver is skipped, so that deleting an event also deletes the deliveries of what it sent.
 */
async function shorten(
  found: readonly Step[],
  invariant: Invariant,
  options: { bounds: Bounds; seed?: string; fault?: Fault | undefined },
): Promise<Step[]> {
  const failing = async (steps: readonly Step[]) => {
    const run = await execute(steps, options, true).catch(() => undefined);
    return run?.violation?.invariant === invariant ? run.executed : undefined;
  };
  let steps = [...found];
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = steps.length - 1; i >= 0 && !changed; i--) {
      const shorter = await failing(steps.filter((_, k) => k !== i));
      if (shorter !== undefined) [steps, changed] = [shorter, true];
    }
    for (let i = steps.length - 1; i >= 0 && !changed && steps.length <= 40; i--) {
      for (let j = steps.length - 1; j > i && !changed; j--) {
        const shorter = await failing(steps.filter((_, k) => k !== i && k !== j));
        if (shorter !== undefined) [steps, changed] = [shorter, true];
      }
    }
  }
  return steps;
}

/**
 * Re-executes one sequence, as a counterexample gives it, with the checks the explorer makes
 * at its end; returns the violation it meets, if any.
 */
export async function replaySequence(
  steps: readonly Step[],
  options: { bounds: Bounds; seed?: string; fault?: Fault | undefined },
): Promise<Violation | undefined> {
  return (await execute(steps, options, false)).violation;
}

/**
 * Runs `steps` from the start, then drains at the depth bound and checks a quiet end. Leniently,
 * a step that cannot run (a delivery with nothing in flight, a rollback to a connection that
 * does not exist) is skipped; `executed` is what ran.
 */
async function execute(
  steps: readonly Step[],
  options: { bounds: Bounds; seed?: string; fault?: Fault | undefined },
  lenient: boolean,
): Promise<{ violation: Violation | undefined; executed: Step[] }> {
  const executed: Step[] = [];
  try {
    const world = await World.create(worldOptions(options));
    for (const step of steps) {
      if (lenient && !world.canRun(step.event)) continue;
      executed.push(step);
      await world.apply(step);
    }
    if (executed.length >= options.bounds.depth) await world.drain();
    await world.checkQuiet();
    return { violation: undefined, executed };
  } catch (error) {
    if (error instanceof Violation) return { violation: error, executed };
    throw error;
  }
}
