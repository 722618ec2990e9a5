// The wiretap: it reads every record either endpoint sends, follows each direction's keys from
// the handshake messages it carries (as `mlstls decode` of @mlstls/cli does) and derives the key
// and nonce of each protected record from the sender's own key log lines (docs/protocol.md
// sections 3 and 9). It opens the record with them, so a record its sender's key log does not
// explain is caught, and enters (key, nonce) -> plaintext digest into the run's ledger.
import { createHash } from 'node:crypto';
import {
  alertName,
  ContentType,
  decodeAlert,
  type HandshakeMessage,
  HandshakeType,
  KeyUpdateRequest,
  Reader,
} from '@mlstls/codec';
import {
  deriveApplicationSecrets,
  deriveTrafficKeys,
  nextTrafficSecret,
  parseKeyLogLine,
} from '@mlstls/key-schedule';
import { HandshakeReassembler, openPlaintextRecord, RecordProtector } from '@mlstls/record';
import { SUITE } from './credentials.js';
import type { Side } from './side.js';
import { hex } from './store.js';
import { Violation } from './violation.js';

/** Invariant (2): every (key, nonce) pair used in a run, with the plaintext it protected. */
export class NonceLedger {
  readonly #uses = new Map<string, { readonly digest: string; readonly where: string }>();

  use(key: Uint8Array, nonce: Uint8Array, digest: string, where: string): void {
    const id = `${hex(key)}:${hex(nonce)}`;
    const earlier = this.#uses.get(id);
    if (earlier === undefined) {
      this.#uses.set(id, { digest, where });
      return;
    }
    if (earlier.digest !== digest) {
      throw new Violation(
        'nonce',
        `${where} uses the key and nonce of ${earlier.where} for another plaintext (key ${hex(key)}, nonce ${hex(nonce)})`,
      );
    }
  }

  get size(): number {
    return this.#uses.size;
  }

  /** A digest of every pair used, whatever the order they were used in. */
  digest(): string {
    const hash = createHash('sha256');
    for (const id of [...this.#uses.keys()].sort()) hash.update(id);
    return hash.digest('hex');
  }
}

interface Direction {
  /** Undefined until a handshake message gives the direction keys. */
  epoch: bigint | undefined;
  generation: number;
  /** The traffic secret of the current generation, once derived. */
  secret: Uint8Array | undefined;
  key: Uint8Array | undefined;
  iv: Uint8Array | undefined;
  protector: RecordProtector | undefined;
  records: number;
  readonly reassembler: HandshakeReassembler;
}

/** One record as the tap read it. */
export interface TappedRecord {
  /** `client_hello`, `epoch_key_update(3)`, `application_data`, `alert(close_notify)`... */
  readonly label: string;
  readonly protected: boolean;
  readonly handshake: readonly HandshakeMessage[];
  readonly data?: Uint8Array;
}

const handshakeNames = new Map<number, string>(
  Object.entries(HandshakeType).map(([name, value]) => [value, name]),
);

/** The wiretap of one connection (both directions). */
export class ConnectionTap {
  readonly #ledger: NonceLedger;
  readonly #name: string;
  readonly #replayedInitiator: boolean;
  readonly #keyLog: Record<Side, Map<bigint, Uint8Array>> = {
    initiator: new Map(),
    responder: new Map(),
  };
  readonly #directions: Record<Side, Direction> = {
    initiator: newDirection(),
    responder: newDirection(),
  };
  /** The group a resumption flight names (its `resumption` commit's group_id). */
  flightGroup: Uint8Array | undefined;
  sawClientHello = false;

  /**
   * `replayedInitiator`: the initiator's records are an attacker's replay of recorded bytes,
   * not new encryptions; their plaintext handshake messages are read, the rest is not opened.
   */
  constructor(ledger: NonceLedger, name: string, replayedInitiator = false) {
    this.#ledger = ledger;
    this.#name = name;
    this.#replayedInitiator = replayedInitiator;
  }

