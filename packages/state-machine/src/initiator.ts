import { AlertDescription, type HandshakeMessage, HandshakeType, MlsTlsError } from '@mlstls/codec';
import { withHandshakeMemory } from '@mlstls/crypto/mls';
import {
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
  versionOf,
} from '@mlstls/storage';
import type { CiphersuiteImpl, ClientState, KeyPackage, PrivateKeyPackage } from 'ts-mls';
import {
  type Authentication,
  authenticateResponder,
  type CheckServerIdentity,
} from './authentication.js';
import { checkCredentialSuite, generateCredential } from './credential.js';
import { Endpoint, type EndpointOptions } from './endpoint.js';
import {
  createKeyPackage,
  createSelfUpdate,
  encodeGroup,
  joinConnectionGroup,
  peerCredential,
  processSelfUpdate,
} from './group.js';
import {
  type EndpointCredential,
  encodeKeyPackageMessage,
  loadCiphersuite,
  mlsImplementationFor,
} from './mls.js';
import { agreedProtocol, offerExtensions, protocolBytes, serverNameToSend } from './negotiation.js';
import type { HandshakeInfo, PeerCredential, SessionSnapshot } from './output.js';
import {
  callStore,
  decodeCommitList,
  decodeGroup,
  isReadableFormat,
  MAX_UNCONFIRMED_COMMITS,
} from './session.js';
import { type CiphersuiteChoice, type SuiteParameters, suiteParameters } from './suites.js';
import { TrafficKeys } from './traffic.js';

export interface InitiatorOptions extends EndpointOptions {
  /** The MLS ciphersuite of the KeyPackage (default 1). */
  readonly ciphersuite?: CiphersuiteChoice;
  /** The responder's signature public key, pinned: any other is refused. */
  readonly peerSignaturePublicKey?: Uint8Array;
  /**
   * Whether to refuse a responder that fails authentication (default true, fail closed): an
   * X.509 chain that does not verify or name `serverName`, a basic credential no verifier or
   * pinned key accepts. With false the connection goes on with `authorized: false` and the
   * refusal as `authorizationError`, as node:tls does.
   */
  readonly rejectUnauthorized?: boolean;
  /**
   * The responder's host name: sent in mlstls_server_name (unless it is an IP literal, which
   * RFC 6066 does not allow there) and checked against an X.509 responder's certificate.
   */
  readonly serverName?: string;
  /** Replaces the host name check of X.509 responders, as node:tls's option of that name. */
  readonly checkServerIdentity?: CheckServerIdentity;
  /**
   * The name the session is kept under in `store`: the responder's identity (required with
   * `store`). A stored session under it is resumed; each later state replaces it.
   */
  readonly sessionId?: Uint8Array;
  /**
   * A session to resume that the application kept itself (a `persist` output's record), read
   * instead of the store.
   */
  readonly session?: SessionRecord;
  /**
   * Whether to resume a stored session (default true). With false the connection makes a full
   * handshake and its session replaces the stored one: for a second connection while the
   * first still holds the session, which a resumption would take from it.
   */
  readonly resume?: boolean;
}

/** A commit the responder has not confirmed, with the secrets to erase once it has. */
interface Unconfirmed {
  readonly commit: Uint8Array;
  readonly consumed: readonly Uint8Array[];
}

/** A stored session that this initiator can resume. */
interface Resumable {
  readonly group: ClientState;
  readonly unconfirmed: readonly Uint8Array[];
}

/** What a resumed connection reports once the responder has answered. */
type ResumedInfo = Authentication & Pick<HandshakeInfo, 'alpnProtocol'>;

