// The MLS operations of docs/protocol.md sections 4 and 5, with every check the profile lists.
import { ExtensionType, MlsTlsError } from '@mlstls/codec';
import {
  type Capabilities,
  type CiphersuiteImpl,
  type ClientState,
  type Credential,
  createCommit,
  createGroup,
  type Extension,
  emptyPskIndex,
  encodeGroupState,
  generateKeyPackageWithKey,
  joinGroup,
  type KeyPackage,
  type PrivateKeyPackage,
  processMessage,
} from 'ts-mls';
import { verifyKeyPackage } from 'ts-mls/keyPackage.js';
import {
  CLIENT_CONFIG,
  decodeWholeMessage,
  type EndpointCredential,
  encodeMlsMessage,
  equalBytes,
  fromMls,
  members,
  peerLeaf,
  peerLeafIndex,
  sameIdentity,
} from './mls.js';
import type { PeerCredential } from './output.js';
import type { SuiteParameters } from './suites.js';

/** A KeyPackage is valid from a day before to a day after it is made: room for clock skew. */
const KEY_PACKAGE_VALIDITY_SECONDS = 86_400n;

/** The group_id length the responder draws (docs/protocol.md section 4). */
export const GROUP_ID_LENGTH = 32;

/** GroupContext extensions an initiator accepts; any other is `illegal_parameter`. */
const KNOWN_GROUP_EXTENSIONS: ReadonlySet<number> = new Set([ExtensionType.mlstls_alpn]);

function capabilities(suite: SuiteParameters): Capabilities {
  return {
    versions: ['mls10'],
    ciphersuites: [suite.name],
    // The section 7 extensions: mlstls_alpn may sit in the GroupContext, which every member
    // must support (RFC 9420 12.1.7).
    extensions: [ExtensionType.mlstls_server_name, ExtensionType.mlstls_alpn],
    proposals: [],
    credentials: ['basic', 'x509'],
  };
}

/**
 * A fresh KeyPackage (new init and leaf keys) for one connection (section 4, step 1), with the
 * section 7 `extensions` of the initiator.
 */
export async function createKeyPackage(
  credential: EndpointCredential,
  suite: SuiteParameters,
  nowMs: number,
  cs: CiphersuiteImpl,
  extensions: Extension[] = [],
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  const now = BigInt(Math.floor(nowMs / 1000));
  return generateKeyPackageWithKey(
    credential.credential,
    capabilities(suite),
    {
      notBefore: now - KEY_PACKAGE_VALIDITY_SECONDS,
      notAfter: now + KEY_PACKAGE_VALIDITY_SECONDS,
    },
    extensions,
    { signKey: credential.signaturePrivateKey, publicKey: credential.signaturePublicKey },
    cs,
  );
}

/**
 * The responder's checks of a client_hello's KeyPackage (section 4, step 2) other than the
 * ciphersuite and the credential: version, capabilities, lifetime and signature.
 */
export async function checkKeyPackage(
  keyPackage: KeyPackage,
  suite: SuiteParameters,
  credentialType: string,
  nowMs: number,
  cs: CiphersuiteImpl,
): Promise<void> {
  const { leafNode } = keyPackage;
  if (keyPackage.version !== 'mls10') {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      `KeyPackage version ${keyPackage.version}`,
    );
  }
  const offered = leafNode.capabilities;
  if (
    !offered.versions.includes('mls10') ||
    !offered.ciphersuites.includes(suite.name) ||
    !offered.credentials.includes(credentialType as never)
  ) {
    throw new MlsTlsError(
      'ERR_MLSTLS_HANDSHAKE_FAILURE',
      'the KeyPackage capabilities lack mls10, its own suite or the responder credential type',
    );
  }
  if (leafNode.leafNodeSource !== 'key_package') {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      'KeyPackage leaf not of source key_package',
    );
  }
  const now = BigInt(Math.floor(nowMs / 1000));
  if (now < leafNode.lifetime.notBefore || now > leafNode.lifetime.notAfter) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'KeyPackage outside its lifetime');
  }
  if (equalBytes(keyPackage.initKey, leafNode.hpkePublicKey)) {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      'KeyPackage init key equals its leaf key',
    );
  }
  let valid: boolean;
  try {
    valid = await verifyKeyPackage(keyPackage, cs.signature);
  } catch (error) {
    throw fromMls(error, 'KeyPackage');
  }
  if (!valid) throw new MlsTlsError('ERR_MLSTLS_DECRYPT', 'KeyPackage signature does not verify');
}

