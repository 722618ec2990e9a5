// The checker can fail: deliberately broken worlds, each caught by an invariant with an event
// sequence that reproduces the violation on its own (and only with the fault).
import { describe, expect, it } from 'vitest';
import type { Bounds } from '../src/bounds.js';
import { explore, replaySequence } from '../src/explore.js';
import type { Fault } from '../src/world.js';

/** Small: a break, a rollback, one update of each side; no data, key updates or crashes. */
const SMALL: Bounds = {
  name: 'faults',
  covers: 'updates, a break, a rollback',
  writes: 0,
  updates: 1,
  keyUpdates: 0,
  breaks: 1,
  crashes: 0,
  rollbacks: 1,
  depth: 20,
};

async function caught(fault: Fault) {
  const result = await explore({ bounds: SMALL, fault });
  const { violation } = result;
  if (violation === undefined) throw new Error(`the ${fault} fault went unnoticed`);
  console.log(
    `${fault}: ${violation.description}\n  ${violation.message}\n  after ${violation.sequence}`,
  );
  const again = await replaySequence(violation.steps, { bounds: SMALL, fault });
  expect(again?.invariant).toBe(violation.invariant);
  expect(again?.message).toBe(violation.message);
  expect(await replaySequence(violation.steps, { bounds: SMALL })).toBeUndefined();
  return violation;
}

describe('a broken world is caught', () => {
  it('a responder store that acknowledges writes and keeps nothing: a stored session is refused', async () => {
    const violation = await caught('drop-writes');
    expect(violation.invariant).toBe('resumable');
  });

  it('responders whose randomness repeats: the replay after a rollback re-enters a used key', async () => {
    const violation = await caught('repeat-random');
    expect(['rollback', 'nonce']).toContain(violation.invariant);
  });
});