/** The initiator's states (docs/protocol.md sections 4 and 5), each named for what it waits for. */
type InitiatorState =
  | { readonly name: 'start' }
  | {
      readonly name: 'awaitServerHello';
      readonly own: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
      /** The ciphersuite with this handshake's memory of signatures (D91). */
      readonly cs: CiphersuiteImpl;
    }
  /** 1: SYNCED. */
  | { readonly name: 'synced' }
  /**
   * 2, resumption flight sent (section 6): waiting for resumption_accept, whose random keys the
   * resumed epoch. No keys exist yet, and a refusal comes as a plaintext alert.
   */
  | { readonly name: 'awaitResumptionAccept'; readonly resumption: ResumedInfo }
  /**
   * 2: AWAIT_CONFIRM, its own update sent; or, after resumption_accept, its resumption flight,
   * which the responder's epoch_key_update completes as a handshake.
   */
  | {
      readonly name: 'awaitConfirm';
      readonly resumption?: ResumedInfo;
    }
  /** 3: AWAIT_PEER_EKU, the responder's update applied. */
  | { readonly name: 'awaitPeerEpochKeyUpdate' };

/** The TLS client's state machine. Call `start()` to send client_hello. */
export class Initiator extends Endpoint {
  readonly #suite: SuiteParameters;
  #state: InitiatorState = { name: 'start' };
  #started = false;
  #cs: Promise<CiphersuiteImpl> | undefined;
  #peer: PeerCredential | undefined;
  /** Own commits the responder has not confirmed, oldest first (section 6). */
  #unconfirmed: Unconfirmed[] = [];
  /** The stored version the next write expects; `undefined` until the store was read. */
  #expected: SessionVersion | null | undefined;
  /** False once another connection took over the stored session: this one writes no more. */
  #storing = true;
  /** The write before a resumption flight must win, or the flight is not sent. */
  #mustWin = false;
  #refused = false;

  /** The ALPN protocols offered, as bytes. */
  readonly #protocols: readonly Uint8Array[];
  /** The name sent in mlstls_server_name, if any. */
  readonly #serverName: string | undefined;

  constructor(options: InitiatorOptions) {
    super('initiator', options);
    this.#protocols = protocolBytes(options.alpnProtocols ?? []);
    this.#serverName = serverNameToSend(options.serverName);
    // A name or protocol that cannot be sent is refused now, not at start().
    offerExtensions(this.#serverName, this.#protocols);
    if (options.store !== undefined && options.sessionId === undefined) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'a store needs a sessionId');
    }
    this.#suite = suiteParameters(options.ciphersuite ?? 1);
    if (options.credential) {
      checkCredentialSuite(options.credential, this.#suite, 'ERR_MLSTLS_INVALID_ARGUMENT');
    }
  }

  /** The state's name, for tests and diagnostics. */
  get state(): InitiatorState['name'] {
    return this.#state.name;
  }

  /** Whether the responder refused the resumption (`unknown_psk_identity`): a full handshake on a new connection is the way on. */
  get resumptionRefused(): boolean {
    return this.#refused;
  }

