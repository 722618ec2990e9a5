// Two in-memory endpoints and a deterministic scheduler: every record sent waits in its
// direction's queue until the test (or a seeded schedule) delivers it. A wiretap on the
// record keys names what each encrypted `send` carries, so that tests can read the trace.
import { randomBytes } from 'node:crypto';
import {
  type AlertDescription,
  alertName,
  ContentType,
  decodeAlert,
  decodeHandshake,
  encodeAlert,
  encodeHandshake,
  type HandshakeMessage,
  HandshakeType,
  type MlsTlsError,
  Reader,
  RecordLimits,
} from '@mlstls/codec';
import { deriveApplicationSecrets, parseKeyLogLine } from '@mlstls/key-schedule';
import { RecordProtector } from '@mlstls/record';
import type { SessionRecord } from '@mlstls/storage';
import { expect } from 'vitest';
import {
  type EndpointCredential,
  generateCredential,
  Initiator,
  type InitiatorOptions,
  type Output,
  Responder,
  type ResponderOptions,
} from '../src/index.js';
import { TrafficKeys } from '../src/traffic.js';

export const random = (length: number) => new Uint8Array(randomBytes(length));
/**
 * The clock of every endpoint: fixed for the run, and taken from the wall clock because ts-mls
 * checks a KeyPackage's lifetime against `Date.now()` when it commits the Add (a fixed date
 * would make every test fail a day later).
 */
const START = Math.floor(Date.now() / 1000) * 1000;
export const now = () => START;

export type Side = 'initiator' | 'responder';
export const sides: readonly Side[] = ['initiator', 'responder'];

export function peerOf(side: Side): Side {
  return side === 'initiator' ? 'responder' : 'initiator';
}

// ---- wiretap ---------------------------------------------------------------------------

/** What `TrafficKeys.seal` was given for each record it made (app data goes by `sealInto`). */
const sealed = new WeakMap<Uint8Array, { contentType: ContentType; content: Uint8Array }>();
const originalSeal = TrafficKeys.prototype.seal;
TrafficKeys.prototype.seal = function seal(
  this: TrafficKeys,
  contentType: ContentType,
  content: Uint8Array,
): Uint8Array {
  const record = originalSeal.call(this, contentType, content);
  sealed.set(record, { contentType, content: content.slice() });
  return record;
};

const handshakeNames = new Map<number, string>(
  Object.entries(HandshakeType).map(([name, value]) => [value, name]),
);

/** A readable name for one handshake message: `connection_update`, `epoch_key_update(2)`. */
function describeMessage(message: HandshakeMessage): string {
  const name = handshakeNames.get(message.msgType) ?? `handshake(${message.msgType})`;
  if (message.msgType === HandshakeType.epoch_key_update) return `${name}(${message.epoch})`;
  if (message.msgType === HandshakeType.key_update) {
    return `${name}(${message.requestUpdate === 1 ? 'requested' : 'not_requested'})`;
  }
  return name;
}

function describeContent(contentType: number, content: Uint8Array): string {
  switch (contentType) {
    case ContentType.handshake:
      try {
        return describeMessage(decodeHandshake(content));
      } catch {
        return 'handshake(malformed)';
      }
    case ContentType.alert:
      return `alert(${alertName(decodeAlert(content).description)})`;
    case ContentType.application_data:
      return 'application_data';
    default:
      return `content(${contentType})`;
  }
}

/** What a `send` chunk carries, from the wiretap or, for plaintext records, its bytes. */
function describeSend(data: Uint8Array): string {
  const tapped = sealed.get(data);
  if (tapped !== undefined) return describeContent(tapped.contentType, tapped.content);
  if (data[0] === ContentType.application_data) return 'application_data';
  return `plaintext ${describeContent(data[0]!, data.subarray(RecordLimits.headerLength))}`;
}

/** The handshake message a protected `send` carries (from the wiretap), if it carries one. */
export function sentMessage(data: Uint8Array): HandshakeMessage | undefined {
  const tapped = sealed.get(data);
  if (tapped?.contentType !== ContentType.handshake) return undefined;
  return decodeHandshake(tapped.content);
}

