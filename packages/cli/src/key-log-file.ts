import { appendFileSync } from 'node:fs';
import { MlsTlsError } from '@mlstls/codec';
import { type KeyLogEntry, parseKeyLogLine } from '@mlstls/key-schedule';

/**
 * Every `MLSTLS_MASTER_SECRET` line of a key log file (docs/protocol.md section 9). Empty lines,
 * `#` comments and lines of other labels (TLS key log lines in the same file) are skipped, as
 * Wireshark does; a malformed mlstls line is `ERR_MLSTLS_DECODE` naming its line number.
 */
export function parseKeyLog(text: string): KeyLogEntry[] {
  const entries: KeyLogEntry[] = [];
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    let entry: KeyLogEntry | undefined;
    try {
      entry = parseKeyLogLine(line);
    } catch (error) {
      throw new MlsTlsError(
        'ERR_MLSTLS_DECODE',
        `key log line ${index + 1}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

/**
 * `-keylog FILE`: appends a line of the socket's `'keylog'` event, owner-only as the binding's
 * `MLSTLS_KEYLOGFILE` does (its helper is not exported). Synchronous, so that the lines of
 * concurrent connections stay whole and in order.
 */
export function appendKeyLog(path: string, line: Buffer): void {
  appendFileSync(path, line, { mode: 0o600 });
}
