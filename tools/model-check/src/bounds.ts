// How far the exploration goes. A bound is a set of parts, each explored exhaustively on its
// own: data and key updates multiply the interleavings of updates, breaks and crashes, so one
// exploration of everything at once is far beyond a CI budget. Deliveries are never bounded:
// the other events bound what is sent.
import type { Side } from './side.js';

/** A budget for each side, or the same for both. */
export type PerSide = number | Readonly<Record<Side, number>>;

export interface Bounds {
  readonly name: string;
  /** What the part is for, in a few words. */
  readonly covers: string;
  /** Application writes, over the whole run. */
  readonly writes: PerSide;
  /** `update()` calls. */
  readonly updates: PerSide;
  /** `keyUpdate()` calls (with or without `requestPeer`). */
  readonly keyUpdates: PerSide;
  /** Transport breaks (each followed by a resumption). */
  readonly breaks: number;
  /** Crashes at a persist point (each followed by a restart and a resumption). */
  readonly crashes: number;
  /** Responder store rollbacks with a replayed flight (each ends its run). */
  readonly rollbacks: number;
  /** The longest event sequence; a state at this depth is drained (every record delivered). */
  readonly depth: number;
}

export interface BoundSet {
  readonly name: string;
  readonly parts: readonly Bounds[];
}

export function perSide(value: PerSide, side: Side): number {
  return typeof value === 'number' ? value : value[side];
}

const NONE = {
  writes: 0,
  updates: 0,
  keyUpdates: 0,
  breaks: 0,
  crashes: 0,
  rollbacks: 0,
  depth: 60,
} as const;

export const BOUND_SETS: Readonly<Record<'ci' | 'large', BoundSet>> = {
  /** What `pnpm test` runs (and `pnpm model-check`): about 20 s of one core. */
  ci: {
    name: 'ci',
    parts: [
      {
        ...NONE,
        name: 'resumption',
        covers: 'updates, a break at any point, resumption, a rollback',
        updates: 1,
        breaks: 1,
        rollbacks: 1,
      },
      {
        ...NONE,
        name: 'crashes',
        covers: 'updates, a crash at every persist point of both sides, a rollback',
        updates: 1,
        crashes: 1,
        rollbacks: 1,
      },
      {
        ...NONE,
        name: 'data',
        covers: 'data and key updates (both kinds) of both sides',
        writes: 1,
        keyUpdates: 1,
      },
      {
        ...NONE,
        name: 'epochs',
        covers: 'data and key updates across updates of either side',
        writes: { initiator: 1, responder: 0 },
        updates: 1,
        keyUpdates: { initiator: 0, responder: 1 },
      },
    ],
  },
  /** `pnpm model-check:large`: about half an hour of one core. */
  large: {
    name: 'large',
    parts: [
      {
        ...NONE,
        name: 'restarts',
        covers: 'updates, a break and a crash in either order, a rollback',
        updates: 1,
        breaks: 1,
        crashes: 1,
        rollbacks: 1,
      },
      {
        ...NONE,
        name: 'two breaks',
        covers: 'updates, two breaks, a crash, a rollback',
        updates: 1,
        breaks: 2,
        crashes: 1,
        rollbacks: 1,
      },
      {
        ...NONE,
        name: 'two updates',
        covers:
          "two updates of each side and two breaks (the abstract model's budgets), a rollback",
        updates: 2,
        breaks: 2,
        rollbacks: 1,
      },
      {
        ...NONE,
        name: 'traffic',
        covers: 'data, key updates and updates of both sides',
        writes: 1,
        updates: 1,
        keyUpdates: 1,
      },
      {
        ...NONE,
        name: 'resumed traffic',
        covers: 'data and key updates of both sides, a break, a rollback',
        writes: 1,
        keyUpdates: 1,
        breaks: 1,
        rollbacks: 1,
      },
    ],
  },
};

function describePerSide(value: PerSide, what: string): string {
  if (typeof value === 'number') return `${value} ${what} per side`;
  return `${value.initiator} ${what} of I, ${value.responder} of R`;
}

export function describeBounds(bounds: Bounds): string {
  return (
    `${bounds.name} (${bounds.covers}): ${describePerSide(bounds.writes, 'write(s)')}, ` +
    `${describePerSide(bounds.updates, 'update(s)')}, ` +
    `${describePerSide(bounds.keyUpdates, 'key update(s)')}; ${bounds.breaks} break(s), ` +
    `${bounds.crashes} crash(es), ${bounds.rollbacks} rollback(s); depth ${bounds.depth}`
  );
}
