import { MlsTlsError } from '@mlstls/codec';

/** One key log line of docs/protocol.md section 9, for one epoch. */
export interface KeyLogEntry {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly masterSecret: Uint8Array;
}

const LABEL = 'MLSTLS_MASTER_SECRET';

/**
 * `MLSTLS_MASTER_SECRET <group_id hex> <epoch decimal> <master_secret hex>` and a newline, as
 * NSS's SSLKEYLOGFILE lines. Every key of the epoch follows from it by docs/protocol.md section 3.
 */
export function formatKeyLogLine(entry: KeyLogEntry): string {
  return `${LABEL} ${toHex(entry.groupId)} ${entry.epoch} ${toHex(entry.masterSecret)}\n`;
}

/**
 * Reads one key log line (the trailing newline optional). Lines with another label, such as
 * TLS key log lines in the same file, return `undefined`; a malformed mlstls line is an error.
 */
export function parseKeyLogLine(line: string): KeyLogEntry | undefined {
  const fields = line.trimEnd().split(' ');
  if (fields[0] !== LABEL) return undefined;
  const [, groupId, epoch, secret] = fields;
  if (
    fields.length !== 4 ||
    !isHex(groupId) ||
    !isHex(secret) ||
    epoch === undefined ||
    !/^(0|[1-9][0-9]*)$/.test(epoch)
  ) {
    throw new MlsTlsError('ERR_MLSTLS_DECODE', 'malformed MLSTLS_MASTER_SECRET line');
  }
  return { groupId: fromHex(groupId), epoch: BigInt(epoch), masterSecret: fromHex(secret) };
}

function isHex(text: string | undefined): text is string {
  return text !== undefined && text.length > 0 && text.length % 2 === 0 && /^[0-9a-f]+$/.test(text);
}

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

function fromHex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
