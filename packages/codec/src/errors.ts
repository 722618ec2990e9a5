import { AlertDescription, alertName } from './constants.js';

/**
 * Every error code with the one alert it sends (as rustls maps each error kind to one alert).
 * A code names what went wrong; the alert is what the peer is told.
 */
export const ErrorCode = {
  /** A message or record could not be parsed: truncated, trailing bytes, bad length. */
  ERR_MLSTLS_DECODE: AlertDescription.decode_error,
  /** A field holds a value the profile does not allow. */
  ERR_MLSTLS_ILLEGAL_PARAMETER: AlertDescription.illegal_parameter,
  /** A message or record type that is not legal here. */
  ERR_MLSTLS_UNEXPECTED_MESSAGE: AlertDescription.unexpected_message,
  /** A record longer than RFC 8446 allows. */
  ERR_MLSTLS_RECORD_OVERFLOW: AlertDescription.record_overflow,
  /** A protected record failed to authenticate. */
  ERR_MLSTLS_BAD_RECORD_MAC: AlertDescription.bad_record_mac,
  /** A handshake message larger than the configured limit. */
  ERR_MLSTLS_HANDSHAKE_TOO_LARGE: AlertDescription.illegal_parameter,
  /** A key reached the end of its sequence numbers or its AEAD limit without a key update. */
  ERR_MLSTLS_KEY_EXHAUSTED: AlertDescription.internal_error,
  /** A value could not be encoded (too long for its length prefix, out of range). */
  ERR_MLSTLS_ENCODE: AlertDescription.internal_error,
  /** An object was used after it was destroyed, or for what it was not made for. */
  ERR_MLSTLS_INVALID_STATE: AlertDescription.internal_error,
  /** The API was called with an argument it does not accept. */
  ERR_MLSTLS_INVALID_ARGUMENT: AlertDescription.internal_error,
  /** A crypto provider or algorithm that this runtime cannot supply. */
  ERR_MLSTLS_UNSUPPORTED: AlertDescription.internal_error,
} as const;
export type ErrorCode = keyof typeof ErrorCode;

/**
 * The one error type of mlstls. `code` says what went wrong, `alert` is the RFC 8446 alert
 * description sent to the peer. Messages never contain secrets.
 */
export class MlsTlsError extends Error {
  override readonly name = 'MlsTlsError';
  readonly code: ErrorCode;
  readonly alert: AlertDescription;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.alert = ErrorCode[code];
  }

  /** The RFC name of `alert`, such as `decode_error`. */
  get alertName(): string {
    return alertName(this.alert);
  }
}
