import {
  type Alert,
  AlertDescription,
  alertFor,
  alertName,
  ContentType,
  decodeAlert,
  encodeAlert,
  encodeHandshake,
  type HandshakeMessage,
  HandshakeType,
  KeyUpdateRequest,
  MlsTlsError,
  RecordLimits,
} from '@mlstls/codec';
import { type CryptoProvider, type ProviderChoice, resolveProvider } from '@mlstls/crypto';
import {
  deriveApplicationSecrets,
  formatKeyLogLine,
  MASTER_SECRET_EXPORTER_LABEL,
} from '@mlstls/key-schedule';
import {
  fragmentHandshake,
  HandshakeReassembler,
  type OpenedRecord,
  openPlaintextRecord,
  RecordFramer,
  sealPlaintextRecord,
} from '@mlstls/record';
import type { SessionStore } from '@mlstls/storage';
import type { TrustAnchors } from '@mlstls/x509';
import type { CiphersuiteImpl, CiphersuiteName, ClientState } from 'ts-mls';
import type { VerifyPeer } from './authentication.js';
import { debug, startTrace, type TraceEnd, trace } from './diagnostics.js';
import { withoutExporterSecret } from './group.js';
import { HeldGroup } from './held-group.js';
import type { KeyPackageSupply } from './key-package-pool.js';
import { type EndpointCredential, exportFromGroup, mlsImplementationRunning } from './mls.js';
import type { ProtocolName } from './negotiation.js';
import type { EpochCause, HandshakeInfo, Output, SessionSnapshot } from './output.js';
import { isStoreFault, sessionRecord } from './session.js';
import type { SuiteParameters } from './suites.js';
import type { Role, TrafficKeys } from './traffic.js';

/** Options both roles take. Time and randomness come in from outside: the core has neither. */
export interface EndpointOptions {
  /** Cryptographically secure random bytes (group ids, MLS path and epoch secrets). */
  readonly random: (length: number) => Uint8Array;
  /** The current time in milliseconds since the Unix epoch (KeyPackage lifetimes). */
  readonly now: () => number;
  /**
   * KeyPackages made ahead of time (a `KeyPackagePool`): a full handshake takes its own from
   * there when one of its kind is ready, and makes it otherwise. Each is used once.
   */
  readonly keyPackages?: KeyPackageSupply;
  /** This endpoint's credential; without one, an ephemeral basic credential is made. */
  readonly credential?: EndpointCredential;
  /**
   * Decides whether the peer's credential is acceptable, after the X.509 checks: false is
   * `bad_certificate`, and a thrown `MlsTlsError` chooses its own alert. It is how basic
   * credentials are authenticated: the responder accepts every peer without one; the initiator
   * fails closed without one or a pinned key (see `InitiatorOptions`).
   */
  readonly verifyPeer?: VerifyPeer;
  /**
   * The trust anchors X.509 peers must chain to (node:tls's `ca`), parsed once with
   * `TrustAnchors.from()`. Without them no X.509 chain verifies (`unknown_ca`): a binding
   * passes its platform's roots.
   */
  readonly ca?: TrustAnchors;
  /**
   * ALPN protocols, most preferred first (docs/protocol.md section 7): the initiator offers them, the
   * responder picks its first one that was offered.
   */
  readonly alpnProtocols?: readonly ProtocolName[];
  /**
   * The crypto: `node` (default where available) runs the record layer and MLS on node:crypto;
   * `noble` or a provider of your own runs the record layer on it and MLS on ts-mls's portable
   * implementation (WebCrypto and @noble), as Deno and browsers do.
   */
  readonly provider?: ProviderChoice;
  /** Asked at each epoch whether to produce its key log line (docs/protocol.md section 9). */
  readonly keyLog?: () => boolean;
  /** The largest handshake message accepted (default 2^18 bytes). */
  readonly maxHandshakeMessageLength?: number;
  /**
   * The most bytes a peer may send before the handshake is complete, that is before it has
   * proved that it holds the connection's keys (default 160 KiB, below node:tls's ~170 KiB for
   * a client_hello): everything an unauthenticated peer can make this endpoint hold.
   */
  readonly maxUnauthenticatedBytes?: number;
  /**
   * Whether to hand out `persist` outputs (default true), or a question asked at each persist
   * point. Each encodes the whole group state, so a binding that stores nothing turns them off.
   */
  readonly persist?: boolean | (() => boolean);
  /**
   * Where the connection's state is kept (docs/protocol.md sections 5 and 6). Every change is
   * written there by compare-and-set before the bytes that depend on it are handed out.
   * Without a store nothing is written, and a responder refuses every resumption.
   */
  readonly store?: SessionStore;
  /**
   * Whether a store failure ends the connection (default false). By default a store that
   * fails or misses its deadline costs only resumption: the handshake completes, the connection
   * goes on unstored and reports the failure once (a `storeError` output); a resumption the
   * store cannot serve falls back to a full handshake. With true the failure is fatal
   * (`ERR_MLSTLS_STORAGE`, `ERR_MLSTLS_STORAGE_TIMEOUT`).
   */
  readonly strictStore?: boolean;
}

