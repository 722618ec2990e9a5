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
import type { SessionStore } from '@mlstls/storage';

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

/** Where the two ends of an in-memory connection keep their session. */
export interface InMemoryStores {
  readonly initiator: SessionStore;
  readonly responder: SessionStore;
  /** The initiator's name for the session: a stored one is resumed. */
  readonly sessionId: Uint8Array;
}

/**
 * One connection between two in-memory endpoints, suite 1, pinned key: a full handshake, or
 * with `stores` holding a session, a resumption (docs/protocol.md section 6). As in the Node binding,
 * neither end hands out `persist` outputs; with stores, each writes its state there.
 */
export async function inMemoryConnection(
  credential: EndpointCredential,
  stores?: InMemoryStores,
): Promise<{ ms: number; resumed: boolean }> {
  const start = process.hrtime.bigint();
  const responder = new Responder({
    random,
    now: Date.now,
    credential,
    ciphersuites: [1],
    persist: false,
    ...(stores === undefined ? {} : { store: stores.responder }),
  });
  const initiator = new Initiator({
    random,
    now: Date.now,
    ciphersuite: 1,
    peerSignaturePublicKey: credential.signaturePublicKey,
    persist: false,
    ...(stores === undefined ? {} : { store: stores.initiator, sessionId: stores.sessionId }),
  });
  await initiator.start();
  for (let step = 0; step < 100; step++) {
    const sent = await deliver(initiator, responder);
    const answered = await deliver(responder, initiator);
    if (!sent && !answered) break;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (initiator.handshake === undefined || responder.handshake === undefined) {
    throw new Error('the in-memory handshake did not complete');
  }
  return { ms, resumed: initiator.handshake.resumed };
}

/** Milliseconds of one full handshake between two in-memory endpoints with no store. */
export async function inMemoryHandshake(credential: EndpointCredential): Promise<number> {
  return (await inMemoryConnection(credential)).ms;
}
