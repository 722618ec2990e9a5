/**
 * The raw ts-mls work under an mlstls connection, done directly with ts-mls in the benchmark's
 * process: the group a handshake builds (section 4 of docs/protocol.md) and the self-update commit
 * that `update()` makes (section 5). This mirrors, without importing, what
 * `@mlstls/state-machine` does internally (`createConnectionGroup`, `joinConnectionGroup`,
 * `CLIENT_CONFIG`), so that the connection's costs can be set against ts-mls's own.
 */
import { randomBytes } from 'node:crypto';
import { nodeCiphersuite } from '@mlstls/state-machine';
import {
  acceptAll,
  type Capabilities,
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultKeyPackageEqualityConfig,
  defaultPaddingConfig,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  mlsExporter,
  processMessage,
} from 'ts-mls';
import { verifyKeyPackage } from 'ts-mls/keyPackage.js';

/** MLS suite 1, whose AEAD is AES-128-GCM. */
const SUITE_1 = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

/** The configuration mlstls gives ts-mls (`CLIENT_CONFIG`): no past epoch's secrets kept. */
const GROUP_CONFIG: ClientConfig = {
  keyRetentionConfig: {
    retainKeysForGenerations: 1,
    retainKeysForEpochs: 1,
    maximumForwardRatchetSteps: 16,
  },
  lifetimeConfig: { maximumTotalLifetime: 2n ** 63n - 1n, validateLifetimeOnReceive: false },
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: { validateCredential: async () => true },
};

const CAPABILITIES: Capabilities = {
  versions: ['mls10'],
  ciphersuites: [SUITE_1],
  extensions: [],
  proposals: [],
  credentials: ['basic', 'x509'],
};

/** A ts-mls `CiphersuiteImpl` of suite 1 and where it comes from. */
export interface Implementation {
  readonly name: string;
  readonly cs: CiphersuiteImpl;
}

/**
 * Suite 1 as ts-mls implements it (WebCrypto), and as mlstls runs it on Node (the state
 * machine's node:crypto implementation). A raw figure is only equivalent to a connection's
 * when both run on the same implementation.
 */
export async function suite1Implementations(): Promise<Implementation[]> {
  const implementations: Implementation[] = [
    { name: 'ts-mls default', cs: await getCiphersuiteImpl(getCiphersuiteFromName(SUITE_1)) },
  ];
  const cs = nodeCiphersuite(SUITE_1);
  if (cs !== undefined) implementations.push({ name: 'mlstls node:crypto', cs });
  return implementations;
}

/** The two members of a connection's group: the initiator joined by Welcome, the responder. */
export interface TwoMemberGroup {
  readonly initiator: ClientState;
  readonly responder: ClientState;
}

/** The MLS steps of one handshake, each in milliseconds, in the order a connection does them. */
export interface HandshakeSteps {
  /** Initiator: a new Ed25519 key pair for an ephemeral basic credential. */
  readonly credentialKeygen: number;
  /** Initiator: its KeyPackage (new init and leaf HPKE keys, signed). */
  readonly initiatorKeyPackage: number;
  /** Responder: verifies the KeyPackage's signature. */
  readonly verifyKeyPackage: number;
  /** Responder: its own KeyPackage (signed with its long-term key). */
  readonly responderKeyPackage: number;
  /** Responder: createGroup, then a commit of an Add with the ratchet tree in the Welcome. */
  readonly createGroupAndAdd: number;
  /** Initiator: joinGroup from the Welcome. */
  readonly joinGroup: number;
  /** Both: the MLS-Exporter secret the record keys come from, once per side. */
  readonly exporters: number;
}

function lifetime() {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return { notBefore: now - 86_400n, notAfter: now + 86_400n };
}

const elapsedMs = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

/**
 * The group of one connection built as mlstls builds it, with the time of each step. The
 * responder's signature key is long-term (made once, outside, as a server's credential is).
 */
