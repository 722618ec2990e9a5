import {
  type Alert,
  ContentType,
  decodeAlert,
  decodeRecordHeader,
  type HandshakeMessage,
  HandshakeType,
  KeyUpdateRequest,
  MlsTlsError,
} from '@mlstls/codec';
import {
  deriveApplicationSecrets,
  isMasterSecretLength,
  type KeyLogEntry,
} from '@mlstls/key-schedule';
import {
  HandshakeReassembler,
  type OpenedRecord,
  openPlaintextRecord,
  RecordFramer,
  RecordProtector,
} from '@mlstls/record';
import { SUPPORTED_CIPHERSUITES, type SuiteParameters } from '@mlstls/state-machine';
import { type CaptureChunk, type CaptureDirection, readCapture } from './capture.js';
import { parseKeyLog } from './key-log-file.js';
import {
  type CommitHeader,
  keyPackageCiphersuite,
  privateMessageHeader,
  welcomeCiphersuite,
} from './mls-fields.js';

/** A handshake message as a capture shows it: its type and the fields worth printing. */
export type DecodedHandshake =
  | { readonly type: 'client_hello'; readonly ciphersuite: number }
  | { readonly type: 'server_hello'; readonly ciphersuite: number }
  | { readonly type: 'key_update'; readonly updateRequested: boolean }
  | { readonly type: 'connection_update'; readonly commit: CommitHeader }
  | { readonly type: 'epoch_key_update'; readonly epoch: number }
  | { readonly type: 'resumption'; readonly commit: CommitHeader }
  | { readonly type: 'resumption_accept'; readonly responderRandom: Uint8Array };

/** The key a protected record was opened with (docs/protocol.md section 3). */
export interface RecordKeys {
  readonly epoch: bigint;
  /** The `traffic upd` generation: how many key_updates its sender made in the epoch. */
  readonly generation: number;
  readonly sequence: bigint;
}

/** A record read: plaintext, or protected and opened with a key the key log gave. */
export interface ReadRecord {
  readonly kind: 'record';
  /** 1 for the first record decoded, over both directions. */
  readonly index: number;
  /** Its sender: `C` the client (initiator), `S` the server (responder). */
  readonly direction: CaptureDirection;
  /** The header's content type: 23 for every protected record. */
  readonly outerType: number;
  /** The header's length. */
  readonly length: number;
  /** Absent for a plaintext record. */
  readonly keys?: RecordKeys;
  /** The real content type (TLSInnerPlaintext's for a protected record). */
  readonly contentType: ContentType;
  /** The handshake messages this record completes, in order. */
  readonly handshake: readonly DecodedHandshake[];
  readonly alert?: Alert;
  readonly data?: Uint8Array;
}

/**
 * A record (or a stretch of the stream) that could not be read: no key log line opens it, it
 * breaks the record or handshake rules, or the stream ends inside it. Decoding of its
 * direction stops there.
 */
export interface UnreadableRecord {
  readonly kind: 'unreadable';
  readonly index: number;
  readonly direction: CaptureDirection;
  readonly outerType?: number;
  readonly length?: number;
  /** The epoch and generation whose key was looked for. */
  readonly epoch?: bigint;
  readonly generation?: number;
  readonly error: MlsTlsError;
}

export type DecodedRecord = ReadRecord | UnreadableRecord;

/** What a record needs besides its bytes: the AEAD and hash of the connection's suite. */
type RecordSuite = Pick<SuiteParameters, 'aead' | 'hash'>;

/** The distinct record AEAD and hash pairs of the suites mlstls speaks. */
const RECORD_SUITES: readonly RecordSuite[] = SUPPORTED_CIPHERSUITES.filter(
  (suite, i, all) =>
    all.findIndex((other) => other.aead === suite.aead && other.hash === suite.hash) === i,
);

/** One direction of the connection: its stream, its handshake messages and its key. */
class DirectionState {
  readonly framer = new RecordFramer();
  readonly reassembler = new HandshakeReassembler();
  /** Undefined while the direction is in plaintext (no handshake message gave it keys yet). */
  epoch: bigint | undefined;
  generation = 0;
  /** Made at the first record of a key, from the key log line that opens it. */
  protector: RecordProtector | undefined;
  /** Whole records waiting for a key log line of their epoch (live tracing gets lines late). */
  readonly waiting: Uint8Array[] = [];
  failed = false;

  constructor(readonly direction: CaptureDirection) {}

