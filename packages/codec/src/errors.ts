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
  /** No acceptable parameters: a ciphersuite, capability or credential type the peer lacks. */
  ERR_MLSTLS_HANDSHAKE_FAILURE: AlertDescription.handshake_failure,
  /**
   * The peer's credential was refused by the verifier, changed in an update, or is an X.509
   * certificate that does not parse or whose signature does not verify.
   */
  ERR_MLSTLS_BAD_CERTIFICATE: AlertDescription.bad_certificate,
  /**
   * No trust anchor vouches for the peer's X.509 chain: an unknown or self-signed root, an
   * intermediate missing from the chain, or no `ca` to chain to.
   */
  ERR_MLSTLS_UNKNOWN_CA: AlertDescription.unknown_ca,
  /** A certificate of the peer's chain is past its notAfter (by the injected clock). */
  ERR_MLSTLS_CERT_HAS_EXPIRED: AlertDescription.certificate_expired,
  /** A certificate of the peer's chain is before its notBefore (by the injected clock). */
  ERR_MLSTLS_CERT_NOT_YET_VALID: AlertDescription.certificate_expired,
  /** The peer's certificate does not name the host connected to (as node's ERR_TLS_CERT_ALTNAME_INVALID). */
  ERR_MLSTLS_CERT_ALTNAME_INVALID: AlertDescription.bad_certificate,
  /** The leaf certificate's public key is not the MLS signature key of the peer's leaf. */
  ERR_MLSTLS_CERT_KEY_MISMATCH: AlertDescription.bad_certificate,
  /**
   * A certificate is not allowed for its use: a leaf without digitalSignature or the needed
   * extended key usage, an issuer that is not a CA or may not sign certificates.
   */
  ERR_MLSTLS_CERT_INVALID_PURPOSE: AlertDescription.unsupported_certificate,
  /** The server asked for an X.509 certificate (`requestCert`) and the client has none. */
  ERR_MLSTLS_CERTIFICATE_REQUIRED: AlertDescription.certificate_required,
  /** The server has no credential for the name the client asked for (mlstls_server_name). */
  ERR_MLSTLS_UNRECOGNIZED_NAME: AlertDescription.unrecognized_name,
  /** The two ends' ALPN lists share no protocol (mlstls_alpn). */
  ERR_MLSTLS_NO_APPLICATION_PROTOCOL: AlertDescription.no_application_protocol,
  /** A signature or an MLS decryption failed to verify. */
  ERR_MLSTLS_DECRYPT: AlertDescription.decrypt_error,
  /**
   * The peer sent an error alert; `alert` is the alert it sent, and nothing is sent back
   * (RFC 8446 6.2).
   */
  ERR_MLSTLS_ALERT_RECEIVED: AlertDescription.close_notify,
  /** The transport ended without close_notify (RFC 8446 6.1): the data may be truncated. */
  ERR_MLSTLS_TRUNCATED: AlertDescription.close_notify,
  /** The connection was aborted locally (an AbortSignal, `destroy()`). */
  ERR_MLSTLS_ABORTED: AlertDescription.user_canceled,
  /** The handshake did not complete in the time a binding allows (node:tls's handshakeTimeout). */
  ERR_MLSTLS_HANDSHAKE_TIMEOUT: AlertDescription.user_canceled,
  /** Nothing was sent or received for the idle timeout a binding was given. */
  ERR_MLSTLS_IDLE_TIMEOUT: AlertDescription.user_canceled,
  /**
   * A resumption was refused (docs/protocol.md section 6): no stored group, a commit that does not
   * apply, a replay, or a concurrent resumption that won. Nothing stored changed.
   */
  ERR_MLSTLS_UNKNOWN_PSK_IDENTITY: AlertDescription.unknown_psk_identity,
  /**
   * The stored session moved on without this connection (another connection resumed it), so
   * this one may not write it again: the connection closes itself.
   */
  ERR_MLSTLS_SESSION_SUPERSEDED: AlertDescription.unknown_psk_identity,
  /** A session store failed (a lost Redis connection, a full disk, a record it cannot read). */
  ERR_MLSTLS_STORAGE: AlertDescription.internal_error,
  /**
   * A session store did not answer within its deadline (a hung Redis, a SQLite file another
   * process keeps locked). What the call asked may or may not have happened.
   */
  ERR_MLSTLS_STORAGE_TIMEOUT: AlertDescription.internal_error,
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

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; alert?: AlertDescription },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    // Only a received alert carries the peer's description instead of the code's own.
    this.alert =
      code === 'ERR_MLSTLS_ALERT_RECEIVED' && options?.alert !== undefined
        ? options.alert
        : ErrorCode[code];
  }

  /** The RFC name of `alert`, such as `decode_error`. */
  get alertName(): string {
    return alertName(this.alert);
  }
}
