/**
 * Every code point of the mlstls wire profile in one table (docs/protocol.md sections 1, 2, 6, 7, 8).
 * Names follow the RFCs so that each line can be checked against them.
 */

/** RFC 8446 5.1 ContentType. */
export const ContentType = {
  invalid: 0,
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/**
 * Handshake message types (docs/protocol.md section 2). 192 to 195 are this profile's own and
 * provisional: the TLS registry has no private-use range.
 */
export const HandshakeType = {
  client_hello: 1,
  server_hello: 2,
  key_update: 24,
  connection_update: 192,
  epoch_key_update: 193,
  resumption: 194,
  resumption_accept: 195,
} as const;
export type HandshakeType = (typeof HandshakeType)[keyof typeof HandshakeType];

/**
 * Messages after which their sender switches keys: each must end its record (docs/protocol.md
 * section 1). Indexed by msg_type.
 */
export const KEY_CHANGING_HANDSHAKE_TYPES: ReadonlySet<number> = new Set<number>([
  HandshakeType.client_hello,
  HandshakeType.server_hello,
  HandshakeType.key_update,
  HandshakeType.connection_update,
  HandshakeType.epoch_key_update,
  HandshakeType.resumption,
  HandshakeType.resumption_accept,
]);

/** RFC 8446 6 AlertLevel. TLS 1.3 derives severity from the description; the level is kept. */
export const AlertLevel = { warning: 1, fatal: 2 } as const;
export type AlertLevel = (typeof AlertLevel)[keyof typeof AlertLevel];

/** RFC 8446 6 AlertDescription: every code point the RFC defines. */
export const AlertDescription = {
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
} as const;
export type AlertDescription = (typeof AlertDescription)[keyof typeof AlertDescription];

/** RFC 8446 4.6.3 KeyUpdateRequest. */
export const KeyUpdateRequest = { update_not_requested: 0, update_requested: 1 } as const;
export type KeyUpdateRequest = (typeof KeyUpdateRequest)[keyof typeof KeyUpdateRequest];

/** RFC 9420 6 ProtocolVersion: the only one this profile speaks. */
export const MLS_PROTOCOL_VERSION_MLS10 = 1;

/** RFC 9420 6 WireFormat. */
export const MlsWireFormat = {
  mls_public_message: 1,
  mls_private_message: 2,
  mls_welcome: 3,
  mls_group_info: 4,
  mls_key_package: 5,
} as const;
export type MlsWireFormat = (typeof MlsWireFormat)[keyof typeof MlsWireFormat];

/** KeyPackage and GroupContext extensions in the private MLS range (docs/protocol.md section 7). */
export const ExtensionType = {
  mlstls_server_name: 0xf0a0,
  mlstls_alpn: 0xf0a1,
} as const;
export type ExtensionType = (typeof ExtensionType)[keyof typeof ExtensionType];

/** RFC 8446 5.1 and 5.2 limits. */
export const RecordLimits = {
  /** Bytes of a record header: type, legacy_record_version, length. */
  headerLength: 5,
  /** Largest TLSPlaintext fragment and TLSInnerPlaintext content. */
  maxPlaintext: 2 ** 14,
  /** Largest TLSCiphertext encrypted_record. */
  maxCiphertext: 2 ** 14 + 256,
} as const;

/** legacy_record_version of every record this profile writes, and of every protected record. */
export const LEGACY_RECORD_VERSION = 0x0303;

const alertNames = new Map<number, string>(
  Object.entries(AlertDescription).map(([name, value]) => [value, name]),
);

/** The RFC name of an alert description, or `unknown(N)` for a code point the RFC lacks. */
export function alertName(description: number): string {
  return alertNames.get(description) ?? `unknown(${description})`;
}

/**
 * RFC 8446 6.1: close_notify and user_canceled are closure alerts; every other description,
 * including an unknown one (RFC 8446 6), is an error alert and closes the connection.
 */
export function isClosureAlert(description: number): boolean {
  return (
    description === AlertDescription.close_notify || description === AlertDescription.user_canceled
  );
}