  /**
   * The sender switched to `epoch`'s keys, generation 0 (docs/protocol.md sections 3 and 5). Already
   * there is no switch: a resumption's epoch_key_update is the first record under its epoch.
   */
  enterEpoch(epoch: bigint): void {
    if (epoch === this.epoch) return;
    this.protector?.destroy();
    this.protector = undefined;
    this.epoch = epoch;
    this.generation = 0;
  }
}

/**
 * Decrypts one connection's transport bytes with its key log (docs/protocol.md section 9), as
 * Wireshark does with SSLKEYLOGFILE. It follows each direction's keys from the handshake
 * messages it reads (docs/protocol.md sections 3, 5 and 6):
 *
 * - after server_hello both directions are at epoch 1, the initial group;
 * - the client's direction moves to a commit's target epoch after its own encrypted
 *   connection_update (the initiator applies its commit as it sends it);
 * - either direction moves to `e` after its epoch_key_update(e), and to its next generation
 *   after its key_update;
 * - a resumption flight's resumption_accept moves both directions to the resumption commit's
 *   target epoch (keyed with the responder's random: the key log line carries the result).
 *
 * The group_id of a new connection is not in its plaintext (the Welcome encrypts it), so the
 * first protected record picks the key log line of epoch 1 that opens it; a resumption's
 * commits show the group in the clear. Without a client_hello (a resumed connection) the suite
 * is found the same way, among the AEADs of the supported suites.
 *
 * Push chunks in capture order; records come out as they are read. A record whose key log line
 * is missing waits for `addKeyLogEntry` (live tracing), and `finish` reports what still waits.
 */
export class CaptureDecoder {
  readonly #entries: KeyLogEntry[] = [];
  readonly #directions = { C: new DirectionState('C'), S: new DirectionState('S') };
  #groupId: Uint8Array | undefined;
  /** The target epoch of the resumption flight seen, which resumption_accept enters. */
  #resumedEpoch: bigint | undefined;
  #suite: RecordSuite | undefined;
  #index = 0;

  constructor(keyLog: Iterable<KeyLogEntry> = []) {
    this.#entries.push(...keyLog);
  }

