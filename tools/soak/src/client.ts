// The soak's clients: one loop per connection slot, each keeping one mlstls connection open
// and replacing it when it ends. Every choice comes from the slot's own seeded stream; every
// wait is bounded.
import { connect as connectTcp, type Socket } from 'node:net';
import { connect, type MlsTlsSocket } from '@mlstls/node';
import { MemoryStore } from '@mlstls/storage';
import {
  ABANDONED_UPDATE,
  type AbruptKind,
  CLIENT_ERRORS_AFTER,
  REFUSED_RESUMPTION,
} from './errors.js';
import { bump, type Counts, errorKey } from './protocol.js';
import { Random } from './random.js';
import type { Relay } from './relay.js';
import { sleep, TIMED_OUT, within } from './wait.js';

/** The binding's own handshake bound, on the client (the server has the same). */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** Our bound on 'secureConnect', a little past the binding's. */
const HANDSHAKE_WAIT_MS = 35_000;
/** Bound on one operation: an echo, an update, a key update. */
export const OP_TIMEOUT_MS = 30_000;
/** Bound on 'close' after `end()` or an abrupt close. */
export const CLOSE_TIMEOUT_MS = 15_000;
/** Largest write: 64 KiB. */
const MAX_WRITE = 64 * 1024;

export interface ClientCounters {
  /** Connections started (`connect()` calls). */
  connections: number;
  /** 'secureConnect': handshakes completed, full or resumed. */
  handshakes: number;
  /** Of those, resumed ones (`isSessionReused()`). */
  resumed: number;
  /** Connections started with a stored session for their name: a resumption was tried. */
  resumptionsTried: number;
  /** Of those, refused by the server (a full handshake followed, or the connection failed). */
  resumptionsRefused: number;
  /** Of the refused ones, those right after an abrupt close of the slot (the expected race). */
  refusedAfterAbrupt: number;
  /** `update()` calls confirmed. */
  updates: number;
  /** `keyUpdate()` calls done, and those asking the server for one. */
  keyUpdates: number;
  keyUpdatesRequested: number;
  /** 'keyUpdate' events of the receiving direction: the server's key updates. */
  keyUpdatesReceived: number;
  /** Echoes checked byte for byte, and their bytes. */
  echoes: number;
  bytesEchoed: number;
  /** `end()`, then 'close' after the server's close_notify, without an error. */
  gracefulCloses: number;
  /** Abrupt closes by kind, and by what was in flight (`write`, `update`, `idle`). */
  abruptCloses: Counts;
  abruptPhases: Counts;
  /** Connections destroyed because something unexpected happened to them. */
  destroyedAfterFailure: number;
  /** Client sockets that closed with `truncated === true`. */
  truncated: number;
  expected: Counts;
  unexpected: Counts;
}

interface SlotState {
  readonly rng: Random;
  readonly sessionName: string;
  readonly sessionId: Uint8Array;
  /** How the last connection of this slot that used the store ended. */
  lastStoredEnd: 'none' | 'graceful' | 'abrupt' | 'failed';
}

export interface ClientSetup {
  readonly serverPort: number;
  readonly signaturePublicKey: Uint8Array;
  readonly relay: Relay;
  readonly seed: string;
  readonly thinkMs: number;
  /** Aborts when the run is over: think times end, no new connection starts. */
  readonly stopped: AbortSignal;
}

/** The clients of a run: their counters, and the slot loops. */
export class Clients {
  readonly counters: ClientCounters = {
    connections: 0,
    handshakes: 0,
    resumed: 0,
    resumptionsTried: 0,
    resumptionsRefused: 0,
    refusedAfterAbrupt: 0,
    updates: 0,
    keyUpdates: 0,
    keyUpdatesRequested: 0,
    keyUpdatesReceived: 0,
    echoes: 0,
    bytesEchoed: 0,
    gracefulCloses: 0,
    abruptCloses: {},
    abruptPhases: {},
    destroyedAfterFailure: 0,
    truncated: 0,
    expected: {},
    unexpected: {},
  };
  /** Client sockets whose handshake completed and that have not closed yet. */
  open = 0;
  /** Slots whose first connection has completed its handshake: the ramp is over at all of them. */
  readonly #started = new Set<SlotState>();
  /** Client sockets not closed yet, handshaking or not. */
  readonly live = new Set<MlsTlsSocket>();
  /** One store for every slot: each slot stores its session under its own name. */
  readonly store = new MemoryStore();
  readonly #setup: ClientSetup;

