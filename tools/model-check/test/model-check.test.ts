// The CI bound of the model checker, over the real state machines (their sources): every part
// explored exhaustively, no violation.
import { describe, expect, it } from 'vitest';
import { BOUND_SETS, describeBounds } from '../src/bounds.js';
import { parseSequence } from '../src/events.js';
import { explore } from '../src/explore.js';
import { fingerprint } from '../src/fingerprint.js';
import { dayClock } from '../src/random.js';
import { formatResult } from '../src/report.js';
import { World } from '../src/world.js';

const [resumption] = BOUND_SETS.ci.parts;

describe('model check', () => {
  it('re-executing an event sequence gives the same world, byte for byte', async () => {
    const steps = parseSequence(
      'deliver I->R; deliver R->I; deliver I->R; I.write; deliver I->R; R.update; deliver R->I; ' +
        'deliver I->R; deliver R->I; break; deliver I->R; deliver R->I; deliver R->I; deliver I->R',
    );
    const options = { seed: 'determinism', now: dayClock() };
    const first = await World.replay(options, steps);
    const second = await World.replay(options, steps);
    expect(first.current.kind).toBe('resume');
    expect(first.current.endpoints.responder.state).toBe('synced');
    expect(await fingerprint(first, resumption!)).toBe(await fingerprint(second, resumption!));
    expect(first.ledger.size).toBe(second.ledger.size);
  });

  for (const bounds of BOUND_SETS.ci.parts) {
    it(`finds no violation in any interleaving of the CI bound's part ${describeBounds(bounds)}`, async () => {
      const result = await explore({ bounds });
      console.log(`ci part ${bounds.name}: ${formatResult(result)}`);
      expect(result.violation).toBeUndefined();
      expect(result.complete).toBe(true);
      expect(result.stats.quietStates).toBeGreaterThan(0);
      if (bounds.crashes > 0) expect(result.stats.crashes).toBeGreaterThan(0);
      if (bounds.rollbacks > 0) expect(result.stats.rollbacks).toBeGreaterThan(0);
    });
  }
});
