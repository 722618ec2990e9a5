// Everything this package asks of ts-mls, in one place: ciphersuites, key packages, the
// self-update commits of docs/protocol.md section 5 and how ts-mls failures map to alerts.
import { MlsTlsError } from '@mlstls/codec';
import type { CryptoProvider } from '@mlstls/crypto';
import { nodeCiphersuite } from '@mlstls/crypto/mls';
import { webCryptoCiphersuite } from '@mlstls/crypto/webcrypto-mls';
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientConfig,
  type ClientState,
  type Credential,
  decodeMlsMessage,
  defaultKeyPackageEqualityConfig,
  defaultPaddingConfig,
  encodeMlsMessage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type KeyPackage,
  type LeafNode,
  type MLSMessage,
  mlsExporter,
} from 'ts-mls';
import { encodeCredential } from 'ts-mls/credential.js';
import {
  CodecError,
  CryptoError,
  CryptoVerificationError,
  DependencyError,
  MlsError,
  ValidationError,
} from 'ts-mls/mlsError.js';
import { findSuite } from './suites.js';

/**
 * Which implementation ts-mls runs on: node:crypto's (`@mlstls/crypto/mls`, several times
 * faster), WebCrypto's (`@mlstls/crypto/webcrypto-mls`, what Deno and browsers make fast), or
 * ts-mls's own portable one (WebCrypto and @noble), for the suites the others lack and for
 * runtimes without either.
 */
export type MlsImplementation = 'node' | 'webcrypto' | 'portable';

const implementations = new Map<string, Promise<CiphersuiteImpl>>();

/**
 * The MLS implementation that goes with a record layer provider: node:crypto's with the `node`
 * provider, WebCrypto's with the `webcrypto` one, the portable one with any other (D54, D94).
 */
export function mlsImplementationFor(provider: CryptoProvider): MlsImplementation {
  if (provider.name === 'node') return 'node';
  return provider.name === 'webcrypto' ? 'webcrypto' : 'portable';
}

const implemented = new Map<string, boolean>();

/**
 * The implementation suite `name` runs on with `provider`: the provider's (see
 * `mlsImplementationFor`) where it implements the suite, else the portable one (the
 * post-quantum suites, D93; suites 3 and 6 in WebCrypto, which has no ChaCha20-Poly1305).
 * `HandshakeInfo.crypto` reports it.
 */
export function mlsImplementationRunning(
  provider: CryptoProvider,
  name: CiphersuiteName,
): MlsImplementation {
  const wanted = mlsImplementationFor(provider);
  if (wanted === 'portable') return 'portable';
  const key = `${wanted} ${name}`;
  let has = implemented.get(key);
  if (has === undefined) {
    has = ownCiphersuite(name, wanted) !== undefined;
    implemented.set(key, has);
  }
  return has ? wanted : 'portable';
}

/** The node:crypto or WebCrypto implementation of `name`, where it has one. */
function ownCiphersuite(
  name: CiphersuiteName,
  implementation: MlsImplementation,
  randomBytes?: (length: number) => Uint8Array,
): CiphersuiteImpl | undefined {
  const options = randomBytes === undefined ? {} : { randomBytes };
  if (implementation === 'node') return nodeCiphersuite(name, options);
  if (implementation === 'webcrypto') return webCryptoCiphersuite(name, options);
  return undefined;
}

/**
 * The implementation of `name` ts-mls runs on, with its randomness taken from `random`. On
 * node:crypto that is all of it: path and epoch secrets, reuse guards, HPKE key pairs and
 * ephemeral keys, signature keys; so an endpoint given a seeded `random` is deterministic (the
 * model checker relies on it). The portable implementation's HPKE and signature key generation
 * draw from the platform's CSPRNG themselves.
 */
export function loadCiphersuite(
  name: CiphersuiteName,
  random: (length: number) => Uint8Array,
  implementation: MlsImplementation,
): Promise<CiphersuiteImpl> {
  // One per randomness, kind and suite: a binding passes one `random` for all its connections,
  // which then share one implementation (about 2 KB and 20 us each otherwise).
  let byKind = withRandom.get(random);
  if (byKind === undefined) {
    byKind = new Map();
    withRandom.set(random, byKind);
  }
  const key = `${implementation} ${name}`;
  let loaded = byKind.get(key);
  if (loaded === undefined) {
    const seeded = ownCiphersuite(name, implementation, random);
    loaded =
      seeded !== undefined
        ? Promise.resolve(seeded)
        : sharedCiphersuite(name, implementation).then((shared) => ({
            ...shared,
            rng: { randomBytes: random },
          }));
    byKind.set(key, loaded);
  }
  return loaded;
}

const withRandom = new WeakMap<
  (length: number) => Uint8Array,
  Map<string, Promise<CiphersuiteImpl>>
>();

/**
 * The one implementation of `name` per process and kind, with the platform's randomness. The
 * `node` and `webcrypto` kinds fall back to the portable one where the runtime lacks them or
 * they lack the suite.
 */
export function sharedCiphersuite(
  name: CiphersuiteName,
  implementation: MlsImplementation,
): Promise<CiphersuiteImpl> {
  const key = `${implementation} ${name}`;
  let shared = implementations.get(key);
  if (shared === undefined) {
    const own = ownCiphersuite(name, implementation);
    shared = own ? Promise.resolve(own) : portableCiphersuite(name);
    implementations.set(key, shared);
    // A suite whose optional package is missing may be installed later in the process's life.
    shared.catch(() => implementations.delete(key));
  }
  return shared;
}

