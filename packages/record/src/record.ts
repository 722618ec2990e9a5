import {
  ContentType,
  decodeRecordHeader,
  encodeRecordHeader,
  MlsTlsError,
  type RecordHeader,
  RecordLimits,
} from '@mlstls/codec';

/** The content of one record, with its real content type. */
export interface OpenedRecord {
  readonly contentType: ContentType;
  readonly content: Uint8Array;
}

/**
 * Checks a record's content type and length. From the peer, a type other than alert,
 * handshake or application_data and an empty handshake or alert fragment are
 * `unexpected_message` (docs/protocol.md section 1); from the caller they are API misuse.
 */
export function checkContent(
  contentType: number,
  content: Uint8Array,
  from: 'local' | 'peer' = 'local',
): asserts contentType is ContentType {
  let problem: string | undefined;
  if (
    contentType !== ContentType.application_data &&
    contentType !== ContentType.handshake &&
    contentType !== ContentType.alert
  ) {
    problem = `content type ${contentType}`;
  } else if (content.length === 0 && contentType !== ContentType.application_data) {
    problem = `empty ${contentType === ContentType.alert ? 'alert' : 'handshake'} fragment`;
  } else if (content.length > RecordLimits.maxPlaintext) {
    if (from === 'peer') {
      throw new MlsTlsError('ERR_MLSTLS_RECORD_OVERFLOW', `fragment of ${content.length} bytes`);
    }
    problem = `fragment of ${content.length} bytes exceeds 2^14`;
  }
  if (problem === undefined) return;
  throw from === 'peer'
    ? new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', problem)
    : new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', problem);
}

/** Decodes a whole record's header and checks that the record is exactly that long. */
export function decodeRecord(record: Uint8Array): RecordHeader {
  const header = decodeRecordHeader(record);
  if (record.length !== RecordLimits.headerLength + header.length) {
    throw new MlsTlsError(
      'ERR_MLSTLS_DECODE',
      `record of ${record.length} bytes, header says ${RecordLimits.headerLength + header.length}`,
    );
  }
  return header;
}

/**
 * A TLSPlaintext record (RFC 8446 5.1), for what travels before keys exist: client_hello,
 * server_hello, the resumption flight and alerts (docs/protocol.md section 1).
 */
export function sealPlaintextRecord(contentType: ContentType, content: Uint8Array): Uint8Array {
  checkContent(contentType, content);
  if (contentType === ContentType.application_data) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      'application data is never sent in plaintext',
    );
  }
  const record = new Uint8Array(RecordLimits.headerLength + content.length);
  encodeRecordHeader(record, 0, contentType, content.length);
  record.set(content, RecordLimits.headerLength);
  return record;
}

/**
 * Reads one whole TLSPlaintext record. Application data in plaintext and empty fragments are
 * `unexpected_message`; a fragment over 2^14 bytes is `record_overflow`.
 */
export function openPlaintextRecord(record: Uint8Array): OpenedRecord {
  const { contentType } = decodeRecord(record);
  const content = record.subarray(RecordLimits.headerLength);
  if (contentType === ContentType.application_data) {
    throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', 'application data before keys exist');
  }
  checkContent(contentType, content, 'peer');
  return { contentType, content };
}
