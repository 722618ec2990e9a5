// One connection of a run: a transport (a FIFO queue of records per direction), the initiator
// and responder endpoints on it, what each side's application wrote and was told, and the
// wiretap. Outputs are routed here in the order the core produced them.
import type { MlsTlsError } from '@mlstls/codec';
import { RecordFramer } from '@mlstls/record';
import type { HandshakeInfo, Initiator, Output, Responder } from '@mlstls/state-machine';
import { SIDES, type Side } from './side.js';
import type { StoreSnapshot } from './store.js';
import type { ConnectionTap } from './tap.js';

/**
 * Why the connection exists. `first`: the run's first connection; `resume`: after a break or
 * crash, with a session in the initiator's store; `fresh`: the same without one; `fallback`:
 * the full handshake after a refused resumption; `replay`: an attacker's replay to a responder
 * whose store was rolled back.
 */
export type ConnectionKind = 'first' | 'resume' | 'fresh' | 'fallback' | 'replay';

/** What one side's application did and heard on the connection. */
export interface SideLog {
  readonly writes: Uint8Array[];
  readonly received: Uint8Array[];
  handshake: HandshakeInfo | undefined;
  failure: MlsTlsError | undefined;
  /** `update()` calls and how they settled. */
  readonly updates: { requested: number; confirmed: number; rejected: number };
}

export class Connection {
  readonly index: number;
  readonly kind: ConnectionKind;
  readonly endpoints: { initiator: Initiator | undefined; responder: Responder };
  readonly tap: ConnectionTap;
  /** Records sent and not yet delivered, per sender. */
  readonly queues: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
  /** Every record each side sent, delivered or not. */
  readonly sent: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
  readonly logs: Record<Side, SideLog> = { initiator: newLog(), responder: newLog() };
  readonly #framers: Record<Side, RecordFramer> = {
    initiator: new RecordFramer(),
    responder: new RecordFramer(),
  };
  /** The responder's store when the connection began (a resumption's pre-state, for rollback). */
  responderStoreBefore: StoreSnapshot | undefined;
  /** The simulator cut the transport (a break, a crash, or a fallback's new transport). */
  broken = false;
  /** The side that crashed while this connection ran: it does nothing more. */
  frozen: Side | undefined;
  /** The initiator was refused and a full handshake on a new transport is the way on. */
  fallbackDue = false;
  /** For a replay: the connection whose flight it replays. */
  readonly replayOf: number | undefined;

  constructor(
    index: number,
    kind: ConnectionKind,
    endpoints: { initiator: Initiator | undefined; responder: Responder },
    tap: ConnectionTap,
    replayOf?: number,
  ) {
    this.index = index;
    this.kind = kind;
    this.endpoints = endpoints;
    this.tap = tap;
    this.replayOf = replayOf;
  }

  /** Whether `side` is still an endpoint the simulator may drive. */
  alive(side: Side): boolean {
    return (
      this.endpoints[side] !== undefined &&
      !this.broken &&
      this.frozen !== side &&
      this.logs[side].failure === undefined
    );
  }

  /** Whether nothing is in flight. */
  get quiet(): boolean {
    return this.queues.initiator.length === 0 && this.queues.responder.length === 0;
  }

  /** Splits a `send` output into whole records. */
  records(side: Side, data: Uint8Array): Uint8Array[] {
    const framer = this.#framers[side];
    framer.push(data);
    const out: Uint8Array[] = [];
    for (let record = framer.next(); record !== undefined; record = framer.next()) {
      out.push(record);
    }
    return out;
  }

  /** Takes every pending output of both endpoints, in order, and gives it to `handle`. */
  drainOutputs(handle: (side: Side, output: Output) => void): void {
    for (const side of SIDES) {
      const endpoint = this.endpoints[side];
      if (endpoint === undefined) continue;
      for (let output = endpoint.poll(); output !== undefined; output = endpoint.poll()) {
        handle(side, output);
      }
    }
  }
}

function newLog(): SideLog {
  return {
    writes: [],
    received: [],
    handshake: undefined,
    failure: undefined,
    updates: { requested: 0, confirmed: 0, rejected: 0 },
  };
}
