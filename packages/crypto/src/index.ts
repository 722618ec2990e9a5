import { MlsTlsError } from '@mlstls/codec';
import { nobleProvider } from './noble.js';
import { isNodeCryptoAvailable, nodeProvider } from './node.js';
import type { CryptoProvider } from './provider.js';

export { nobleProvider } from './noble.js';
export {
  isNativeAeadAvailable,
  isNodeCryptoAvailable,
  type NodeAeadBinding,
  nodeProvider,
} from './node.js';
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

/**
 * A provider by name, or one of your own. `native` is the node provider with its record AEAD
 * from `@mlstls/crypto-native` required (`node` uses it when it is there).
 */
export type ProviderChoice = 'node' | 'native' | 'noble' | CryptoProvider;

/**
 * Resolves a provider choice. Without one: node:crypto where the runtime has it (with
 * `@mlstls/crypto-native`'s AEAD when installed), else @noble. Asking for `node` where
 * node:crypto is missing, or `native` where the addon is, is `ERR_MLSTLS_UNSUPPORTED`, never a
 * silent fallback to the slower path.
 */
export function resolveProvider(choice?: ProviderChoice): CryptoProvider {
  if (choice === undefined) return isNodeCryptoAvailable() ? nodeProvider() : nobleProvider;
  if (choice === 'node') return nodeProvider();
  if (choice === 'native') return nodeProvider('native');
  if (choice === 'noble') return nobleProvider;
  if (typeof choice === 'object' && choice !== null) return choice;
  throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `unknown crypto provider ${String(choice)}`);
}
