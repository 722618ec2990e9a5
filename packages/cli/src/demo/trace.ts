/** What a demo run reports: its trace, and whether every check passed. */
export interface DemoResult {
  readonly lines: string[];
  readonly ok: boolean;
}

/** A demo's trace: lines timed from its start, checks that collect failures, and the verdict. */
export class Trace {
  readonly lines: string[] = [];
  readonly #failures: string[] = [];
  readonly #started = performance.now();
  readonly #echo: ((line: string) => void) | undefined;

  constructor(echo?: (line: string) => void) {
    this.#echo = echo;
  }

  readonly log = (line: string): void => {
    this.lines.push(line);
    this.#echo?.(line);
  };

  /** The time since the start, as a column of the trace. */
  readonly ms = (): string => `${(performance.now() - this.#started).toFixed(1).padStart(7)} ms`;

  /** Records `what` as failed unless `passed`; returns `passed`. */
  readonly check = (passed: boolean, what: string): boolean => {
    if (!passed) this.#failures.push(what);
    return passed;
  };

  /** The last line: `OK: <success>`, or every failed check. */
  finish(success: string): DemoResult {
    const ok = this.#failures.length === 0;
    this.log(`${this.ms()}  ${ok ? `OK: ${success}` : `FAILED: ${this.#failures.join('; ')}`}`);
    return { lines: this.lines, ok };
  }
}