/**
 * ts-mls's own implementation of `name`. A suite whose optional package (`requires` of its
 * `SuiteParameters`) is not installed is `ERR_MLSTLS_UNSUPPORTED`, naming the package to install.
 */
async function portableCiphersuite(name: CiphersuiteName): Promise<CiphersuiteImpl> {
  try {
    return await getCiphersuiteImpl(getCiphersuiteFromName(name));
  } catch (error) {
    if (!(error instanceof DependencyError)) throw error;
    const missing = findSuite(name)?.requires.map((pkg) => `${pkg.name}@${pkg.version}`);
    throw new MlsTlsError(
      'ERR_MLSTLS_UNSUPPORTED',
      `${name} needs ${missing?.join(' and ') ?? 'an optional package'} installed beside mlstls (${error.message})`,
    );
  }
}

/**
 * The ts-mls configuration of every mlstls group. `retainKeysForEpochs: 1` keeps no past
 * epoch's secrets (0 would keep all of them). Lifetimes and credentials are checked by the
 * state machines with the injected clock and verifier, so ts-mls accepts them here.
 */
export const CLIENT_CONFIG: ClientConfig = {
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

/** The two leaves of a connection's group, `undefined` where a tree has another shape. */
export function members(state: ClientState): LeafNode[] {
  const leaves: LeafNode[] = [];
  for (const node of state.ratchetTree) {
    if (node?.nodeType === 'leaf') leaves.push(node.leaf);
  }
  return leaves;
}

/** The leaf of the other member of a two-member group. */
export function peerLeaf(state: ClientState): LeafNode {
  const own = state.privatePath.leafIndex;
  const index = state.ratchetTree.findIndex(
    (node, at) => node?.nodeType === 'leaf' && at !== own * 2,
  );
  const node = state.ratchetTree[index];
  if (node?.nodeType !== 'leaf') {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'the group has no second member');
  }
  return node.leaf;
}

/** The leaf index of the other member. */
export function peerLeafIndex(state: ClientState): number {
  return state.privatePath.leafIndex === 0 ? 1 : 0;
}

/**
 * The MLS-Exporter output of the group's current epoch, with `context` (empty but for the first
 * epoch of a resumed connection, which takes the responder's random: docs/protocol.md section 3).
 */
export function exportFromGroup(
  state: ClientState,
  label: string,
  length: number,
  cs: CiphersuiteImpl,
  context: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array> {
  const { exporterSecret } = state.keySchedule;
  if (exporterSecret.length === 0) {
    // A state restored from storage: it is only ever the base of a new commit (section 3).
    throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'no exporter secret in this epoch');
  }
  return mlsExporter(exporterSecret, label, context, length, cs);
}

/** Whether two leaves hold the same credential and signature key. */
export function sameIdentity(
  a: Pick<LeafNode, 'credential' | 'signaturePublicKey'>,
  b: Pick<LeafNode, 'credential' | 'signaturePublicKey'>,
): boolean {
  return (
    equalBytes(a.signaturePublicKey, b.signaturePublicKey) &&
    equalBytes(encodeCredential(a.credential), encodeCredential(b.credential))
  );
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** Decodes an MLSMessage that must fill `bytes` exactly (docs/protocol.md section 2). */
export function decodeWholeMessage(bytes: Uint8Array): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (error) {
    throw fromMls(error, 'MLSMessage');
  }
  if (decoded === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_DECODE', 'MLSMessage: malformed');
  }
  if (decoded[1] !== bytes.length) {
    throw new MlsTlsError('ERR_MLSTLS_DECODE', 'MLSMessage: trailing bytes');
  }
  return decoded[0];
}

export function encodeKeyPackageMessage(keyPackage: KeyPackage): Uint8Array {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage });
}

export { encodeMlsMessage };

/**
 * Maps a ts-mls failure to the alert it earns: a codec failure is `decode_error`, a failed
 * signature or decryption `decrypt_error`, any other MLS validation failure
 * `illegal_parameter`. An `MlsTlsError` passes through; anything else is a local fault.
 */
export function fromMls(error: unknown, what: string): MlsTlsError {
  if (error instanceof MlsTlsError) return error;
  if (error instanceof CodecError) {
    return new MlsTlsError('ERR_MLSTLS_DECODE', `${what}: malformed`, { cause: error });
  }
  if (error instanceof CryptoVerificationError || error instanceof CryptoError) {
    return new MlsTlsError('ERR_MLSTLS_DECRYPT', `${what}: failed to verify`, { cause: error });
  }
  if (error instanceof ValidationError || error instanceof MlsError) {
    return new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `${what}: ${error.message}`, {
      cause: error,
    });
  }
  return new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `${what}: could not be processed`, {
    cause: error,
  });
}

/** A credential and the signature key pair that speaks for it. */
export interface EndpointCredential {
  readonly credential: Credential;
  /** `Ed25519` for suites 1 and 3, `P256` for suite 2. */
  readonly signatureAlgorithm: string;
  readonly signaturePublicKey: Uint8Array;
  readonly signaturePrivateKey: Uint8Array;
}