/** The alert in a plaintext alert record, or undefined for anything else. */
export function plaintextAlert(record: Uint8Array): AlertDescription | undefined {
  if (record[0] !== ContentType.alert) return undefined;
  return decodeAlert(record.subarray(RecordLimits.headerLength)).description as AlertDescription;
}

// ---- the pair --------------------------------------------------------------------------

/** What one endpoint has produced so far, besides bytes to send. */
export class Log {
  readonly data: Uint8Array[] = [];
  readonly events: Output[] = [];
  readonly errors: MlsTlsError[] = [];
  readonly persisted: Extract<Output, { type: 'persist' }>[] = [];
  readonly keyLog: string[] = [];

  get received(): Uint8Array {
    return Buffer.concat(this.data);
  }

  count(type: Output['type']): number {
    return this.events.filter((output) => output.type === type).length;
  }
}

/** One output in the order it was produced, with a readable label (`send connection_update`). */
export interface TraceEntry {
  readonly side: Side;
  readonly output: Output;
  readonly label: string;
}

export interface PairOptions {
  readonly initiator?: Partial<InitiatorOptions>;
  readonly responder?: Partial<ResponderOptions>;
  /** Whether the initiator pins the responder's signature key (default true). */
  readonly pin?: boolean;
}

export class Pair {
  readonly initiator: Initiator;
  readonly responder: Responder;
  /** Sent and not yet delivered, per sender. */
  readonly inFlight: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
  readonly log: Record<Side, Log> = { initiator: new Log(), responder: new Log() };
  /** Every output in order, with who produced it (to check persist-before-send). */
  readonly trace: TraceEntry[] = [];
  /** The responder's credential, when `create` made it. */
  responderCredential: EndpointCredential | undefined;

  constructor(initiator: Initiator, responder: Responder) {
    this.initiator = initiator;
    this.responder = responder;
  }

  static async create(options: PairOptions = {}): Promise<Pair> {
    const credential = await generateCredential({
      ciphersuite: options.initiator?.ciphersuite ?? 1,
    });
    const responder = new Responder({ random, now, credential, ...options.responder });
    const initiator = new Initiator({
      random,
      now,
      ...(options.pin === false ? {} : { peerSignaturePublicKey: credential.signaturePublicKey }),
      ...options.initiator,
    });
    const pair = new Pair(initiator, responder);
    pair.responderCredential = credential;
    return pair;
  }

  /** A pair that has completed the handshake with nothing in flight. */
  static async connected(options: PairOptions = {}): Promise<Pair> {
    const pair = await Pair.create(options);
    await pair.initiator.start();
    await pair.settle();
    return pair;
  }

  /**
   * A pair whose responder has sent server_hello and waits for the initiator's key
   * confirmation (section 4, step 4): the initiator has processed server_hello, and its
   * epoch_key_update(1) is in flight, not delivered. The initiator logs its keys (for
   * `sealFirst`).
   */
  static async awaitingKeyConfirmation(options: PairOptions = {}): Promise<Pair> {
    const pair = await Pair.create({
      ...options,
      initiator: { keyLog: () => true, ...options.initiator },
    });
    await pair.initiator.start();
    await pair.step();
    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    expect(pair.responder.state).toBe('awaitKeyConfirmation');
    expect(pair.labels('initiator').filter((l) => l.startsWith('send '))).toEqual([
      'send plaintext client_hello',
      'send epoch_key_update(1)',
    ]);
    return pair;
  }

  /**
   * A record as `side`'s first under the keys of `epoch` (sequence number 0), sealed with a key
   * made from nothing but its key log line: a first protected record other than the one it
   * sent. The side must log its keys.
   */
  sealFirst(side: Side, epoch: bigint, contentType: ContentType, content: Uint8Array): Uint8Array {
    const line = this.log[side].keyLog.find((l) => parseKeyLogLine(l)?.epoch === epoch);
    if (line === undefined) throw new Error(`${side} logged no key for epoch ${epoch}`);
    const { masterSecret } = parseKeyLogLine(line)!;
    const { hash, aead } = this.endpoint(side).suite!;
    const secrets = deriveApplicationSecrets({ hash, masterSecret });
    const protector = new RecordProtector({
      aead,
      hash,
      trafficSecret:
        side === 'initiator' ? secrets.clientTrafficSecret : secrets.serverTrafficSecret,
    });
    return protector.seal(contentType, content);
  }