  /** A key log line learned later; returns the records it made readable. */
  addKeyLogEntry(entry: KeyLogEntry): DecodedRecord[] {
    this.#entries.push(entry);
    const out: DecodedRecord[] = [];
    for (const state of Object.values(this.#directions)) this.#readWaiting(state, out);
    return out;
  }

  /** The next chunk of the capture; returns the records it completes. */
  push(chunk: CaptureChunk): DecodedRecord[] {
    const state = this.#directions[chunk.direction];
    const out: DecodedRecord[] = [];
    if (state.failed) return out;
    state.framer.push(chunk.data);
    for (;;) {
      let record: Uint8Array | undefined;
      try {
        record = state.framer.next();
      } catch (error) {
        this.#fail(state, out, error);
        break;
      }
      if (record === undefined) break;
      if (state.waiting.length > 0 || !this.#read(state, record, out)) state.waiting.push(record);
      if (state.failed) break;
    }
    return out;
  }

  /**
   * The capture is over: a record still waiting for its key, a record cut short or a cut
   * handshake message is reported, and every key is erased.
   */
  finish(): DecodedRecord[] {
    const out: DecodedRecord[] = [];
    for (const state of Object.values(this.#directions)) {
      if (!state.failed) {
        const record = state.waiting[0];
        if (record !== undefined) {
          this.#fail(state, out, this.#missingKey(state), record);
        } else if (state.framer.hasPartialRecord) {
          this.#fail(
            state,
            out,
            new MlsTlsError(
              'ERR_MLSTLS_DECODE',
              `the stream ends inside a record (${state.framer.bufferedBytes} bytes left)`,
            ),
          );
        } else if (state.reassembler.hasPartialMessage) {
          this.#fail(
            state,
            out,
            new MlsTlsError('ERR_MLSTLS_DECODE', 'the stream ends inside a handshake message'),
          );
        }
      }
      state.protector?.destroy();
      state.protector = undefined;
      state.failed = true;
    }
    return out;
  }

  #readWaiting(state: DirectionState, out: DecodedRecord[]): void {
    while (!state.failed && state.waiting.length > 0) {
      if (!this.#read(state, state.waiting[0]!, out)) return;
      state.waiting.shift();
    }
  }

  /** Reads one whole record; false when its key is not in the key log (yet). */
  #read(state: DirectionState, record: Uint8Array, out: DecodedRecord[]): boolean {
    const { contentType: outerType, length } = decodeRecordHeader(record);
    let opened: OpenedRecord;
    let keys: RecordKeys | undefined;
    try {
      if (outerType !== ContentType.application_data) {
        // Before keys exist, and for the plaintext alert that refuses a resumption.
        opened = openPlaintextRecord(record);
      } else {
        if (state.epoch === undefined) {
          throw new MlsTlsError(
            'ERR_MLSTLS_UNEXPECTED_MESSAGE',
            'a protected record before any handshake message that gives this direction keys',
          );
        }
        keys = {
          epoch: state.epoch,
          generation: state.generation,
          sequence: state.protector?.sequenceNumber ?? 0n,
        };
        if (state.protector === undefined) {
          const found = this.#openWithKeyLog(state, record);
          if (found === undefined) return false;
          opened = found;
        } else {
          opened = state.protector.open(record);
        }
      }
    } catch (error) {
      this.#fail(state, out, error, record);
      return true;
    }
    try {
      out.push(this.#content(state, outerType, length, keys, opened));
    } catch (error) {
      this.#fail(state, out, error, record);
    }
    return true;
  }

  /**
   * Opens the first record of a key by trying each key log line of its epoch (of the
   * connection's group once known) with each candidate suite; the one that opens it fixes the
   * group and the suite. Undefined when the key log has no line for the epoch.
   */
  #openWithKeyLog(state: DirectionState, record: Uint8Array): OpenedRecord | undefined {
    const epoch = state.epoch!;
    const candidates = this.#entries.filter(
      (entry) =>
        entry.epoch === epoch &&
        (this.#groupId === undefined || equalBytes(entry.groupId, this.#groupId)),
    );
    if (candidates.length === 0) return undefined;
    for (const entry of candidates) {
      for (const suite of this.#suite === undefined ? RECORD_SUITES : [this.#suite]) {
        if (!isMasterSecretLength(suite.hash, entry.masterSecret.length)) continue;
        const protector = protectorFor(entry, suite, state);
        let opened: OpenedRecord;
        try {
          opened = protector.open(record);
        } catch (error) {
          if ((error as MlsTlsError).code === 'ERR_MLSTLS_BAD_RECORD_MAC') {
            protector.destroy();
            continue;
          }
          // It authenticated, so this is the key; what it holds breaks the record rules.
          this.#adopt(state, protector, entry, suite);
          throw error;
        }
        this.#adopt(state, protector, entry, suite);
        return opened;
      }
    }
    throw new MlsTlsError(
      'ERR_MLSTLS_BAD_RECORD_MAC',
      `none of the ${candidates.length} key log line(s) of epoch ${epoch}${this.#groupText()} opens it`,
    );
  }

  #adopt(
    state: DirectionState,
    protector: RecordProtector,
    entry: KeyLogEntry,
    suite: RecordSuite,
  ): void {
    state.protector = protector;
    this.#groupId = entry.groupId;
    this.#suite = suite;
  }

