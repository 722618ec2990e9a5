// The checks the simulator makes on what the endpoints do: each throws a `Violation` naming its
// invariant (./violation.ts).
import { HandshakeType, type MlsTlsError } from '@mlstls/codec';
import type { HandshakeInfo } from '@mlstls/state-machine';
import type { Connection } from './connection.js';
import { peerOf, SIDES, type Side } from './side.js';
import { hex } from './store.js';
import type { TappedRecord } from './tap.js';
import { check, Violation } from './violation.js';

/** What the simulator knows about an error output, to judge it. */
export interface ErrorContext {
  readonly side: Side;
  readonly error: MlsTlsError;
  readonly reconnect: boolean;
  /** The simulator broke this connection's transport (a break or a crash): truncation follows. */
  readonly transportBroken: boolean;
  /**
   * On a connection that sent a resumption flight: whether the responder's store ever
   * acknowledged a write of the flight's group (absent on any other connection). Section 4's key confirmation makes the responder store a session only once
   * it has opened the initiator's confirmation, so a session it never stored is refused (and the
   * initiator falls back to a full handshake); one it stored must resume (section 6: every crash
   * leaves a state that resumes; the abstract model refuses no honest flight).
   */
  readonly groupStoredByResponder?: boolean;
}

/**
 * Invariants (1) and (3) for one `error` output of an honest endpoint: a truncation after the
 * simulator broke the transport, and a refused resumption of a session the responder never
 * stored, are what the protocol prescribes; anything else is a violation.
 */
export function judgeError(context: ErrorContext): void {
  const { side, error } = context;
  if (error.code === 'ERR_MLSTLS_TRUNCATED' && context.transportBroken) return;
  if (
    error.code === 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY' &&
    context.groupStoredByResponder !== undefined
  ) {
    check(
      !context.groupStoredByResponder,
      'resumable',
      `the ${side} failed with ${error.code} (${error.message}), but the responder's store acknowledged a write of the session: a stored session must resume`,
    );
    check(
      side === 'responder' || context.reconnect,
      'resumable',
      `the initiator's refused resumption does not say reconnect: the fallback full handshake never comes`,
    );
    return;
  }
  throw new Violation(
    'agreement',
    `the ${side} failed with ${error.code}${error.alert === undefined ? '' : ` (alert ${error.alert})`}: ${error.message}`,
  );
}

/** Invariants (1) and (4) for a `data` output: in order as the peer wrote it, never on a replay. */
export function checkData(connection: Connection, side: Side, data: Uint8Array): void {
  check(
    connection.kind !== 'replay',
    'rollback',
    `the responder of the replay of connection ${connection.replayOf} received application data: a recorded record opened`,
  );
  const received = connection.logs[side].received.length;
  const expected = connection.logs[peerOf(side)].writes[received - 1];
  check(
    expected !== undefined && hex(expected) === hex(data),
    'agreement',
    `the ${side} of connection ${connection.index} received data its peer did not write in that order`,
  );
}

/**
 * Invariant (3) for a completed handshake: a connection made after a break or crash with a
 * session in the initiator's store resumes (`resumed: true`) on both sides; any other makes a
 * full handshake.
 */
export function checkHandshake(connection: Connection, side: Side, info: HandshakeInfo): void {
  if (connection.kind === 'replay') return;
  const resuming = connection.kind === 'resume';
  check(
    info.resumed === resuming,
    'resumable',
    resuming
      ? `the ${side} of connection ${connection.index} completed a full handshake, but the initiator resumed a stored session`
      : `the ${side} of connection ${connection.index} reports a resumption without a stored session`,
  );
}

/**
 * Invariants (3) and (4) for a record sent: after a break or crash an initiator with a stored
 * session sends a resumption flight, never a client_hello; a replay's responder sends no
 * protected record of the connection it replays (a plaintext record, the refusal's alert, is
 * under no key).
 */
export function checkSent(
  connection: Connection,
  side: Side,
  record: Uint8Array,
  tapped: TappedRecord,
  replayed: Connection | undefined,
): void {
  if (connection.kind === 'resume' && side === 'initiator') {
    check(
      !tapped.handshake.some((message) => message.msgType === HandshakeType.client_hello),
      'resumable',
      `the initiator held a stored session after a break or crash, but sent client_hello on connection ${connection.index}`,
    );
  }
  if (replayed === undefined || side !== 'responder' || !tapped.protected) return;
  const bytes = hex(record);
  for (const from of SIDES) {
    const index = replayed.sent[from].findIndex((sent) => hex(sent) === bytes);
    check(
      index < 0,
      'rollback',
      `the replay's responder sent ${tapped.label}, byte for byte ${from} record ${index + 1} of connection ${replayed.index}: a key of that connection protects it again`,
    );
  }
}

/**
 * Liveness and agreement where nothing is in flight: both sides have completed their
 * handshakes, are synced in one epoch, export the same keys, every update() is confirmed and
 * every byte written has arrived.
 */
export function checkQuiet(connection: Connection): void {
  const where = `connection ${connection.index} with nothing in flight`;
  for (const side of SIDES) {
    const endpoint = connection.endpoints[side]!;
    const log = connection.logs[side];
    check(
      log.handshake !== undefined,
      'liveness',
      `${where}: the ${side}'s handshake is not complete (state ${endpoint.state})`,
    );
    check(
      endpoint.state === 'synced',
      'liveness',
      `${where}: the ${side} waits in ${endpoint.state}`,
    );
    const { requested, confirmed } = log.updates;
    check(
      requested === confirmed,
      'liveness',
      `${where}: ${requested - confirmed} update() call(s) of the ${side} never confirmed`,
    );
    checkAllArrived(connection, side, where);
  }
  const { initiator, responder } = connection.endpoints;
  check(
    initiator!.epoch === responder.epoch,
    'agreement',
    `${where}: the initiator is in epoch ${initiator!.epoch}, the responder in ${responder.epoch}`,
  );
  const exported = SIDES.map((side) =>
    hex(connection.endpoints[side]!.exportKeyingMaterial(32, 'EXPORTER-model-check')),
  );
  check(
    exported[0] === exported[1],
    'agreement',
    `${where}: the two sides export different keys in epoch ${responder.epoch}`,
  );
}

/** Every write of `side`'s peer on the connection has reached `side`. */
export function checkAllArrived(connection: Connection, side: Side, where: string): void {
  const received = connection.logs[side].received.length;
  const written = connection.logs[peerOf(side)].writes.length;
  check(
    received === written,
    'liveness',
    `${where}: the ${side} received ${received} of the ${written} writes of the ${peerOf(side)}`,
  );
}
