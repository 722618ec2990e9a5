import { deno } from './deno-types.js';

/** The environment variable naming a file that key log lines are appended to. */
const KEY_LOG_FILE_VARIABLE = 'MLSTLS_KEYLOGFILE';

const failedFiles = new Set<string>();

/**
 * The file `MLSTLS_KEYLOGFILE` names, if it is set and may be read: without `--allow-env` the
 * variable is taken as unset.
 */
function keyLogFile(): string | undefined {
  try {
    return deno().env.get(KEY_LOG_FILE_VARIABLE) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Appends one key log line (with its newline) to `path`, as NSS does with SSLKEYLOGFILE, owner
 * read and write only. Synchronous: it happens once per epoch, only when debugging, and keeps
 * the lines of concurrent connections whole. A file that cannot be written costs one warning,
 * never the connection.
 */
function appendKeyLogLine(path: string, line: string): void {
  try {
    deno().writeTextFileSync(path, line, { append: true, create: true, mode: 0o600 });
  } catch (error) {
    if (failedFiles.has(path)) return;
    failedFiles.add(path);
    console.warn(`mlstls: cannot append to the key log file ${path}: ${String(error)}`);
  }
}

/** The `onKeyLog` callback a connection gets: the file, then the application's own. */
export function keyLogCallback(
  own: ((line: string) => void) | undefined,
): ((line: string) => void) | undefined {
  const file = keyLogFile();
  if (file === undefined) return own;
  return (line) => {
    appendKeyLogLine(file, line);
    own?.(line);
  };
}