/**
 * Section 4, step 2: a group with a fresh random group_id and the GroupContext `extensions`
 * (the ALPN choice), an Add of the initiator's KeyPackage committed and applied (epoch 1), and
 * the Welcome carrying the ratchet tree.
 */
export async function createConnectionGroup(
  keyPackage: KeyPackage,
  own: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage },
  groupId: Uint8Array,
  cs: CiphersuiteImpl,
  extensions: Extension[] = [],
): Promise<{ group: ClientState; welcome: Uint8Array }> {
  try {
    const empty = await createGroup(
      groupId,
      own.publicPackage,
      own.privatePackage,
      extensions,
      cs,
      CLIENT_CONFIG,
    );
    const { newState, welcome, consumed } = await createCommit(
      { state: empty, cipherSuite: cs },
      {
        extraProposals: [{ proposalType: 'add', add: { keyPackage } }],
        ratchetTreeExtension: true,
      },
    );
    // The Add commit is never sent; epoch 0 is gone at once.
    for (const secret of consumed) secret.fill(0);
    if (welcome === undefined) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'an Add commit without a Welcome');
    }
    return {
      group: withoutPastEpochs(newState),
      welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome }),
    };
  } catch (error) {
    throw fromMls(error, 'KeyPackage');
  }
}

/** Section 4, step 3: joins from the Welcome and checks the group it describes. */
export async function joinConnectionGroup(
  welcomeBytes: Uint8Array,
  own: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage },
  suite: SuiteParameters,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  const message = decodeWholeMessage(welcomeBytes);
  if (message.wireformat !== 'mls_welcome') {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'server_hello without a Welcome');
  }
  if (message.welcome.cipherSuite !== suite.name) {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      `Welcome for ${message.welcome.cipherSuite}`,
    );
  }
  let group: ClientState;
  try {
    group = await joinGroup(
      message.welcome,
      own.publicPackage,
      own.privatePackage,
      emptyPskIndex,
      cs,
      undefined,
      undefined,
      CLIENT_CONFIG,
    );
  } catch (error) {
    throw fromMls(error, 'Welcome');
  }
  own.privatePackage.initPrivateKey.fill(0);
  const context = group.groupContext;
  if (context.groupId.length !== GROUP_ID_LENGTH) {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      `group_id of ${context.groupId.length} bytes`,
    );
  }
  if (context.epoch !== 1n) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `Welcome into epoch ${context.epoch}`);
  }
  const count = members(group).length;
  if (count !== 2) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `a group of ${count} members`);
  }
  for (const extension of context.extensions) {
    const type = Number(extension.extensionType);
    if (!KNOWN_GROUP_EXTENSIONS.has(type)) {
      throw new MlsTlsError(
        'ERR_MLSTLS_ILLEGAL_PARAMETER',
        `GroupContext extension ${String(extension.extensionType)}`,
      );
    }
  }
  return withoutPastEpochs(group);
}

/** The peer's credential as its leaf names it. */
export function peerCredential(group: ClientState): PeerCredential {
  const leaf = peerLeaf(group);
  return { credential: leaf.credential, signaturePublicKey: leaf.signaturePublicKey };
}

/** A commit with no proposals and an UpdatePath: a self-update (section 2). */
export interface SelfUpdate {
  /** The state the commit leads to (epoch n+1). */
  readonly group: ClientState;
  /** The commit as an encoded MLSMessage (a PrivateMessage). */
  readonly commit: Uint8Array;
  /** Secrets of epoch n to erase once the commit is confirmed. */
  readonly consumed: Uint8Array[];
}

export async function createSelfUpdate(
  group: ClientState,
  cs: CiphersuiteImpl,
): Promise<SelfUpdate> {
  try {
    const { newState, commit, consumed } = await createCommit({ state: group, cipherSuite: cs });
    return { group: withoutPastEpochs(newState), commit: encodeMlsMessage(commit), consumed };
  } catch (error) {
    throw fromMls(error, 'own commit');
  }
}

/**
 * Processes the peer's connection_update: a commit of the group's current epoch, with no
 * proposals, from the other member, that keeps its credential and signature key. Returns the
 * state of epoch n+1; the secrets of epoch n are erased.
 */
