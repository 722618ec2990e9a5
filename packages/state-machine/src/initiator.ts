import { type HandshakeMessage, HandshakeType, MlsTlsError } from '@mlstls/codec';
import type { CiphersuiteImpl, ClientState, KeyPackage, PrivateKeyPackage } from 'ts-mls';
import { checkCredentialSuite, generateCredential } from './credential.js';
import { Endpoint, type EndpointOptions } from './endpoint.js';
import {
  createKeyPackage,
  createSelfUpdate,
  encodeGroup,
  joinConnectionGroup,
  peerCredential,
  processSelfUpdate,
  type SelfUpdate,
} from './group.js';
import { encodeKeyPackageMessage, equalBytes, loadCiphersuite } from './mls.js';
import type { PeerCredential } from './output.js';
import { type CiphersuiteChoice, type SuiteParameters, suiteParameters } from './suites.js';
import { TrafficKeys } from './traffic.js';

export interface InitiatorOptions extends EndpointOptions {
  /** The MLS ciphersuite of the KeyPackage (default 1). */
  readonly ciphersuite?: CiphersuiteChoice;
  /** The responder's signature public key, pinned: any other is refused. */
  readonly peerSignaturePublicKey?: Uint8Array;
  /**
   * Whether to refuse a responder that no verifier or pinned key accepts (default true, fail
   * closed). With false the connection goes on with `authorized: false`, as node:tls does.
   */
  readonly rejectUnauthorized?: boolean;
}

/** The initiator's states (PROFILE.md sections 4 and 5), each named for what it waits for. */
type InitiatorState =
  | { readonly name: 'start' }
  | {
      readonly name: 'awaitServerHello';
      readonly own: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
    }
  /** 1: SYNCED. */
  | { readonly name: 'synced' }
  /** 2: AWAIT_CONFIRM, its own update sent. */
  | { readonly name: 'awaitConfirm' }
  /** 3: AWAIT_PEER_EKU, the responder's update applied. */
  | { readonly name: 'awaitPeerEpochKeyUpdate' };

/** The TLS client's state machine. Call `start()` to send client_hello. */
export class Initiator extends Endpoint {
  readonly #suite: SuiteParameters;
  #state: InitiatorState = { name: 'start' };
  #started = false;
  #cs: Promise<CiphersuiteImpl> | undefined;
  #group: ClientState | undefined;
  #peer: PeerCredential | undefined;
  /** Own commits the responder has not confirmed, oldest first (section 6). */
  #unconfirmed: SelfUpdate[] = [];

