// The addon against node:crypto: the same ciphertexts and tags, opening in place and into other
// memory, and nothing unauthenticated left behind.
import { createCipheriv, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type * as Addon from '../index.cjs';

const addon = createRequire(import.meta.url)('../index.cjs') as typeof Addon;

const algorithms = [
  ['aes-128-gcm', 0, 16],
  ['aes-256-gcm', 1, 32],
  ['chacha20-poly1305', 2, 32],
] as const;

function reference(
  algorithm: string,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Buffer {
  const cipher = createCipheriv(algorithm as 'aes-128-gcm', key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

describe.each(algorithms)('%s', (name, algorithm, keyLength) => {
  it('seals as node:crypto does, at any offset, over many nonces with one key', () => {
    const keyBytes = randomBytes(keyLength);
    const key = addon.createKey(algorithm, keyBytes);
    for (const length of [0, 1, 15, 16, 17, 1000, 16384]) {
      const nonce = randomBytes(12);
      const aad = randomBytes(5);
      const content = randomBytes(length);
      const trailer = Uint8Array.of(23, 0, 0);
      const out = new Uint8Array(7 + length + 3 + 16);
      addon.seal(key, nonce, aad, content, trailer, out, 7);
      const expected = reference(name, keyBytes, nonce, aad, Buffer.concat([content, trailer]));
      expect(Buffer.from(out.subarray(7)).equals(expected), `${length} bytes`).toBe(true);
      expect(out.subarray(0, 7).every((byte) => byte === 0)).toBe(true);
    }
    addon.destroy(key);
  });

  it('opens into other memory and in place, and erases what fails to authenticate', () => {
    const keyBytes = randomBytes(keyLength);
    const key = addon.createKey(algorithm, keyBytes);
    const nonce = randomBytes(12);
    const aad = randomBytes(5);
    const plaintext = randomBytes(300);
    const sealed = reference(name, keyBytes, nonce, aad, plaintext);
    const out = new Uint8Array(310);
    expect(addon.open(key, nonce, aad, sealed, out, 10)).toBe(300);
    expect(Buffer.from(out.subarray(10)).equals(plaintext)).toBe(true);
    const inPlace = Uint8Array.from(sealed);
    expect(addon.open(key, nonce, aad, inPlace, inPlace, 0)).toBe(300);
    expect(Buffer.from(inPlace.subarray(0, 300)).equals(plaintext)).toBe(true);
    for (const index of [0, 150, 299, 300, 315]) {
      const tampered = Uint8Array.from(sealed);
      tampered[index]! ^= 1;
      const target = new Uint8Array(300).fill(0xaa);
      expect(addon.open(key, nonce, aad, tampered, target, 0), `byte ${index}`).toBe(-1);
      expect(target.every((byte) => byte === 0)).toBe(true);
    }
    expect(addon.open(key, nonce, aad.subarray(1), sealed, out, 0)).toBe(-1);
    expect(addon.open(key, randomBytes(12), aad, sealed, out, 0)).toBe(-1);
    expect(addon.open(key, nonce, aad, sealed.subarray(0, 15), out, 0)).toBe(-1);
    addon.destroy(key);
  });

  it('keys a destroyed key again, and only a destroyed one', () => {
    const first = new Uint8Array(keyLength).fill(1);
    const second = new Uint8Array(keyLength).fill(2);
    const none = new Uint8Array(0);
    const nonce = new Uint8Array(12);
    const sealWith = (key: ReturnType<typeof addon.createKey>) => {
      const out = new Uint8Array(4 + 16);
      addon.seal(key, nonce, none, Uint8Array.of(1, 2, 3, 4), none, out, 0);
      return Buffer.from(out).toString('hex');
    };
    const reference = addon.createKey(algorithm, second);
    const key = addon.createKey(algorithm, first);
    const underFirst = sealWith(key);
    expect(() => addon.rekey(key, algorithm, second)).toThrowError(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_STATE' }),
    );
    addon.destroy(key);
    expect(() => addon.rekey(key, algorithm, new Uint8Array(keyLength + 1))).toThrow();
    addon.rekey(key, algorithm, second);
    expect(sealWith(key)).toBe(sealWith(reference));
    expect(sealWith(key)).not.toBe(underFirst);
    addon.destroy(key);
    addon.destroy(reference);
  });

  it('refuses a wrong key length, a short nonce, too little room, and use after destroy()', () => {
    expect(() => addon.createKey(algorithm, new Uint8Array(keyLength + 1))).toThrow();
    const key = addon.createKey(algorithm, new Uint8Array(keyLength));
    const none = new Uint8Array(0);
    expect(() =>
      addon.seal(key, new Uint8Array(11), none, none, none, new Uint8Array(16), 0),
    ).toThrow();
    expect(() =>
      addon.seal(key, new Uint8Array(12), none, Uint8Array.of(1), none, new Uint8Array(16), 0),
    ).toThrow();
    expect(() =>
      addon.seal(key, new Uint8Array(12), none, none, none, new Uint8Array(16), 1),
    ).toThrow();
    // Nothing but a key this addon made is taken for one.
    for (const notAKey of [{}, new Uint8Array(64)]) {
      expect(() =>
        addon.seal(notAKey as never, new Uint8Array(12), none, none, none, new Uint8Array(16), 0),
      ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }));
    }
    addon.destroy(key);
    expect(() =>
      addon.seal(key, new Uint8Array(12), none, none, none, new Uint8Array(16), 0),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_STATE' }));
    addon.destroy(key);
  });
});