export async function processSelfUpdate(
  group: ClientState,
  bytes: Uint8Array,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  const message = decodeWholeMessage(bytes);
  if (message.wireformat !== 'mls_private_message') {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'connection_update not a PrivateMessage');
  }
  const { privateMessage } = message;
  const context = group.groupContext;
  if (!equalBytes(privateMessage.groupId, context.groupId)) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'commit for another group');
  }
  if (privateMessage.epoch !== context.epoch) {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      `commit of epoch ${privateMessage.epoch}, the group is in ${context.epoch}`,
    );
  }
  if (privateMessage.contentType !== 'commit') {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      `connection_update carries a ${privateMessage.contentType}`,
    );
  }
  const before = peerLeaf(group);
  const peerIndex = peerLeafIndex(group);
  let refused: string | undefined;
  let changedIdentity = false;
  // ts-mls asks its authentication service about the committer's new leaf: an update may not
  // change who the peer is (its credential and its signature key).
  const sameCredential = {
    validateCredential: async (credential: Credential, signaturePublicKey: Uint8Array) => {
      const same = sameIdentity(before, { credential, signaturePublicKey });
      if (!same) changedIdentity = true;
      return same;
    },
  };
  let result: Awaited<ReturnType<typeof processMessage>>;
  try {
    result = await processMessage(
      message,
      { ...group, clientConfig: { ...CLIENT_CONFIG, authService: sameCredential } },
      emptyPskIndex,
      (incoming) => {
        if (incoming.kind !== 'commit') refused = 'not a commit';
        else if (incoming.proposals.length > 0) refused = 'a commit with proposals';
        else if (incoming.senderLeafIndex !== peerIndex) refused = 'a commit not from the peer';
        return refused === undefined ? 'accept' : 'reject';
      },
      cs,
    );
  } catch (error) {
    if (changedIdentity) throw identityChanged(error);
    throw fromMls(error, 'commit');
  }
  if (refused !== undefined) throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', refused);
  if (result.kind !== 'newState' || result.actionTaken !== 'accept') {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'connection_update did not commit');
  }
  const next: ClientState = { ...result.newState, clientConfig: CLIENT_CONFIG };
  if (next.groupContext.epoch !== context.epoch + 1n || members(next).length !== 2) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'the commit is not a self-update');
  }
  // The hook is ts-mls's; this second look keeps the rule if a ts-mls release stops asking.
  if (!sameIdentity(before, peerLeaf(next))) throw identityChanged(undefined);
  for (const secret of result.consumed) secret.fill(0);
  return withoutPastEpochs(next);
}

function identityChanged(cause: unknown): MlsTlsError {
  return new MlsTlsError(
    'ERR_MLSTLS_BAD_CERTIFICATE',
    'the peer changed its credential in an update',
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The state without ts-mls's receiver data of past epochs. ts-mls keeps at least one past
 * epoch (`retainKeysForEpochs: 0` would keep them all), to read late messages; here every
 * MLS message is a commit of the current epoch, so a past epoch's secrets would only wait to
 * be stolen (docs/protocol.md section 3: old keys go when replaced).
 */
function withoutPastEpochs(group: ClientState): ClientState {
  if (group.historicalReceiverData.size === 0) return group;
  return { ...group, historicalReceiverData: new Map() };
}

/**
 * The group state as bytes, for a snapshot (ts-mls's own encoding), without its exporter
 * secret: no stored state holds one (docs/protocol.md section 3), so a copy of the store taken
 * during an epoch cannot open that epoch's records. The live state keeps it until the epoch's
 * master secret exists (`withoutExporterSecret`).
 */
export function encodeGroup(group: ClientState): Uint8Array {
  return encodeGroupState({
    ...group,
    keySchedule: { ...group.keySchedule, exporterSecret: NO_SECRET },
  });
}

/**
 * The live state once its epoch's master secret is derived: the exporter secret is erased and
 * gone (section 3). Everything the epoch's records need then lives in the traffic keys.
 */
export function withoutExporterSecret(group: ClientState): ClientState {
  group.keySchedule.exporterSecret.fill(0);
  return { ...group, keySchedule: { ...group.keySchedule, exporterSecret: NO_SECRET } };
}

const NO_SECRET = new Uint8Array(0);
