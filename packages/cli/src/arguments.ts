/**
 * A command line the CLI cannot run: an unknown flag, a missing value, a malformed address.
 * `main` prints it with the command's usage and exits 2, as openssl does.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One flag of a command, in openssl's single-dash style (`--name` is accepted too). */
export interface FlagSpec {
  /** The flag and its aliases, such as `['-accept', '-port']`; the first names it. */
  readonly names: readonly string[];
  /** The value's placeholder in the usage text, such as `FILE`; absent for a switch. */
  readonly value?: string;
  /**
   * The value may be left out: at the end of the line or before another flag the flag is
   * given as `true`, as a switch (`s_client -ciphersuites` lists the suites).
   */
  readonly optionalValue?: boolean;
  readonly help: string;
}

/** The flags given, by each flag's first name: the value, or `true` for a switch. */
export type Flags = ReadonlyMap<string, string | true>;

/**
 * Reads `args` against `specs`: each flag at most once, values as the next argument. Anything
 * not starting with `-` is positional, up to `maxPositional` of them.
 */
export function parseArguments(
  args: readonly string[],
  specs: readonly FlagSpec[],
  maxPositional = 0,
): { flags: Flags; positional: string[] } {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      if (positional.length === maxPositional) throw new UsageError(`unexpected argument ${arg}`);
      positional.push(arg);
      continue;
    }
    const name = arg.startsWith('--') ? arg.slice(1) : arg;
    const spec = specs.find((candidate) => candidate.names.includes(name));
    if (spec === undefined) throw new UsageError(`unknown option ${arg}`);
    const key = spec.names[0]!;
    if (flags.has(key)) throw new UsageError(`${arg} given twice`);
    if (spec.value === undefined) {
      flags.set(key, true);
      continue;
    }
    const value = args[i + 1];
    if (spec.optionalValue === true && (value === undefined || isFlag(value))) {
      flags.set(key, true);
      continue;
    }
    i++;
    if (value === undefined) throw new UsageError(`${arg} needs a value (${spec.value})`);
    flags.set(key, value);
  }
  return { flags, positional };
}

function isFlag(arg: string): boolean {
  return arg.startsWith('-') && arg !== '-';
}

/** A flag's value; a switch given where a value is expected cannot happen (see the specs). */
export function flagValue(flags: Flags, name: string): string | undefined {
  const value = flags.get(name);
  return typeof value === 'string' ? value : undefined;
}

/** The usage text of a command: its synopsis, then one line per flag. */
export function usage(synopsis: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((spec) => {
    const value =
      spec.value === undefined ? '' : spec.optionalValue ? ` [${spec.value}]` : ` ${spec.value}`;
    const left = `  ${spec.names.join(', ')}${value}`;
    return `${left.padEnd(30)} ${spec.help}`;
  });
  return [`usage: ${synopsis}`, ...rows].join('\n');
}

/**
 * `[host:]port`, `host:port` or `[v6]:port`: the host (undefined when absent) and a port from
 * 0 to 65535.
 */
export function parseHostPort(
  text: string,
  what: string,
): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]:|([^:[\]]*):)?(\d{1,5})$/.exec(text);
  const port = match === null ? Number.NaN : Number(match[3]);
  if (match === null || port > 65535) {
    throw new UsageError(`${what}: expected [host:]port, got ${JSON.stringify(text)}`);
  }
  const host = match[1] ?? (match[2] === '' ? undefined : match[2]);
  return { host, port };
}

/** A hex string of whole bytes, such as a pinned key. */
export function parseHex(text: string, what: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text)) throw new UsageError(`${what}: expected hex bytes`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}