export async function buildGroup(
  cs: CiphersuiteImpl,
  responderKey: { signKey: Uint8Array; publicKey: Uint8Array },
): Promise<{ group: TwoMemberGroup; steps: HandshakeSteps }> {
  let start = process.hrtime.bigint();
  const initiatorKey = await cs.signature.keygen();
  const credentialKeygen = elapsedMs(start);

  start = process.hrtime.bigint();
  const initiatorCredential = {
    credentialType: 'basic' as const,
    identity: initiatorKey.publicKey,
  };
  const own = await generateKeyPackageWithKey(
    initiatorCredential,
    CAPABILITIES,
    lifetime(),
    [],
    initiatorKey,
    cs,
  );
  const initiatorKeyPackage = elapsedMs(start);

  start = process.hrtime.bigint();
  if (!(await verifyKeyPackage(own.publicPackage, cs.signature))) {
    throw new Error('the KeyPackage does not verify');
  }
  const verify = elapsedMs(start);

  start = process.hrtime.bigint();
  const responderCredential = {
    credentialType: 'basic' as const,
    identity: responderKey.publicKey,
  };
  const theirs = await generateKeyPackageWithKey(
    responderCredential,
    CAPABILITIES,
    lifetime(),
    [],
    responderKey,
    cs,
  );
  const responderKeyPackage = elapsedMs(start);

  start = process.hrtime.bigint();
  const empty = await createGroup(
    new Uint8Array(randomBytes(32)),
    theirs.publicPackage,
    theirs.privatePackage,
    [],
    cs,
    GROUP_CONFIG,
  );
  const added = await createCommit(
    { state: empty, cipherSuite: cs },
    {
      extraProposals: [{ proposalType: 'add', add: { keyPackage: own.publicPackage } }],
      ratchetTreeExtension: true,
    },
  );
  const createGroupAndAdd = elapsedMs(start);
  if (added.welcome === undefined) throw new Error('an Add commit without a Welcome');

  start = process.hrtime.bigint();
  const joined = await joinGroup(
    added.welcome,
    own.publicPackage,
    own.privatePackage,
    emptyPskIndex,
    cs,
    undefined,
    undefined,
    GROUP_CONFIG,
  );
  const join = elapsedMs(start);

  start = process.hrtime.bigint();
  const empty0 = new Uint8Array(0);
  for (const state of [added.newState, joined]) {
    await mlsExporter(state.keySchedule.exporterSecret, 'EXPORTER', empty0, 32, cs);
  }
  const exporters = elapsedMs(start);

  return {
    group: { initiator: joined, responder: added.newState },
    steps: {
      credentialKeygen,
      initiatorKeyPackage,
      verifyKeyPackage: verify,
      responderKeyPackage,
      createGroupAndAdd,
      joinGroup: join,
      exporters,
    },
  };
}

/**
 * One self-update, as `update()` on an mlstls client does it at the MLS level: the initiator's
 * `createCommit` with no proposals (an UpdatePath), the responder's `processMessage` of it.
 */
export async function commitAndProcess(
  group: TwoMemberGroup,
  cs: CiphersuiteImpl,
): Promise<TwoMemberGroup> {
  const { newState, commit } = await createCommit({ state: group.initiator, cipherSuite: cs });
  if (commit.wireformat !== 'mls_private_message') throw new Error('a commit in public');
  const result = await processMessage(commit, group.responder, emptyPskIndex, acceptAll, cs);
  if (
    result.kind !== 'newState' ||
    result.newState.groupContext.epoch !== newState.groupContext.epoch
  ) {
    throw new Error('the responder did not follow the commit');
  }
  return { initiator: newState, responder: result.newState };
}

/** Both members' group states as a store keeps them (ts-mls's `encodeGroupState`). */
export interface StoredGroup {
  readonly initiator: Uint8Array;
  readonly responder: Uint8Array;
}

