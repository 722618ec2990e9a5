import { type ContentType, MlsTlsError } from '@mlstls/codec';
import type { CryptoProvider } from '@mlstls/crypto';
import { type ApplicationSecrets, exportKeyingMaterial } from '@mlstls/key-schedule';
import { type OpenedRecord, RecordProtector } from '@mlstls/record';
import type { SuiteParameters } from './suites.js';

/** Which end of the connection: the TLS client (initiator) or server (responder). */
export type Role = 'initiator' | 'responder';

interface StagedEpoch {
  readonly epoch: bigint;
  send: Uint8Array | undefined;
  receive: Uint8Array | undefined;
  exporter: Uint8Array;
}

/**
 * The record keys of both directions (docs/protocol.md section 3). Each direction has its own
 * `(epoch, generation)`: the secrets of an epoch are staged when the group enters it, and each
 * direction switches when the protocol says. A staged secret is erased when its protector
 * takes it, an old protector when it is replaced.
 */
export class TrafficKeys {
  readonly suite: SuiteParameters;
  readonly #role: Role;
  readonly #provider: CryptoProvider;
  #send: RecordProtector | undefined;
  #receive: RecordProtector | undefined;
  #sendEpoch = 0n;
  #receiveEpoch = 0n;
  #staged: StagedEpoch[] = [];
  #exporter: { epoch: bigint; secret: Uint8Array } | undefined;
  #sendClosed = false;

  constructor(suite: SuiteParameters, role: Role, provider: CryptoProvider) {
    this.suite = suite;
    this.#role = role;
    this.#provider = provider;
  }

  get canSend(): boolean {
    return this.#send !== undefined;
  }

  get canReceive(): boolean {
    return this.#receive !== undefined;
  }

  get sendEpoch(): bigint {
    return this.#sendEpoch;
  }

  get receiveEpoch(): bigint {
    return this.#receiveEpoch;
  }

  /** The epoch both directions have reached: the one the exporter and `epoch` report. */
  get epoch(): bigint {
    return this.#exporter?.epoch ?? 0n;
  }

  get sendGeneration(): number {
    return this.#send?.generation ?? 0;
  }

  get receiveGeneration(): number {
    return this.#receive?.generation ?? 0;
  }

  /** Takes the secrets of `epoch` until each direction switches to it. */
  stage(epoch: bigint, secrets: ApplicationSecrets): void {
    const own = this.#role === 'initiator' ? 'clientTrafficSecret' : 'serverTrafficSecret';
    const peer = this.#role === 'initiator' ? 'serverTrafficSecret' : 'clientTrafficSecret';
    if (this.#sendClosed) secrets[own].fill(0);
    this.#staged.push({
      epoch,
      send: this.#sendClosed ? undefined : secrets[own],
      receive: secrets[peer],
      exporter: secrets.exporterMasterSecret,
    });
  }

  /** Switches sending to `epoch`; true once both directions have reached it. */
  switchSend(epoch: bigint): boolean {
    if (this.#sendClosed) {
      // After close_notify nothing is sent: the epoch is reached without a sending key.
      this.#sendEpoch = epoch;
      const staged = this.#staged.find((entry) => entry.epoch === epoch);
      return staged === undefined ? false : this.#settle(staged);
    }
    const staged = this.#find(epoch, 'send');
    this.#send?.destroy();
    this.#send = this.#protector(staged.send!);
    staged.send = undefined;
    this.#sendEpoch = epoch;
    return this.#settle(staged);
  }

  /** Switches receiving to `epoch`; true once both directions have reached it. */
  switchReceive(epoch: bigint): boolean {
    const staged = this.#find(epoch, 'receive');
    this.#receive?.destroy();
    this.#receive = this.#protector(staged.receive!);
    staged.receive = undefined;
    this.#receiveEpoch = epoch;
    return this.#settle(staged);
  }

  /** The sending protector; only call once `canSend`. */
  get sender(): RecordProtector {
    return this.#send!;
  }

  /** The receiving protector; only call once `canReceive`. */
  get receiver(): RecordProtector {
    return this.#receive!;
  }

  open(record: Uint8Array): OpenedRecord {
    return this.#receive!.open(record);
  }

  seal(contentType: ContentType, content: Uint8Array): Uint8Array {
    return this.#send!.seal(contentType, content);
  }

  nextSendGeneration(): void {
    this.#send!.nextGeneration();
  }

  nextReceiveGeneration(): void {
    this.#receive!.nextGeneration();
  }

  /** RFC 8446 7.5 over `exp_master` of `epoch`. */
  exportKeyingMaterial(length: number, label: string, context: Uint8Array | undefined): Uint8Array {
    if (this.#exporter === undefined) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'no keys to export from yet');
    }
    return exportKeyingMaterial({
      hash: this.suite.hash,
      exporterMasterSecret: this.#exporter.secret,
      label,
      ...(context === undefined ? {} : { context }),
      length,
      provider: this.#provider,
    });
  }

  /** Erases every key and secret. */
  destroy(): void {
    this.#send?.destroy();
    this.#receive?.destroy();
    this.#send = undefined;
    this.#receive = undefined;
    for (const staged of this.#staged) erase(staged);
    this.#staged = [];
    this.#exporter?.secret.fill(0);
    this.#exporter = undefined;
  }

  /** Stops sending: the send key is erased (after close_notify). */
  closeSend(): void {
    this.#sendClosed = true;
    this.#send?.destroy();
    this.#send = undefined;
    for (const staged of this.#staged) {
      staged.send?.fill(0);
      staged.send = undefined;
    }
  }

  #protector(trafficSecret: Uint8Array): RecordProtector {
    const protector = new RecordProtector({
      aead: this.suite.aead,
      hash: this.suite.hash,
      trafficSecret,
      provider: this.#provider,
    });
    trafficSecret.fill(0);
    return protector;
  }

  #find(epoch: bigint, direction: 'send' | 'receive'): StagedEpoch {
    const staged = this.#staged.find((entry) => entry.epoch === epoch);
    if (staged?.[direction] === undefined) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', `no ${direction} key for epoch ${epoch}`);
    }
    return staged;
  }

  #settle(staged: StagedEpoch): boolean {
    if (this.#sendEpoch !== staged.epoch && this.#send !== undefined) return false;
    if (this.#receiveEpoch !== staged.epoch) return false;
    // A responder awaiting key confirmation (section 4) receives before it has a sending key:
    // its epoch settles then, and again when sending switches. The exporter is already this one.
    if (this.#exporter?.secret !== staged.exporter) {
      this.#exporter?.secret.fill(0);
      this.#exporter = { epoch: staged.epoch, secret: staged.exporter };
    }
    // Older staged epochs can no longer be switched to.
    for (const entry of this.#staged) if (entry.epoch < staged.epoch) erase(entry);
    this.#staged = this.#staged.filter((entry) => entry.epoch > staged.epoch || entry === staged);
    if (staged.send === undefined && staged.receive === undefined) {
      this.#staged = this.#staged.filter((entry) => entry !== staged);
    }
    return true;
  }
}

function erase(staged: StagedEpoch): void {
  staged.send?.fill(0);
  staged.receive?.fill(0);
  staged.send = undefined;
  staged.receive = undefined;
  if (staged.exporter !== undefined) staged.exporter.fill(0);
}