/** BoringSSL's flood limits (docs/protocol.md section 1). */
const MAX_EMPTY_RECORDS = 32;
const MAX_KEY_UPDATES = 32;
const MAX_WARNING_ALERTS = 4;

/** What a protected record adds to its content: header, content type, AEAD tag. */
const RECORD_OVERHEAD = RecordLimits.headerLength + 1 + 16;

/**
 * Records opened at once with asynchronous keys (WebCrypto): about what keeps the platform's
 * AES-GCM busy (issue 18's measurement: 2.5 times one at a time with 8 in flight).
 */
const OPEN_AHEAD = 8;

/**
 * After a key change, records stay one at a time, opened synchronously, until this many in a
 * row came under the same key: a peer that changes its key every few records (a key_update
 * flood, with a byte of data between runs of them) then never makes the endpoint import a key
 * into WebCrypto, whose native memory the runtime does not count against its heap.
 */
const STEADY_KEY = 4;

/** A record of `#receiveOpenedAhead`, and its opening once under way (never for another outer type). */
interface Ahead {
  readonly record: Uint8Array;
  opened: Promise<OpenedRecord> | undefined;
}

/**
 * The largest send buffer an endpoint keeps for reuse: one 64 KiB write's records. It stays
 * with the connection while it lives (as OpenSSL's record buffers do), so it is kept small.
 */
const MAX_SEND_BUFFER = 64 * 1024 + 4 * RECORD_OVERHEAD;

/** Default of `maxUnauthenticatedBytes`. */
export const DEFAULT_MAX_UNAUTHENTICATED_BYTES = 160 * 1024;

interface UpdateWaiter {
  readonly id: number;
  readonly resolve: () => void;
  readonly reject: (error: MlsTlsError) => void;
}

/**
 * What the initiator and responder share: the record layer of both directions, the command
 * queue, alerts and closure, key updates, flood limits and the update waiters. The roles add
 * the handshake and the update tables of docs/protocol.md sections 4 and 5.
 *
 * Sans-IO: bytes come in through `receive`, commands through `write`, `update`, `keyUpdate`
 * and `close`; every result is an `Output` taken with `poll()`, in the order to act on it.
 * Commands run one at a time in the order they were called (MLS operations are async).
 */
export abstract class Endpoint {
  readonly role: Role;
  protected readonly options: EndpointOptions;
  protected readonly provider: CryptoProvider;
  protected keys: TrafficKeys | undefined;
  protected info: HandshakeInfo | undefined;
  readonly #outputs: Output[] = [];
  #queue: Promise<void> = Promise.resolve();
  readonly #held = new HeldGroup();
  /** Commands queued or running: while 0, a write or receive runs at once, without the queue. */
  #tasks = 0;
  /** Reused for application data records once the transport has taken the previous ones. */
  #sendBuffer: Uint8Array | undefined;
  readonly #reassembler: HandshakeReassembler;
  readonly #framer = new RecordFramer();
  #pendingWrites: Uint8Array[] = [];
  #closeRequested = false;
  #writeClosed = false;
  #peerClosed = false;
  #failure: MlsTlsError | undefined;
  #emptyRecords = 0;
  #keyUpdates = 0;
  #warningAlerts = 0;
  /**
   * How many records `#receiveOpenedAhead` opens at once: 1 after a key change, one more with
   * each record under an unchanged key once `STEADY_KEY` came in a row, up to `OPEN_AHEAD`.
   * Kept from one chunk to the next.
   */
  #openAhead = OPEN_AHEAD;
  /** Records taken in a row under an unchanged receiving key (see `STEADY_KEY`). */
  #unchangedKey = 0;
  /** Bytes received before the handshake completed (bounded by `maxUnauthenticatedBytes`). */
  #unauthenticatedBytes = 0;
  readonly #maxUnauthenticatedBytes: number;
  #updateRequests = 0;
  /** The highest update request that a commit in flight answers. */
  #updateInFlight = 0;
  #updateWaiters: UpdateWaiter[] = [];
  /** The store failure after which this connection stopped using its store. */
  #storeError: MlsTlsError | undefined;
  /** Settles with the handshake, for the `mlstls:handshake` or `mlstls:resume` trace. */
  #handshakeTraced: TraceEnd<HandshakeInfo> | undefined;