export function storeGroup(group: TwoMemberGroup): StoredGroup {
  return {
    initiator: encodeGroupState(group.initiator),
    responder: encodeGroupState(group.responder),
  };
}

/** The MLS steps of one resumption (docs/protocol.md section 6), each in milliseconds, in order. */
export interface ResumptionSteps {
  /** Initiator: decodes its stored group state. */
  readonly initiatorDecode: number;
  /** Initiator: `createCommit` with no proposals (an UpdatePath), encoded as an MLSMessage. */
  readonly commit: number;
  /** Initiator: encodes its new state, stored before the flight is sent. */
  readonly initiatorEncode: number;
  /** Responder: decodes its stored group state. */
  readonly responderDecode: number;
  /** Responder: decodes the MLSMessage and processes the commit. */
  readonly process: number;
  /** Responder: encodes its new state, stored before epoch_key_update is sent. */
  readonly responderEncode: number;
  /** Both: the MLS-Exporter secret the record keys come from, once per side. */
  readonly exporters: number;
  /** Initiator: encodes its state again once epoch_key_update confirms the commit. */
  readonly confirmEncode: number;
}

function decodeStored(bytes: Uint8Array): ClientState {
  const decoded = decodeGroupState(bytes.slice(), 0);
  if (decoded === undefined || decoded[1] !== bytes.length) throw new Error('a bad stored state');
  return { ...decoded[0], clientConfig: GROUP_CONFIG };
}

/**
 * One resumption at the MLS level, as an mlstls connection does it on stored states: each
 * member decodes its state, the initiator commits a self-update, the responder processes it,
 * each encodes its new state for the store. Returns the states to store and each step's time.
 */
export async function resumeGroup(
  stored: StoredGroup,
  cs: CiphersuiteImpl,
): Promise<{ stored: StoredGroup; steps: ResumptionSteps }> {
  let start = process.hrtime.bigint();
  const initiator = decodeStored(stored.initiator);
  const initiatorDecode = elapsedMs(start);

  start = process.hrtime.bigint();
  const { newState, commit } = await createCommit({ state: initiator, cipherSuite: cs });
  if (commit.wireformat !== 'mls_private_message') throw new Error('a commit in public');
  const commitBytes = encodeMlsMessage(commit);
  const commitMs = elapsedMs(start);

  start = process.hrtime.bigint();
  encodeGroupState(newState);
  const initiatorEncode = elapsedMs(start);

  start = process.hrtime.bigint();
  const responder = decodeStored(stored.responder);
  const responderDecode = elapsedMs(start);

  start = process.hrtime.bigint();
  const message = decodeMlsMessage(commitBytes, 0)?.[0];
  if (message?.wireformat !== 'mls_private_message') throw new Error('the commit does not decode');
  const result = await processMessage(message, responder, emptyPskIndex, acceptAll, cs);
  if (
    result.kind !== 'newState' ||
    result.newState.groupContext.epoch !== newState.groupContext.epoch
  ) {
    throw new Error('the responder did not follow the commit');
  }
  const processMs = elapsedMs(start);

  start = process.hrtime.bigint();
  const responderState = encodeGroupState(result.newState);
  const responderEncode = elapsedMs(start);

  start = process.hrtime.bigint();
  const empty = new Uint8Array(0);
  for (const state of [newState, result.newState]) {
    await mlsExporter(state.keySchedule.exporterSecret, 'EXPORTER', empty, 32, cs);
  }
  const exporters = elapsedMs(start);

  start = process.hrtime.bigint();
  const initiatorState = encodeGroupState(newState);
  const confirmEncode = elapsedMs(start);

  return {
    stored: { initiator: initiatorState, responder: responderState },
    steps: {
      initiatorDecode,
      commit: commitMs,
      initiatorEncode,
      responderDecode,
      process: processMs,
      responderEncode,
      exporters,
      confirmEncode,
    },
  };
}
