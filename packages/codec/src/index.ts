export { type Alert, alertFor, decodeAlert, encodeAlert } from './alert.js';
export {
  AlertDescription,
  AlertLevel,
  alertName,
  ContentType,
  ExtensionType,
  HandshakeType,
  isClosureAlert,
  KEY_CHANGING_HANDSHAKE_TYPES,
  KeyUpdateRequest,
  LEGACY_RECORD_VERSION,
  MLS_PROTOCOL_VERSION_MLS10,
  MlsWireFormat,
  RecordLimits,
} from './constants.js';
export { ErrorCode, MlsTlsError } from './errors.js';
export {
  decodeProtocolNameList,
  decodeServerName,
  encodeProtocolNameList,
  encodeServerName,
} from './extensions.js';
export {
  type ClientHello,
  type ConnectionUpdate,
  decodeHandshake,
  decodeHandshakeBody,
  decodeHandshakeHeader,
  type EpochKeyUpdate,
  encodeHandshake,
  HANDSHAKE_HEADER_LENGTH,
  type HandshakeHeader,
  type HandshakeMessage,
  type KeyUpdate,
  RESPONDER_RANDOM_LENGTH,
  type Resumption,
  type ResumptionAccept,
  type ServerHello,
} from './handshake.js';
export { type LengthBytes, MAX_VARINT, Reader } from './reader.js';
export { decodeRecordHeader, encodeRecordHeader, type RecordHeader } from './record-header.js';
export { Writer } from './writer.js';