  constructor(setup: ClientSetup) {
    this.#setup = setup;
  }

  get unexpectedTotal(): number {
    return Object.values(this.counters.unexpected).reduce((sum, n) => sum + n, 0);
  }

  /** How many slots have completed a first handshake. */
  get started(): number {
    return this.#started.size;
  }

  /** Keeps one connection of slot `slot` open until the run stops; starts after `delayMs`. */
  async runSlot(slot: number, delayMs: number): Promise<void> {
    const { stopped, seed } = this.#setup;
    const sessionName = `soak-slot-${slot}`;
    const state: SlotState = {
      rng: new Random(seed, slot),
      sessionName,
      sessionId: new TextEncoder().encode(sessionName),
      lastStoredEnd: 'none',
    };
    await sleep(delayMs, stopped);
    while (!stopped.aborted) {
      const ok = await this.#connection(state);
      // A connection that failed unexpectedly is replaced after a pause, not in a tight loop.
      if (!ok) await sleep(state.rng.int(50, 250), stopped);
    }
  }

  #unexpected(code: string): void {
    bump(this.counters.unexpected, code);
  }

  /** One connection of a slot, from `connect()` to 'close'. False when it failed unexpectedly. */
  async #connection(slot: SlotState): Promise<boolean> {
    const { rng } = slot;
    const { relay, serverPort, signaturePublicKey, thinkMs, stopped } = this.#setup;
    const counters = this.counters;
    // The choices of this connection, all made now, in a fixed order, from the slot's stream.
    const viaRelay = rng.chance(0.25);
    // A transport of our own, which we can destroy under the MlsTlsSocket (always through the
    // relay, which finds the connection to cut by our socket's port).
    const ownTransport = viaRelay || rng.chance(0.25);
    const useStore = rng.chance(0.85);
    const operations = rng.int(1, 24);
    const port = viaRelay ? relay.port : serverPort;
    const previousStoredEnd = slot.lastStoredEnd;
    const triesResumption = useStore && (await this.store.get(slot.sessionId)) !== undefined;

    let tcp: Socket | undefined;
    if (ownTransport) tcp = connectTcp({ host: '127.0.0.1', port, allowHalfOpen: true });
    counters.connections++;
    if (triesResumption) counters.resumptionsTried++;
    const socket = connect({
      host: '127.0.0.1',
      ...(tcp === undefined ? { port } : { socket: tcp }),
      peerSignaturePublicKey: signaturePublicKey,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      sessionId: slot.sessionName,
      ...(useStore ? { store: this.store } : {}),
    });
    this.live.add(socket);

    /** Set once this connection is being closed abruptly on purpose. */
    let abrupt: AbruptKind | undefined;
    let secure = false;
    /** Something unexpected happened to this connection (already counted). */
    let failed = false;
    const fail = (code: string): void => {
      failed = true;
      this.#unexpected(code);
    };

    // Echo checking: the bytes written last, compared with what comes back as it comes.
    let echo:
      | { data: Buffer; offset: number; resolve: () => void; reject: (code: string) => void }
      | undefined;
    socket.on('data', (chunk: Buffer) => {
      if (abrupt !== undefined) return; // the echo of a write cut in the middle: not checked
      const pending = echo;
      if (pending === undefined) {
        fail('ECHO_UNSOLICITED_DATA');
        return;
      }
      const end = pending.offset + chunk.length;
      if (end > pending.data.length) {
        echo = undefined;
        pending.reject('ECHO_TOO_LONG');
        return;
      }
      if (!chunk.equals(pending.data.subarray(pending.offset, end))) {
        echo = undefined;
        pending.reject('ECHO_MISMATCH');
        return;
      }
      pending.offset = end;
      if (end === pending.data.length) {
        echo = undefined;
        counters.echoes++;
        counters.bytesEchoed += end;
        pending.resolve();
      }
    });
    socket.on('error', (error: Error) => {
      const code = errorKey(error);
      if (abrupt !== undefined && CLIENT_ERRORS_AFTER[abrupt].includes(code)) {
        bump(counters.expected, `${code} (after ${abrupt})`);
      } else if (
        !secure &&
        code === REFUSED_RESUMPTION &&
        ownTransport &&
        previousStoredEnd === 'abrupt'
      ) {
        // No fallback on a transport of our own; counted with the refusals below.
        bump(counters.expected, `${code} (resumption raced an abrupt close)`);
      } else {
        fail(secure ? code : `${code} (before secureConnect)`);
      }
    });
    socket.on('keyUpdate', (direction: string) => {
      if (direction === 'receive') counters.keyUpdatesReceived++;
    });
    socket.on('end', () => {
      // The binding is to say whether the transport ended without close_notify; read it
      // defensively.
      if (abrupt === undefined && (socket as { truncated?: boolean }).truncated === true) {
        fail('TRUNCATED_WITHOUT_ABRUPT_CLOSE');
      }
    });
    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.live.delete(socket);
        if (secure) this.open--;
        if ((socket as { truncated?: boolean }).truncated === true) counters.truncated++;
        echo?.reject('ECHO_CLOSED');
        echo = undefined;
        resolve();
      });
    });
    // Destroys a connection that something unexpected happened to, and waits for its close.
    const giveUp = async (): Promise<false> => {
      counters.destroyedAfterFailure++;
      if (useStore) slot.lastStoredEnd = 'failed';
      socket.destroy();
      if ((await within(closed, CLOSE_TIMEOUT_MS)) === TIMED_OUT)
        fail('TIMEOUT_CLOSE_AFTER_DESTROY');
      return false;
    };

    // ---- the handshake ---------------------------------------------------------------------
    const handshake = await within(
      new Promise<boolean>((resolve) => {
        socket.once('secureConnect', () => {
          // At once, not after this await: an 'error' or 'close' may follow in the same turn.
          secure = true;
          this.open++;
          resolve(true);
        });
        socket.once('close', () => resolve(false));
      }),
      HANDSHAKE_WAIT_MS,
    );
    if (handshake === TIMED_OUT) {
      fail('TIMEOUT_HANDSHAKE');
      return giveUp();
    }
    if (triesResumption && !(handshake && socket.isSessionReused())) {
      counters.resumptionsRefused++;
      if (previousStoredEnd === 'abrupt') counters.refusedAfterAbrupt++;
      else if (handshake) fail('RESUMPTION_REFUSED_AFTER_CLEAN_CLOSE');
    }
    if (!handshake) {
      // The 'error' is counted (expected only for the race above).
      await within(closed, CLOSE_TIMEOUT_MS);
      if (useStore) slot.lastStoredEnd = 'failed';
      return !failed;
    }
    counters.handshakes++;
    this.#started.add(slot);
    if (socket.isSessionReused()) counters.resumed++;

    // ---- operations ------------------------------------------------------------------------
    const echoOnce = async (data: Buffer): Promise<string | undefined> => {
      const checked = new Promise<void>((resolve, reject) => {
        echo = { data, offset: 0, resolve, reject };
      });
      socket.write(data);
      try {
        const result = await within(checked, OP_TIMEOUT_MS);
        return result === TIMED_OUT ? 'TIMEOUT_ECHO' : undefined;
      } catch (code) {
        return String(code);
      }
    };
    const updateOnce = async (): Promise<string | undefined> => {
      const before = socket.epoch;
      try {
        const result = await within(socket.update(), OP_TIMEOUT_MS);
        if (result === TIMED_OUT) return 'TIMEOUT_UPDATE';
        if (socket.epoch <= before) return 'UPDATE_EPOCH_UNCHANGED';
        counters.updates++;
        return undefined;
      } catch (error) {
        return `update() ${errorKey(error)}`;
      }
    };
    const keyUpdateOnce = async (requestPeer: boolean): Promise<string | undefined> => {
      try {
        const result = await within(socket.keyUpdate({ requestPeer }), OP_TIMEOUT_MS);
        if (result === TIMED_OUT) return 'TIMEOUT_KEY_UPDATE';
        counters.keyUpdates++;
        if (requestPeer) counters.keyUpdatesRequested++;
        return undefined;
      } catch (error) {
        return `keyUpdate() ${errorKey(error)}`;
      }
    };

    for (let done = 0; done < operations && !failed; done++) {
      await sleep(rng.int(0, 2 * thinkMs), stopped);
      if (stopped.aborted || socket.destroyed) break;
      const operation = rng.pick([
        ['echo', 45],
        ['update', 20],
        ['keyUpdate', 20],
        ['update+echo', 15],
      ] as const);
      let outcome: (string | undefined)[];
      switch (operation) {
        case 'echo':
          outcome = [await echoOnce(rng.bytes(rng.logSize(1, MAX_WRITE)))];
          break;
        case 'update':
          outcome = [await updateOnce()];
          break;
        case 'keyUpdate':
          outcome = [await keyUpdateOnce(rng.chance(0.5))];
          break;
        case 'update+echo': {
          // Data crossing an epoch change.
          const data = rng.bytes(rng.logSize(1, MAX_WRITE));
          outcome = await Promise.all([updateOnce(), echoOnce(data)]);
          break;
        }
      }
      // A connection that already failed has its 'error' counted: its operations' failures
      // are consequences, not counted again.
      for (const code of outcome) if (code !== undefined && !failed) fail(code);
    }
    // The server never closes first: a socket closed here without an error is a finding too.
    if (!failed && socket.destroyed) fail('CLOSED_BY_SERVER');
    if (failed) return giveUp();

    // ---- the close -------------------------------------------------------------------------
    const kinds: AbruptKind[] = ['destroy'];
    if (tcp !== undefined) kinds.push('tcp-destroy');
    if (viaRelay) kinds.push('relay-cut');
    const closeChoice = rng.chance(0.6) ? 'graceful' : rng.pick(kinds.map((k) => [k, 1] as const));
    const phase = rng.pick([
      ['write', 2],
      ['update', 1],
      ['idle', 1],
    ] as const);
    const cutDelay = rng.int(0, 3);
    const cutSize = rng.logSize(1, MAX_WRITE);
    if (closeChoice === 'graceful' || stopped.aborted) {
      socket.end();
      if ((await within(closed, CLOSE_TIMEOUT_MS)) === TIMED_OUT) {
        fail('TIMEOUT_CLOSE');
        return giveUp();
      }
      if (!socket.readableEnded && !failed) fail('CLOSED_WITHOUT_CLOSE_NOTIFY');
      if (failed) {
        if (useStore) slot.lastStoredEnd = 'failed';
        return false;
      }
      counters.gracefulCloses++;
      if (useStore) slot.lastStoredEnd = 'graceful';
      return true;
    }

    abrupt = closeChoice;
    bump(counters.abruptCloses, abrupt);
    bump(counters.abruptPhases, phase);
    if (useStore) slot.lastStoredEnd = 'abrupt';
    if (phase === 'write') socket.write(rng.bytes(cutSize));
    if (phase === 'update') {
      socket.update().then(
        () => {
          counters.updates++;
        },
        (error: unknown) => {
          const code = errorKey(error);
          if (ABANDONED_UPDATE.includes(code))
            bump(counters.expected, `update() ${code} (abandoned)`);
          else this.#unexpected(`update() ${code} (abandoned)`);
        },
      );
    }
    if (phase !== 'idle') await sleep(cutDelay);
    switch (abrupt) {
      case 'destroy':
        socket.destroy();
        break;
      case 'tcp-destroy':
        tcp!.destroy();
        break;
      case 'relay-cut':
        if (!relay.cut(tcp!.localPort ?? -1)) {
          this.#unexpected('RELAY_PAIR_MISSING');
          tcp!.destroy();
        }
        break;
    }
    if ((await within(closed, CLOSE_TIMEOUT_MS)) === TIMED_OUT) {
      this.#unexpected(`TIMEOUT_CLOSE_AFTER_${abrupt.toUpperCase()}`);
      socket.destroy();
      await within(closed, CLOSE_TIMEOUT_MS);
    }
    return true;
  }
}
