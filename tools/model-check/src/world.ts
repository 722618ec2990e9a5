// The simulated world: two sides, each a store that survives restarts, and the connections the
// real endpoints run on. It applies one event at a time and waits for both endpoints to settle
// (the core is sans-IO: nothing happens between events), so that an event sequence always
// produces the same world: the explorer re-executes sequences instead of cloning endpoints.
import { type EndpointCredential, Initiator, type Output, Responder } from '@mlstls/state-machine';
import { type Bounds, perSide } from './bounds.js';
import { Connection, type ConnectionKind } from './connection.js';
import { seededCredential } from './credentials.js';
import type { Event, Step } from './events.js';
import {
  checkAllArrived,
  checkData,
  checkHandshake,
  checkQuiet,
  checkSent,
  judgeError,
} from './invariants.js';
import { type Random, seededRandom } from './random.js';
import { peerOf, SIDES, type Side } from './side.js';
import { SimStore, type StoreFault, snapshotDigest } from './store.js';
import { ConnectionTap, NonceLedger } from './tap.js';
import { check, Violation } from './violation.js';

/**
 * A deliberately broken world, for the tests that show the checker catches a fault:
 * `drop-writes`, a responder store that acknowledges writes it never keeps; `repeat-random`,
 * responders whose randomness restarts from the same seed in every process.
 */
export type Fault = StoreFault | 'repeat-random';

export interface WorldOptions {
  readonly seed: string;
  readonly now: () => number;
  readonly fault?: Fault | undefined;
}

/** Events used so far, against the bounds. */
interface Used {
  readonly write: Record<Side, number>;
  readonly update: Record<Side, number>;
  readonly keyUpdate: Record<Side, number>;
  breaks: number;
  crashes: number;
  rollbacks: number;
}

/** The name the initiator keeps its session under: the responder's (section 6). */
const SESSION_ID = new TextEncoder().encode('responder.test:443');

export class World {
  readonly stores: Record<Side, SimStore>;
  readonly ledger = new NonceLedger();
  readonly connections: Connection[] = [];
  readonly used: Used = {
    write: { initiator: 0, responder: 0 },
    update: { initiator: 0, responder: 0 },
    keyUpdate: { initiator: 0, responder: 0 },
    breaks: 0,
    crashes: 0,
    rollbacks: 0,
  };
  rolledBack = false;
  readonly #options: WorldOptions;
  readonly #credentials: Record<Side, EndpointCredential>;
  /** The side whose planned crash has happened and is not yet handled. */
  #crashed: Side | undefined;
  #crashWaiters: (() => void)[] = [];

  private constructor(options: WorldOptions, credentials: Record<Side, EndpointCredential>) {
    this.#options = options;
    this.#credentials = credentials;
    const fault = options.fault === 'drop-writes' ? options.fault : undefined;
    this.stores = {
      initiator: new SimStore(options.now),
      responder: new SimStore(options.now, fault),
    };
  }

  /** A world whose first connection has started: the initiator's client_hello is in flight. */
  static async create(options: WorldOptions): Promise<World> {
    const credentials = {
      initiator: await seededCredential(`${options.seed}/initiator`),
      responder: await seededCredential(`${options.seed}/responder`),
    };
    const world = new World(options, credentials);
    world.#beginEvent(undefined);
    await world.#open('first');
    await world.#afterEvent();
    return world;
  }

  /** A world after `steps`, from the start. */
  static async replay(options: WorldOptions, steps: readonly Step[]): Promise<World> {
    const world = await World.create(options);
    for (const step of steps) await world.apply(step);
    return world;
  }

  get current(): Connection {
    return this.connections[this.connections.length - 1]!;
  }

  /**
   * Applies one step and waits until nothing more happens. Returns how many compare-and-sets
   * each side made meanwhile: the crash points this step offers.
   */
  async apply(step: Step): Promise<Record<Side, number>> {
    this.#beginEvent(step);
    await this.#run(step.event);
    await this.#afterEvent();
    return { initiator: this.stores.initiator.writes, responder: this.stores.responder.writes };
  }

