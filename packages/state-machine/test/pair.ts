// Two in-memory endpoints and a deterministic scheduler: every record sent waits in its
// direction's queue until the test (or a seeded schedule) delivers it.
import { randomBytes } from 'node:crypto';
import type { MlsTlsError } from '@mlstls/codec';
import {
  generateCredential,
  Initiator,
  type InitiatorOptions,
  type Output,
  Responder,
  type ResponderOptions,
} from '../src/index.js';

export const random = (length: number) => new Uint8Array(randomBytes(length));
export const now = () => Date.parse('2026-11-27T12:00:00Z');

/** What one endpoint has produced so far, besides bytes to send. */
export class Log {
  readonly data: Uint8Array[] = [];
  readonly events: Output[] = [];
  readonly errors: MlsTlsError[] = [];
  readonly persisted: Output[] = [];

  get received(): Uint8Array {
    return Buffer.concat(this.data);
  }

  count(type: Output['type']): number {
    return this.events.filter((output) => output.type === type).length;
  }
}

export type Side = 'initiator' | 'responder';

export class Pair {
  readonly initiator: Initiator;
  readonly responder: Responder;
  /** Sent and not yet delivered, per sender. */
  readonly inFlight: Record<Side, Uint8Array[]> = { initiator: [], responder: [] };
  readonly log: Record<Side, Log> = { initiator: new Log(), responder: new Log() };
  /** Every output in order, with who produced it (to check persist-before-send). */
  readonly trace: { side: Side; output: Output }[] = [];

  constructor(initiator: Initiator, responder: Responder) {
    this.initiator = initiator;
    this.responder = responder;
  }

  static async create(
    options: { initiator?: Partial<InitiatorOptions>; responder?: Partial<ResponderOptions> } = {},
  ): Promise<Pair> {
    const credential = await generateCredential({
      ciphersuite: options.initiator?.ciphersuite ?? 1,
    });
    const responder = new Responder({ random, now, credential, ...options.responder });
    const initiator = new Initiator({
      random,
      now,
      peerSignaturePublicKey: credential.signaturePublicKey,
      ...options.initiator,
    });
    return new Pair(initiator, responder);
  }

  /** A pair that has completed the handshake with nothing in flight. */
  static async connected(
    options: { initiator?: Partial<InitiatorOptions>; responder?: Partial<ResponderOptions> } = {},
  ): Promise<Pair> {
    const pair = await Pair.create(options);
    await pair.initiator.start();
    pair.drain();
    await pair.settle();
    return pair;
  }

  endpoint(side: Side): Initiator | Responder {
    return side === 'initiator' ? this.initiator : this.responder;
  }

  /** Moves every output of both endpoints into the queues and logs. */
  drain(): void {
    for (const side of ['initiator', 'responder'] as const) {
      const endpoint = this.endpoint(side);
      for (let output = endpoint.poll(); output !== undefined; output = endpoint.poll()) {
        this.trace.push({ side, output });
        const log = this.log[side];
        switch (output.type) {
          case 'send':
            this.inFlight[side].push(output.data);
            break;
          case 'data':
            log.data.push(output.data);
            break;
          case 'persist':
            log.persisted.push(output);
            break;
          case 'error':
            log.errors.push(output.error);
            log.events.push(output);
            break;
          default:
            log.events.push(output);
        }
      }
    }
  }

  /** Delivers the oldest chunk `from` sent; false if there was none. */
  async deliver(from: Side): Promise<boolean> {
    const chunk = this.inFlight[from].shift();
    if (chunk === undefined) return false;
    await this.endpoint(from === 'initiator' ? 'responder' : 'initiator').receive(chunk);
    this.drain();
    return true;
  }

  /** Delivers in both directions, alternating, until nothing is in flight. */
  async settle(limit = 10_000): Promise<void> {
    for (let step = 0; step < limit; step++) {
      await this.initiator.settled();
      await this.responder.settled();
      this.drain();
      const a = await this.deliver('initiator');
      const b = await this.deliver('responder');
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
}
