import { ContentType, LEGACY_RECORD_VERSION, RecordLimits } from './constants.js';
import { MlsTlsError } from './errors.js';

/** The 5-byte header of TLSPlaintext and TLSCiphertext (RFC 8446 5.1, 5.2). */
export interface RecordHeader {
  readonly contentType: ContentType;
  readonly legacyVersion: number;
  /** Length of the fragment or encrypted_record that follows the header. */
  readonly length: number;
}

/**
 * Writes a record header at `offset` of `out`. Only the types `decodeRecordHeader` accepts can
 * be written, and the header must fit in `out` (a typed array would drop the rest silently).
 */
export function encodeRecordHeader(
  out: Uint8Array,
  offset: number,
  contentType: ContentType,
  length: number,
): void {
  if (!Number.isInteger(length) || length < 0 || length > RecordLimits.maxCiphertext) {
    throw new MlsTlsError('ERR_MLSTLS_ENCODE', `record length out of range: ${length}`);
  }
  if (
    contentType !== ContentType.alert &&
    contentType !== ContentType.handshake &&
    contentType !== ContentType.application_data
  ) {
    throw new MlsTlsError('ERR_MLSTLS_ENCODE', `record of content type ${contentType}`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + RecordLimits.headerLength > out.length) {
    throw new MlsTlsError(
      'ERR_MLSTLS_ENCODE',
      `record header at ${offset} does not fit in ${out.length} bytes`,
    );
  }
  out[offset] = contentType;
  out[offset + 1] = LEGACY_RECORD_VERSION >>> 8;
  out[offset + 2] = LEGACY_RECORD_VERSION & 0xff;
  out[offset + 3] = length >>> 8;
  out[offset + 4] = length & 0xff;
}

/**
 * Reads and checks the record header at `offset`. A type other than alert, handshake or
 * application_data is `unexpected_message` (RFC 8446 5: this profile has no
 * change_cipher_spec); a length over 2^14 + 256 is `record_overflow`, caught before the body
 * is buffered; a legacy_record_version outside 0x0301..0x0303 is `decode_error` (RFC 8446
 * ignores the minor version of plaintext records, so only protected records must say 0x0303).
 */
export function decodeRecordHeader(bytes: Uint8Array, offset = 0): RecordHeader {
  if (bytes.length - offset < RecordLimits.headerLength) {
    throw new MlsTlsError('ERR_MLSTLS_DECODE', 'record header: truncated');
  }
  const type = bytes[offset]!;
  if (
    type !== ContentType.alert &&
    type !== ContentType.handshake &&
    type !== ContentType.application_data
  ) {
    throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', `record of content type ${type}`);
  }
  const legacyVersion = (bytes[offset + 1]! << 8) | bytes[offset + 2]!;
  if (legacyVersion < 0x0301 || legacyVersion > LEGACY_RECORD_VERSION) {
    throw new MlsTlsError(
      'ERR_MLSTLS_DECODE',
      `record legacy_record_version 0x${legacyVersion.toString(16).padStart(4, '0')}`,
    );
  }
  const length = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
  if (length > RecordLimits.maxCiphertext) {
    throw new MlsTlsError('ERR_MLSTLS_RECORD_OVERFLOW', `record of ${length} bytes`);
  }
  return { contentType: type, legacyVersion, length };
}
