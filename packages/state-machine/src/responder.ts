import { type HandshakeMessage, HandshakeType, MlsTlsError } from '@mlstls/codec';
import type { CiphersuiteImpl, ClientState } from 'ts-mls';
import { checkCredentialSuite, generateCredential } from './credential.js';
import { Endpoint, type EndpointOptions } from './endpoint.js';
import {
  checkKeyPackage,
  createConnectionGroup,
  createKeyPackage,
  createSelfUpdate,
  encodeGroup,
  GROUP_ID_LENGTH,
  processSelfUpdate,
  type SelfUpdate,
} from './group.js';
import { decodeWholeMessage, loadCiphersuite } from './mls.js';
import type { PeerCredential } from './output.js';
import {
  type CiphersuiteChoice,
  findSuite,
  SUPPORTED_CIPHERSUITES,
  type SuiteParameters,
  suiteParameters,
} from './suites.js';
import { TrafficKeys } from './traffic.js';

export interface ResponderOptions extends EndpointOptions {
  /** The MLS ciphersuites accepted in a client_hello (default: every supported one). */
  readonly ciphersuites?: readonly CiphersuiteChoice[];
}

/** The responder's states (PROFILE.md sections 4 and 5), each named for what it waits for. */
type ResponderState =
  | { readonly name: 'awaitClientHello' }
  /** 1: SYNCED. */
  | { readonly name: 'synced' }
  /** 2: AWAIT_CONFIRM, its own commit pending and not applied. */
  | { readonly name: 'awaitConfirm'; readonly pending: SelfUpdate };

/** The TLS server's state machine: it waits for a client_hello. */
export class Responder extends Endpoint {
  readonly #accepted: readonly SuiteParameters[];
  #state: ResponderState = { name: 'awaitClientHello' };
  #suite: SuiteParameters | undefined;
  #cs: Promise<CiphersuiteImpl> | undefined;
  #group: ClientState | undefined;
  #peer: PeerCredential | undefined;

