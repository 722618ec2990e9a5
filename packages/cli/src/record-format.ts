import { AlertLevel, alertName, ContentType, type MlsTlsError } from '@mlstls/codec';
import { SUPPORTED_CIPHERSUITES } from '@mlstls/state-machine';
import type { DecodedHandshake, DecodedRecord } from './capture-decoder.js';
import { toHex } from './capture-decoder.js';

/** Application data longer than this is printed up to it, with the count of the rest. */
const DATA_SHOWN = 1024;

/** The codec's content types by value, for printing. */
const CONTENT_TYPE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(ContentType).map(([name, value]) => [value, name]),
);

/**
 * The lines `decode` and `-trace` print for a record: a first line with its number, direction,
 * outer type, length and the key that opened it (epoch, generation, sequence number) or
 * `plaintext`, then one indented line per handshake message, alert or application data. Never a
 * secret: keys are named by epoch and generation only.
 *
 * ```
 * #4 C->S application_data len 33 epoch 1 gen 0 seq 1 inner handshake
 *    connection_update commit group 5f0c… epoch 1 (to 2)
 * ```
 */
export function formatRecord(record: DecodedRecord): string[] {
  const arrow = record.direction === 'C' ? 'C->S' : 'S->C';
  if (record.kind === 'unreadable') {
    const where = [
      record.outerType === undefined ? '' : ` ${typeName(record.outerType)} len ${record.length}`,
      record.epoch === undefined ? '' : ` epoch ${record.epoch} gen ${record.generation}`,
    ].join('');
    return [`#${record.index} ${arrow}${where} UNREADABLE ${describeError(record.error)}`];
  }
  const protection =
    record.keys === undefined
      ? 'plaintext'
      : `epoch ${record.keys.epoch} gen ${record.keys.generation} seq ${record.keys.sequence}`;
  const inner = record.keys === undefined ? '' : ` inner ${typeName(record.contentType)}`;
  const lines = [
    `#${record.index} ${arrow} ${typeName(record.outerType)} len ${record.length} ${protection}${inner}`,
  ];
  for (const message of record.handshake) lines.push(`   ${formatHandshake(message)}`);
  if (record.alert !== undefined) {
    const level = record.alert.level === AlertLevel.warning ? 'warning' : 'fatal';
    lines.push(`   alert ${level} ${alertName(record.alert.description)}`);
  }
  if (record.data !== undefined) lines.push(`   data ${formatData(record.data)}`);
  return lines;
}

/** `ERR_MLSTLS_BAD_RECORD_MAC bad_record_mac: why`: the form every error is printed in. */
export function describeError(error: MlsTlsError): string {
  return `${error.code} ${error.alertName}: ${error.message}`;
}

function formatHandshake(message: DecodedHandshake): string {
  switch (message.type) {
    case 'client_hello':
    case 'server_hello':
      return `${message.type} suite ${suiteName(message.ciphersuite)}`;
    case 'key_update':
      return `key_update ${message.updateRequested ? 'update_requested' : 'update_not_requested'}`;
    case 'connection_update':
    case 'resumption':
      return `${message.type} commit group ${toHex(message.commit.groupId)} epoch ${message.commit.epoch} (to ${message.commit.epoch + 1n})`;
    case 'epoch_key_update':
      return `epoch_key_update epoch ${message.epoch}`;
    case 'resumption_accept':
      // The random is public (it travels in plaintext); printed to match a capture by eye.
      return `resumption_accept responder_random ${toHex(message.responderRandom)}`;
  }
}

function suiteName(id: number): string {
  const suite = SUPPORTED_CIPHERSUITES.find((known) => known.id === id);
  return suite === undefined ? `${id} (unsupported)` : `${id} ${suite.name}`;
}

function typeName(type: number): string {
  return CONTENT_TYPE_NAMES.get(type) ?? `type(${type})`;
}

/** Printable ASCII as a JSON string, anything else as hex; long data cut at `DATA_SHOWN`. */
function formatData(data: Uint8Array): string {
  const shown = data.subarray(0, DATA_SHOWN);
  const rest = data.length > shown.length ? ` (+${data.length - shown.length} bytes)` : '';
  const printable = shown.every(
    (byte) => (byte >= 0x20 && byte < 0x7f) || byte === 0x0a || byte === 0x0d || byte === 0x09,
  );
  const text = printable ? JSON.stringify(String.fromCharCode(...shown)) : `hex ${toHex(shown)}`;
  return `${data.length} bytes ${text}${rest}`;
}