  endpoint(side: Side): Initiator | Responder {
    return side === 'initiator' ? this.initiator : this.responder;
  }

  /** The record keys of `side` (a protected field of the endpoint: test access only). */
  keys(side: Side): TrafficKeys {
    const keys = (this.endpoint(side) as unknown as { keys: TrafficKeys | undefined }).keys;
    if (keys === undefined) throw new Error(`${side} has no keys yet`);
    return keys;
  }

  /** Moves every output of both endpoints into the queues, logs and trace. */
  drain(): void {
    for (const side of sides) {
      const endpoint = this.endpoint(side);
      for (let output = endpoint.poll(); output !== undefined; output = endpoint.poll()) {
        const log = this.log[side];
        let label: string = output.type;
        switch (output.type) {
          case 'send':
            label = `send ${describeSend(output.data)}`;
            this.inFlight[side].push(output.data);
            break;
          case 'data':
            log.data.push(output.data);
            break;
          case 'persist':
            log.persisted.push(output);
            break;
          case 'keyLog':
            log.keyLog.push(output.line);
            log.events.push(output);
            break;
          case 'error':
            label = `error ${output.error.code}`;
            log.errors.push(output.error);
            log.events.push(output);
            break;
          case 'epochChanged':
            label = `epochChanged ${output.epoch} ${output.cause}`;
            log.events.push(output);
            break;
          default:
            log.events.push(output);
        }
        this.trace.push({ side, output, label });
      }
    }
  }

  /** Waits until both endpoints have run every command, then drains. */
  async step(): Promise<void> {
    await this.initiator.settled();
    await this.responder.settled();
    this.drain();
  }

  /** A position in the trace, for `labels`. */
  mark(): number {
    return this.trace.length;
  }

  /** The labels of `side`'s outputs since `mark`. */
  labels(side: Side, since = 0): string[] {
    return this.trace
      .slice(since)
      .filter((entry) => entry.side === side)
      .map((entry) => entry.label);
  }

  /** Delivers the oldest chunk `from` sent; false if there was none. */
  async deliver(from: Side): Promise<boolean> {
    const chunk = this.inFlight[from].shift();
    if (chunk === undefined) return false;
    await this.endpoint(peerOf(from)).receive(chunk);
    await this.step();
    return true;
  }

  /** Delivers the next `length` bytes of `from`'s stream as one chunk, cut anywhere. */
  async deliverBytes(from: Side, length: number): Promise<number> {
    const queue = this.inFlight[from];
    const parts: Uint8Array[] = [];
    let taken = 0;
    while (taken < length && queue.length > 0) {
      const head = queue[0]!;
      const take = Math.min(head.length, length - taken);
      parts.push(head.subarray(0, take));
      if (take === head.length) queue.shift();
      else queue[0] = head.subarray(take);
      taken += take;
    }
    if (taken === 0) return 0;
    await this.endpoint(peerOf(from)).receive(Buffer.concat(parts));
    await this.step();
    return taken;
  }

  /** Delivers exactly one record from `from`'s stream (a chunk may hold several). */
  async deliverRecord(from: Side): Promise<boolean> {
    const head = this.inFlight[from][0];
    if (head === undefined) return false;
    const length = RecordLimits.headerLength + ((head[3]! << 8) | head[4]!);
    await this.deliverBytes(from, length);
    return true;
  }

  /** Delivers what `from` has sent so far, chunk by chunk (nothing the peer answers). */
  async deliverAll(from: Side): Promise<void> {
    for (let count = this.inFlight[from].length; count > 0; count--) await this.deliver(from);
  }

  /** Drops what `from` has in flight, as a test that only wants the peer's reaction. */
  discard(from: Side): Uint8Array[] {
    return this.inFlight[from].splice(0);
  }

