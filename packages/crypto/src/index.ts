import { MlsTlsError } from '@mlstls/codec';
import { nobleProvider } from './noble.js';
import { isNodeCryptoAvailable, nodeProvider } from './node.js';
import type { CryptoProvider } from './provider.js';

export { nobleProvider } from './noble.js';
export { isNodeCryptoAvailable, nodeProvider } from './node.js';
export {
  AEAD_PARAMETERS,
  type AeadAlgorithm,
  type AeadKey,
  type AeadParameters,
  aeadParameters,
  type CryptoProvider,
  HASH_LENGTH,
  type HashAlgorithm,
  hashLength,
} from './provider.js';
export { secureRandom } from './random.js';

/** A provider by name, or one of your own. */
export type ProviderChoice = 'node' | 'noble' | CryptoProvider;

/**
 * Resolves a provider choice. Without one: node:crypto where the runtime has it, else @noble.
 * Asking for `node` where node:crypto is missing is `ERR_MLSTLS_UNSUPPORTED`, never a silent
 * fallback to the slower path.
 */
export function resolveProvider(choice?: ProviderChoice): CryptoProvider {
  if (choice === undefined) return isNodeCryptoAvailable() ? nodeProvider() : nobleProvider;
  if (choice === 'node') return nodeProvider();
  if (choice === 'noble') return nobleProvider;
  if (typeof choice === 'object' && choice !== null) return choice;
  throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `unknown crypto provider ${String(choice)}`);
}
