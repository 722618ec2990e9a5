import {
  type HandshakeMessage,
  HandshakeType,
  MlsTlsError,
  RESPONDER_RANDOM_LENGTH,
} from '@mlstls/codec';
import { withHandshakeMemory } from '@mlstls/crypto/mls';
import {
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
  versionOf,
} from '@mlstls/storage';
import type { CiphersuiteImpl, ClientState } from 'ts-mls';
import { type Authentication, authenticateInitiator } from './authentication.js';
import { checkCredentialSuite, generateCredential } from './credential.js';
import { Endpoint, type EndpointOptions } from './endpoint.js';
import {
  checkKeyPackage,
  createConnectionGroup,
  createKeyPackage,
  createSelfUpdate,
  encodeGroup,
  GROUP_ID_LENGTH,
  peerCredential,
  processSelfUpdate,
  type SelfUpdate,
} from './group.js';
import {
  decodeWholeMessage,
  type EndpointCredential,
  equalBytes,
  loadCiphersuite,
  mlsImplementationFor,
} from './mls.js';
import {
  agreedProtocol,
  choiceExtensions,
  chooseProtocol,
  protocolBytes,
  readOffer,
} from './negotiation.js';
import type { HandshakeInfo, PeerCredential, SessionSnapshot } from './output.js';
import {
  callStore,
  decodeGroup,
  decodeResponderPending,
  isReadableFormat,
  MAX_UNCONFIRMED_COMMITS,
} from './session.js';
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
  /**
   * node:tls's `requestCert`: the initiator must present an X.509 chain that verifies against
   * `ca` (`certificate_required` for a basic credential). Default false: the initiator is
   * authorized only by `verifyPeer`, and is unauthorized without one.
   */
  readonly requestCert?: boolean;
  /**
   * Whether an initiator that fails authentication is refused (default true). With false the
   * connection goes on with `authorized: false` and the refusal as `authorizationError`.
   */
  readonly rejectUnauthorized?: boolean;
  /**
   * SNI (node:tls's `SNICallback`): the credential for the host name of mlstls_server_name.
   * `undefined` refuses the connection with `unrecognized_name`. Not asked when the initiator
   * sends no name: `credential` serves it.
   */
  readonly selectCredential?: (
    serverName: string,
  ) => EndpointCredential | undefined | Promise<EndpointCredential | undefined>;
}

