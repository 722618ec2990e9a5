// MLS objects built with ts-mls directly, for the tests of hostile MLS content: groups taken
// from an endpoint's persisted state, and hand-made groups and Welcomes.
import {
  ContentType,
  decodeHandshake,
  encodeHandshake,
  HandshakeType,
  RecordLimits,
} from '@mlstls/codec';
import { sealPlaintextRecord } from '@mlstls/record';
import {
  type Capabilities,
  type CiphersuiteImpl,
  type ClientState,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  encodeMlsMessage,
  generateKeyPackage,
  type KeyPackage,
  type Proposal,
} from 'ts-mls';
import { CLIENT_CONFIG, loadCiphersuite } from '../src/mls.js';
import { type Pair, random, type Side } from './pair.js';

const SUITE_1 = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

export function ciphersuite(): Promise<CiphersuiteImpl> {
  return loadCiphersuite(SUITE_1, random, 'node');
}

/** The group state `side` persisted (the last one, or the one at `index`). */
export function persistedGroup(pair: Pair, side: Side, index = -1): ClientState {
  const persisted = pair.log[side].persisted.at(index);
  if (persisted === undefined) throw new Error(`${side} persisted nothing`);
  const decoded = decodeGroupState(persisted.snapshot.group, 0);
  if (decoded === undefined) throw new Error('undecodable group state');
  return { ...decoded[0], clientConfig: CLIENT_CONFIG };
}

/** A commit of `group` as an encoded MLSMessage (a PrivateMessage), with any extra proposals. */
export async function commitOf(
  group: ClientState,
  proposals: Proposal[] = [],
): Promise<Uint8Array> {
  const { commit } = await createCommit(
    { state: group, cipherSuite: await ciphersuite() },
    proposals.length > 0 ? { extraProposals: proposals } : {},
  );
  return encodeMlsMessage(commit);
}

/** The KeyPackage in a plaintext client_hello record. */
export function keyPackageOf(clientHelloRecord: Uint8Array): KeyPackage {
  const message = decodeHandshake(clientHelloRecord.subarray(RecordLimits.headerLength));
  if (message.msgType !== HandshakeType.client_hello) throw new Error('not a client_hello');
  const decoded = decodeMlsMessage(message.keyPackage, 0);
  if (decoded?.[0].wireformat !== 'mls_key_package') throw new Error('not a KeyPackage');
  return decoded[0].keyPackage;
}

/** A suite-1 KeyPackage of a new basic credential; `capabilities` replaces fields of mlstls's. */
export async function freshKeyPackage(
  identity = 'third member',
  capabilities: Partial<Capabilities> = {},
) {
  return generateKeyPackage(
    { credentialType: 'basic', identity: new TextEncoder().encode(identity) },
    {
      versions: ['mls10'],
      ciphersuites: [SUITE_1],
      extensions: [],
      proposals: [],
      credentials: ['basic', 'x509'],
      ...capabilities,
    },
    { notBefore: 0n, notAfter: 2n ** 63n - 1n },
    [],
    await ciphersuite(),
  );
}

/** A plaintext client_hello record carrying `keyPackage`. */
export function clientHelloRecord(keyPackage: KeyPackage): Uint8Array {
  return sealPlaintextRecord(
    ContentType.handshake,
    encodeHandshake({
      msgType: HandshakeType.client_hello,
      keyPackage: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage }),
    }),
  );
}

/**
 * A responder's group made by hand: a group of `groupIdLength` random bytes, an Add of every
 * KeyPackage in one commit, and the Welcome as the body of a server_hello. Returns the group
 * after the commit, and the handshake message.
 */
export async function handMadeServerHello(
  keyPackages: KeyPackage[],
  options: { groupIdLength?: number } = {},
): Promise<{ group: ClientState; serverHello: Uint8Array; signaturePublicKey: Uint8Array }> {
  const cs = await ciphersuite();
  const own = await freshKeyPackage('hand-made responder');
  const empty = await createGroup(
    random(options.groupIdLength ?? 32),
    own.publicPackage,
    own.privatePackage,
    [],
    cs,
    CLIENT_CONFIG,
  );
  const { newState, welcome } = await createCommit(
    { state: empty, cipherSuite: cs },
    {
      extraProposals: keyPackages.map((keyPackage) => ({
        proposalType: 'add' as const,
        add: { keyPackage },
      })),
      ratchetTreeExtension: true,
    },
  );
  if (welcome === undefined) throw new Error('no Welcome');
  const serverHello = encodeHandshake({
    msgType: HandshakeType.server_hello,
    welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome }),
  });
  return {
    group: newState,
    serverHello,
    signaturePublicKey: own.publicPackage.leafNode.signaturePublicKey,
  };
}
