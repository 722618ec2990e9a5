import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** What a stall probe measured, in milliseconds. */
export interface Stalls {
  /** The longest the event loop went without running a 5 ms interval timer. */
  readonly longest: number;
  /**
   * The same, less the time the kernel kept the main thread waiting for a CPU during that gap
   * (its run-queue delay, from `/proc/thread-self/schedstat`): what the process itself held the
   * loop for, by running or by sleeping in a call. A loaded 2-core runner starves processes for
   * tens of milliseconds; that is not the code under test blocking its loop. Equal to
   * `longest` where /proc is missing.
   */
  readonly own: number;
}

/** The main thread's run-queue delay so far in ms, or undefined without /proc (not Linux). */
function runQueueDelay(): number | undefined {
  try {
    // "<ns on a CPU> <ns waiting on a run queue> <timeslices>"
    const fields = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ');
    return Number(fields[1]) / 1e6;
  } catch {
    return undefined;
  }
}

/**
 * Measures event-loop stalls from now until `stop()`: the gap before `stop()` counts too, so a
 * stall right before it is not missed. Run it in the process whose loop is under test.
 */
export function stallProbe(): { stop(): Stalls } {
  let last = performance.now();
  let lastDelay = runQueueDelay();
  let longest = 0;
  let own = 0;
  const tick = () => {
    const now = performance.now();
    const delay = runQueueDelay();
    const gap = now - last;
    const waited = delay === undefined || lastDelay === undefined ? 0 : delay - lastDelay;
    longest = Math.max(longest, gap);
    own = Math.max(own, gap - waited);
    last = now;
    lastDelay = delay;
  };
  const timer = setInterval(tick, 5);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return { longest, own };
    },
  };
}
