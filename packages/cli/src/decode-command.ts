import { readFileSync } from 'node:fs';
import { MlsTlsError } from '@mlstls/codec';
import { type FlagSpec, flagValue, parseArguments, UsageError } from './arguments.js';
import { decodeCapture } from './capture-decoder.js';
import { errorLine, type Terminal } from './connection-console.js';
import { formatRecord } from './record-format.js';

export const DECODE_FLAGS: readonly FlagSpec[] = [
  {
    names: ['-keylog'],
    value: 'FILE',
    help: 'the key log of the connection (docs/protocol.md section 9)',
  },
  { names: ['-in'], value: 'CAPTURE', help: 'the capture file (or give it as the last argument)' },
];

/**
 * `mlstls decode -keylog FILE CAPTURE`: prints each record of one connection's capture, its
 * handshake messages, alerts and application data. Exit code 1 when the capture, the key log
 * or a record cannot be read (after printing what could).
 */
export function decode(args: readonly string[], terminal: Terminal): number {
  const { flags, positional } = parseArguments(args, DECODE_FLAGS, 1);
  const keyLogPath = flagValue(flags, '-keylog');
  const capturePath = flagValue(flags, '-in') ?? positional[0];
  if (keyLogPath === undefined || capturePath === undefined) {
    throw new UsageError('decode needs -keylog FILE and a capture file');
  }
  if (flagValue(flags, '-in') !== undefined && positional.length > 0) {
    throw new UsageError('give the capture with -in or as an argument, not both');
  }
  try {
    const records = decodeCapture(readFile(capturePath), readFile(keyLogPath).toString());
    let code = 0;
    for (const record of records) {
      for (const line of formatRecord(record)) terminal.out(line);
      if (record.kind === 'unreadable') {
        terminal.err(errorLine(record.error));
        code = 1;
      }
    }
    return code;
  } catch (error) {
    terminal.err(errorLine(error));
    return 1;
  }
}

function readFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      `cannot read ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