  /** One of `side`'s MLSTLS_MASTER_SECRET lines. */
  keyLog(side: Side, line: string): void {
    const entry = parseKeyLogLine(line);
    if (entry !== undefined) this.#keyLog[side].set(entry.epoch, entry.masterSecret);
  }

  /** Reads one whole record `from` sent. */
  record(from: Side, record: Uint8Array): TappedRecord {
    const direction = this.#directions[from];
    const index = ++direction.records;
    if (record[0] !== ContentType.application_data) {
      const { contentType, content } = openPlaintextRecord(record);
      return this.#content(from, contentType, content, false);
    }
    if (from === 'initiator' && this.#replayedInitiator) {
      return { label: 'protected (replayed)', protected: true, handshake: [] };
    }
    const where = `${this.#name}, ${from} record ${index}`;
    const protector = this.#protector(from, where);
    const sequence = protector.sequenceNumber;
    let opened: ReturnType<RecordProtector['open']>;
    try {
      opened = protector.open(record);
    } catch (error) {
      throw new Violation(
        'nonce',
        `${where} (epoch ${direction.epoch}, generation ${direction.generation}, sequence ${sequence}) does not open under the key its sender's key log gives: ${(error as Error).message}`,
      );
    }
    const { contentType, content } = opened;
    const digest = createHash('sha256').update(Uint8Array.of(contentType)).update(content);
    const tapped = this.#content(from, contentType, content, true);
    this.#ledger.use(
      direction.key!,
      nonceOf(direction.iv!, sequence),
      digest.digest('hex'),
      `${where} (${tapped.label}, epoch ${direction.epoch}, generation ${direction.generation}, sequence ${sequence})`,
    );
    this.#afterRecord(from, tapped.handshake, true);
    return tapped;
  }

  /** Each direction's key position, for the world's fingerprint. */
  position(): string {
    return (['initiator', 'responder'] as const)
      .map((side) => {
        const d = this.#directions[side];
        return `${d.epoch ?? '-'}.${d.generation}.${d.protector?.sequenceNumber ?? 0}`;
      })
      .join('/');
  }

  #content(
    from: Side,
    contentType: ContentType,
    content: Uint8Array,
    isProtected: boolean,
  ): TappedRecord {
    if (contentType === ContentType.handshake) {
      const handshake = this.#directions[from].reassembler.push(content);
      if (!isProtected) this.#afterRecord(from, handshake, false);
      return {
        label: handshake.map(describe).join('+') || 'handshake fragment',
        protected: isProtected,
        handshake,
      };
    }
    if (contentType === ContentType.alert) {
      const alert = decodeAlert(content);
      return {
        label: `alert(${alertName(alert.description)})`,
        protected: isProtected,
        handshake: [],
      };
    }
    return { label: 'application_data', protected: isProtected, handshake: [], data: content };
  }

  /**
   * The key switches a record's handshake messages make, after the record (a message after
   * which its sender switches keys ends its record: docs/protocol.md section 1).
   */
  #afterRecord(from: Side, messages: readonly HandshakeMessage[], isProtected: boolean): void {
    const own = this.#directions[from];
    for (const message of messages) {
      switch (message.msgType) {
        case HandshakeType.client_hello:
          this.sawClientHello = true;
          break;
        case HandshakeType.server_hello:
          // Both directions' first keys are epoch 1's (section 4).
          this.#enter('initiator', 1n);
          this.#enter('responder', 1n);
          break;
        case HandshakeType.resumption: {
          // Section 6: the flight moves both directions to its resumption commit's epoch.
          const { groupId, epoch } = commitHeader(message.commit);
          this.flightGroup = groupId;
          this.#enter('initiator', epoch + 1n);
          this.#enter('responder', epoch + 1n);
          break;
        }
        case HandshakeType.connection_update:
          // The initiator applies its own commit as it sends it; the responder's waits, and a
          // plaintext one only opens a resumption flight.
          if (from === 'initiator' && isProtected) {
            this.#enter(from, commitHeader(message.update).epoch + 1n);
          }
          break;
        case HandshakeType.epoch_key_update:
          this.#enter(from, BigInt(message.epoch));
          break;
        case HandshakeType.key_update:
          this.#ratchet(own);
          break;
      }
    }
  }

  #enter(side: Side, epoch: bigint): void {
    const direction = this.#directions[side];
    if (direction.epoch === epoch) return;
    direction.protector?.destroy();
    Object.assign(direction, {
      epoch,
      generation: 0,
      secret: undefined,
      key: undefined,
      iv: undefined,
      protector: undefined,
    });
  }

  #ratchet(direction: Direction): void {
    direction.generation++;
    if (direction.secret === undefined) return;
    direction.secret = nextTrafficSecret({ hash: SUITE.hash, secret: direction.secret });
    direction.protector!.nextGeneration();
    Object.assign(direction, trafficKeys(direction.secret));
  }

  /** The direction's protector, made from its sender's key log line the first time. */
  #protector(from: Side, where: string): RecordProtector {
    const direction = this.#directions[from];
    if (direction.protector !== undefined) return direction.protector;
    if (direction.epoch === undefined) {
      throw new Violation(
        'agreement',
        `${where} is protected, but no handshake message gave its direction keys`,
      );
    }
    const masterSecret = this.#keyLog[from].get(direction.epoch);
    if (masterSecret === undefined) {
      throw new Violation(
        'nonce',
        `${where} is protected under epoch ${direction.epoch}, for which its sender logged no key`,
      );
    }
    const secrets = deriveApplicationSecrets({ hash: SUITE.hash, masterSecret });
    let secret = from === 'initiator' ? secrets.clientTrafficSecret : secrets.serverTrafficSecret;
    const protector = new RecordProtector({
      aead: SUITE.aead,
      hash: SUITE.hash,
      trafficSecret: secret,
    });
    for (let g = 0; g < direction.generation; g++) {
      secret = nextTrafficSecret({ hash: SUITE.hash, secret });
      protector.nextGeneration();
    }
    Object.assign(direction, { secret, protector, ...trafficKeys(secret) });
    return protector;
  }
}

