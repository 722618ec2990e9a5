/**
 * An mlstls handshake with no sockets: the `@mlstls/state-machine` initiator and responder
 * passing their records to each other in memory. Its time, set beside a socket handshake's,
 * splits the cost into the state machines (MLS and records) and the binding with its sockets.
 */
import { randomBytes } from 'node:crypto';
import {
  type EndpointCredential,
  generateCredential,
  Initiator,
  Responder,
} from '@mlstls/state-machine';

const random = (length: number) => new Uint8Array(randomBytes(length));

export function responderCredential(): Promise<EndpointCredential> {
  return generateCredential({ ciphersuite: 1 });
}

/** Moves every output of `from` to `to`; returns whether any bytes moved. */
async function deliver(from: Initiator | Responder, to: Initiator | Responder): Promise<boolean> {
  await from.settled();
  let moved = false;
  for (let output = from.poll(); output !== undefined; output = from.poll()) {
    if (output.type === 'error') throw output.error;
    if (output.type === 'send') {
      moved = true;
      await to.receive(output.data);
    }
  }
  return moved;
}

/** Milliseconds of one handshake between two in-memory endpoints, suite 1, pinned key. */
export async function inMemoryHandshake(credential: EndpointCredential): Promise<number> {
  const start = process.hrtime.bigint();
  const responder = new Responder({ random, now: Date.now, credential, ciphersuites: [1] });
  const initiator = new Initiator({
    random,
    now: Date.now,
    ciphersuite: 1,
    peerSignaturePublicKey: credential.signaturePublicKey,
  });
  await initiator.start();
  for (let step = 0; step < 100; step++) {
    const sent = await deliver(initiator, responder);
    const answered = await deliver(responder, initiator);
    if (!sent && !answered) break;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (initiator.handshake === undefined || responder.handshake === undefined) {
    throw new Error('the in-memory handshake did not complete');
  }
  return elapsed;
}
