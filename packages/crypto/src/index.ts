import { MlsTlsError } from '@mlstls/codec';
import { nobleProvider } from './noble.js';
import { isNodeCryptoAvailable, nodeProvider } from './node.js';
import type { CryptoProvider } from './provider.js';
import { isWebCryptoAvailable, webCryptoProvider } from './webcrypto.js';

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
export { isWebCryptoAvailable, webCryptoProvider } from './webcrypto.js';

/**
 * A provider by name, or one of your own. `native` is the node provider with its record AEAD
 * from `@mlstls/crypto-native` required (`node` uses it when it is there).
 */
export type ProviderChoice = 'node' | 'native' | 'webcrypto' | 'noble' | CryptoProvider;

/**
 * The fastest provider this runtime offers (D94): WebCrypto in Deno (its node:crypto seals at
 * a fifth of the speed), node:crypto where the runtime has it (Node, Bun), WebCrypto elsewhere
 * (browsers, workers), and `@noble` where there is neither.
 */
export function defaultProvider(): CryptoProvider {
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  if (!deno && isNodeCryptoAvailable()) return nodeProvider();
  return isWebCryptoAvailable() ? webCryptoProvider : nobleProvider;
}

/**
 * Resolves a provider choice. Without one: `defaultProvider()`. Asking for `node` where
 * node:crypto is missing, `native` where the addon is, or `webcrypto` where `crypto.subtle` is,
 * is `ERR_MLSTLS_UNSUPPORTED`, never a silent fallback to the slower path.
 */
export function resolveProvider(choice?: ProviderChoice): CryptoProvider {
  if (choice === undefined) return defaultProvider();
  if (choice === 'node') return nodeProvider();
  if (choice === 'native') return nodeProvider('native');
  if (choice === 'noble') return nobleProvider;
  if (choice === 'webcrypto') {
    if (!isWebCryptoAvailable()) {
      throw new MlsTlsError('ERR_MLSTLS_UNSUPPORTED', 'this runtime has no crypto.subtle');
    }
    return webCryptoProvider;
  }
  if (typeof choice === 'object' && choice !== null) return choice;
  throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `unknown crypto provider ${String(choice)}`);
}
