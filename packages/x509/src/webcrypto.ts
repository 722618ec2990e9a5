import { MlsTlsError } from '@mlstls/codec';

/**
 * WebCrypto's types, taken from the runtime's own `crypto` global rather than from the DOM
 * library or node:crypto, so that the package compiles for every runtime it runs on and its
 * declarations mention none of them.
 */
export type Subtle = typeof globalThis.crypto.subtle;
export type WebCryptoKey = Awaited<ReturnType<Subtle['importKey']>>;
export type ImportAlgorithm = Parameters<Subtle['importKey']>[2];
export type VerifyAlgorithm = Parameters<Subtle['verify']>[0];

/** The runtime's WebCrypto, or ERR_MLSTLS_UNSUPPORTED where there is none. */
export function subtle(): Subtle {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_UNSUPPORTED', 'WebCrypto (crypto.subtle) is not available');
  }
  return subtle;
}