  /** The events enabled in this world under `bounds` (crash variants come from `apply`). */
  async enabled(bounds: Bounds): Promise<Event[]> {
    if (this.rolledBack) return [];
    const connection = this.current;
    const events: Event[] = [];
    for (const side of SIDES) {
      if (!connection.alive(side)) continue;
      if (this.used.write[side] < perSide(bounds.writes, side)) {
        events.push({ kind: 'write', side });
      }
      if (connection.logs[side].handshake === undefined) continue;
      if (this.used.update[side] < perSide(bounds.updates, side)) {
        events.push({ kind: 'update', side });
      }
      if (this.used.keyUpdate[side] < perSide(bounds.keyUpdates, side)) {
        events.push({ kind: 'keyUpdate', side, requestPeer: false });
        events.push({ kind: 'keyUpdate', side, requestPeer: true });
      }
    }
    for (const side of SIDES) {
      if (connection.queues[side].length > 0) events.push({ kind: 'deliver', from: side });
    }
    if (this.used.breaks < bounds.breaks) events.push({ kind: 'break' });
    if (this.used.rollbacks < bounds.rollbacks) {
      const now = snapshotDigest(await this.stores.responder.snapshot());
      for (const earlier of this.connections) {
        const before = earlier.responderStoreBefore;
        if (before === undefined || earlier.tap.flightGroup === undefined) continue;
        if (snapshotDigest(before) !== now) {
          events.push({ kind: 'rollback', connection: earlier.index });
        }
      }
    }
    return events;
  }

  /** Whether `event` can run at all here (not whether the bounds allow it). */
  canRun(event: Event): boolean {
    if (this.rolledBack) return false;
    const connection = this.current;
    switch (event.kind) {
      case 'deliver':
        return connection.queues[event.from].length > 0;
      case 'rollback':
        return this.connections[event.connection - 1]?.responderStoreBefore !== undefined;
      case 'write':
        return connection.alive(event.side);
      case 'update':
      case 'keyUpdate':
        return connection.alive(event.side) && connection.logs[event.side].handshake !== undefined;
      case 'break':
        return true;
    }
  }

  /**
   * Liveness and agreement where nothing is in flight (see `checkQuiet` of ./invariants.ts),
   * then data both ways, which must arrive as written. Returns false, checking nothing, while
   * something is in flight. Changes the world: call it last.
   */
  async checkQuiet(): Promise<boolean> {
    const connection = this.current;
    if (this.rolledBack || !connection.quiet) return false;
    // Lets the update() promises that the last event settled run their callbacks.
    await new Promise((resolve) => setImmediate(resolve));
    checkQuiet(connection);
    for (const side of SIDES) await this.#write(side, `probe ${side} ${connection.index}`);
    await this.drain();
    const where = `connection ${connection.index}, after data both ways`;
    check(connection === this.current, 'liveness', `${where}: the connection was replaced`);
    for (const side of SIDES) checkAllArrived(connection, side, where);
    return true;
  }

  /** Delivers every record in flight, both ways, until nothing is (at most `limit` records). */
  async drain(limit = 200): Promise<void> {
    for (let delivered = 0; delivered < limit; delivered++) {
      const connection = this.current;
      const from = SIDES.find((side) => connection.queues[side].length > 0);
      if (from === undefined || this.rolledBack) return;
      await this.apply({ event: { kind: 'deliver', from } });
    }
    throw new Violation('liveness', `records still in flight after ${limit} deliveries`);
  }

  // ---- events --------------------------------------------------------------------------

