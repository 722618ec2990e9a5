import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  AEAD_PARAMETERS,
  type AeadAlgorithm,
  type HashAlgorithm,
  isNativeAeadAvailable,
  nobleProvider,
  nodeProvider,
  resolveProvider,
  webCryptoProvider,
} from '../src/index.js';

const hashes: HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];
const aeads = Object.keys(AEAD_PARAMETERS) as AeadAlgorithm[];
/**
 * node:crypto alone, @mlstls/crypto-native's AEAD where it built, @noble, and WebCrypto (whose
 * synchronous calls are @noble's; its asynchronous ones are checked below).
 */
const providers = [
  nodeProvider('node:crypto'),
  ...(isNativeAeadAvailable() ? [nodeProvider('native')] : []),
  nobleProvider,
  webCryptoProvider,
];
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('both providers compute the same functions', () => {
  it('digest and HMAC equal node:crypto for any input', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...hashes),
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 4 }),
        (hash, key, parts) => {
          const data = Buffer.concat(parts);
          for (const provider of providers) {
            expect(hex(provider.digest(hash, data))).toBe(
              createHash(hash).update(data).digest('hex'),
            );
            expect(hex(provider.hmac(hash, key, ...parts))).toBe(
              createHmac(hash, key).update(data).digest('hex'),
            );
          }
        },
      ),
    );
  });

  it('AEAD seal writes the same ciphertext and tag, and each opens the other', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...aeads),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 13 }),
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 7 }),
        (aead, keyBytes, nonce, aad, parts, offset) => {
          const key = keyBytes.subarray(0, AEAD_PARAMETERS[aead].keyLength);
          const length = parts.reduce((n, p) => n + p.length, 0) + 16;
          const sealed = providers.map((provider) => {
            const out = new Uint8Array(offset + length);
            provider.aeadKey(aead, key).seal(nonce, aad, parts, out, offset);
            return out.subarray(offset);
          });
          for (const other of sealed.slice(1)) expect(hex(other)).toBe(hex(sealed[0]!));
          for (const provider of providers) {
            const opened = provider.aeadKey(aead, key).open(nonce, aad, sealed[0]!);
            expect(hex(opened!)).toBe(hex(Buffer.concat(parts)));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('AEAD open returns undefined for a tampered ciphertext, tag, nonce or AAD', () => {
    for (const provider of providers) {
      for (const aead of aeads) {
        const key = provider.aeadKey(aead, new Uint8Array(AEAD_PARAMETERS[aead].keyLength).fill(1));
        const nonce = new Uint8Array(12).fill(2);
        const aad = Uint8Array.of(23, 3, 3, 0, 21);
        const sealed = new Uint8Array(21);
        key.seal(nonce, aad, [Uint8Array.of(1, 2, 3, 4, 5)], sealed, 0);
        expect(key.open(nonce, aad, sealed)).toEqual(Uint8Array.of(1, 2, 3, 4, 5));
        for (const index of [0, 4, 5, 20]) {
          const tampered = sealed.slice();
          tampered[index]! ^= 1;
          expect(
            key.open(nonce, aad, tampered),
            `${provider.name} ${aead} byte ${index}`,
          ).toBeUndefined();
        }
        expect(key.open(Uint8Array.of(...nonce.subarray(1), 0), aad, sealed)).toBeUndefined();
        expect(key.open(nonce, aad.subarray(1), sealed)).toBeUndefined();
        expect(key.open(nonce, aad, sealed.subarray(0, 15))).toBeUndefined();
      }
    }
  });

  it('an AEAD key copies its key bytes and destroy() makes it unusable', () => {
    for (const provider of providers) {
      const keyBytes = new Uint8Array(16).fill(4);
      const key = provider.aeadKey('aes-128-gcm', keyBytes);
      const nonce = new Uint8Array(12);
      const first = new Uint8Array(17);
      key.seal(nonce, new Uint8Array(0), [Uint8Array.of(9)], first, 0);
      keyBytes.fill(0);
      const second = new Uint8Array(17);
      key.seal(nonce, new Uint8Array(0), [Uint8Array.of(9)], second, 0);
      expect(hex(second)).toBe(hex(first));
      key.destroy();
      expect(key.open(nonce, new Uint8Array(0), first)).toBeUndefined();
    }
  });

  it('refuses keys of the wrong length', () => {
    for (const provider of providers) {
      expect(() => provider.aeadKey('aes-256-gcm', new Uint8Array(16))).toThrowError(
        expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }),
      );
    }
  });
});