  /** Puts a record into `from`'s queue, after what is already in flight. */
  inject(from: Side, record: Uint8Array): void {
    this.inFlight[from].push(record);
  }

  /** A record sealed under `side`'s current sending keys (its sequence number advances). */
  seal(side: Side, contentType: ContentType, content: Uint8Array): Uint8Array {
    return this.keys(side).seal(contentType, content);
  }

  /** Queues `messages` from `side` in one protected handshake record. */
  injectHandshake(side: Side, ...messages: HandshakeMessage[]): void {
    const content = Buffer.concat(messages.map(encodeHandshake));
    this.inject(side, this.seal(side, ContentType.handshake, content));
  }

  /** Queues a protected alert from `side`. */
  injectAlert(side: Side, description: AlertDescription, level: 1 | 2 = 1): void {
    this.inject(side, this.seal(side, ContentType.alert, encodeAlert({ level, description })));
  }

  /** Delivers in both directions, alternating, until nothing is in flight. */
  async settle(limit = 10_000): Promise<void> {
    for (let step = 0; step < limit; step++) {
      await this.step();
      const a = await this.deliver('initiator');
      const b = await this.deliver('responder');
      await this.step();
      if (
        !a &&
        !b &&
        this.inFlight.initiator.length === 0 &&
        this.inFlight.responder.length === 0
      ) {
        return;
      }
    }
    throw new Error('the pair did not settle');
  }

  /** The errors both endpoints reported, by side. */
  errors(): Record<Side, string[]> {
    return {
      initiator: this.log.initiator.errors.map((error) => error.code),
      responder: this.log.responder.errors.map((error) => error.code),
    };
  }

  /** Both sides export the same keying material from the current epoch. */
  expectSameKeys(): void {
    const context = Uint8Array.of(1, 2, 3);
    expect(hex(this.initiator.exportKeyingMaterial(32, 'EXPORTER-test', context))).toBe(
      hex(this.responder.exportKeyingMaterial(32, 'EXPORTER-test', context)),
    );
  }

  /**
   * Writes fresh data both ways, settles and checks that each side received exactly it: the
   * keys of each direction agree.
   */
  async expectDataFlows(size = 100): Promise<void> {
    const before = {
      initiator: this.log.initiator.received.length,
      responder: this.log.responder.received.length,
    };
    const sent = { initiator: random(size), responder: random(size) };
    await this.initiator.write(sent.initiator);
    await this.responder.write(sent.responder);
    await this.settle();
    expect(this.errors()).toEqual({ initiator: [], responder: [] });
    for (const side of sides) {
      const received = this.log[peerOf(side)].received.subarray(before[peerOf(side)]);
      expect(hex(received)).toBe(hex(sent[side]));
    }
  }

  /** Synced, in one epoch, the same keys, data flowing both ways. */
  async expectInSync(epoch?: bigint): Promise<void> {
    expect(this.errors()).toEqual({ initiator: [], responder: [] });
    expect(this.initiator.state).toBe('synced');
    expect(this.responder.state).toBe('synced');
    expect(this.initiator.epoch).toBe(this.responder.epoch);
    if (epoch !== undefined) expect(this.initiator.epoch).toBe(epoch);
    this.expectSameKeys();
    await this.expectDataFlows();
  }
}

/** How many unconfirmed commits an initiator's record holds (its pending: group_id, list). */
export function unconfirmedCount(record: SessionRecord): number {
  const reader = new Reader(record.pending!);
  reader.opaque(1);
  const list = reader.vector(4);
  let count = 0;
  for (; list.remaining > 0; count++) list.opaque(4);
  return count;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Tracks whether a promise has settled, without awaiting it (updates wait for deliveries). */
export function track<T>(promise: Promise<T>): {
  readonly promise: Promise<T>;
  readonly state: () => 'pending' | 'resolved' | 'rejected';
} {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => {
      state = 'resolved';
    },
    () => {
      state = 'rejected';
    },
  );
  return { promise, state: () => state };
}

/** Lets promise callbacks run (after a command has settled, before checking a tracked promise). */
export function flushPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
