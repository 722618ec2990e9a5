import { KEY_CHANGING_HANDSHAKE_TYPES, MlsTlsError, RecordLimits } from '@mlstls/codec';

/**
 * Packs encoded handshake messages into record fragments of at most `maxFragmentLength` bytes
 * (2^14 by default): small messages share a fragment, large ones span several. A key-changing
 * message always ends its fragment (docs/protocol.md section 1), so the receiver can switch keys
 * right after it.
 */
export function fragmentHandshake(
  messages: readonly Uint8Array[],
  maxFragmentLength: number = RecordLimits.maxPlaintext,
): Uint8Array[] {
  if (
    !Number.isInteger(maxFragmentLength) ||
    maxFragmentLength < 1 ||
    maxFragmentLength > RecordLimits.maxPlaintext
  ) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `fragment length ${maxFragmentLength}`);
  }
  const fragments: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let pendingLength = 0;
  const flush = () => {
    if (pendingLength === 0) return;
    fragments.push(pending.length === 1 ? pending[0]! : concat(pending, pendingLength));
    pending = [];
    pendingLength = 0;
  };
  for (const message of messages) {
    if (message.length === 0) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'empty handshake message');
    }
    let at = 0;
    while (at < message.length) {
      const take = Math.min(maxFragmentLength - pendingLength, message.length - at);
      pending.push(message.subarray(at, at + take));
      pendingLength += take;
      at += take;
      if (pendingLength === maxFragmentLength) flush();
    }
    if (KEY_CHANGING_HANDSHAKE_TYPES.has(message[0]!)) flush();
  }
  flush();
  return fragments;
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