/** The responder's states (docs/protocol.md sections 4 and 5), each named for what it waits for. */
type ResponderState =
  | { readonly name: 'awaitClientHello' }
  /**
   * Section 4, step 4: server_hello sent, waiting for the initiator's epoch_key_update(1), the
   * proof that a live peer holds the keys. Nothing is stored or reported before it. After a
   * resumption (section 6) the same wait for epoch_key_update(m), with the session already
   * stored (its compare-and-set decided the flight) and this side's own epoch_key_update sent.
   */
  | { readonly name: 'awaitKeyConfirmation'; readonly handshake: Omit<HandshakeInfo, 'crypto'> }
  /** A resumption flight (section 6) has begun: connection_updates, until its resumption. */
  | { readonly name: 'awaitResumption'; readonly flight: Uint8Array[] }
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
  #peer: PeerCredential | undefined;
  /** The stored version the next write expects: `null` (none) until a session is stored. */
  #expected: SessionVersion | null = null;

  /** The ALPN protocols spoken, as bytes, most preferred first. */
  readonly #protocols: readonly Uint8Array[];

  constructor(options: ResponderOptions) {
    super('responder', options);
    this.#protocols = protocolBytes(options.alpnProtocols ?? []);
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
      case 'awaitClientHello':
        if (message.msgType === HandshakeType.client_hello) {
          this.beginHandshake('handshake');
          return this.#accept(message.keyPackage);
        }
        // Section 6: a flight opens with the initiator's unconfirmed commits, if it has any.
        if (message.msgType === HandshakeType.connection_update) {
          this.beginHandshake('resume');
          this.#state = { name: 'awaitResumption', flight: [message.update] };
          return;
        }
        if (message.msgType === HandshakeType.resumption) {
          this.beginHandshake('resume');
          return this.#resume([], message.commit);
        }
        break;
      case 'awaitKeyConfirmation': {
        // Any first record other than epoch_key_update(epoch) is unexpected_message (section 4).
        const { handshake } = state;
        if (
          message.msgType === HandshakeType.epoch_key_update &&
          BigInt(message.epoch) === handshake.epoch
        ) {
          this.#state = { name: 'synced' };
          if (!handshake.resumed) {
            await this.persist(() => this.#snapshot());
            this.keys!.switchSend(handshake.epoch);
          }
          this.completeHandshake(handshake);
          return;
        }
        break;
      }
      case 'awaitResumption':
        if (message.msgType === HandshakeType.connection_update) {
          // The initiator gives up resuming before it holds this many commits.
          if (state.flight.length + 1 >= MAX_UNCONFIRMED_COMMITS) {
            throw refusal('a resumption flight of more than 8 commits');
          }
          state.flight.push(message.update);
          return;
        }
        if (message.msgType === HandshakeType.resumption) {
          return this.#resume(state.flight, message.commit);
        }
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
          this.group = state.pending.group;
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
    const pending = await createSelfUpdate(this.group!, await this.ciphersuite());
    this.#state = { name: 'awaitConfirm', pending };
    await this.persist(() => this.#snapshot());
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
    const offer = readOffer(keyPackage);
    const credential = await this.#credentialFor(offer.serverName, suite);
    checkCredentialSuite(credential, suite);
    // Signatures made and checked in this handshake are remembered until its end (D91).
    const cs = withHandshakeMemory(await this.ciphersuite());
    const now = this.options.now();
    await checkKeyPackage(keyPackage, suite, credential.credential.credentialType, now, cs);
    const alpn = chooseProtocol(offer.protocols, this.#protocols);
    const peer: PeerCredential = {
      credential: keyPackage.leafNode.credential,
      signaturePublicKey: keyPackage.leafNode.signaturePublicKey,
    };
    const authentication = await this.#authenticate(peer);
    const own =
      this.options.keyPackages?.take({ suite, credential, extensions: [], now }) ??
      (await createKeyPackage(credential, suite, now, cs));
    const groupId = this.options.random(GROUP_ID_LENGTH);
    const { group, welcome } = await createConnectionGroup(
      keyPackage,
      own,
      groupId,
      cs,
      choiceExtensions(alpn),
    );
    this.group = group;
    this.#peer = peer;
    this.#state = {
      name: 'awaitKeyConfirmation',
      handshake: {
        ciphersuite: suite.name,
        epoch: 1n,
        groupId: group.groupContext.groupId,
        peer,
        ...authentication,
        ...(alpn === undefined ? {} : { alpnProtocol: new TextDecoder().decode(alpn) }),
        ...(offer.serverName === undefined ? {} : { serverName: offer.serverName }),
        resumed: false,
      },
    };
    this.sendHandshake({ msgType: HandshakeType.server_hello, welcome }, true);
    const keys = new TrafficKeys(suite, 'responder', this.provider);
    this.keys = keys;
    this.group = await this.enterEpoch(group, keys);
    // Receiving only: no protected record goes out before the initiator's key confirmation,
    // so a failure until then is a plaintext alert.
    keys.switchReceive(1n);
  }

  /**
   * The credential to present: the one `selectCredential` gives for the asked name (SNI), or
   * `credential` when no name was sent; a name without a credential is `unrecognized_name`.
   */
  async #credentialFor(
    serverName: string | undefined,
    suite: SuiteParameters,
  ): Promise<EndpointCredential> {
    const { selectCredential } = this.options as ResponderOptions;
    if (serverName !== undefined && selectCredential !== undefined) {
      let chosen: EndpointCredential | undefined;
      try {
        chosen = await selectCredential(serverName);
      } catch (error) {
        if (error instanceof MlsTlsError) throw error;
        throw new MlsTlsError('ERR_MLSTLS_UNRECOGNIZED_NAME', 'selectCredential failed', {
          cause: error,
        });
      }
      if (chosen === undefined) {
        throw new MlsTlsError(
          'ERR_MLSTLS_UNRECOGNIZED_NAME',
          `no credential for the server name ${JSON.stringify(serverName)}`,
        );
      }
      return chosen;
    }
    return this.options.credential ?? generateCredential({ ciphersuite: suite.id });
  }

  /** Section 4, step 2: the initiator's credential; a refusal is fatal unless `rejectUnauthorized: false`. */
  #authenticate(peer: PeerCredential): Promise<Authentication> {
    const options = this.options as ResponderOptions;
    return authenticateInitiator(
      peer,
      {
        anchors: options.ca,
        requestCert: options.requestCert === true,
        verifyPeer: options.verifyPeer,
        rejectUnauthorized: options.rejectUnauthorized !== false,
      },
      options.now(),
    );
  }

  /**
   * Section 6: finds the stored group by the commits' group_id and applies the flight to the
   * stored epoch m and pending commit P. A `connection_update` with t <= m was applied
   * already; t == m + 1 applies (P is discarded); t == m + 2 applies P and then the commit,
   * once, before anything else of the flight. Anything else refuses the whole flight with
   * `unknown_psk_identity`, and nothing stored changes.
   */
  async #resume(updates: readonly Uint8Array[], last: Uint8Array): Promise<void> {
    const store = this.store;
    if (store === undefined) throw refusal('this responder keeps no sessions');
    const { groupId } = headerOf(last);
    const record = await readRefusing(() => store.get(groupId));
    if (record === undefined) throw refusal('no stored session for this group');
    let group = isReadableFormat(record.format) ? decodeGroup(record.state) : undefined;
    const suite = group === undefined ? undefined : findSuite(group.groupContext.cipherSuite);
    if (group === undefined || suite === undefined || !this.#accepted.includes(suite)) {
      throw refusal('a stored session this responder cannot resume');
    }
    this.#suite = suite;
    const cs = await this.ciphersuite();
    let pending = record.pending === undefined ? undefined : decodeResponderPending(record.pending);
    if (record.pending !== undefined && pending === undefined) {
      throw refusal('a stored pending commit that does not decode');
    }
    let applied = false;
    const flight = [
      ...updates.map((commit) => ({ commit, last: false })),
      { commit: last, last: true },
    ];
    for (const { commit, last: isLast } of flight) {
      const header = headerOf(commit);
      if (!equalBytes(header.groupId, groupId)) throw refusal('a flight that mixes groups');
      const target = header.epoch + 1n;
      const m = group.groupContext.epoch;
      if (!isLast && target <= m) continue;
      if (target === m + 1n) {
        group = await applyRefusing(group, commit, cs);
      } else if (target === m + 2n && pending !== undefined && !applied) {
        const ownNext = decodeGroup(pending.group);
        if (ownNext === undefined) throw refusal('a stored pending commit that does not decode');
        group = await applyRefusing(ownNext, commit, cs);
      } else {
        throw refusal(`a commit into epoch ${target} for a session in epoch ${m}`);
      }
      pending = undefined;
      applied = true;
    }
    const peer = peerCredential(group);
    const authentication = await this.#authenticate(peer);
    const alpnProtocol = agreedProtocol(group);
    this.group = group;
    this.#peer = peer;
    const epoch = group.groupContext.epoch;
    this.#state = {
      name: 'awaitKeyConfirmation',
      handshake: {
        ciphersuite: suite.name,
        epoch,
        groupId,
        peer,
        ...authentication,
        ...(alpnProtocol === undefined ? {} : { alpnProtocol }),
        resumed: true,
      },
    };
    // The compare-and-set decides the flight: of two resumptions of one stored state only one
    // wins, and a store that cannot take the write cannot answer one (the initiator then makes
    // a full handshake).
    this.#expected = versionOf(record);
    try {
      await this.persist(() => this.#snapshot(), true);
    } catch (error) {
      if (error instanceof MlsTlsError && error.code === 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY') {
        throw error;
      }
      throw refusal('the session store cannot take the resumed state', error);
    }
    const responderRandom = this.options.random(RESPONDER_RANDOM_LENGTH);
    this.sendHandshake({ msgType: HandshakeType.resumption_accept, responderRandom }, true);
    const keys = new TrafficKeys(suite, 'responder', this.provider);
    this.keys = keys;
    this.group = await this.enterEpoch(group, keys, responderRandom);
    keys.switchSend(epoch);
    keys.switchReceive(epoch);
    // Its first record under epoch m's keys: the proof that it holds them. The initiator's own
    // epoch_key_update(m) completes the resumption (awaitKeyConfirmation).
    this.sendHandshake({ msgType: HandshakeType.epoch_key_update, epoch: Number(epoch) });
  }

  /**
   * Every write is a compare-and-set against the version this connection loaded or last
   * wrote. A lost race means another connection resumed the session: a flight is refused;
   * a live connection may not write over the newer state and closes itself.
   */
  protected override async save(store: SessionStore, snapshot: SessionSnapshot): Promise<void> {
    const record: SessionRecord = snapshot.record;
    if (
      await callStore('write', () => store.compareAndSet(snapshot.groupId, this.#expected, record))
    ) {
      this.#expected = versionOf(record);
      return;
    }
    if (this.#state.name === 'awaitKeyConfirmation') {
      throw refusal('another connection resumed this session first');
    }
    throw new MlsTlsError(
      'ERR_MLSTLS_SESSION_SUPERSEDED',
      'the stored session moved on without this connection',
    );
  }

  async #applyPeerUpdate(bytes: Uint8Array): Promise<void> {
    this.group = await processSelfUpdate(this.group!, bytes, await this.ciphersuite());
    await this.#confirmEpoch('peer');
  }

  /** Persist; send epoch_key_update(n+1); switch sending and receiving to n+1. */
  async #confirmEpoch(cause: 'local' | 'peer'): Promise<void> {
    const epoch = this.group!.groupContext.epoch;
    this.group = await this.enterEpoch(this.group!, this.keys!);
    await this.persist(() => this.#snapshot());
    this.sendHandshake({ msgType: HandshakeType.epoch_key_update, epoch: Number(epoch) });
    this.switchSend(epoch, cause);
    this.switchReceive(epoch, cause);
  }

  #snapshot() {
    const group = this.group!;
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

/** The fatal refusal of a resumption flight (section 6). */
function refusal(reason: string, cause?: unknown): MlsTlsError {
  return new MlsTlsError(
    'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY',
    `resumption refused: ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

/** A read for a resumption: a store that fails refuses the flight, and the initiator falls back. */
async function readRefusing(
  read: () => Promise<SessionRecord | undefined>,
): Promise<SessionRecord | undefined> {
  try {
    return await callStore('read', read);
  } catch (error) {
    throw refusal('the session store cannot be read', error);
  }
}

/** The group_id and epoch of a flight's commit, from its PrivateMessage header. */
function headerOf(commit: Uint8Array): { groupId: Uint8Array; epoch: bigint } {
  const message = decodeWholeMessage(commit);
  if (message.wireformat !== 'mls_private_message') {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      'a resumption commit not a PrivateMessage',
    );
  }
  return message.privateMessage;
}

/**
 * A flight's commit applied; one that fails to verify or apply refuses the flight. One that
 * changes the initiator's credential is no stale session but an impostor: `bad_certificate`
 * (D48).
 */
async function applyRefusing(
  group: ClientState,
  commit: Uint8Array,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  try {
    return await processSelfUpdate(group, commit, cs);
  } catch (error) {
    if (error instanceof MlsTlsError && error.code === 'ERR_MLSTLS_BAD_CERTIFICATE') throw error;
    throw new MlsTlsError(
      'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY',
      'resumption refused: a commit that does not apply',
      { cause: error },
    );
  }
}
