import { Reader } from '@mlstls/codec';

// RFC 9420 puts a few fields of its messages in the clear, and a decoder of a capture needs
// exactly those: the ciphersuite of a KeyPackage or Welcome and the group_id and epoch of a
// PrivateMessage. The messages themselves stay opaque here; the codec of @mlstls/codec has
// already checked their MLSMessage header (version mls10, the wire format the message type
// carries), so each reader skips those 4 bytes.

const MLS_MESSAGE_HEADER_LENGTH = 4;

/** The `cipher_suite` of a KeyPackage MLSMessage (RFC 9420 10: after its `version`). */
export function keyPackageCiphersuite(message: Uint8Array): number {
  const reader = new Reader(message, 'KeyPackage');
  reader.bytes(MLS_MESSAGE_HEADER_LENGTH);
  reader.u16(); // KeyPackage.version
  return reader.u16();
}

/** The `cipher_suite` of a Welcome MLSMessage (RFC 9420 12.4.3.1: its first field). */
export function welcomeCiphersuite(message: Uint8Array): number {
  const reader = new Reader(message, 'Welcome');
  reader.bytes(MLS_MESSAGE_HEADER_LENGTH);
  return reader.u16();
}

/** A commit's group and the epoch it was made in: its target epoch is `epoch + 1`. */
export interface CommitHeader {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
}

/** `group_id` and `epoch` of a PrivateMessage MLSMessage (RFC 9420 6.3: its first fields). */
export function privateMessageHeader(message: Uint8Array): CommitHeader {
  const reader = new Reader(message, 'PrivateMessage');
  reader.bytes(MLS_MESSAGE_HEADER_LENGTH);
  const groupId = reader.opaqueV();
  return { groupId, epoch: reader.u64() };
}
