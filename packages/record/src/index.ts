export { fragmentHandshake } from './handshake-fragmenter.js';
export {
  DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH,
  HandshakeReassembler,
  type HandshakeReassemblerOptions,
} from './handshake-reassembler.js';
export { type OpenedRecord, openPlaintextRecord, sealPlaintextRecord } from './record.js';
export { RecordFramer } from './record-framer.js';
export {
  AES_GCM_RECORD_LIMIT,
  KEY_UPDATE_MARGIN,
  RecordProtector,
  type RecordProtectorOptions,
} from './record-protector.js';