describe('resolveProvider', () => {
  it('defaults to node:crypto where the runtime has it, and takes names or objects', () => {
    expect(resolveProvider().name).toBe('node');
    expect(resolveProvider('noble')).toBe(nobleProvider);
    expect(resolveProvider('node')).toBe(nodeProvider());
    expect(resolveProvider(nobleProvider)).toBe(nobleProvider);
  });

  it('native is the node provider with the addon required; MLSTLS_CRYPTO_NATIVE=0 turns it off', async () => {
    if (isNativeAeadAvailable()) {
      expect(resolveProvider('native')).toBe(nodeProvider('native'));
      expect(resolveProvider('native').name).toBe('node');
    }
    vi.resetModules();
    vi.stubEnv('MLSTLS_CRYPTO_NATIVE', '0');
    try {
      const fresh = await import('../src/index.js');
      expect(fresh.isNativeAeadAvailable()).toBe(false);
      expect(fresh.resolveProvider('node').name).toBe('node');
      expect(() => fresh.resolveProvider('native')).toThrowError(
        expect.objectContaining({ code: 'ERR_MLSTLS_UNSUPPORTED' }),
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('a native key refuses to seal after destroy() and opens nothing', () => {
    if (!isNativeAeadAvailable()) return;
    const key = nodeProvider('native').aeadKey('aes-128-gcm', new Uint8Array(16));
    const sealed = new Uint8Array(17);
    key.seal(new Uint8Array(12), new Uint8Array(0), [Uint8Array.of(9)], sealed, 0);
    key.destroy();
    expect(() =>
      key.seal(new Uint8Array(12), new Uint8Array(0), [Uint8Array.of(9)], sealed, 0),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_STATE' }));
    expect(key.open(new Uint8Array(12), new Uint8Array(0), sealed)).toBeUndefined();
    // A new key with the same bytes reuses the destroyed key's native handle: it opens the
    // record, and the destroyed key still does not.
    const next = nodeProvider('native').aeadKey('aes-128-gcm', new Uint8Array(16));
    expect(next.open(new Uint8Array(12), new Uint8Array(0), sealed)).toEqual(Uint8Array.of(9));
    expect(key.open(new Uint8Array(12), new Uint8Array(0), sealed)).toBeUndefined();
    expect(() =>
      key.seal(new Uint8Array(12), new Uint8Array(0), [Uint8Array.of(9)], sealed, 0),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_STATE' }));
    next.destroy();
  });

  it('refuses an unknown provider name', () => {
    expect(() => resolveProvider('subtle' as 'node')).toThrowError(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }),
    );
  });
});

describe('feature detection where node:crypto is missing (browsers, workers)', () => {
  /** The package loaded afresh without node:crypto, and without WebCrypto if `subtle` is false. */
  async function without(
    subtle: boolean,
    check: (fresh: typeof import('../src/index.js')) => void,
  ) {
    vi.resetModules();
    const original = process.getBuiltinModule;
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    if (!subtle) vi.stubGlobal('crypto', {});
    try {
      check(await import('../src/index.js'));
    } finally {
      process.getBuiltinModule = original;
      vi.unstubAllGlobals();
    }
  }

  it('the default is WebCrypto, and asking for node is ERR_MLSTLS_UNSUPPORTED', async () => {
    await without(true, (fresh) => {
      expect(fresh.isNodeCryptoAvailable()).toBe(false);
      expect(fresh.resolveProvider().name).toBe('webcrypto');
      expect(() => fresh.resolveProvider('node')).toThrowError(
        expect.objectContaining({ code: 'ERR_MLSTLS_UNSUPPORTED', alert: 80 }),
      );
    });
  });

  it('without WebCrypto either, the default is @noble and webcrypto is ERR_MLSTLS_UNSUPPORTED', async () => {
    await without(false, (fresh) => {
      expect(fresh.isWebCryptoAvailable()).toBe(false);
      expect(fresh.resolveProvider().name).toBe('noble');
      expect(() => fresh.resolveProvider('webcrypto')).toThrowError(
        expect.objectContaining({ code: 'ERR_MLSTLS_UNSUPPORTED', alert: 80 }),
      );
    });
  });

  it('in Deno the default is WebCrypto, though Deno has a node:crypto', async () => {
    vi.stubGlobal('Deno', {});
    try {
      expect(resolveProvider().name).toBe('webcrypto');
    } finally {
      vi.unstubAllGlobals();
    }
    expect(resolveProvider().name).toBe('node');
  });
});

describe('WebCrypto keys', () => {
  const nonce = Uint8Array.from({ length: 12 }, (_, index) => index);
  const aad = Uint8Array.of(23, 3, 3, 0, 42);

  it.each(['aes-128-gcm', 'aes-256-gcm'] as const)(
    '%s: asynchronous seal and open agree with node:crypto, also before the key is imported',
    async (aead) => {
      const keyBytes = new Uint8Array(AEAD_PARAMETERS[aead].keyLength).fill(7);
      const parts = [Uint8Array.of(1, 2, 3), Uint8Array.of(23)];
      const expected = new Uint8Array(4 + 16);
      nodeProvider('node:crypto').aeadKey(aead, keyBytes).seal(nonce, aad, parts, expected, 0);
      // Called at once: the key is still being imported, and the arguments change right after.
      const key = webCryptoProvider.aeadKey(aead, keyBytes);
      const out = new Uint8Array(2 + expected.length);
      const mutable = [Uint8Array.of(1, 2, 3), Uint8Array.of(23)];
      const noncex = nonce.slice();
      const sealed = key.sealAsync!(noncex, aad, mutable, out, 2);
      mutable[0]!.fill(0);
      noncex.fill(0);
      await sealed;
      expect(hex(out.subarray(2))).toBe(hex(expected));
      expect(await key.openAsync!(nonce, aad, expected)).toEqual(Uint8Array.of(1, 2, 3, 23));
      const forged = expected.slice();
      forged[0]! ^= 1;
      expect(await key.openAsync!(nonce, aad, forged)).toBeUndefined();
      // An operation started before destroy() finishes; none starts after it.
      const late = key.openAsync!(nonce, aad, expected);
      key.destroy();
      expect(await late).toEqual(Uint8Array.of(1, 2, 3, 23));
      expect(() => key.openAsync!(nonce, aad, expected)).toThrowError(
        expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_STATE' }),
      );
    },
  );

  it('imports the key at its first asynchronous use only, and once', async () => {
    const imports = vi.spyOn(crypto.subtle, 'importKey');
    try {
      const key = webCryptoProvider.aeadKey('aes-128-gcm', new Uint8Array(16).fill(3));
      const out = new Uint8Array(1 + 16);
      key.seal(nonce, aad, [Uint8Array.of(1)], out, 0);
      expect(key.open(nonce, aad, out)).toEqual(Uint8Array.of(1));
      expect(imports).not.toHaveBeenCalled();
      await key.sealAsync!(nonce, aad, [Uint8Array.of(1)], out, 0);
      expect(await key.openAsync!(nonce, aad, out)).toEqual(Uint8Array.of(1));
      expect(imports).toHaveBeenCalledTimes(1);
      key.destroy();
    } finally {
      imports.mockRestore();
    }
  });

  it('ChaCha20-Poly1305, which WebCrypto lacks, is a synchronous @noble key', () => {
    const key = webCryptoProvider.aeadKey('chacha20-poly1305', new Uint8Array(32));
    expect(key.sealAsync).toBeUndefined();
    expect(key.openAsync).toBeUndefined();
  });
});
