// The WebCrypto MLS ciphersuites (src/webcrypto-mls.ts) on what is theirs alone: the suites
// they cover, that they load without node:crypto, and against both other implementations (ts-mls's
// default and node:crypto's): each verifying, opening and importing what the other signs, seals
// and exports, byte for byte where both are deterministic; and the encodings WebCrypto does not
// speak itself (PKCS#8 of raw keys, DER signatures, compressed points). Their vectors run in
// mls-vectors.test.ts, with node:crypto's and ts-mls's default.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type CiphersuiteName, getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { describe, expect, it } from 'vitest';
import { WEBCRYPTO_CIPHERSUITES, webCryptoCiphersuite } from '../src/webcrypto-mls.js';
import {
  hex,
  mirrorEcdsaS,
  nodeImpl,
  SUITE_IDS,
  suiteName,
  toHex,
  webImpl,
} from './mls-helpers.js';

/** The suites the WebCrypto implementation covers. */
const WEBCRYPTO_SUITES = [1, 2, 5, 7] as const;

/**
 * The local modules `file` (in src/) imports, and theirs, `file` included: what a bundle of it
 * loads from this package.
 */
function localModules(file: string, seen = new Map<string, string>()): Map<string, string> {
  if (seen.has(file)) return seen;
  const text = readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8');
  seen.set(file, text);
  for (const [, imported] of text.matchAll(/from '\.\/([\w-]+)\.js'/g)) {
    localModules(`${imported}.ts`, seen);
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------
// What it covers, and that it is WebCrypto alone.

describe('webCryptoCiphersuite', () => {
  it('implements suites 1, 2, 5 and 7, and no other', () => {
    expect([...WEBCRYPTO_CIPHERSUITES].sort()).toEqual(
      WEBCRYPTO_SUITES.map((id) => suiteName(id)).sort(),
    );
    for (const id of SUITE_IDS) {
      const cs = webCryptoCiphersuite(suiteName(id));
      expect(cs?.name, `suite ${id}`).toBe(
        (WEBCRYPTO_SUITES as readonly number[]).includes(id) ? suiteName(id) : undefined,
      );
    }
    for (const name of [
      'MLS_256_XWING_AES256GCM_SHA512_Ed25519',
      'MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87',
    ] as const) {
      expect(webCryptoCiphersuite(name)).toBeUndefined();
    }
  });

  it('imports no node: module, nor any module that does (it must load in browsers and Deno)', () => {
    const modules = localModules('webcrypto-mls.ts');
    // What it shares with node:crypto's implementation, and nothing of that implementation.
    expect([...modules.keys()]).toContain('mls-common.ts');
    expect([...modules.keys()]).not.toContain('mls.ts');
    expect([...modules.keys()]).not.toContain('node.ts');
    for (const [file, text] of modules) {
      expect(text, file).not.toMatch(/from 'node:/);
      expect(text, file).not.toMatch(/import\(/);
    }
    // random.ts asks for node:crypto at run time, where there is one, and falls back to
    // getRandomValues; the MLS modules do not ask.
    for (const file of ['webcrypto-mls.ts', 'mls-common.ts']) {
      expect(modules.get(file), file).not.toMatch(/getBuiltinModule/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Interoperation with ts-mls's default implementation and with node:crypto's (mls.ts).

const bytes = (length: number) => new Uint8Array(randomBytes(length));

/** The three implementations of a suite, WebCrypto's first. */
async function all(name: CiphersuiteName) {
  const web = webImpl(name);
  const others = [
    ['default', await getCiphersuiteImpl(getCiphersuiteFromName(name))],
    ['node', nodeImpl(name)],
  ] as const;
  /** Every (one, other) pair with WebCrypto on one side, both ways, and WebCrypto with itself. */
  const pairs = [
    ...others.flatMap(([label, other]) => [
      [`web -> ${label}`, web, other] as const,
      [`${label} -> web`, other, web] as const,
    ]),
    ['web -> web', web, web] as const,
  ];
  return { web, others, pairs };
}

const SUITE_CASES = WEBCRYPTO_SUITES.map((id) => ({ id, name: suiteName(id) }));

describe.each(SUITE_CASES)(
  'WebCrypto suite $id ($name) with ts-mls default and node:crypto',
  ({ id, name }) => {
    it('has the same sizes, hashes, MACs, extracts and expands the same bytes', async () => {
      const { web, others } = await all(name);
      for (const [label, other] of others) {
        expect(web.hpke.keyLength, label).toBe(other.hpke.keyLength);
        expect(web.hpke.nonceLength, label).toBe(other.hpke.nonceLength);
        expect(web.kdf.size, label).toBe(other.kdf.size);
        for (const length of [0, 1, 55, 64, 200]) {
          const data = bytes(length);
          // ts-mls default (WebCrypto) refuses an empty HMAC key; node:crypto and this take it.
          const key = bytes(length === 0 && label === 'default' ? 32 : length);
          expect(toHex(await web.hash.digest(data)), label).toBe(
            toHex(await other.hash.digest(data)),
          );
          const mac = await web.hash.mac(key, data);
          expect(toHex(mac), `${label} HMAC, ${length}-byte key`).toBe(
            toHex(await other.hash.mac(key, data)),
          );
          expect(await web.hash.verifyMac(key, mac, data)).toBe(true);
          const forged = mac.slice();
          forged[0]! ^= 1;
          expect(await web.hash.verifyMac(key, forged, data)).toBe(false);
        }
        for (const salt of [new Uint8Array(0), bytes(web.kdf.size)]) {
          const ikm = bytes(web.kdf.size);
          const prk = await web.kdf.extract(salt, ikm);
          expect(toHex(prk), label).toBe(toHex(await other.kdf.extract(salt, ikm)));
          for (const length of [1, 12, 32, 33, 64, 65, 100, 255 * web.kdf.size]) {
            const info = bytes(length % 50);
            expect(
              toHex(await web.kdf.expand(prk, info, length)),
              `${label} expand ${length}`,
            ).toBe(toHex(await other.kdf.expand(prk, info, length)));
          }
        }
      }
    });

    it('uses a key array changed in place with its new bytes (HMAC, AEAD)', async () => {
      const { web, others } = await all(name);
      const [, reference] = others[1];
      const key = bytes(web.kdf.size);
      const data = bytes(20);
      expect(toHex(await web.hash.mac(key, data))).toBe(toHex(await reference.hash.mac(key, data)));
      key[0]! ^= 1;
      expect(toHex(await web.hash.mac(key, data))).toBe(toHex(await reference.hash.mac(key, data)));
      const aeadKey = bytes(web.hpke.keyLength);
      const nonce = bytes(12);
      const first = await web.hpke.encryptAead(aeadKey, nonce, undefined, data);
      aeadKey[0]! ^= 1;
      const second = await web.hpke.encryptAead(aeadKey, nonce, undefined, data);
      expect(toHex(second)).not.toBe(toHex(first));
      expect(toHex(second)).toBe(
        toHex(await reference.hpke.encryptAead(aeadKey, nonce, undefined, data)),
      );
    });

    it('encrypts what the others decrypt, and the reverse; refuses a tampered ciphertext', async () => {
      const { pairs, web } = await all(name);
      for (const [label, sealer, opener] of pairs) {
        for (const aad of [undefined, new Uint8Array(0), bytes(13)]) {
          const key = bytes(web.hpke.keyLength);
          const nonce = bytes(web.hpke.nonceLength);
          const plaintext = bytes(77);
          const ciphertext = await sealer.hpke.encryptAead(key, nonce, aad, plaintext);
          expect(ciphertext.length).toBe(plaintext.length + 16);
          expect(toHex(await opener.hpke.decryptAead(key, nonce, aad, ciphertext)), label).toBe(
            toHex(plaintext),
          );
          const tampered = ciphertext.slice();
          tampered[5]! ^= 1;
          await expect(opener.hpke.decryptAead(key, nonce, aad, tampered), label).rejects.toThrow(
            CryptoError,
          );
        }
      }
      await expect(
        web.hpke.decryptAead(bytes(web.hpke.keyLength), bytes(12), undefined, bytes(15)),
      ).rejects.toThrow(CryptoError);
      await expect(
        web.hpke.encryptAead(bytes(web.hpke.keyLength + 1), bytes(12), undefined, bytes(15)),
      ).rejects.toThrow();
    });

    it('signs what the others verify, and the reverse, whoever generated the key', async () => {
      const { web, others } = await all(name);
      for (const [label, other] of others) {
        for (const [generator, signer, verifier] of [
          [web, web, other],
          [other, other, web],
          [other, web, other],
          [other, web, web],
          [web, other, web],
          [web, other, other],
        ] as const) {
          const { signKey, publicKey } = await generator.signature.keygen();
          const message = bytes(100);
          const signature = await signer.signature.sign(signKey, message);
          expect(await verifier.signature.verify(publicKey, message, signature), label).toBe(true);
          const other_ = message.slice();
          other_[0]! ^= 1;
          expect(await verifier.signature.verify(publicKey, other_, signature), label).toBe(false);
          const forged = signature.slice();
          forged[forged.length - 1]! ^= 1;
          expect(await verifier.signature.verify(publicKey, message, forged), label).toBe(false);
        }
      }
    });

    it('says no, without throwing, to a malformed signature key or signature', async () => {
      const { web } = await all(name);
      const { signKey, publicKey } = await web.signature.keygen();
      const message = bytes(10);
      const signature = await web.signature.sign(signKey, message);
      for (const key of [
        new Uint8Array(0),
        publicKey.subarray(1),
        new Uint8Array(publicKey.length),
      ]) {
        expect(await web.signature.verify(key, message, signature)).toBe(false);
      }
      expect(await web.signature.verify(publicKey, message, new Uint8Array(0))).toBe(false);
      expect(await web.signature.verify(publicKey, message, bytes(signature.length))).toBe(false);
      await expect(web.signature.sign(bytes(7), message)).rejects.toThrow();
    });

    it('signs with the new key when a signing key array is changed in place', async () => {
      const { web } = await all(name);
      const first = await web.signature.keygen();
      const second = await web.signature.keygen();
      const key = first.signKey.slice();
      const message = bytes(16);
      expect(
        await web.signature.verify(
          first.publicKey,
          message,
          await web.signature.sign(key, message),
        ),
      ).toBe(true);
      key.set(second.signKey);
      const signed = await web.signature.sign(key, message);
      expect(await web.signature.verify(second.publicKey, message, signed)).toBe(true);
      expect(await web.signature.verify(first.publicKey, message, signed)).toBe(false);
    });

    it('derives the same HPKE key pair from the same ikm as the others', async () => {
      const { web, others } = await all(name);
      for (let i = 0; i < 6; i++) {
        const ikm = bytes(i < 3 ? 32 : 64);
        const ours = await web.hpke.deriveKeyPair(ikm);
        for (const [label, other] of others) {
          const theirs = await other.hpke.deriveKeyPair(ikm);
          expect(toHex(await web.hpke.exportPrivateKey(ours.privateKey)), label).toBe(
            toHex(await other.hpke.exportPrivateKey(theirs.privateKey)),
          );
          expect(toHex(await web.hpke.exportPublicKey(ours.publicKey)), label).toBe(
            toHex(await other.hpke.exportPublicKey(theirs.publicKey)),
          );
        }
      }
    });

    it('generates HPKE keys the others import, imports theirs, seals and opens both ways', async () => {
      const { pairs } = await all(name);
      for (const [label, sender, recipient] of pairs) {
        const keys = await recipient.hpke.generateKeyPair();
        const privateBytes = await recipient.hpke.exportPrivateKey(keys.privateKey);
        const publicBytes = await recipient.hpke.exportPublicKey(keys.publicKey);
        const publicKey = await sender.hpke.importPublicKey(publicBytes);
        expect(toHex(await sender.hpke.exportPublicKey(publicKey)), label).toBe(toHex(publicBytes));
        // The sender also imports the recipient's private key, and opens with it.
        const imported = await sender.hpke.importPrivateKey(privateBytes);
        expect(toHex(await sender.hpke.exportPrivateKey(imported)), label).toBe(
          toHex(privateBytes),
        );
        for (const aad of [undefined, bytes(9)]) {
          const plaintext = bytes(64);
          const info = bytes(30);
          const { ct, enc } = await sender.hpke.seal(publicKey, plaintext, info, aad);
          expect(enc.length).toBe(publicBytes.length);
          expect(toHex(await recipient.hpke.open(keys.privateKey, enc, ct, info, aad)), label).toBe(
            toHex(plaintext),
          );
          expect(toHex(await sender.hpke.open(imported, enc, ct, info, aad)), label).toBe(
            toHex(plaintext),
          );
          await expect(
            recipient.hpke.open(keys.privateKey, enc, ct, bytes(30), aad),
            label,
          ).rejects.toThrow(CryptoError);
        }
        const context = new TextEncoder().encode('MLS 1.0 external init secret');
        const info = bytes(3);
        const { enc, secret } = await sender.hpke.exportSecret(publicKey, context, 32, info);
        expect(
          toHex(await recipient.hpke.importSecret(keys.privateKey, context, enc, 32, info)),
          label,
        ).toBe(toHex(secret));
      }
    });

    it('opens nothing with the wrong key or a bad enc, and refuses keys of the wrong size', async () => {
      const { web } = await all(name);
      const right = await web.hpke.generateKeyPair();
      const wrong = await web.hpke.generateKeyPair();
      const { ct, enc } = await web.hpke.seal(right.publicKey, bytes(10), new Uint8Array(0));
      await expect(web.hpke.open(wrong.privateKey, enc, ct, new Uint8Array(0))).rejects.toThrow(
        CryptoError,
      );
      await expect(
        web.hpke.open(right.privateKey, enc.subarray(1), ct, new Uint8Array(0)),
      ).rejects.toThrow(CryptoError);
      const publicBytes = await web.hpke.exportPublicKey(right.publicKey);
      const privateBytes = await web.hpke.exportPrivateKey(right.privateKey);
      for (const key of [
        publicBytes.subarray(1),
        new Uint8Array(0),
        bytes(publicBytes.length + 1),
      ]) {
        await expect(web.hpke.importPublicKey(key)).rejects.toThrow(CryptoError);
      }
      const short = id === 5 ? [] : [privateBytes.subarray(1)];
      for (const key of [...short, new Uint8Array(0), bytes(privateBytes.length + 1)]) {
        await expect(web.hpke.importPrivateKey(key)).rejects.toThrow(CryptoError);
      }
    });
  },
);

// ---------------------------------------------------------------------------------------------
// Encodings peculiar to one scheme.

describe('WebCrypto Ed25519 and X25519 (suite 1)', () => {
  const name = suiteName(1);

  it('signs with a raw seed or its PKCS#8, byte for byte as ts-mls default and node:crypto', async () => {
    const { web, others } = await all(name);
    const { signKey, publicKey } = await web.signature.keygen();
    expect(signKey.length).toBe(48);
    const seed = signKey.subarray(16);
    const message = bytes(50);
    const signature = await web.signature.sign(signKey, message);
    expect(toHex(await web.signature.sign(seed.slice(), message))).toBe(toHex(signature));
    for (const [label, other] of others) {
      expect(toHex(await other.signature.sign(signKey, message)), label).toBe(toHex(signature));
      expect(toHex(await other.signature.sign(seed.slice(), message)), label).toBe(
        toHex(signature),
      );
    }
    expect(await web.signature.verify(publicKey, message, signature)).toBe(true);
  });

  it('refuses an exchange with a low-order point (RFC 9180 section 7.1.4)', async () => {
    const web = webImpl(name);
    const { privateKey } = await web.hpke.generateKeyPair();
    // The point of order 1 (u = 0): the exchange gives the all-zero value.
    const lowOrder = new Uint8Array(32);
    await expect(web.hpke.open(privateKey, lowOrder, bytes(32), new Uint8Array(0))).rejects.toThrow(
      CryptoError,
    );
  });
});

/** (ECDSA suite, scalar size, curve order) */
const ECDSA_CASES = [
  {
    id: 2,
    scalar: 32,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  {
    id: 5,
    scalar: 66,
    order:
      0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  },
  {
    id: 7,
    scalar: 48,
    order:
      0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
] as const;

describe.each(ECDSA_CASES)('WebCrypto suite $id: P curve encodings', ({ id, scalar, order }) => {
  const name = suiteName(id);

  it('emits DER signatures and uncompressed public keys; verifies with compressed ones', async () => {
    const { web } = await all(name);
    const { signKey, publicKey } = await web.signature.keygen();
    expect(signKey.length).toBe(scalar);
    expect(publicKey.length).toBe(1 + 2 * scalar);
    expect(publicKey[0]).toBe(4);
    const message = bytes(40);
    const signature = await web.signature.sign(signKey, message);
    expect(signature[0]).toBe(0x30);
    const compressed = Uint8Array.of(
      2 + (publicKey[publicKey.length - 1]! & 1),
      ...publicKey.subarray(1, 1 + scalar),
    );
    expect(await web.signature.verify(compressed, message, signature)).toBe(true);
    // The other y is another key.
    const flipped = compressed.slice();
    flipped[0]! ^= 1;
    expect(await web.signature.verify(flipped, message, signature)).toBe(false);
    // Many compressed keys, both parities, against node:crypto's decompression.
    const node = nodeImpl(name);
    for (let i = 0; i < 8; i++) {
      const pair = await node.signature.keygen();
      const point = Uint8Array.of(
        2 + (pair.publicKey[pair.publicKey.length - 1]! & 1),
        ...pair.publicKey.subarray(1, 1 + scalar),
      );
      const signed = await node.signature.sign(pair.signKey, message);
      expect(await web.signature.verify(point, message, signed), `key ${i}`).toBe(true);
    }
  });

  it('accepts either S, as ts-mls default (lowS: false) and node:crypto do', async () => {
    const { web, others } = await all(name);
    const { signKey, publicKey } = await web.signature.keygen();
    const message = bytes(30);
    const signature = await web.signature.sign(signKey, message);
    const mirrored = mirrorEcdsaS(signature, order);
    expect(toHex(mirrored)).not.toBe(toHex(signature));
    expect(await web.signature.verify(publicKey, message, mirrored)).toBe(true);
    for (const [label, other] of others) {
      expect(await other.signature.verify(publicKey, message, mirrored), label).toBe(true);
    }
  });

  it('refuses non-canonical DER and trailing bytes', async () => {
    const { web } = await all(name);
    const { signKey, publicKey } = await web.signature.keygen();
    const message = bytes(30);
    const signature = await web.signature.sign(signKey, message);
    expect(await web.signature.verify(publicKey, message, Uint8Array.of(...signature, 0))).toBe(
      false,
    );
    expect(await web.signature.verify(publicKey, message, signature.subarray(0, -1))).toBe(false);
  });

  it('refuses an HPKE key that is not an uncompressed point of the curve, or a bad scalar', async () => {
    const web = webImpl(name);
    const { publicKey } = await web.hpke.generateKeyPair();
    const point = await web.hpke.exportPublicKey(publicKey);
    const offCurve = point.slice();
    offCurve[offCurve.length - 1]! ^= 1;
    await expect(web.hpke.importPublicKey(offCurve)).rejects.toThrow(CryptoError);
    const compressed = point.slice();
    compressed[0] = 2;
    await expect(web.hpke.importPublicKey(compressed)).rejects.toThrow(CryptoError);
    let orderHex = order.toString(16);
    orderHex = orderHex.padStart(2 * scalar, '0');
    for (const bad of [new Uint8Array(scalar), hex(orderHex)]) {
      await expect(web.hpke.importPrivateKey(bad)).rejects.toThrow(CryptoError);
    }
  });
});