  protected constructor(role: Role, options: EndpointOptions) {
    this.role = role;
    this.options = options;
    this.provider = resolveProvider(options.provider);
    this.#maxUnauthenticatedBytes =
      options.maxUnauthenticatedBytes ?? DEFAULT_MAX_UNAUTHENTICATED_BYTES;
    this.#reassembler = new HandshakeReassembler(
      options.maxHandshakeMessageLength === undefined
        ? {}
        : { maxMessageLength: options.maxHandshakeMessageLength },
    );
  }

  // ---- public surface ------------------------------------------------------------------

  /** The next output, or `undefined` when there is none. */
  poll(): Output | undefined {
    return this.#outputs.shift();
  }

  /** Resolves once every command called so far has run and left its outputs to `poll()`. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /**
   * True when no command is queued or running: everything called so far has left its outputs
   * to `poll()`. A `receive` or `write` called while idle does its work before it returns
   * (unless a handshake message or an alert needs an asynchronous step).
   */
  get idle(): boolean {
    return this.#tasks === 0;
  }

  /** Bytes from the transport, split anywhere. */
  receive(data: Uint8Array): Promise<void> {
    if (this.#tasks > 0 || this.#failure) {
      // Framed now, taken in turn: records opened ahead (asynchronous keys) can include these
      // bytes while the commands before this one run.
      if (!this.#failure) this.#framer.push(data);
      return this.run(async () => this.#receiveRecords());
    }
    // Nothing queued: the records are opened now, without a promise per chunk; a record that
    // needs an asynchronous step takes the rest of the chunk into the queue.
    let pending: Promise<void> | undefined;
    try {
      this.#framer.push(data);
      pending = this.#receiveRecords();
    } catch (error) {
      this.#fail(toError(error), true);
    }
    return pending === undefined ? RESOLVED : this.run(() => pending);
  }

  /** The transport ended. Without the peer's close_notify this is a truncation. */
  receiveEnd(): Promise<void> {
    return this.run(async () => {
      if (this.#peerClosed) return;
      throw new MlsTlsError(
        'ERR_MLSTLS_TRUNCATED',
        this.#framer.hasPartialRecord
          ? 'the transport ended inside a record'
          : 'the transport ended without close_notify',
      );
    });
  }

  /**
   * Application data. Written before the handshake has keys, it waits for them. After
   * `close()` or a failure it is refused (`ERR_MLSTLS_INVALID_STATE`). As with a Node
   * stream's chunk, `data` must not change until the returned promise settles: it is sealed
   * from where it lies, without a copy.
   */
  write(data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'data must be bytes'));
    }
    const refused = this.#refuseCommand('write');
    if (refused) return Promise.reject(refused);
    if (this.writeNow(data)) return RESOLVED;
    return this.run(async () => {
      if (!this.keys?.canSend || this.info === undefined) this.#pendingWrites.push(data.slice());
      else if (this.keys.sender.asynchronous) await this.#sendApplicationDataAsync(data);
      else this.#sendApplicationData(data);
    });
  }

  /**
   * `write()` done at once: when no command is queued or running and the handshake is complete,
   * seals `data` (without a copy: it may change as soon as this returns) and returns true with
   * the `send` outputs ready to `poll()`; otherwise does nothing and returns false, and
   * `write()` is the way. `transportIdle` says that the transport has taken every byte of the
   * `send` outputs polled so far, so that their memory may be reused for these records: pass
   * true only when the caller hands the new outputs to the transport before anything else.
   */
  writeNow(data: Uint8Array, transportIdle = false): boolean {
    if (
      this.#tasks > 0 ||
      this.#failure ||
      this.#closeRequested ||
      this.info === undefined ||
      !this.keys?.canSend ||
      this.keys.sender.asynchronous ||
      !(data instanceof Uint8Array)
    ) {
      return false;
    }
    try {
      this.#sendApplicationData(data, transportIdle);
    } catch (error) {
      this.#fail(toError(error), true);
    }
    return true;
  }

  /**
   * A post-compromise-security update (docs/protocol.md section 5). Resolves once a commit made
   * after this call is confirmed by the peer's epoch_key_update. Outside SYNCED it waits.
   */
  update(): Promise<void> {
    const refused = this.#refuseCommand('update');
    if (refused) return Promise.reject(refused);
    if (this.#peerClosed) {
      // The peer's write side is closed: its epoch_key_update can never come.
      return Promise.reject(
        new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'update after the peer closed'),
      );
    }
    const id = ++this.#updateRequests;
    const confirmed = new Promise<void>((resolve, reject) => {
      this.#updateWaiters.push({ id, resolve, reject });
    });
    void this.run(() => this.#startUpdateIfDue());
    trace('update', { role: this.role, epoch: this.epoch }, confirmed);
    return confirmed;
  }

  /** A TLS KeyUpdate of the sending direction, asking the peer for one too if `requestPeer`. */
  keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    const refused =
      this.#refuseCommand('keyUpdate') ??
      (this.info === undefined
        ? new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'keyUpdate before the handshake')
        : undefined);
    if (refused) return Promise.reject(refused);
    return this.run(async () => {
      if (this.keys?.canSend) this.#sendKeyUpdate(options.requestPeer === true);
    });
  }

  /**
   * Sends close_notify after any data already written: the write side closes, the read
   * side stays open until the peer's close_notify (RFC 8446 6.1).
   */
  close(): Promise<void> {
    if (this.#closeRequested || this.#failure) return this.#queue;
    this.#closeRequested = true;
    return this.run(async () => this.#closeIfReady());
  }

  /** Ends the connection at once without sending anything, as after a transport failure. */
  abort(error: MlsTlsError = new MlsTlsError('ERR_MLSTLS_ABORTED', 'connection aborted')): void {
    this.#fail(error, false);
  }

  /** RFC 8446 7.5 keying material from `exp_master` of the current epoch. */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    if (this.keys === undefined || this.info === undefined) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'no keys to export from yet');
    }
    return this.keys.exportKeyingMaterial(length, label, context);
  }

  /** The epoch both directions have reached (0 before the handshake). */
  get epoch(): bigint {
    return this.keys?.epoch ?? 0n;
  }

  /** The handshake's outcome, once complete. */
  get handshake(): HandshakeInfo | undefined {
    return this.info;
  }

  /** The suite in use, once chosen. */
  get suite(): SuiteParameters | undefined {
    return this.keys?.suite;
  }

  /** The fatal error that ended the connection, if one did. */
  get failure(): MlsTlsError | undefined {
    return this.#failure;
  }

  /** Whether both sides have sent close_notify or the connection failed. */
  get finished(): boolean {
    return this.#failure !== undefined || (this.#writeClosed && this.#peerClosed);
  }

  // ---- for the roles -----------------------------------------------------------------

  /** Handles one handshake message other than key_update after the handshake. */
  protected abstract handleHandshake(message: HandshakeMessage): Promise<void>;

  /** Whether the role is in SYNCED, where `update()` may start at once. */
  protected abstract get synced(): boolean;

  /** Creates and sends the role's own update (row "update()" of section 5). */
  protected abstract startUpdate(): Promise<void>;

  protected emit(output: Output): void {
    this.#outputs.push(output);
  }

  /**
   * Persist before send (section 5): writes the state to the store, if there is one, and hands
   * it out as a `persist` output, if wanted, before any output that depends on it. A store that
   * fails or misses its deadline costs the connection its resumability, not its life (unless
   * `strictStore`): the store is left alone from then on, and the stale state it holds makes the
   * next resumption fall back to a full handshake. A `required` write fails the step instead.
   */
  protected async persist(
    make: () => Omit<SessionSnapshot, 'record'>,
    required = false,
  ): Promise<void> {
    const { persist } = this.options;
    const store = this.store;
    const wanted = typeof persist === 'function' ? persist() : persist !== false;
    if (store === undefined && !wanted) return;
    const partial = make();
    const snapshot: SessionSnapshot = { ...partial, record: sessionRecord(partial) };
    if (store !== undefined) {
      try {
        await this.save(store, snapshot);
      } catch (error) {
        // A write the step cannot do without (a resumption's compare-and-set) fails it.
        if (required) throw error;
        this.storeFailed(error);
      }
    }
    if (wanted) this.emit({ type: 'persist', snapshot });
  }

  /**
   * The session store this connection still uses: `undefined` without one, and once it failed
   * (`storeError`).
   */
  protected get store(): SessionStore | undefined {
    return this.#storeError === undefined ? this.options.store : undefined;
  }

  /**
   * A store call failed. A store fault (`ERR_MLSTLS_STORAGE`, `ERR_MLSTLS_STORAGE_TIMEOUT`) is
   * reported once as a `storeError` output and the store is not asked again by this connection;
   * with `strictStore`, or for any other error (a lost race, a refusal), it is rethrown.
   */
  protected storeFailed(error: unknown): void {
    if (!isStoreFault(error) || this.options.strictStore === true) throw error;
    if (this.#storeError !== undefined) return;
    this.#storeError = error;
    debug('%s: the session store failed (%s); going on without it', this.role, error.code);
    this.emit({ type: 'storeError', error });
  }

  /** The store failure that made this connection stop storing its session, if one did. */
  get storeError(): MlsTlsError | undefined {
    return this.#storeError;
  }

  /** Writes a snapshot to the store by compare-and-set, as the role's rules say. */
  protected abstract save(store: SessionStore, snapshot: SessionSnapshot): Promise<void>;

  /**
   * The error a fatal alert from the peer ends the connection with. A role may name it
   * better, and clean up first (the initiator forgets a session the responder refused).
   */
  protected async peerAlert(description: AlertDescription): Promise<MlsTlsError> {
    return new MlsTlsError('ERR_MLSTLS_ALERT_RECEIVED', `the peer sent ${alertName(description)}`, {
      alert: description,
    });
  }

  /**
   * Whether the way on after `error` is a full handshake on a new transport (section 6: a
   * refused resumption). The bindings ask nothing else: the rule is the role's.
   */
  protected reconnectAfter(_error: MlsTlsError): boolean {
    return false;
  }

  /** Sends a handshake message, in plaintext records before keys exist, else protected. */
  protected sendHandshake(message: HandshakeMessage, plaintext = false, reply = false): void {
    if (this.#writeClosed || this.#failure) return;
    for (const fragment of fragmentHandshake([encodeHandshake(message)])) {
      const data = plaintext
        ? sealPlaintextRecord(ContentType.handshake, fragment)
        : this.keys!.seal(ContentType.handshake, fragment);
      this.emit(reply ? { type: 'send', data, reply } : { type: 'send', data });
    }
  }

  /**
   * Derives and stages the keys of the epoch `group` is in, and logs it if asked. `context` is
   * the responder's random for the first epoch of a resumed connection, empty otherwise
   * (docs/protocol.md section 3). Returns the group without its exporter secret, which the keys
   * replace: the caller keeps that one.
   */
  protected async enterEpoch(
    group: ClientState,
    keys: TrafficKeys,
    context?: Uint8Array,
  ): Promise<ClientState> {
    const { hash } = keys.suite;
    const cs = await this.ciphersuite();
    const length = group.keySchedule.exporterSecret.length;
    const masterSecret = await exportFromGroup(
      group,
      MASTER_SECRET_EXPORTER_LABEL,
      length,
      cs,
      context,
    );
    try {
      const epoch = group.groupContext.epoch;
      if (this.options.keyLog?.() === true) {
        // formatKeyLogLine ends the line with its newline; the output carries the line alone.
        const line = formatKeyLogLine({ groupId: group.groupContext.groupId, epoch, masterSecret });
        this.emit({ type: 'keyLog', line: line.slice(0, -1) });
      }
      keys.stage(epoch, deriveApplicationSecrets({ hash, masterSecret, provider: this.provider }));
    } finally {
      masterSecret.fill(0);
    }
    return withoutExporterSecret(group);
  }

  /** The ts-mls ciphersuite of this connection. */
  protected abstract ciphersuite(): Promise<CiphersuiteImpl>;

  protected switchSend(epoch: bigint, cause: EpochCause): void {
    if (this.keys!.switchSend(epoch)) this.#epochReached(epoch, cause);
  }

  protected switchReceive(epoch: bigint, cause: EpochCause): void {
    this.#reassembler.checkBoundary();
    if (this.keys!.switchReceive(epoch)) this.#epochReached(epoch, cause);
  }

  /**
   * The role knows which handshake this is: a full one (section 4) or a resumption (section 6).
   * Starts its trace on `mlstls:handshake` or `mlstls:resume`, which ends with the handshake.
   */
  protected beginHandshake(kind: 'handshake' | 'resume', epoch = 0n): void {
    debug('%s: %s begins at epoch %s', this.role, kind, String(epoch));
    this.#handshakeTraced = startTrace(kind, { role: this.role, epoch });
  }

  /** The handshake is done: report it and send what was written while it ran. */
  protected completeHandshake(handshake: Omit<HandshakeInfo, 'crypto'>): void {
    const crypto = mlsImplementationRunning(
      this.provider,
      handshake.ciphersuite as CiphersuiteName,
    );
    const info: HandshakeInfo = { ...handshake, crypto };
    this.info = info;
    debug(
      '%s: %s complete, epoch %s, %s, %s crypto',
      this.role,
      info.resumed ? 'resumption' : 'handshake',
      String(info.epoch),
      info.ciphersuite,
      info.crypto,
    );
    this.#handshakeTraced?.resolve(info);
    this.#handshakeTraced = undefined;
    this.emit({ type: 'handshakeComplete', info });
    this.emit({
      type: 'epochChanged',
      epoch: info.epoch,
      cause: info.resumed ? 'resumption' : 'handshake',
    });
    const writes = this.#pendingWrites;
    this.#pendingWrites = [];
    for (const data of writes) this.#sendApplicationData(data);
    this.#closeIfReady();
  }

  /** The own update in flight was confirmed: resolve the calls it answers. */
  protected updateConfirmed(): void {
    const answered = this.#updateInFlight;
    const waiting: UpdateWaiter[] = [];
    for (const waiter of this.#updateWaiters) {
      if (waiter.id <= answered) waiter.resolve();
      else waiting.push(waiter);
    }
    this.#updateWaiters = waiting;
  }

  /** The own update in flight was discarded (a crossing): its calls wait for the next one. */
  protected updateDiscarded(): void {
    this.#updateInFlight = Math.min(
      this.#updateInFlight,
      this.#updateWaiters.reduce((low, waiter) => Math.min(low, waiter.id - 1), Infinity),
    );
  }

  protected get writeClosed(): boolean {
    return this.#writeClosed;
  }

  // ---- internals ------------------------------------------------------------------------

  protected run(task: () => Promise<void>): Promise<void> {
    this.#tasks++;
    const next = this.#queue.then(async () => {
      try {
        if (!this.#failure) await task();
      } catch (error) {
        this.#fail(toError(error), true);
      } finally {
        // Idle: the group state goes back to its encoding until the next commit needs it.
        if (--this.#tasks === 0) this.#held.idle();
      }
    });
    this.#queue = next;
    return next;
  }

  /** The connection's group state, kept encoded while the endpoint is idle (`HeldGroup`). */
  protected get group(): ClientState | undefined {
    return this.#held.state;
  }

  protected set group(state: ClientState | undefined) {
    this.#held.state = state;
  }

  /** The group state's epoch, without decoding a state kept encoded. */
  protected get groupEpoch(): bigint {
    const epoch = this.#held.epoch;
    if (epoch === undefined) throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'no group yet');
    return epoch;
  }

  #refuseCommand(what: string): MlsTlsError | undefined {
    if (this.#failure) {
      return new MlsTlsError('ERR_MLSTLS_INVALID_STATE', `${what} after the connection failed`);
    }
    if (this.#closeRequested) {
      return new MlsTlsError('ERR_MLSTLS_INVALID_STATE', `${what} after close()`);
    }
    return undefined;
  }

  /**
   * Takes every whole record the framer holds. Synchronous as long as the records are
   * (application data, empty records, alerts that need no answer); from the first record that
   * needs an asynchronous step, a promise of that record and of the rest.
   */
  #receiveRecords(): Promise<void> | undefined {
    for (let record = this.#framer.next(); record !== undefined; record = this.#framer.next()) {
      if (this.#failure) return undefined;
      // RFC 8446 6.1: data after close_notify is ignored.
      if (this.#peerClosed) continue;
      // Counted by record, not by chunk: the record that completes the handshake may share a
      // transport write with application data, which the peer sends with proven keys.
      if (this.info === undefined) this.#countUnauthenticated(record.length);
      const pending = this.#receiveRecord(record);
      if (pending !== undefined) return pending.then(() => this.#receiveRecords());
    }
    // A partial record waiting for its end is held too.
    if (this.info === undefined) this.#countUnauthenticated(this.#framer.bufferedBytes, false);
    return undefined;
  }

  /** Section 4: an unauthenticated peer may make this endpoint take `maxUnauthenticatedBytes`. */
  #countUnauthenticated(length: number, taken = true): void {
    const total = this.#unauthenticatedBytes + length;
    if (total > this.#maxUnauthenticatedBytes) {
      throw new MlsTlsError(
        'ERR_MLSTLS_HANDSHAKE_TOO_LARGE',
        `more than ${this.#maxUnauthenticatedBytes} bytes before the handshake completed`,
      );
    }
    if (taken) this.#unauthenticatedBytes = total;
  }

  /** One record; a promise only when it needs an asynchronous step (a handshake message, an alert). */
  #receiveRecord(record: Uint8Array): Promise<void> | undefined {
    // Keys exist before the handshake completes only while a resumption waits for its answer:
    // a refusal then comes as a plaintext alert (section 6).
    const underKeys =
      this.keys?.canReceive === true &&
      !(this.info === undefined && record[0] === ContentType.alert);
    if (underKeys && record[0] === ContentType.alert) {
      // docs/protocol.md section 1: the peer gave up before it had keys (or someone on the path
      // forged it). Close without believing the alert, and send none back.
      this.#fail(
        new MlsTlsError(
          'ERR_MLSTLS_UNEXPECTED_MESSAGE',
          'a plaintext alert once keys exist: the connection closes without trusting it',
        ),
        false,
      );
      return undefined;
    }
    if (
      underKeys &&
      record[0] === ContentType.application_data &&
      this.keys!.receiver.asynchronous
    ) {
      if (this.info !== undefined) return this.#receiveOpenedAhead(record);
      return this.keys!.receiver.openAsync(record).then((opened) =>
        this.#acceptRecord(opened, true),
      );
    }
    return this.#acceptRecord(
      underKeys ? this.keys!.open(record) : openPlaintextRecord(record),
      underKeys,
    );
  }

  /**
   * Asynchronous keys (WebCrypto) after the handshake: `first` and the whole records after it
   * are opened ahead, up to `OPEN_AHEAD` at a time, and taken in order; as each is taken, the
   * next record the framer holds starts opening (also bytes that arrived meanwhile). A record
   * that changes the receiving key (a key_update, a new epoch) makes the records after it open
   * again under the new key: those opened ahead used the old one and its sequence numbers.
   * After a key change the window starts again at one record and grows by one with each record
   * that changes nothing, so that a flood of key_updates costs one opening per record.
   */
  async #receiveOpenedAhead(first: Uint8Array): Promise<void> {
    const window: Ahead[] = [];
    let receiver = this.keys!.receiver;
    let generation = receiver.generation;
    let limit = this.#openAhead;
    // A malformed header after these records fails the connection once they are taken.
    let malformed: unknown;
    const take = (record: Uint8Array): void => {
      window.push({ record, opened: undefined });
    };
    /**
     * Starts opening the records of the window's first `limit` that are not yet. Right after a
     * key change (`limit` 1) the record is opened synchronously: a key that opens one record
     * only (in a run of key_updates) is never imported into the platform's crypto.
     */
    const open = (): void => {
      for (let i = 0; i < window.length && i < limit; i++) {
        const ahead = window[i]!;
        if (ahead.opened !== undefined || ahead.record[0] !== ContentType.application_data) {
          continue;
        }
        if (limit > 1) {
          ahead.opened = receiver.openAsync(ahead.record);
        } else {
          try {
            ahead.opened = Promise.resolve(receiver.open(ahead.record));
          } catch (error) {
            ahead.opened = Promise.reject(error);
          }
        }
        // Results opened ahead of a key change are dropped unread.
        ahead.opened.catch(() => undefined);
      }
    };
    const fill = (): void => {
      while (malformed === undefined && window.length < limit) {
        const last = window[window.length - 1];
        if (last !== undefined && last.record[0] !== ContentType.application_data) return;
        let record: Uint8Array | undefined;
        try {
          record = this.#framer.next();
        } catch (error) {
          malformed = error;
          return;
        }
        if (record === undefined) return;
        take(record);
      }
    };
    take(first);
    fill();
    open();
    for (let ahead = window.shift(); ahead !== undefined; ahead = window.shift()) {
      // A record of another outer type: refused (or, a plaintext alert, not believed) as ever.
      if (ahead.opened === undefined) await this.#receiveRecord(ahead.record);
      else await this.#acceptRecord(await ahead.opened, true);
      if (this.#failure || this.#peerClosed) return;
      const now = this.keys!.receiver;
      if (now !== receiver || now.generation !== generation) {
        receiver = now;
        generation = now.generation;
        limit = 1;
        this.#openAhead = 1;
        this.#unchangedKey = 0;
        for (const stale of window) stale.opened = undefined;
      } else if (limit < OPEN_AHEAD && ++this.#unchangedKey >= STEADY_KEY) {
        limit++;
        this.#openAhead = limit;
      }
      fill();
      open();
    }
    if (malformed !== undefined) throw malformed;
  }

  /** A record opened (or read in plaintext): what its content type says to do. */
  #acceptRecord(
    { contentType, content }: OpenedRecord,
    underKeys: boolean,
  ): Promise<void> | undefined {
    // Until the handshake is complete, the only protected records are its own messages: the
    // initiator's key confirmation (section 4) or the responder's answer to a resumption.
    if (underKeys && this.info === undefined && contentType !== ContentType.handshake) {
      throw new MlsTlsError(
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        `a protected record of type ${contentType} before the handshake completed`,
      );
    }
    // Section 1: only consecutive warning alerts count; any other record resets the count.
    if (contentType !== ContentType.alert) this.#warningAlerts = 0;
    if (content.length === 0) {
      if (++this.#emptyRecords > MAX_EMPTY_RECORDS) {
        throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', 'too many empty records');
      }
    } else {
      this.#emptyRecords = 0;
    }
    if (contentType === ContentType.handshake) {
      const messages = this.#reassembler.push(content);
      return messages.length === 0 ? undefined : this.#handleHandshakeMessages(messages);
    }
    this.#reassembler.checkBoundary();
    if (contentType === ContentType.alert) return this.#receiveAlert(decodeAlert(content));
    // Application data: only under keys (plaintext application data never opens).
    if (this.info === undefined) {
      throw new MlsTlsError(
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        'application data before the handshake',
      );
    }
    if (content.length > 0) {
      this.#keyUpdates = 0;
      this.emit({ type: 'data', data: content });
    }
    return undefined;
  }

  async #handleHandshakeMessages(messages: readonly HandshakeMessage[]): Promise<void> {
    for (const message of messages) {
      if (this.#failure || this.#peerClosed) return;
      await this.#handleHandshakeMessage(message);
    }
  }

  async #handleHandshakeMessage(message: HandshakeMessage): Promise<void> {
    if (message.msgType === HandshakeType.key_update) {
      if (this.info === undefined || !this.keys?.canReceive) {
        throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', 'key_update before the handshake');
      }
      if (++this.#keyUpdates > MAX_KEY_UPDATES) {
        throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', 'too many key_updates in a row');
      }
      this.#reassembler.checkBoundary();
      this.keys.nextReceiveGeneration();
      this.emit({
        type: 'keyUpdated',
        direction: 'receive',
        generation: this.keys.receiveGeneration,
      });
      if (message.requestUpdate === KeyUpdateRequest.update_requested && !this.#writeClosed) {
        this.#sendKeyUpdate(false, true);
      }
      return;
    }
    await this.handleHandshake(message);
    await this.#startUpdateIfDue();
  }

  async #receiveAlert(alert: Alert): Promise<void> {
    if (alert.description === AlertDescription.close_notify) {
      this.#warningAlerts = 0;
      this.#peerClosed = true;
      this.emit({ type: 'peerClosed' });
      this.#rejectUpdateWaiters('the peer closed before confirming the update');
      return;
    }
    if (alert.description === AlertDescription.user_canceled) {
      if (++this.#warningAlerts > MAX_WARNING_ALERTS) {
        throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', 'too many warning alerts');
      }
      return;
    }
    // RFC 8446 6.2: every other alert is an error alert, whatever its level says.
    this.#fail(await this.peerAlert(alert.description as AlertDescription), false);
  }

  /**
   * Seals `data` into application data records, as many to a `send` output as the key allows
   * before its next update is due. With `reuse` (the transport has taken every byte sent so
   * far) the records go into the endpoint's send buffer instead of new memory.
   */
  #sendApplicationData(data: Uint8Array, reuse = false): void {
    const keys = this.keys!;
    let at = 0;
    do {
      if (keys.sender.keyUpdateDue) this.#sendKeyUpdate(false);
      const protector = keys.sender;
      // One buffer for as many records as the key allows before its next update is due.
      const records = Math.max(1, Math.ceil((data.length - at) / RecordLimits.maxPlaintext));
      const size = data.length - at + records * RECORD_OVERHEAD;
      const out = reuse ? this.#reusableSendBuffer(size) : new Uint8Array(size);
      let written = 0;
      do {
        const end = Math.min(data.length, at + RecordLimits.maxPlaintext);
        written += protector.sealInto(
          out,
          written,
          ContentType.application_data,
          data.subarray(at, end),
        );
        at = end;
      } while (at < data.length && !protector.keyUpdateDue);
      this.emit({ type: 'send', data: written === out.length ? out : out.subarray(0, written) });
      // A second buffer of the same write must not overwrite the first.
      reuse = false;
    } while (at < data.length);
  }

  /**
   * `#sendApplicationData` with asynchronous keys (WebCrypto): the records of one buffer are
   * sealed at once, and the buffer goes out when all are. Called from the command queue, so
   * nothing else is sent meanwhile: records leave in sequence order, and a key change (a
   * key_update, a new epoch) waits for the records sealed under the old key.
   */
  async #sendApplicationDataAsync(data: Uint8Array): Promise<void> {
    const keys = this.keys!;
    let at = 0;
    do {
      if (keys.sender.keyUpdateDue) this.#sendKeyUpdate(false);
      const protector = keys.sender;
      const records = Math.max(1, Math.ceil((data.length - at) / RecordLimits.maxPlaintext));
      const out = new Uint8Array(data.length - at + records * RECORD_OVERHEAD);
      const sealing: Promise<void>[] = [];
      let written = 0;
      do {
        const end = Math.min(data.length, at + RecordLimits.maxPlaintext);
        const content = data.subarray(at, end);
        sealing.push(protector.sealIntoAsync(out, written, ContentType.application_data, content));
        written += content.length + RECORD_OVERHEAD;
        at = end;
      } while (at < data.length && !protector.keyUpdateDue);
      await Promise.all(sealing);
      if (this.#failure) return;
      this.emit({ type: 'send', data: written === out.length ? out : out.subarray(0, written) });
    } while (at < data.length);
  }

  /**
   * The send buffer, grown to `size` (kept up to MAX_SEND_BUFFER; a larger write gets memory of
   * its own). Only ever holds ciphertext.
   */
  #reusableSendBuffer(size: number): Uint8Array {
    const buffer = this.#sendBuffer;
    if (buffer !== undefined && buffer.length >= size) return buffer;
    if (size > MAX_SEND_BUFFER) return new Uint8Array(size);
    this.#sendBuffer = new Uint8Array(Math.max(size, buffer?.length ?? 0));
    return this.#sendBuffer;
  }

  #sendKeyUpdate(requestPeer: boolean, reply = false): void {
    const keys = this.keys!;
    this.sendHandshake(
      {
        msgType: HandshakeType.key_update,
        requestUpdate: requestPeer
          ? KeyUpdateRequest.update_requested
          : KeyUpdateRequest.update_not_requested,
      },
      false,
      reply,
    );
    keys.nextSendGeneration();
    this.emit({ type: 'keyUpdated', direction: 'send', generation: keys.sendGeneration });
  }

  async #startUpdateIfDue(): Promise<void> {
    if (
      this.#failure ||
      this.#writeClosed ||
      this.#peerClosed ||
      this.info === undefined ||
      !this.synced ||
      this.#updateRequests <= this.#updateInFlight
    ) {
      return;
    }
    this.#updateInFlight = this.#updateRequests;
    await this.startUpdate();
  }

  #closeIfReady(): void {
    if (!this.#closeRequested || this.#writeClosed || this.#failure) return;
    // Data written during the handshake waits for keys; so does the close_notify behind it.
    if (this.info === undefined) return;
    this.#sendAlert(AlertDescription.close_notify);
    this.#writeClosed = true;
    this.keys?.closeSend();
    this.#rejectUpdateWaiters('closed before the update was confirmed', true);
  }

  #sendAlert(description: AlertDescription): void {
    const content = encodeAlert(alertFor(description));
    this.emit({
      type: 'send',
      data: this.keys?.canSend
        ? this.keys.seal(ContentType.alert, content)
        : sealPlaintextRecord(ContentType.alert, content),
    });
  }

  #epochReached(epoch: bigint, cause: EpochCause): void {
    if (this.info === undefined) return;
    debug('%s: epoch %s (%s)', this.role, String(epoch), cause);
    this.emit({ type: 'epochChanged', epoch, cause });
  }

  #fail(error: MlsTlsError, sendAlert: boolean): void {
    if (this.#failure) return;
    this.#failure = error;
    debug('%s: failed, %s (alert %s)', this.role, error.code, alertName(error.alert));
    this.#handshakeTraced?.reject(error);
    this.#handshakeTraced = undefined;
    if (sendAlert && !this.#writeClosed && error.alert !== AlertDescription.close_notify) {
      try {
        this.#sendAlert(error.alert);
      } catch {
        // A key at its limit cannot carry the alert; the transport closes all the same.
      }
    }
    this.#writeClosed = true;
    this.emit({ type: 'error', error, reconnect: this.reconnectAfter(error) });
    this.#rejectUpdateWaiters(error.message);
    this.#pendingWrites = [];
    this.#sendBuffer = undefined;
    this.keys?.destroy();
  }

  #rejectUpdateWaiters(reason: string, onlyWaiting = false): void {
    const keep: UpdateWaiter[] = [];
    for (const waiter of this.#updateWaiters) {
      if (onlyWaiting && waiter.id <= this.#updateInFlight) keep.push(waiter);
      else waiter.reject(new MlsTlsError('ERR_MLSTLS_INVALID_STATE', reason));
    }
    this.#updateWaiters = keep;
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

function toError(error: unknown): MlsTlsError {
  if (error instanceof MlsTlsError) return error;
  return new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'internal failure', { cause: error });
}
