// The codec alone (@mlstls/codec): a handshake message in a record, read back header first as
// a receiver does; an alert; and the one error type, MlsTlsError, with the alert each failure
// sends. Every result is checked, so a wrong answer fails the run. `node main.mjs`.
import assert from 'node:assert/strict';
import {
  AlertDescription,
  AlertLevel,
  alertFor,
  alertName,
  ContentType,
  decodeAlert,
  decodeHandshake,
  decodeRecordHeader,
  encodeAlert,
  encodeHandshake,
  encodeRecordHeader,
  HandshakeType,
  KeyUpdateRequest,
  MlsTlsError,
  RecordLimits,
} from '@mlstls/codec';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

// A handshake message: a TLS KeyUpdate that asks the peer to update too.
const message = encodeHandshake({
  msgType: HandshakeType.key_update,
  requestUpdate: KeyUpdateRequest.update_requested,
});
console.log(`key_update: ${hex(message)}`);

// In a record: the 5-byte header, then the message.
const record = new Uint8Array(RecordLimits.headerLength + message.length);
encodeRecordHeader(record, 0, ContentType.handshake, message.length);
record.set(message, RecordLimits.headerLength);
console.log(`record: ${hex(record)}`);

// The receiver's side: the header first (checked as soon as 5 bytes are in), then the body.
const header = decodeRecordHeader(record);
assert.deepEqual(header, { contentType: ContentType.handshake, legacyVersion: 0x0303, length: 5 });
const body = record.subarray(RecordLimits.headerLength, RecordLimits.headerLength + header.length);
const decoded = decodeHandshake(body);
assert.deepEqual(decoded, { msgType: 24, requestUpdate: 1 });
console.log(`decoded: record type ${header.contentType}, ${JSON.stringify(decoded)}`);

// MLS-specific messages have their own code points (192-195).
const epochKeyUpdate = decodeHandshake(
  encodeHandshake({ msgType: HandshakeType.epoch_key_update, epoch: 7 }),
);
assert.deepEqual(epochKeyUpdate, { msgType: 193, epoch: 7 });
console.log(`epoch_key_update: ${JSON.stringify(epochKeyUpdate)}`);

// An alert: fatal for errors, a warning for close_notify.
const alert = decodeAlert(encodeAlert(alertFor(AlertDescription.bad_record_mac)));
assert.deepEqual(alert, { level: AlertLevel.fatal, description: 20 });
const closeNotify = alertFor(AlertDescription.close_notify);
assert.equal(closeNotify.level, AlertLevel.warning);
console.log(`alert: level ${alert.level} ${alertName(alert.description)}`);

// Decoders throw nothing but MlsTlsError, and each error names the alert to send.
function failure(decode) {
  try {
    decode();
  } catch (error) {
    assert.ok(error instanceof MlsTlsError, `not an MlsTlsError: ${error}`);
    return error;
  }
  throw new Error('decoding malformed bytes did not fail');
}
const truncated = failure(() => decodeHandshake(body.subarray(0, 3)));
assert.equal(truncated.code, 'ERR_MLSTLS_DECODE');
assert.equal(truncated.alertName, 'decode_error');
console.log(`truncated message: ${truncated.code} -> alert ${truncated.alertName}`);

const badType = failure(() => decodeRecordHeader(Uint8Array.of(99, 3, 3, 0, 0)));
assert.equal(badType.alertName, 'unexpected_message');
console.log(`record of type 99: ${badType.code} -> alert ${badType.alertName}`);

const badRequest = failure(() => decodeHandshake(Uint8Array.of(24, 0, 0, 1, 2)));
assert.equal(badRequest.alert, AlertDescription.illegal_parameter);
console.log(`key_update request 2: ${badRequest.code} -> alert ${badRequest.alertName}`);

console.log('codec: OK');