  #content(
    state: DirectionState,
    outerType: number,
    length: number,
    keys: RecordKeys | undefined,
    opened: OpenedRecord,
  ): ReadRecord {
    const { contentType, content } = opened;
    const base = {
      kind: 'record',
      index: ++this.#index,
      direction: state.direction,
      outerType,
      length,
      ...(keys === undefined ? {} : { keys }),
      contentType,
    } as const;
    if (contentType === ContentType.handshake) {
      const messages = state.reassembler.push(content);
      return { ...base, handshake: messages.map((message) => this.#apply(state, message, keys)) };
    }
    // docs/protocol.md section 1: handshake messages are not interleaved with other content.
    state.reassembler.checkBoundary();
    if (contentType === ContentType.alert) {
      return { ...base, handshake: [], alert: decodeAlert(content) };
    }
    return { ...base, handshake: [], data: content };
  }

  /** What a handshake message says, and the key switch it makes (see the class comment). */
  #apply(
    state: DirectionState,
    message: HandshakeMessage,
    keys: RecordKeys | undefined,
  ): DecodedHandshake {
    const { C: client, S: server } = this.#directions;
    switch (message.msgType) {
      case HandshakeType.client_hello: {
        const ciphersuite = keyPackageCiphersuite(message.keyPackage);
        this.#suite = SUPPORTED_CIPHERSUITES.find((suite) => suite.id === ciphersuite);
        return { type: 'client_hello', ciphersuite };
      }
      case HandshakeType.server_hello: {
        const ciphersuite = welcomeCiphersuite(message.welcome);
        this.#suite ??= SUPPORTED_CIPHERSUITES.find((suite) => suite.id === ciphersuite);
        client.enterEpoch(1n);
        server.enterEpoch(1n);
        return { type: 'server_hello', ciphersuite };
      }
      case HandshakeType.key_update:
        state.generation++;
        state.protector?.nextGeneration();
        return {
          type: 'key_update',
          updateRequested: message.requestUpdate === KeyUpdateRequest.update_requested,
        };
      case HandshakeType.connection_update: {
        const commit = privateMessageHeader(message.update);
        this.#groupId ??= commit.groupId;
        // The responder sends its commit before applying it; a plaintext one opens a flight.
        if (state === client && keys !== undefined) client.enterEpoch(commit.epoch + 1n);
        return { type: 'connection_update', commit };
      }
      case HandshakeType.epoch_key_update:
        state.enterEpoch(BigInt(message.epoch));
        return { type: 'epoch_key_update', epoch: message.epoch };
      case HandshakeType.resumption: {
        const commit = privateMessageHeader(message.commit);
        this.#groupId ??= commit.groupId;
        this.#resumedEpoch = commit.epoch + 1n;
        return { type: 'resumption', commit };
      }
      case HandshakeType.resumption_accept: {
        if (this.#resumedEpoch !== undefined) {
          client.enterEpoch(this.#resumedEpoch);
          server.enterEpoch(this.#resumedEpoch);
        }
        return { type: 'resumption_accept', responderRandom: message.responderRandom };
      }
    }
  }

  #missingKey(state: DirectionState): MlsTlsError {
    return new MlsTlsError(
      'ERR_MLSTLS_BAD_RECORD_MAC',
      `the key log has no line of epoch ${state.epoch}${this.#groupText()} to open it`,
    );
  }

  #groupText(): string {
    return this.#groupId === undefined ? '' : ` of group ${toHex(this.#groupId)}`;
  }

  /** Reports `error` at the current record and stops decoding `state`'s direction. */
  #fail(state: DirectionState, out: DecodedRecord[], error: unknown, record?: Uint8Array): void {
    const header = record === undefined ? undefined : decodeRecordHeader(record);
    out.push({
      kind: 'unreadable',
      index: ++this.#index,
      direction: state.direction,
      ...(header === undefined ? {} : { outerType: header.contentType, length: header.length }),
      ...(state.epoch === undefined || header?.contentType !== ContentType.application_data
        ? {}
        : { epoch: state.epoch, generation: state.generation }),
      error:
        error instanceof MlsTlsError
          ? error
          : new MlsTlsError('ERR_MLSTLS_DECODE', String(error), { cause: error }),
    });
    state.failed = true;
    state.waiting.length = 0;
    state.protector?.destroy();
    state.protector = undefined;
  }
}

/** The protector of `state`'s sender for `entry`'s epoch, at the direction's generation. */
function protectorFor(
  entry: KeyLogEntry,
  suite: RecordSuite,
  state: DirectionState,
): RecordProtector {
  const secrets = deriveApplicationSecrets({ hash: suite.hash, masterSecret: entry.masterSecret });
  try {
    const protector = new RecordProtector({
      aead: suite.aead,
      hash: suite.hash,
      trafficSecret:
        state.direction === 'C' ? secrets.clientTrafficSecret : secrets.serverTrafficSecret,
    });
    for (let generation = 0; generation < state.generation; generation++) {
      protector.nextGeneration();
    }
    return protector;
  } finally {
    secrets.clientTrafficSecret.fill(0);
    secrets.serverTrafficSecret.fill(0);
    secrets.exporterMasterSecret.fill(0);
  }
}

/**
 * Decodes a whole capture file (see `readCapture`) with a key log: its text or its parsed
 * lines. A malformed capture or key log line throws `MlsTlsError` (`ERR_MLSTLS_DECODE`);
 * records that cannot be read are `UnreadableRecord`s in the result.
 */
export function decodeCapture(
  capture: Uint8Array,
  keyLog: string | Iterable<KeyLogEntry>,
): DecodedRecord[] {
  const chunks = readCapture(capture);
  const decoder = new CaptureDecoder(typeof keyLog === 'string' ? parseKeyLog(keyLog) : keyLog);
  const records: DecodedRecord[] = [];
  for (const chunk of chunks) records.push(...decoder.push(chunk));
  records.push(...decoder.finish());
  return records;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