  /** Section 4, step 1: a new KeyPackage in a client_hello; or section 6's resumption flight. */
  start(): Promise<void> {
    if (this.#started) {
      return Promise.reject(new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'start() called twice'));
    }
    this.#started = true;
    return this.run(async () => {
      const cs = await this.ciphersuite();
      const stored = await this.#loadSession();
      if (stored !== undefined && (await this.#resume(stored, cs))) return;
      this.beginHandshake('handshake');
      const extensions = offerExtensions(this.#serverName, this.#protocols);
      const now = this.options.now();
      // Signatures made and checked in this handshake are remembered until its end (D91).
      const handshakeCs = withHandshakeMemory(cs);
      const own =
        this.options.keyPackages?.take({
          suite: this.#suite,
          credential: this.options.credential,
          extensions,
          now,
        }) ??
        (await createKeyPackage(
          await this.#credential(),
          this.#suite,
          now,
          handshakeCs,
          extensions,
        ));
      this.#state = { name: 'awaitServerHello', own, cs: handshakeCs };
      this.sendHandshake(
        {
          msgType: HandshakeType.client_hello,
          keyPackage: encodeKeyPackageMessage(own.publicPackage),
        },
        true,
      );
    });
  }

  /** The credential to present: the configured one, or an ephemeral basic one. */
  #credential(): Promise<EndpointCredential> {
    if (this.options.credential !== undefined) return Promise.resolve(this.options.credential);
    return generateCredential({
      ciphersuite: this.#suite.id,
      ...(this.options.provider === undefined ? {} : { provider: this.options.provider }),
    });
  }

  protected override ciphersuite(): Promise<CiphersuiteImpl> {
    this.#cs ??= loadCiphersuite(
      this.#suite.name,
      this.options.random,
      mlsImplementationFor(this.provider),
    );
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
          return this.#join(message.welcome, state.own, state.cs);
        break;
      case 'synced':
        // I, 1, connection_update(commit n->n+1): process; persist; send EKU(n+1); switch sending.
        if (message.msgType === HandshakeType.connection_update) {
          // After its own close_notify it can send no epoch_key_update: dropped (D23).
          if (this.writeClosed) return;
          const group = await processSelfUpdate(
            this.group!,
            message.update,
            await this.ciphersuite(),
          );
          return this.#applyPeerUpdate(group);
        }
        break;
      case 'awaitResumptionAccept':
        if (message.msgType === HandshakeType.resumption_accept) {
          return this.#accepted(message.responderRandom, state.resumption);
        }
        break;
      case 'awaitConfirm':
        // I, 2, epoch_key_update(n+1): switch receiving; drop pending; persist. After a
        // resumption flight, receiving is already at n+1: the reply is its first record.
        if (message.msgType === HandshakeType.epoch_key_update) {
          this.#checkEpoch(message.epoch);
          for (const update of this.#unconfirmed)
            for (const secret of update.consumed) secret.fill(0);
          this.#unconfirmed = [];
          this.#state = { name: 'synced' };
          await this.persist(() => this.#snapshot());
          if (state.resumption !== undefined) return this.#resumed(state.resumption);
          this.switchReceive(this.groupEpoch, 'local');
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
          this.switchReceive(this.groupEpoch, 'peer');
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
    const update = await createSelfUpdate(this.group!, cs);
    this.group = await this.enterEpoch(update.group, this.keys!);
    this.#unconfirmed.push(update);
    this.#state = { name: 'awaitConfirm' };
    await this.persist(() => this.#snapshot());
    this.sendHandshake({ msgType: HandshakeType.connection_update, update: update.commit });
    this.switchSend(update.group.groupContext.epoch, 'local');
  }

  async #join(
    welcome: Uint8Array,
    own: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage },
    cs: CiphersuiteImpl,
  ): Promise<void> {
    const group = await joinConnectionGroup(welcome, own, this.#suite, cs);
    const alpnProtocol = agreedProtocol(group, this.#protocols);
    const peer = peerCredential(group);
    const authentication = await this.#authenticate(peer);
    this.group = group;
    this.#peer = peer;
    this.#state = { name: 'synced' };
    await this.persist(() => this.#snapshot());
    const keys = new TrafficKeys(this.#suite, 'initiator', this.provider);
    this.keys = keys;
    this.group = await this.enterEpoch(group, keys);
    keys.switchSend(1n);
    keys.switchReceive(1n);
    // Section 4, step 4: key confirmation. The first protected record proves to the responder
    // that a live peer holds the Welcome's keys; only then does it report the connection.
    this.sendHandshake({ msgType: HandshakeType.epoch_key_update, epoch: 1 });
    this.completeHandshake({
      ciphersuite: this.#suite.name,
      epoch: 1n,
      groupId: group.groupContext.groupId,
      peer,
      ...authentication,
      ...(alpnProtocol === undefined ? {} : { alpnProtocol }),
      ...(this.#serverName === undefined ? {} : { serverName: this.#serverName }),
      resumed: false,
    });
  }

  /**
   * The stored session to resume, if there is a usable one. One this version cannot read, of
   * another ciphersuite, or holding 8 unconfirmed commits (section 6) is forgotten: the
   * connection makes a full handshake.
   */
  async #loadSession(): Promise<Resumable | undefined> {
    const { sessionId, session, resume } = this.options as InitiatorOptions;
    const store = this.store;
    if (resume === false) return undefined;
    let record = session;
    if (record === undefined && store !== undefined) {
      try {
        record = await callStore('read', () => store.get(sessionId!));
      } catch (error) {
        // A store that cannot be read costs the resumption only: a full handshake follows.
        this.storeFailed(error);
        return undefined;
      }
      this.#expected = record === undefined ? null : versionOf(record);
    }
    if (record === undefined) return undefined;
    const group = isReadableFormat(record.format) ? decodeGroup(record.state) : undefined;
    const unconfirmed =
      group === undefined
        ? undefined
        : decodeCommitList(record.pending, group.groupContext.groupId);
    if (
      group !== undefined &&
      unconfirmed !== undefined &&
      group.groupContext.cipherSuite === this.#suite.name &&
      unconfirmed.length < MAX_UNCONFIRMED_COMMITS
    ) {
      return { group, unconfirmed };
    }
    if (session === undefined && store !== undefined) {
      try {
        await callStore('delete', () => store.delete(sessionId!));
        this.#expected = null;
      } catch (error) {
        this.storeFailed(error);
      }
    }
    return undefined;
  }

  /**
   * Section 6: a new self-update C' on the stored state, stored with the flight before it is
   * sent: every unconfirmed commit as connection_update, then resumption(C'), in plaintext.
   * C's epoch, keyed with the responder's random once resumption_accept brings it, has never
   * protected a record. False when the store could not keep the flight: nothing was sent, and
   * the connection makes a full handshake instead.
   */
  async #resume(stored: Resumable, cs: CiphersuiteImpl): Promise<boolean> {
    const peer = peerCredential(stored.group);
    const authentication = await this.#authenticate(peer);
    const alpnProtocol = agreedProtocol(stored.group);
    const update = await createSelfUpdate(stored.group, cs);
    this.group = update.group;
    this.#peer = peer;
    this.#unconfirmed = [...stored.unconfirmed.map((commit) => ({ commit, consumed: [] })), update];
    const resumption = {
      ...authentication,
      ...(alpnProtocol === undefined ? {} : { alpnProtocol }),
    };
    this.#state = { name: 'awaitResumptionAccept', resumption };
    this.#mustWin = true;
    await this.persist(() => this.#snapshot());
    this.#mustWin = false;
    if (this.storeError !== undefined) {
      // Persist before send: a flight the store does not hold is not sent.
      for (const secret of update.consumed) secret.fill(0);
      this.#unconfirmed = [];
      this.#state = { name: 'start' };
      return false;
    }
    this.beginHandshake('resume', stored.group.groupContext.epoch);
    for (const commit of stored.unconfirmed) {
      this.sendHandshake({ msgType: HandshakeType.connection_update, update: commit }, true);
    }
    this.sendHandshake({ msgType: HandshakeType.resumption, commit: update.commit }, true);
    return true;
  }

  /**
   * Section 6: resumption_accept keys the resumed epoch with the responder's random. Both
   * directions switch to it; the first protected record is this side's key confirmation,
   * epoch_key_update(m), and the responder's own epoch_key_update(m) completes the resumption.
   */
  async #accepted(responderRandom: Uint8Array, resumption: ResumedInfo): Promise<void> {
    const keys = new TrafficKeys(this.#suite, 'initiator', this.provider);
    this.keys = keys;
    this.group = await this.enterEpoch(this.group!, keys, responderRandom);
    const epoch = this.group.groupContext.epoch;
    this.#state = { name: 'awaitConfirm', resumption };
    this.switchReceive(epoch, 'resumption');
    this.switchSend(epoch, 'resumption');
    this.sendHandshake({ msgType: HandshakeType.epoch_key_update, epoch: Number(epoch) });
  }

  /** The responder's epoch_key_update answered the flight: the connection is resumed. */
  #resumed(resumption: ResumedInfo): void {
    const group = this.group!;
    this.completeHandshake({
      ciphersuite: this.#suite.name,
      epoch: group.groupContext.epoch,
      groupId: group.groupContext.groupId,
      peer: this.#peer!,
      ...resumption,
      resumed: true,
    });
  }

  /**
   * An initiator's write: the first one replaces whatever the store holds under the session
   * id (the last connection made owns the name, as a node:tls session cache keeps the last
   * session); later ones compare-and-set against its own last write. A lost race means another
   * connection to the same responder now owns the name: this one stops writing and goes on,
   * except before a resumption flight, which another connection then resumed first.
   */
  protected override async save(store: SessionStore, snapshot: SessionSnapshot): Promise<void> {
    if (!this.#storing) return;
    const id = (this.options as InitiatorOptions).sessionId!;
    if (this.#expected === undefined) {
      const current = await callStore('read', () => store.get(id));
      this.#expected = current === undefined ? null : versionOf(current);
    }
    const expected = this.#expected;
    if (await callStore('write', () => store.compareAndSet(id, expected, snapshot.record))) {
      this.#expected = versionOf(snapshot.record);
      return;
    }
    if (this.#mustWin) {
      throw new MlsTlsError(
        'ERR_MLSTLS_SESSION_SUPERSEDED',
        'another connection resumed this stored session first',
      );
    }
    this.#storing = false;
  }

  /** Section 6: a refused resumption (or one another connection made first) is followed by a full handshake. */
  protected override reconnectAfter(error: MlsTlsError): boolean {
    return (
      this.handshake === undefined &&
      this.#state.name === 'awaitResumptionAccept' &&
      (this.#refused || error.code === 'ERR_MLSTLS_SESSION_SUPERSEDED')
    );
  }

  /** Section 6: a refused resumption forgets the stored session. */
  protected override async peerAlert(description: AlertDescription): Promise<MlsTlsError> {
    if (
      description !== AlertDescription.unknown_psk_identity ||
      this.#state.name !== 'awaitResumptionAccept'
    ) {
      return super.peerAlert(description);
    }
    this.#refused = true;
    const { sessionId } = this.options as InitiatorOptions;
    const store = this.store;
    if (store !== undefined && this.#storing) {
      try {
        await callStore('delete', () => store.delete(sessionId!));
      } catch (error) {
        // The fallback makes a full handshake whatever the store holds (`resume: false`).
        this.storeFailed(error);
      }
    }
    return new MlsTlsError(
      'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY',
      'the responder refused the resumption (unknown_psk_identity)',
    );
  }

  /**
   * Section 4, step 3: the responder's credential, failing closed. With `rejectUnauthorized:
   * false` a refusal lets the connection go on, reported as `authorizationError`.
   */
  #authenticate(peer: PeerCredential): Promise<Authentication> {
    const options = this.options as InitiatorOptions;
    return authenticateResponder(
      peer,
      {
        anchors: options.ca,
        hostname: options.serverName ?? '',
        checkServerIdentity: options.checkServerIdentity,
        peerSignaturePublicKey: options.peerSignaturePublicKey,
        verifyPeer: options.verifyPeer,
        rejectUnauthorized: options.rejectUnauthorized !== false,
      },
      options.now(),
    );
  }

  async #applyPeerUpdate(group: ClientState): Promise<void> {
    this.group = await this.enterEpoch(group, this.keys!);
    this.#state = { name: 'awaitPeerEpochKeyUpdate' };
    await this.persist(() => this.#snapshot());
    const epoch = group.groupContext.epoch;
    this.sendHandshake({ msgType: HandshakeType.epoch_key_update, epoch: Number(epoch) });
    this.switchSend(epoch, 'peer');
  }

  #checkEpoch(epoch: number): void {
    const expected = this.groupEpoch;
    if (BigInt(epoch) !== expected) {
      throw new MlsTlsError(
        'ERR_MLSTLS_ILLEGAL_PARAMETER',
        `epoch_key_update(${epoch}), expected ${expected}`,
      );
    }
  }

  #snapshot() {
    const group = this.group!;
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
