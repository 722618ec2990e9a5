// The figures a run prints: what was explored, how long it took, and the counterexample.
import type { ExploreResult, Stats } from './explore.js';

export function formatStats(stats: Stats): string {
  return (
    `${stats.states.toLocaleString('en')} states explored, ` +
    `${stats.transitions.toLocaleString('en')} transitions ` +
    `(${stats.events.toLocaleString('en')} events re-executed), max depth ${stats.maxDepth}, ` +
    `${stats.quietStates.toLocaleString('en')} quiet states checked, ` +
    `${stats.crashes.toLocaleString('en')} crash states, ${stats.rollbacks.toLocaleString('en')} rollbacks, ` +
    `${(stats.elapsedMs / 1000).toFixed(1)} s`
  );
}

export function formatResult(result: ExploreResult): string {
  const lines = [formatStats(result.stats)];
  const { violation } = result;
  if (violation === undefined) {
    lines.push(
      result.complete
        ? 'no violation: every interleaving within the bound was explored'
        : 'no violation so far (stopped before the bound was exhausted)',
    );
  } else {
    lines.push(
      `VIOLATION of ${violation.description}`,
      `  ${violation.message}`,
      `  after ${violation.steps.length} events (met after ${violation.foundAtLength}, then shortened):`,
      `  ${violation.sequence}`,
    );
  }
  return lines.join('\n');
}
