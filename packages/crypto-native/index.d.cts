/** An AEAD key held by OpenSSL (an `EVP_CIPHER_CTX` per direction, keyed once). */
declare const nativeKey: unique symbol;
export type NativeKey = { readonly [nativeKey]: true };

/** 0: aes-128-gcm, 1: aes-256-gcm, 2: chacha20-poly1305. */
export type NativeAlgorithm = 0 | 1 | 2;

/** Copies `key` into OpenSSL's contexts; the caller may erase its own copy. */
export function createKey(algorithm: NativeAlgorithm, key: Uint8Array): NativeKey;

/**
 * Makes a destroyed `key` a key again, with `bytes` (copied, as by `createKey`): keys dropped
 * and made at a high rate reuse their handles instead of leaving a finalizer each to V8.
 * A key not destroyed is refused (`ERR_MLSTLS_INVALID_STATE`).
 */
export function rekey(key: NativeKey, algorithm: NativeAlgorithm, bytes: Uint8Array): void;

/**
 * Encrypts `content` then `trailer` (12-byte nonce, `aad` authenticated) into `out` at
 * `offset`, the 16-byte tag right after. Throws when `out` has no room.
 */
export function seal(
  key: NativeKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  content: Uint8Array,
  trailer: Uint8Array,
  out: Uint8Array,
  offset: number,
): void;

/**
 * Decrypts `ciphertext` (its last 16 bytes the tag) into `out` at `offset`, which may be where
 * the ciphertext lies. Returns the plaintext length, or -1 when it does not authenticate:
 * the bytes written are erased first.
 */
export function open(
  key: NativeKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  out: Uint8Array,
  offset: number,
): number;

/** Frees the key's contexts (OpenSSL erases the key schedule). Later calls throw. */
export function destroy(key: NativeKey): void;

// biome-ignore lint/complexity/noUselessEmptyExport: a declaration file without it exports every declaration, nativeKey included
export {};