  async #run(event: Event): Promise<void> {
    const connection = this.current;
    switch (event.kind) {
      case 'write':
        this.used.write[event.side]++;
        return this.#write(event.side, `${event.side} ${this.used.write[event.side]}`);
      case 'update': {
        this.used.update[event.side]++;
        const { updates } = connection.logs[event.side];
        updates.requested++;
        connection.endpoints[event.side]!.update().then(
          () => updates.confirmed++,
          () => updates.rejected++,
        );
        return this.#settle(connection);
      }
      case 'keyUpdate':
        this.used.keyUpdate[event.side]++;
        connection.endpoints[event.side]!.keyUpdate({ requestPeer: event.requestPeer }).catch(
          () => {},
        );
        return this.#settle(connection);
      case 'deliver': {
        const record = connection.queues[event.from].shift();
        if (record === undefined) throw new Error('nothing in flight to deliver');
        connection.endpoints[peerOf(event.from)]!.receive(record).catch(() => {});
        return this.#settle(connection);
      }
      case 'break':
        this.used.breaks++;
        return this.#restart();
      case 'rollback':
        this.used.rollbacks++;
        return this.#rollback(event.connection);
    }
  }

  async #write(side: Side, text: string): Promise<void> {
    const connection = this.current;
    const data = new TextEncoder().encode(text);
    connection.logs[side].writes.push(data);
    connection.endpoints[side]!.write(data).catch(() => {});
    await this.#settle(connection);
  }

  #beginEvent(step: Step | undefined): void {
    this.#crashed = undefined;
    this.#crashWaiters = [];
    for (const side of SIDES) {
      const crash = step?.crash?.side === side ? step.crash : undefined;
      this.stores[side].beginEvent(crash, () => this.#crash(side));
    }
  }

  /** Crashes, restarts and fallbacks that follow from what the event did. */
  async #afterEvent(): Promise<void> {
    for (;;) {
      const connection = this.current;
      if (this.#crashed !== undefined) {
        this.#crashed = undefined;
        this.used.crashes++;
        await this.#restart();
      } else if (connection.fallbackDue && !connection.broken) {
        // The driver's fallback (section 6): a full handshake on a new transport.
        connection.broken = true;
        await this.#open('fallback');
      } else {
        return;
      }
    }
  }

  #crash(side: Side): void {
    this.#crashed = side;
    for (const wake of this.#crashWaiters.splice(0)) wake();
  }

  /** Waits until both endpoints have run every command, or one of them crashed. */
  async #settle(connection: Connection): Promise<void> {
    const running = SIDES.filter(
      (side) => connection.endpoints[side] !== undefined && connection.frozen !== side,
    );
    const settled = Promise.all(running.map((side) => connection.endpoints[side]!.settled()));
    const crashed = new Promise<void>((wake) => {
      if (this.#crashed !== undefined) wake();
      else this.#crashWaiters.push(wake);
    });
    await Promise.race([settled, crashed]);
    if (this.#crashed !== undefined && connection.frozen === undefined) {
      connection.frozen = this.#crashed;
      const other = connection.endpoints[peerOf(this.#crashed)];
      if (other !== undefined) await other.settled();
    }
    this.#collect(connection);
  }

  /**
   * The transport breaks (or a side crashed, which breaks it too): what is in flight is lost,
   * the surviving endpoints see the transport end, and a new connection begins.
   */
  async #restart(): Promise<void> {
    const old = this.current;
    old.broken = true;
    for (const side of SIDES) old.queues[side].length = 0;
    for (const side of SIDES) {
      const endpoint = old.endpoints[side];
      if (endpoint === undefined || old.frozen === side || old.logs[side].failure) continue;
      endpoint.receiveEnd().catch(() => {});
    }
    await this.#settle(old);
    const session = await this.stores.initiator.get(SESSION_ID);
    await this.#open(session === undefined ? 'fresh' : 'resume');
  }

  /** Opens connection n + 1: new endpoints on the stores; the initiator starts. */
  async #open(kind: ConnectionKind): Promise<void> {
    const index = this.connections.length + 1;
    const responderStoreBefore =
      kind === 'resume' ? await this.stores.responder.snapshot() : undefined;
    const initiator = new Initiator({
      random: this.#random('initiator', index),
      now: this.#options.now,
      credential: this.#credentials.initiator,
      peerSignaturePublicKey: this.#credentials.responder.signaturePublicKey,
      store: this.stores.initiator,
      sessionId: SESSION_ID,
      persist: false,
      keyLog: () => true,
      ...(kind === 'fallback' ? { resume: false } : {}),
    });
    const connection = new Connection(
      index,
      kind,
      { initiator, responder: this.#responder(index) },
      new ConnectionTap(this.ledger, `connection ${index}`),
    );
    connection.responderStoreBefore = responderStoreBefore;
    this.connections.push(connection);
    initiator.start().catch(() => {});
    await this.#settle(connection);
  }

  /**
   * The attack of section 6: the responder's store is restored to what it held before
   * connection `index`, and everything the initiator sent on that connection, its resumption
   * flight first, is replayed to a new responder on the store. Its application greets every
   * connection it is told about. Invariant (4): nothing it sends is a record of the original
   * connection and no data reaches it; (2) holds throughout.
   */
  async #rollback(index: number): Promise<void> {
    const original = this.connections[index - 1]!;
    this.rolledBack = true;
    await this.stores.responder.restore(original.responderStoreBefore!);
    const replay = new Connection(
      this.connections.length + 1,
      'replay',
      { initiator: undefined, responder: this.#responder(0) },
      new ConnectionTap(this.ledger, `the replay of connection ${index}`, true),
      index,
    );
    this.connections.push(replay);
    for (const record of original.sent.initiator) {
      if (replay.logs.responder.failure !== undefined) break;
      replay.tap.record('initiator', record);
      replay.sent.initiator.push(record);
      replay.endpoints.responder.receive(record).catch(() => {});
      await this.#settle(replay);
      if (
        replay.logs.responder.handshake !== undefined &&
        replay.logs.responder.writes.length === 0
      ) {
        await this.#write('responder', 'greeting to whoever resumed');
      }
    }
  }

  #responder(index: number): Responder {
    return new Responder({
      random: this.#random('responder', index),
      now: this.#options.now,
      credential: this.#credentials.responder,
      store: this.stores.responder,
      persist: false,
      keyLog: () => true,
    });
  }

  /** Each endpoint's own stream; `repeat-random` gives every responder the same one. */
  #random(side: Side, index: number): Random {
    const repeat = this.#options.fault === 'repeat-random' && side === 'responder';
    return seededRandom(`${this.#options.seed}/${side}/${repeat ? 'every' : index}`);
  }

  // ---- outputs ---------------------------------------------------------------------------

  #collect(connection: Connection): void {
    connection.drainOutputs((side, output) => this.#handle(connection, side, output));
  }

  #handle(connection: Connection, side: Side, output: Output): void {
    const log = connection.logs[side];
    const replay = connection.kind === 'replay';
    switch (output.type) {
      case 'send':
        for (const record of connection.records(side, output.data)) {
          this.#sent(connection, side, record);
        }
        return;
      case 'keyLog':
        connection.tap.keyLog(side, output.line);
        return;
      case 'data':
        log.received.push(output.data);
        checkData(connection, side, output.data);
        return;
      case 'handshakeComplete':
        log.handshake = output.info;
        checkHandshake(connection, side, output.info);
        return;
      case 'storeError':
        check(replay, 'agreement', `the ${side}'s store failed: ${output.error.message}`);
        return;
      case 'error': {
        log.failure = output.error;
        if (replay) return;
        const group = connection.tap.flightGroup;
        judgeError({
          side,
          error: output.error,
          reconnect: output.reconnect,
          transportBroken: connection.broken,
          ...(group === undefined
            ? {}
            : { groupStoredByResponder: this.stores.responder.acknowledged(group) }),
        });
        if (side === 'initiator' && output.reconnect) connection.fallbackDue = true;
        return;
      }
      default:
        return;
    }
  }

  /** A record `side` sent: the tap reads it, then it waits in its queue (unless the transport broke). */
  #sent(connection: Connection, side: Side, record: Uint8Array): void {
    const tapped = connection.tap.record(side, record);
    connection.sent[side].push(record);
    if (!connection.broken && connection.frozen !== side) connection.queues[side].push(record);
    const replayed =
      connection.replayOf === undefined ? undefined : this.connections[connection.replayOf - 1];
    checkSent(connection, side, record, tapped, replayed);
  }
}