  constructor(options: ResponderOptions) {
    super('responder', options);
    this.#accepted = (options.ciphersuites ?? SUPPORTED_CIPHERSUITES.map((suite) => suite.id)).map(
      suiteParameters,
    );
  }

  /** The state's name, for tests and diagnostics. */
  get state(): ResponderState['name'] {
    return this.#state.name;
  }

  protected override ciphersuite(): Promise<CiphersuiteImpl> {
    if (this.#suite === undefined) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'no ciphersuite before client_hello');
    }
    this.#cs ??= loadCiphersuite(this.#suite.name, this.options.random);
    return this.#cs;
  }

  protected override get synced(): boolean {
    return this.#state.name === 'synced';
  }

  protected override async handleHandshake(message: HandshakeMessage): Promise<void> {
    const state = this.#state;
    switch (state.name) {
      case 'awaitClientHello':
        if (message.msgType === HandshakeType.client_hello) return this.#accept(message.keyPackage);
        break;
      case 'synced':
        // R, 1, connection_update(commit n->n+1): process; persist; send EKU(n+1); switch both.
        if (message.msgType === HandshakeType.connection_update) {
          return this.#applyPeerUpdate(message.update);
        }
        break;
      case 'awaitConfirm':
        // R, 2, epoch_key_update(n+1): apply the pending commit; persist; send EKU(n+1); switch both.
        if (message.msgType === HandshakeType.epoch_key_update) {
          const next = state.pending.group.groupContext.epoch;
          if (BigInt(message.epoch) !== next) {
            throw new MlsTlsError(
              'ERR_MLSTLS_ILLEGAL_PARAMETER',
              `epoch_key_update(${message.epoch}), expected ${next}`,
            );
          }
          for (const secret of state.pending.consumed) secret.fill(0);
          this.#group = state.pending.group;
          this.#state = { name: 'synced' };
          await this.#confirmEpoch('local');
          this.updateConfirmed();
          return;
        }
        // R, 2, connection_update: discard the pending commit, then as R, 1.
        if (message.msgType === HandshakeType.connection_update) {
          this.#state = { name: 'synced' };
          this.updateDiscarded();
          return this.#applyPeerUpdate(message.update);
        }
        break;
    }
    throw new MlsTlsError(
      'ERR_MLSTLS_UNEXPECTED_MESSAGE',
      `handshake message ${message.msgType} in responder state ${state.name}`,
    );
  }

  /** R, 1, update(): commit n->n+1, not applied; persist it as pending; send connection_update. */
  protected override async startUpdate(): Promise<void> {
    const pending = await createSelfUpdate(this.#group!, await this.ciphersuite());
    this.#state = { name: 'awaitConfirm', pending };
    this.persist(() => this.#snapshot());
    this.sendHandshake({ msgType: HandshakeType.connection_update, update: pending.commit });
  }

  /** Section 4, step 2. */
  async #accept(keyPackageBytes: Uint8Array): Promise<void> {
    const message = decodeWholeMessage(keyPackageBytes);
    if (message.wireformat !== 'mls_key_package') {
      throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'client_hello without a KeyPackage');
    }
    const { keyPackage } = message;
    const suite = findSuite(keyPackage.cipherSuite);
    if (suite === undefined || !this.#accepted.includes(suite)) {
      throw new MlsTlsError(
        'ERR_MLSTLS_HANDSHAKE_FAILURE',
        `ciphersuite ${keyPackage.cipherSuite} not accepted`,
      );
    }
    this.#suite = suite;
    const credential =
      this.options.credential ?? (await generateCredential({ ciphersuite: suite.id }));
    checkCredentialSuite(credential, suite);
    const cs = await this.ciphersuite();
    const now = this.options.now();
    await checkKeyPackage(keyPackage, suite, credential.credential.credentialType, now, cs);
    const peer: PeerCredential = {
      credential: keyPackage.leafNode.credential,
      signaturePublicKey: keyPackage.leafNode.signaturePublicKey,
    };
    const verifyPeer = this.options.verifyPeer;
    if (verifyPeer !== undefined && !(await verifyPeer(peer))) {
      throw new MlsTlsError(
        'ERR_MLSTLS_BAD_CERTIFICATE',
        'the verifier refused the initiator credential',
      );
    }
    const own = await createKeyPackage(credential, suite, now, cs);
    const groupId = this.options.random(GROUP_ID_LENGTH);
    const { group, welcome } = await createConnectionGroup(keyPackage, own, groupId, cs);
    this.#group = group;
    this.#peer = peer;
    this.#state = { name: 'synced' };
    this.persist(() => this.#snapshot());
    this.sendHandshake({ msgType: HandshakeType.server_hello, welcome }, true);
    const keys = new TrafficKeys(suite, 'responder', this.provider);
    this.keys = keys;
    await this.enterEpoch(group, keys);
    keys.switchSend(1n);
    keys.switchReceive(1n);
    this.completeHandshake({
      ciphersuite: suite.name,
      epoch: 1n,
      groupId: group.groupContext.groupId,
      peer,
      authorized: verifyPeer !== undefined,
    });
  }

  async #applyPeerUpdate(bytes: Uint8Array): Promise<void> {
    this.#group = await processSelfUpdate(this.#group!, bytes, await this.ciphersuite());
    await this.#confirmEpoch('peer');
  }

  /** Persist; send epoch_key_update(n+1); switch sending and receiving to n+1. */
  async #confirmEpoch(cause: 'local' | 'peer'): Promise<void> {
    const group = this.#group!;
    const epoch = group.groupContext.epoch;
    await this.enterEpoch(group, this.keys!);
    this.persist(() => this.#snapshot());
    this.sendHandshake({ msgType: HandshakeType.epoch_key_update, epoch: Number(epoch) });
    this.switchSend(epoch, cause);
    this.switchReceive(epoch, cause);
  }

  #snapshot() {
    const group = this.#group!;
    const state = this.#state;
    return {
      role: 'responder' as const,
      groupId: group.groupContext.groupId,
      epoch: group.groupContext.epoch,
      group: encodeGroup(group),
      unconfirmedCommits: [],
      ...(state.name === 'awaitConfirm'
        ? { pending: { commit: state.pending.commit, group: encodeGroup(state.pending.group) } }
        : {}),
      peer: this.#peer!,
    };
  }
}
