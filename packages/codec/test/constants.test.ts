import { describe, expect, it } from 'vitest';
import {
  AlertDescription,
  AlertLevel,
  alertName,
  ContentType,
  ErrorCode,
  ExtensionType,
  HANDSHAKE_HEADER_LENGTH,
  HandshakeType,
  KEY_CHANGING_HANDSHAKE_TYPES,
  KeyUpdateRequest,
  LEGACY_RECORD_VERSION,
  MLS_PROTOCOL_VERSION_MLS10,
  MlsTlsError,
  MlsWireFormat,
  RecordLimits,
} from '../src/index.js';

/** RFC 8446 section 6, enum AlertDescription, transcribed from the RFC. */
const RFC8446_ALERTS: Record<string, number> = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
};

describe('RFC 8446 6 alert descriptions', () => {
  it('define exactly the 27 code points of RFC 8446 section 6', () => {
    expect(Object.keys(RFC8446_ALERTS)).toHaveLength(27);
    expect({ ...AlertDescription }).toEqual(RFC8446_ALERTS);
  });

  it('name every RFC 8446 alert by its RFC name', () => {
    for (const [name, value] of Object.entries(RFC8446_ALERTS)) {
      expect(alertName(value)).toBe(name);
    }
  });

  it('name every other byte unknown(N)', () => {
    const defined = new Set(Object.values(RFC8446_ALERTS));
    for (let value = 0; value < 256; value++) {
      if (!defined.has(value)) expect(alertName(value)).toBe(`unknown(${value})`);
    }
  });

  it('define AlertLevel warning 1 and fatal 2', () => {
    expect({ ...AlertLevel }).toEqual({ warning: 1, fatal: 2 });
  });
});

describe('record layer code points (RFC 8446 5)', () => {
  it('define ContentType invalid 0, change_cipher_spec 20, alert 21, handshake 22, application_data 23', () => {
    expect({ ...ContentType }).toEqual({
      invalid: 0,
      change_cipher_spec: 20,
      alert: 21,
      handshake: 22,
      application_data: 23,
    });
  });

  it('define RecordLimits: a 5-byte header, 2^14 plaintext, 2^14 + 256 ciphertext', () => {
    expect({ ...RecordLimits }).toEqual({
      headerLength: 5,
      maxPlaintext: 16384,
      maxCiphertext: 16640,
    });
  });

  it('write legacy_record_version 0x0303', () => {
    expect(LEGACY_RECORD_VERSION).toBe(0x0303);
  });
});

describe('handshake code points (docs/protocol.md 2)', () => {
  it('define HandshakeType 1, 2, 24, 192, 193, 194, 195', () => {
    expect({ ...HandshakeType }).toEqual({
      client_hello: 1,
      server_hello: 2,
      key_update: 24,
      connection_update: 192,
      epoch_key_update: 193,
      resumption: 194,
      resumption_accept: 195,
    });
    expect(HANDSHAKE_HEADER_LENGTH).toBe(4);
  });

  it('list exactly the seven key-changing handshake types', () => {
    expect([...KEY_CHANGING_HANDSHAKE_TYPES].sort((a, b) => a - b)).toEqual([
      1, 2, 24, 192, 193, 194, 195,
    ]);
    for (let t = 0; t < 256; t++) {
      expect(KEY_CHANGING_HANDSHAKE_TYPES.has(t)).toBe([1, 2, 24, 192, 193, 194, 195].includes(t));
    }
  });

  it('define KeyUpdateRequest update_not_requested 0 and update_requested 1 (RFC 8446 4.6.3)', () => {
    expect({ ...KeyUpdateRequest }).toEqual({ update_not_requested: 0, update_requested: 1 });
  });

  it('define MLS version mls10 = 1 and the RFC 9420 6 wire formats 1..5', () => {
    expect(MLS_PROTOCOL_VERSION_MLS10).toBe(1);
    expect({ ...MlsWireFormat }).toEqual({
      mls_public_message: 1,
      mls_private_message: 2,
      mls_welcome: 3,
      mls_group_info: 4,
      mls_key_package: 5,
    });
  });

  it('define the KeyPackage extensions mlstls_server_name 0xF0A0 and mlstls_alpn 0xF0A1', () => {
    expect({ ...ExtensionType }).toEqual({ mlstls_server_name: 0xf0a0, mlstls_alpn: 0xf0a1 });
  });
});

