import { MlsTlsError, Reader, Writer } from '@mlstls/codec';
import type { SessionRecord } from './store.js';

/**
 * A record as one byte string, for stores that keep a blob and for node:tls-style `session`
 * buffers: `uint16 format; uint64 epoch; opaque state<V4>; opaque pending<V4> (with a
 * presence byte); opaque peer<V2>`.
 */
export function encodeSessionRecord(record: SessionRecord): Uint8Array {
  const writer = new Writer(record.state.length + (record.pending?.length ?? 0) + 64)
    .u16(record.format)
    .u64(record.epoch)
    .opaque(4, record.state)
    .u8(record.pending === undefined ? 0 : 1);
  if (record.pending !== undefined) writer.opaque(4, record.pending);
  return writer.opaque(2, record.peer).finish();
}

/**
 * Reads what `encodeSessionRecord` wrote, in any format: the record keeps its `format`, for the
 * state machine to read or refuse. Malformed input is `ERR_MLSTLS_STORAGE`. The record's arrays
 * are views into `bytes`.
 */
export function decodeSessionRecord(bytes: Uint8Array): SessionRecord {
  try {
    const reader = new Reader(bytes, 'session record');
    const format = reader.u16();
    const epoch = reader.u64();
    const state = reader.opaque(4);
    const hasPending = reader.u8();
    if (hasPending > 1) throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'bad session record');
    const pending = hasPending === 1 ? reader.opaque(4) : undefined;
    const peer = reader.opaque(2);
    reader.end();
    return pending === undefined
      ? { format, epoch, state, peer }
      : { format, epoch, state, pending, peer };
  } catch (error) {
    if (error instanceof MlsTlsError && error.code === 'ERR_MLSTLS_STORAGE') throw error;
    throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'a session record that does not decode', {
      cause: error,
    });
  }
}