  constructor(options: InitiatorOptions) {
    super('initiator', options);
    this.#suite = suiteParameters(options.ciphersuite ?? 1);
    if (options.credential) checkCredentialSuite(options.credential, this.#suite);
  }

  /** The state's name, for tests and diagnostics. */
  get state(): InitiatorState['name'] {
    return this.#state.name;
  }

  /** Section 4, step 1: a new KeyPackage in a client_hello. */
  start(): Promise<void> {
    if (this.#started) {
      return Promise.reject(new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'start() called twice'));
    }
    this.#started = true;
    return this.run(async () => {
      const cs = await this.ciphersuite();
      const credential =
        this.options.credential ?? (await generateCredential({ ciphersuite: this.#suite.id }));
      const own = await createKeyPackage(credential, this.#suite, this.options.now(), cs);
      this.#state = { name: 'awaitServerHello', own };
      this.sendHandshake(
        {
          msgType: HandshakeType.client_hello,
          keyPackage: encodeKeyPackageMessage(own.publicPackage),
        },
        true,
      );
    });
  }

  protected override ciphersuite(): Promise<CiphersuiteImpl> {
    this.#cs ??= loadCiphersuite(this.#suite.name, this.options.random);
    return this.#cs;
  }

  protected override get synced(): boolean {
    return this.#state.name === 'synced';
  }

  protected override async handleHandshake(message: HandshakeMessage): Promise<void> {
    const state = this.#state;
    switch (state.name) {
      case 'awaitServerHello':
        if (message.msgType === HandshakeType.server_hello)
          return this.#join(message.welcome, state.own);
        break;
      case 'synced':
        // I, 1, connection_update(commit n->n+1): process; persist; send EKU(n+1); switch sending.
        if (message.msgType === HandshakeType.connection_update) {
          // After its own close_notify it can send no epoch_key_update: dropped (D23).
          if (this.writeClosed) return;
          const group = await processSelfUpdate(
            this.#group!,
            message.update,
            await this.ciphersuite(),
          );
          return this.#applyPeerUpdate(group);
        }
        break;
      case 'awaitConfirm':
        // I, 2, epoch_key_update(n+1): switch receiving; drop pending; persist.
        if (message.msgType === HandshakeType.epoch_key_update) {
          this.#checkEpoch(message.epoch);
          for (const update of this.#unconfirmed)
            for (const secret of update.consumed) secret.fill(0);
          this.#unconfirmed = [];
          this.#state = { name: 'synced' };
          this.persist(() => this.#snapshot());
          this.switchReceive(this.#group!.groupContext.epoch, 'local');
          this.updateConfirmed();
          return;
        }
        // I, 2, connection_update: dropped; the initiator's update wins a crossing.
        if (message.msgType === HandshakeType.connection_update) return;
        break;
      case 'awaitPeerEpochKeyUpdate':
        // I, 3, epoch_key_update(n+1): switch receiving.
        if (message.msgType === HandshakeType.epoch_key_update) {
          this.#checkEpoch(message.epoch);
          this.#state = { name: 'synced' };
          this.switchReceive(this.#group!.groupContext.epoch, 'peer');
          return;
        }
        break;
      case 'start':
        break;
    }
    throw new MlsTlsError(
      'ERR_MLSTLS_UNEXPECTED_MESSAGE',
      `handshake message ${message.msgType} in initiator state ${state.name}`,
    );
  }

  /** I, 1, update(): commit n->n+1 and apply it; persist; send connection_update; switch sending. */
  protected override async startUpdate(): Promise<void> {
    const cs = await this.ciphersuite();
    const update = await createSelfUpdate(this.#group!, cs);
    this.#group = update.group;
    this.#unconfirmed.push(update);
    await this.enterEpoch(update.group, this.keys!);
    this.#state = { name: 'awaitConfirm' };
    this.persist(() => this.#snapshot());
    this.sendHandshake({ msgType: HandshakeType.connection_update, update: update.commit });
    this.switchSend(update.group.groupContext.epoch, 'local');
  }

  async #join(
    welcome: Uint8Array,
    own: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage },
  ): Promise<void> {
    const cs = await this.ciphersuite();
    const group = await joinConnectionGroup(welcome, own, this.#suite, cs);
    const peer = peerCredential(group);
    const authorizationError = await this.#authorize(peer);
    this.#group = group;
    this.#peer = peer;
    this.#state = { name: 'synced' };
    this.persist(() => this.#snapshot());
    const keys = new TrafficKeys(this.#suite, 'initiator', this.provider);
    this.keys = keys;
    await this.enterEpoch(group, keys);
    keys.switchSend(1n);
    keys.switchReceive(1n);
    this.completeHandshake({
      ciphersuite: this.#suite.name,
      epoch: 1n,
      groupId: group.groupContext.groupId,
      peer,
      authorized: authorizationError === undefined,
      ...(authorizationError === undefined ? {} : { authorizationError }),
    });
  }

  /**
   * Section 4, step 3: the responder's credential, failing closed. Returns the refusal when
   * `rejectUnauthorized: false` lets the connection go on.
   */
  async #authorize(peer: PeerCredential): Promise<MlsTlsError | undefined> {
    const { verifyPeer, peerSignaturePublicKey, rejectUnauthorized } = this
      .options as InitiatorOptions;
    let reason: string | undefined;
    if (verifyPeer === undefined && peerSignaturePublicKey === undefined) {
      reason = 'no verifier or pinned key to authenticate the responder';
    } else if (
      peerSignaturePublicKey !== undefined &&
      !equalBytes(peerSignaturePublicKey, peer.signaturePublicKey)
    ) {
      reason = 'the responder signature key is not the pinned key';
    } else if (verifyPeer !== undefined && !(await verifyPeer(peer))) {
      reason = 'the verifier refused the responder credential';
    }
    if (reason === undefined) return undefined;
    const error = new MlsTlsError('ERR_MLSTLS_BAD_CERTIFICATE', reason);
    if (rejectUnauthorized === false) return error;
    throw error;
  }

  async #applyPeerUpdate(group: ClientState): Promise<void> {
    this.#group = group;
    await this.enterEpoch(group, this.keys!);
    this.#state = { name: 'awaitPeerEpochKeyUpdate' };
    this.persist(() => this.#snapshot());
    const epoch = group.groupContext.epoch;
    this.sendHandshake({ msgType: HandshakeType.epoch_key_update, epoch: Number(epoch) });
    this.switchSend(epoch, 'peer');
  }

  #checkEpoch(epoch: number): void {
    const expected = this.#group!.groupContext.epoch;
    if (BigInt(epoch) !== expected) {
      throw new MlsTlsError(
        'ERR_MLSTLS_ILLEGAL_PARAMETER',
        `epoch_key_update(${epoch}), expected ${expected}`,
      );
    }
  }

  #snapshot() {
    const group = this.#group!;
    return {
      role: 'initiator' as const,
      groupId: group.groupContext.groupId,
      epoch: group.groupContext.epoch,
      group: encodeGroup(group),
      unconfirmedCommits: this.#unconfirmed.map((update) => update.commit),
      peer: this.#peer!,
    };
  }
}
