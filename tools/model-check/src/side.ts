// The two ends of every connection.

export type Side = 'initiator' | 'responder';

export const SIDES: readonly Side[] = ['initiator', 'responder'];

export function peerOf(side: Side): Side {
  return side === 'initiator' ? 'responder' : 'initiator';
}
