import {
  HandshakeType,
  KeyUpdateRequest,
  MLS_PROTOCOL_VERSION_MLS10,
  MlsWireFormat,
} from './constants.js';
import { MlsTlsError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/** docs/protocol.md section 2: `MLSMessage key_package` (wire_format mls_key_package). */
export interface ClientHello {
  readonly msgType: typeof HandshakeType.client_hello;
  readonly keyPackage: Uint8Array;
}

/** docs/protocol.md section 2: `MLSMessage welcome` (wire_format mls_welcome). */
export interface ServerHello {
  readonly msgType: typeof HandshakeType.server_hello;
  readonly welcome: Uint8Array;
}

/** RFC 8446 4.6.3 KeyUpdate. */
export interface KeyUpdate {
  readonly msgType: typeof HandshakeType.key_update;
  readonly requestUpdate: KeyUpdateRequest;
}

/** docs/protocol.md section 2: `MLSMessage update`, a commit as PrivateMessage. */
export interface ConnectionUpdate {
  readonly msgType: typeof HandshakeType.connection_update;
  readonly update: Uint8Array;
}

/** docs/protocol.md section 2: `uint32 epoch`. */
export interface EpochKeyUpdate {
  readonly msgType: typeof HandshakeType.epoch_key_update;
  readonly epoch: number;
}

/** docs/protocol.md section 2: `MLSMessage commit`, a commit as PrivateMessage. */
export interface Resumption {
  readonly msgType: typeof HandshakeType.resumption;
  readonly commit: Uint8Array;
}

/** The length of resumption_accept's `responder_random`. */
export const RESPONDER_RANDOM_LENGTH = 32;

/** docs/protocol.md section 2 (revision 2): `opaque responder_random[32]`. */
export interface ResumptionAccept {
  readonly msgType: typeof HandshakeType.resumption_accept;
  readonly responderRandom: Uint8Array;
}

export type HandshakeMessage =
  | ClientHello
  | ServerHello
  | KeyUpdate
  | ConnectionUpdate
  | EpochKeyUpdate
  | Resumption
  | ResumptionAccept;

/** msg_type and uint24 length. */
export const HANDSHAKE_HEADER_LENGTH = 4;

/** The header of a Handshake structure: its type and the length of its body. */
export interface HandshakeHeader {
  readonly msgType: HandshakeType;
  readonly length: number;
}

const knownTypes: ReadonlySet<number> = new Set<number>(Object.values(HandshakeType));

/**
 * Reads the 4-byte Handshake header at `offset`. A msg_type this profile does not define is
 * `unexpected_message`, as RFC 8446 implementations answer any message not legal in their state.
 */
export function decodeHandshakeHeader(bytes: Uint8Array, offset = 0): HandshakeHeader {
  if (bytes.length - offset < HANDSHAKE_HEADER_LENGTH) {
    throw new MlsTlsError('ERR_MLSTLS_DECODE', 'Handshake: truncated header');
  }
  const msgType = bytes[offset]!;
  if (!knownTypes.has(msgType)) {
    throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', `handshake message of type ${msgType}`);
  }
  const length = (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
  return { msgType: msgType as HandshakeType, length };
}

/** Encodes one Handshake structure: header and body. */
export function encodeHandshake(message: HandshakeMessage): Uint8Array {
  const body = encodeBody(message);
  const writer = new Writer(HANDSHAKE_HEADER_LENGTH + body.length);
  return writer.u8(message.msgType).opaque(3, body).finish();
}

/** Decodes exactly one Handshake structure; trailing bytes are `decode_error`. */
export function decodeHandshake(bytes: Uint8Array): HandshakeMessage {
  const header = decodeHandshakeHeader(bytes);
  const reader = new Reader(bytes, 'Handshake');
  reader.bytes(HANDSHAKE_HEADER_LENGTH);
  const body = reader.bytes(header.length);
  reader.end();
  return decodeHandshakeBody(header.msgType, body);
}

/** Decodes the body of a message of type `msgType`: the body must be filled exactly. */
export function decodeHandshakeBody(msgType: HandshakeType, body: Uint8Array): HandshakeMessage {
  switch (msgType) {
    case HandshakeType.client_hello:
      return {
        msgType,
        keyPackage: checkMlsMessage(body, MlsWireFormat.mls_key_package, 'ClientHello'),
      };
    case HandshakeType.server_hello:
      return { msgType, welcome: checkMlsMessage(body, MlsWireFormat.mls_welcome, 'ServerHello') };
    case HandshakeType.connection_update:
      return {
        msgType,
        update: checkMlsMessage(body, MlsWireFormat.mls_private_message, 'ConnectionUpdate'),
      };
    case HandshakeType.resumption:
      return {
        msgType,
        commit: checkMlsMessage(body, MlsWireFormat.mls_private_message, 'Resumption'),
      };
    case HandshakeType.resumption_accept: {
      const reader = new Reader(body, 'ResumptionAccept');
      const responderRandom = reader.bytes(RESPONDER_RANDOM_LENGTH);
      reader.end();
      return { msgType, responderRandom };
    }
    case HandshakeType.key_update: {
      const reader = new Reader(body, 'KeyUpdate');
      const requestUpdate = reader.u8();
      reader.end();
      if (
        requestUpdate !== KeyUpdateRequest.update_not_requested &&
        requestUpdate !== KeyUpdateRequest.update_requested
      ) {
        // RFC 8446 4.6.3: any other value is illegal_parameter.
        throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `KeyUpdate request ${requestUpdate}`);
      }
      return { msgType, requestUpdate };
    }
    case HandshakeType.epoch_key_update: {
      const reader = new Reader(body, 'EpochKeyUpdate');
      const epoch = reader.u32();
      reader.end();
      return { msgType, epoch };
    }
    default:
      throw new MlsTlsError(
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        `handshake message of type ${msgType}`,
      );
  }
}

function encodeBody(message: HandshakeMessage): Uint8Array {
  switch (message.msgType) {
    case HandshakeType.client_hello:
      return checkOwnMlsMessage(message.keyPackage, MlsWireFormat.mls_key_package, 'ClientHello');
    case HandshakeType.server_hello:
      return checkOwnMlsMessage(message.welcome, MlsWireFormat.mls_welcome, 'ServerHello');
    case HandshakeType.connection_update:
      return checkOwnMlsMessage(
        message.update,
        MlsWireFormat.mls_private_message,
        'ConnectionUpdate',
      );
    case HandshakeType.resumption:
      return checkOwnMlsMessage(message.commit, MlsWireFormat.mls_private_message, 'Resumption');
    case HandshakeType.resumption_accept:
      if (message.responderRandom.length !== RESPONDER_RANDOM_LENGTH) {
        throw new MlsTlsError(
          'ERR_MLSTLS_ENCODE',
          `a responder_random of ${message.responderRandom.length} bytes`,
        );
      }
      return message.responderRandom;
    case HandshakeType.key_update:
      if (
        message.requestUpdate !== KeyUpdateRequest.update_not_requested &&
        message.requestUpdate !== KeyUpdateRequest.update_requested
      ) {
        // Never send what decodeHandshakeBody answers with illegal_parameter.
        throw new MlsTlsError('ERR_MLSTLS_ENCODE', `KeyUpdate request ${message.requestUpdate}`);
      }
      return new Writer(1).u8(message.requestUpdate).finish();
    case HandshakeType.epoch_key_update:
      return new Writer(4).u32(message.epoch).finish();
    default:
      throw new MlsTlsError(
        'ERR_MLSTLS_ENCODE',
        `handshake message of type ${(message as { msgType: unknown }).msgType}`,
      );
  }
}

/**
 * The MLSMessage header (RFC 9420 6: ProtocolVersion, WireFormat) must say mls10 and the wire
 * format the message type carries; the rest of the MLSMessage stays opaque at this layer.
 */
function checkMlsMessage(body: Uint8Array, wireFormat: MlsWireFormat, what: string): Uint8Array {
  const reader = new Reader(body, what);
  const version = reader.u16();
  const format = reader.u16();
  if (version !== MLS_PROTOCOL_VERSION_MLS10) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `${what}: MLS version ${version}`);
  }
  if (format !== wireFormat) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `${what}: MLS wire format ${format}`);
  }
  return body;
}

function checkOwnMlsMessage(body: Uint8Array, wireFormat: MlsWireFormat, what: string): Uint8Array {
  try {
    return checkMlsMessage(body, wireFormat, what);
  } catch (error) {
    throw new MlsTlsError('ERR_MLSTLS_ENCODE', (error as Error).message, { cause: error });
  }
}