describe('ErrorCode and MlsTlsError', () => {
  it('map every error code to its one alert', () => {
    expect({ ...ErrorCode }).toEqual({
      ERR_MLSTLS_DECODE: 50,
      ERR_MLSTLS_ILLEGAL_PARAMETER: 47,
      ERR_MLSTLS_UNEXPECTED_MESSAGE: 10,
      ERR_MLSTLS_RECORD_OVERFLOW: 22,
      ERR_MLSTLS_BAD_RECORD_MAC: 20,
      ERR_MLSTLS_HANDSHAKE_TOO_LARGE: 47,
      ERR_MLSTLS_KEY_EXHAUSTED: 80,
      ERR_MLSTLS_ENCODE: 80,
      ERR_MLSTLS_INVALID_STATE: 80,
      ERR_MLSTLS_INVALID_ARGUMENT: 80,
      ERR_MLSTLS_UNSUPPORTED: 80,
      ERR_MLSTLS_HANDSHAKE_FAILURE: 40,
      ERR_MLSTLS_BAD_CERTIFICATE: 42,
      ERR_MLSTLS_UNKNOWN_CA: 48,
      ERR_MLSTLS_CERT_HAS_EXPIRED: 45,
      ERR_MLSTLS_CERT_NOT_YET_VALID: 45,
      ERR_MLSTLS_CERT_ALTNAME_INVALID: 42,
      ERR_MLSTLS_CERT_KEY_MISMATCH: 42,
      ERR_MLSTLS_CERT_INVALID_PURPOSE: 43,
      ERR_MLSTLS_CERTIFICATE_REQUIRED: 116,
      ERR_MLSTLS_UNRECOGNIZED_NAME: 112,
      ERR_MLSTLS_NO_APPLICATION_PROTOCOL: 120,
      ERR_MLSTLS_DECRYPT: 51,
      ERR_MLSTLS_ALERT_RECEIVED: 0,
      ERR_MLSTLS_TRUNCATED: 0,
      ERR_MLSTLS_ABORTED: 90,
      ERR_MLSTLS_HANDSHAKE_TIMEOUT: 90,
      ERR_MLSTLS_IDLE_TIMEOUT: 90,
      ERR_MLSTLS_UNKNOWN_PSK_IDENTITY: 115,
      ERR_MLSTLS_SESSION_SUPERSEDED: 115,
      ERR_MLSTLS_STORAGE: 80,
      ERR_MLSTLS_STORAGE_TIMEOUT: 80,
    });
  });

  it('carries the alert a peer sent, and only for ERR_MLSTLS_ALERT_RECEIVED', () => {
    expect(new MlsTlsError('ERR_MLSTLS_ALERT_RECEIVED', 'peer', { alert: 40 }).alert).toBe(40);
    expect(new MlsTlsError('ERR_MLSTLS_DECODE', 'x', { alert: 40 }).alert).toBe(50);
  });

  it('is an Error named MlsTlsError with code, alert, alertName and message', () => {
    const error = new MlsTlsError('ERR_MLSTLS_DECODE', 'Alert: truncated');
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(MlsTlsError);
    expect(error.name).toBe('MlsTlsError');
    expect(error.message).toBe('Alert: truncated');
    expect(error.code).toBe('ERR_MLSTLS_DECODE');
    expect(error.alert).toBe(50);
    expect(error.alertName).toBe('decode_error');
    expect(String(error)).toBe('MlsTlsError: Alert: truncated');
  });

  it('takes its alert from the code, for every code', () => {
    for (const [code, alert] of Object.entries(ErrorCode)) {
      const error = new MlsTlsError(code as keyof typeof ErrorCode, 'x');
      expect(error.alert).toBe(alert);
      expect(error.alertName).toBe(alertName(alert));
    }
    expect(new MlsTlsError('ERR_MLSTLS_RECORD_OVERFLOW', 'x').alertName).toBe('record_overflow');
    expect(new MlsTlsError('ERR_MLSTLS_ENCODE', 'x').alertName).toBe('internal_error');
  });

  it('keeps the cause it is given', () => {
    const cause = new RangeError('inner');
    expect(new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'outer', { cause }).cause).toBe(cause);
  });
});