function newDirection(): Direction {
  return {
    epoch: undefined,
    generation: 0,
    secret: undefined,
    key: undefined,
    iv: undefined,
    protector: undefined,
    records: 0,
    reassembler: new HandshakeReassembler(),
  };
}

function trafficKeys(secret: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  return deriveTrafficKeys({ hash: SUITE.hash, aead: SUITE.aead, secret });
}

/** RFC 8446 5.3: the IV XOR the 64-bit sequence number, right-aligned. */
function nonceOf(iv: Uint8Array, sequence: bigint): Uint8Array {
  const nonce = iv.slice();
  for (let i = 0; i < 8; i++) {
    nonce[nonce.length - 1 - i]! ^= Number((sequence >> BigInt(8 * i)) & 0xffn);
  }
  return nonce;
}

/** The group_id and epoch of a commit, from its PrivateMessage header (RFC 9420 6.3). */
function commitHeader(message: Uint8Array): { groupId: Uint8Array; epoch: bigint } {
  const reader = new Reader(message, 'MLSMessage');
  reader.u16(); // version
  reader.u16(); // wire_format: mls_private_message, as the codec checked
  const groupId = reader.opaqueV();
  return { groupId, epoch: reader.u64() };
}

function describe(message: HandshakeMessage): string {
  const name = handshakeNames.get(message.msgType) ?? `handshake(${message.msgType})`;
  if (message.msgType === HandshakeType.epoch_key_update) return `${name}(${message.epoch})`;
  if (message.msgType === HandshakeType.key_update) {
    const requested = message.requestUpdate === KeyUpdateRequest.update_requested;
    return `${name}(${requested ? 'requested' : 'not_requested'})`;
  }
  return name;
}
