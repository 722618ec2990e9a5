// The soak's flags.

export interface SoakOptions {
  /** Connections kept open for the whole run (each one that ends is replaced). */
  readonly connections: number;
  /** Length of the run, before every connection is closed. */
  readonly seconds: number;
  /** Seeds every random choice (src/random.ts): the same seed makes the same choices. */
  readonly seed: string;
  /** Period of the progress lines and of the server's memory samples. */
  readonly sampleMs: number;
  /** Mean pause of a connection between two operations (uniform in [0, 2 x thinkMs]). */
  readonly thinkMs: number;
}

export const USAGE = `usage: node dist/soak.js [--connections N] [--seconds S] [--seed X] [--sample-ms MS] [--think-ms MS]

  --connections N  connections kept open for the whole run (default 1000)
  --seconds S      length of the run (default 600), then every connection closes
  --seed X         seeds every random choice, to repeat a run (default 1)
  --sample-ms MS   progress line and server memory sample period
                   (default: S x 1000 / 20, between 250 and 5000)
  --think-ms MS    mean pause of a connection between operations
                   (default: N x 10, at least 100: about 100 operations a second in all)`;

/** The flags of `argv` (without node and the script); throws on a bad one. */
export function parseOptions(argv: readonly string[]): SoakOptions {
  const given = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    // `pnpm soak -- --seconds 60` passes the `--` on.
    if (flag === '--') continue;
    if (flag === '--help' || flag === '-h') throw new UsageError('');
    const known = ['--connections', '--seconds', '--seed', '--sample-ms', '--think-ms'];
    const [name, inline] = flag.split('=', 2) as [string, string | undefined];
    if (!known.includes(name)) throw new UsageError(`unknown flag ${flag}`);
    const value = inline ?? argv[++index];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    given.set(name, value);
  }
  const number = (name: string, fallback: number, min: number): number => {
    const text = given.get(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min) {
      throw new UsageError(`${name} must be a number >= ${min}, not ${text}`);
    }
    return value;
  };
  const connections = Math.floor(number('--connections', 1000, 1));
  const seconds = number('--seconds', 600, 1);
  const sampleMs = number(
    '--sample-ms',
    Math.min(5000, Math.max(250, Math.round((seconds * 1000) / 20))),
    50,
  );
  const thinkMs = number('--think-ms', Math.max(100, connections * 10), 0);
  return { connections, seconds, seed: given.get('--seed') ?? '1', sampleMs, thinkMs };
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}
