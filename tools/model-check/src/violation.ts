// The invariants the checker asserts, and the error a failed check throws: the explorer reports
// it with the event sequence that reached it.
export const INVARIANTS = {
  agreement:
    '(1) keys agree: no error between honest endpoints except the ones the protocol prescribes',
  nonce: '(2) no (key, nonce) pair protects two different plaintexts, across all connections',
  resumable: '(3) every crash or break leaves a state that resumes',
  rollback: '(4) a flight replayed against a rolled-back responder store re-uses no key',
  liveness: 'liveness: with nothing in flight, both sides are synced in one epoch and data flows',
} as const;

export type Invariant = keyof typeof INVARIANTS;

export class Violation extends Error {
  readonly invariant: Invariant;

  constructor(invariant: Invariant, message: string) {
    super(message);
    this.name = 'Violation';
    this.invariant = invariant;
  }
}

/** Throws a violation of `invariant` unless `condition` holds. */
export function check(condition: unknown, invariant: Invariant, message: string): void {
  if (!condition) throw new Violation(invariant, message);
}
