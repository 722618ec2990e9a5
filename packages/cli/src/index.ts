export {
  CAPTURE_MAGIC,
  type CaptureChunk,
  type CaptureDirection,
  readCapture,
} from './capture.js';
export {
  CaptureDecoder,
  type DecodedHandshake,
  type DecodedRecord,
  decodeCapture,
  type ReadRecord,
  type RecordKeys,
  type UnreadableRecord,
} from './capture-decoder.js';
export { parseKeyLog } from './key-log-file.js';
export type { CommitHeader } from './mls-fields.js';
export { formatRecord } from './record-format.js';
