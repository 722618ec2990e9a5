// Basic credentials made from a seed, so that a run's KeyPackages, Welcomes and commits are the
// same bytes every time (generateCredential draws from the platform's CSPRNG).
import {
  type EndpointCredential,
  nodeCiphersuite,
  SUPPORTED_CIPHERSUITES,
} from '@mlstls/state-machine';
import { seededRandom } from './random.js';

/** The suite every simulated connection runs: MLS ciphersuite 1 (X25519, AES-128-GCM, Ed25519). */
export const SUITE = SUPPORTED_CIPHERSUITES[0]!;

/** A basic credential whose Ed25519 key pair comes from `seed`. */
export async function seededCredential(seed: string): Promise<EndpointCredential> {
  const cs = nodeCiphersuite(SUITE.name, { randomBytes: seededRandom(`credential/${seed}`) });
  if (cs === undefined) throw new Error('node:crypto has no implementation of MLS suite 1');
  const { publicKey, signKey } = await cs.signature.keygen();
  return {
    credential: { credentialType: 'basic', identity: publicKey.slice() },
    signatureAlgorithm: 'Ed25519',
    signaturePublicKey: publicKey,
    signaturePrivateKey: signKey,
  };
}
