import { MlsTlsError } from '@mlstls/codec';
import {
  generateCredential,
  SUPPORTED_CIPHERSUITES,
  type SuiteParameters,
} from '@mlstls/state-machine';
import { type Flags, UsageError } from './arguments.js';
import type { Terminal } from './connection-console.js';

/**
 * `-ciphersuites LIST`, openssl style: MLS suite ids or names (docs/protocol.md D18) joined by
 * `:`, such as `83:1` or `MLS_256_XWING_AES256GCM_SHA512_Ed25519:1`, in the order given, each
 * once. Undefined without the flag; an empty list or an unknown suite is a usage error.
 */
export function parseCiphersuites(flags: Flags): SuiteParameters[] | undefined {
  const text = flags.get('-ciphersuites');
  if (typeof text !== 'string') return undefined;
  const suites: SuiteParameters[] = [];
  for (const item of text.split(':')) {
    if (item === '') continue;
    const suite = findSuite(item);
    if (suite === undefined) {
      throw new UsageError(
        `-ciphersuites: unknown MLS ciphersuite ${JSON.stringify(item)}; -ciphersuites without a value lists the ${SUPPORTED_CIPHERSUITES.length} supported ones`,
      );
    }
    if (!suites.includes(suite)) suites.push(suite);
  }
  if (suites.length === 0) {
    throw new UsageError('-ciphersuites: expected suite ids or names separated by ":"');
  }
  return suites;
}

/** A suite by its decimal id or its name (any case). */
function findSuite(item: string): SuiteParameters | undefined {
  if (/^\d+$/.test(item)) return SUPPORTED_CIPHERSUITES.find((suite) => suite.id === Number(item));
  const name = item.toUpperCase();
  return SUPPORTED_CIPHERSUITES.find((suite) => suite.name.toUpperCase() === name);
}

/** Whether a suite's portable implementation loads here, and what it needs. */
interface SuiteAvailability {
  readonly suite: SuiteParameters;
  /** Undefined when it loads; else the `ERR_MLSTLS_UNSUPPORTED` that loading it gave. */
  readonly error?: MlsTlsError;
}

/**
 * Loads each suite's portable implementation (ts-mls's, which imports the suite's optional
 * packages, docs/protocol.md D93) by making a throwaway key with it: a suite whose package is
 * missing fails with `ERR_MLSTLS_UNSUPPORTED`. The portable one, not node:crypto's, so that the
 * answer is about the packages (on Node, suites 4 and 6 run on node:crypto without theirs).
 */
async function suiteAvailability(): Promise<SuiteAvailability[]> {
  return Promise.all(
    SUPPORTED_CIPHERSUITES.map(async (suite) => {
      if (suite.requires.length === 0) return { suite };
      try {
        await generateCredential({ ciphersuite: suite.id, provider: 'noble' });
        return { suite };
      } catch (error) {
        if (error instanceof MlsTlsError && error.code === 'ERR_MLSTLS_UNSUPPORTED') {
          return { suite, error };
        }
        throw error;
      }
    }),
  );
}

/**
 * The listing of `mlstls ciphersuites` (and `s_client`/`s_server -ciphersuites` without a
 * value): per supported suite its id, name, the record layer's AEAD and hash as a TLS 1.3
 * cipher suite name (docs/protocol.md section 3), and its optional packages: `-` for none,
 * `installed` when its implementation loads here, else `missing`.
 */
async function ciphersuiteListing(): Promise<string[]> {
  const rows = (await suiteAvailability()).map(({ suite, error }) => {
    const packages = suite.requires.map((pkg) => `${pkg.name}@${pkg.version}`).join(' ');
    const status =
      suite.requires.length === 0
        ? '-'
        : `${error === undefined ? 'installed' : 'missing'}: ${packages}`;
    return [String(suite.id), suite.name, suite.tlsName, status];
  });
  const header = ['ID', 'NAME', 'RECORD (AEAD, HASH)', 'OPTIONAL PACKAGES'];
  const widths = header.map((_, column) =>
    Math.max(...[header, ...rows].map((row) => row[column]!.length)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, column) =>
        column === 0
          ? cell.padStart(widths[0]!)
          : column === row.length - 1
            ? cell
            : cell.padEnd(widths[column]!),
      )
      .join('  ');
  return [line(header), ...rows.map(line)];
}

/** Prints the listing; resolves with exit code 0. */
export async function listCiphersuites(terminal: Terminal): Promise<number> {
  for (const line of await ciphersuiteListing()) terminal.out(line);
  return 0;
}
