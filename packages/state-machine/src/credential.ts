import { MlsTlsError } from '@mlstls/codec';
import { type ProviderChoice, resolveProvider } from '@mlstls/crypto';
import { getCiphersuiteFromName } from 'ts-mls';
import { type EndpointCredential, mlsImplementationFor, sharedCiphersuite } from './mls.js';
import { type CiphersuiteChoice, type SuiteParameters, suiteParameters } from './suites.js';

/** The signature algorithm of a suite: an endpoint's credential key must be of this kind. */
function signatureAlgorithm(suite: SuiteParameters): string {
  return getCiphersuiteFromName(suite.name).signature;
}

/**
 * A basic credential with a new signature key pair for `ciphersuite` (default 1). Its
 * identity is the public key itself. Give it to a responder to have a key initiators can pin
 * (`peerSignaturePublicKey`). `provider` picks the implementation that makes the key, as for
 * an endpoint (default: node:crypto where the runtime has it).
 */
export async function generateCredential(
  options: {
    ciphersuite?: CiphersuiteChoice;
    identity?: Uint8Array;
    provider?: ProviderChoice;
  } = {},
): Promise<EndpointCredential> {
  const suite = suiteParameters(options.ciphersuite ?? 1);
  const ciphersuite = getCiphersuiteFromName(suite.name);
  const cs = await sharedCiphersuite(
    suite.name,
    mlsImplementationFor(resolveProvider(options.provider)),
  );
  const { publicKey, signKey } = await cs.signature.keygen();
  return {
    credential: { credentialType: 'basic', identity: options.identity ?? publicKey.slice() },
    signatureAlgorithm: ciphersuite.signature,
    signaturePublicKey: publicKey,
    signaturePrivateKey: signKey,
  };
}

/**
 * Refuses a credential whose key cannot sign for `suite`: `handshake_failure` when the peer
 * chose the suite, `ERR_MLSTLS_INVALID_ARGUMENT` when the caller configured both.
 */
export function checkCredentialSuite(
  credential: EndpointCredential,
  suite: SuiteParameters,
  code:
    | 'ERR_MLSTLS_HANDSHAKE_FAILURE'
    | 'ERR_MLSTLS_INVALID_ARGUMENT' = 'ERR_MLSTLS_HANDSHAKE_FAILURE',
): void {
  if (credential.signatureAlgorithm !== signatureAlgorithm(suite)) {
    throw new MlsTlsError(
      code,
      `${suite.name} needs a ${signatureAlgorithm(suite)} credential key, not ${credential.signatureAlgorithm}`,
    );
  }
}
