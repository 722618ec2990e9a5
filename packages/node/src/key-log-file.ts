import { appendFileSync } from 'node:fs';

const failedFiles = new Set<string>();

/**
 * Appends one key log line (with its newline) to `path`, as NSS does with SSLKEYLOGFILE.
 * Synchronous: it happens once per epoch, only when debugging, and keeps the lines of
 * concurrent connections whole and in order. A file that cannot be written costs a warning,
 * never the connection.
 */
export function appendKeyLogLine(path: string, line: Buffer): void {
  try {
    appendFileSync(path, line, { mode: 0o600 });
  } catch (error) {
    if (failedFiles.has(path)) return;
    failedFiles.add(path);
    process.emitWarning(`mlstls: cannot append to the key log file ${path}: ${String(error)}`);
  }
}
