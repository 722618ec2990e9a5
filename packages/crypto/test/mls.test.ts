// The node:crypto MLS ciphersuites against ts-mls's own implementation: byte for byte where both
// are deterministic, each opening and verifying the other's output where they are not. Their
// vectors (the MLS working group's, RFC 5869's and RFC 9180's) are in mls-vectors.test.ts.
import nodeCrypto, { randomBytes } from 'node:crypto';
import { ed448 } from '@noble/curves/ed448.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { type CiphersuiteName, getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { describe, expect, it, vi } from 'vitest';
import { withHandshakeMemory } from '../src/mls.js';
import { hex, mirrorEcdsaS, nodeImpl, toHex } from './mls-helpers.js';

const SUPPORTED_CIPHERSUITES = [
  { id: 1, name: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' },
  { id: 2, name: 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256' },
  { id: 3, name: 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519' },
  { id: 4, name: 'MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448' },
  { id: 5, name: 'MLS_256_DHKEMP521_AES256GCM_SHA512_P521' },
  { id: 6, name: 'MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448' },
  { id: 7, name: 'MLS_256_DHKEMP384_AES256GCM_SHA384_P384' },
] as const satisfies readonly { id: number; name: CiphersuiteName }[];

type SuiteName = (typeof SUPPORTED_CIPHERSUITES)[number]['name'];

/** The ECDSA suites, with @noble's curve (what ts-mls default signs with) and its order. */
const ECDSA_SUITES = [
  { id: 2, name: 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256', curve: p256, scalar: 32 },
  { id: 5, name: 'MLS_256_DHKEMP521_AES256GCM_SHA512_P521', curve: p521, scalar: 66 },
  { id: 7, name: 'MLS_256_DHKEMP384_AES256GCM_SHA384_P384', curve: p384, scalar: 48 },
] as const satisfies readonly {
  id: number;
  name: SuiteName;
  curve: typeof p256;
  scalar: number;
}[];

/** The X25519 and X448 suites with Ed25519 or Ed448 signatures. */
const EDDSA_SUITES = [
  { id: 1, name: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', seed: 32 },
  { id: 3, name: 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519', seed: 32 },
  { id: 4, name: 'MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448', seed: 57 },
  { id: 6, name: 'MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448', seed: 57 },
] as const satisfies readonly { id: number; name: SuiteName; seed: number }[];

const P521_SUITE = 'MLS_256_DHKEMP521_AES256GCM_SHA512_P521';
const bytes = (length: number) => new Uint8Array(randomBytes(length));
const defaultImpl = (name: CiphersuiteName) => getCiphersuiteImpl(getCiphersuiteFromName(name));

/** Both implementations of one suite, and which is which, for "one with the other" tests. */
async function both(name: CiphersuiteName) {
  const node = nodeImpl(name);
  const reference = await defaultImpl(name);
  return {
    node,
    reference,
    pairs: [
      ['node', node, 'default', reference],
      ['default', reference, 'node', node],
      ['node', node, 'node', node],
    ] as const,
  };
}

describe.each(SUPPORTED_CIPHERSUITES)('node:crypto suite $id ($name)', ({ name }) => {
  it('has the same name, key, nonce and hash sizes as ts-mls default', async () => {
    const { node, reference } = await both(name);
    expect(node.name).toBe(name);
    expect(node.hpke.keyLength).toBe(reference.hpke.keyLength);
    expect(node.hpke.nonceLength).toBe(reference.hpke.nonceLength);
    expect(node.kdf.size).toBe(reference.kdf.size);
  });

  it('hashes and MACs the same bytes as ts-mls default', async () => {
    const { node, reference } = await both(name);
    for (const length of [0, 1, 55, 64, 200]) {
      const data = bytes(length);
      const key = bytes(length === 0 ? 32 : length);
      expect(toHex(await node.hash.digest(data))).toBe(toHex(await reference.hash.digest(data)));
      const mac = await node.hash.mac(key, data);
      expect(toHex(mac)).toBe(toHex(await reference.hash.mac(key, data)));
      expect(await node.hash.verifyMac(key, mac, data)).toBe(true);
      const forged = mac.slice();
      forged[0]! ^= 1;
      expect(await node.hash.verifyMac(key, forged, data)).toBe(false);
      expect(await node.hash.verifyMac(key, mac.subarray(1), data)).toBe(false);
    }
  });

  it('extracts and expands the same bytes as ts-mls default', async () => {
    const { node, reference } = await both(name);
    // hpke-js takes no salt but an empty or HashLen one, the only lengths ts-mls passes.
    for (const salt of [new Uint8Array(0), bytes(node.kdf.size)]) {
      const ikm = bytes(node.kdf.size);
      const prk = await node.kdf.extract(salt, ikm);
      expect(toHex(prk)).toBe(toHex(await reference.kdf.extract(salt, ikm)));
      for (const length of [1, 12, 16, 32, 33, 48, 64, 65, 100, 255 * node.kdf.size]) {
        const info = bytes(length % 50);
        expect(toHex(await node.kdf.expand(prk, info, length))).toBe(
          toHex(await reference.kdf.expand(prk, info, length)),
        );
      }
    }
  });

  it('encrypts what ts-mls default decrypts, and the reverse', async () => {
    const { pairs, node } = await both(name);
    for (const [, sealer, , opener] of pairs) {
      for (const aad of [undefined, new Uint8Array(0), bytes(13)]) {
        const key = bytes(node.hpke.keyLength);
        const nonce = bytes(node.hpke.nonceLength);
        const plaintext = bytes(77);
        const ciphertext = await sealer.hpke.encryptAead(key, nonce, aad, plaintext);
        expect(ciphertext.length).toBe(plaintext.length + 16);
        expect(toHex(await opener.hpke.decryptAead(key, nonce, aad, ciphertext))).toBe(
          toHex(plaintext),
        );
        const tampered = ciphertext.slice();
        tampered[5]! ^= 1;
        await expect(opener.hpke.decryptAead(key, nonce, aad, tampered)).rejects.toThrow(
          CryptoError,
        );
      }
    }
  });

  it('refuses a ciphertext shorter than the tag with a CryptoError', async () => {
    const { node } = await both(name);
    const key = bytes(node.hpke.keyLength);
    await expect(node.hpke.decryptAead(key, bytes(12), undefined, bytes(15))).rejects.toThrow(
      CryptoError,
    );
  });

  it('signs what ts-mls default verifies, and the reverse, with each side generating the key', async () => {
    const { pairs } = await both(name);
    for (const [, signer, , verifier] of pairs) {
      const { signKey, publicKey } = await signer.signature.keygen();
      const message = bytes(100);
      const signature = await signer.signature.sign(signKey, message);
      expect(await verifier.signature.verify(publicKey, message, signature)).toBe(true);
      const other = message.slice();
      other[0]! ^= 1;
      expect(await verifier.signature.verify(publicKey, other, signature)).toBe(false);
      const forged = signature.slice();
      forged[forged.length - 1]! ^= 1;
      expect(await verifier.signature.verify(publicKey, message, forged)).toBe(false);
    }
  });

  it('signs with keys ts-mls default generated, and the reverse', async () => {
    const { node, reference } = await both(name);
    for (const [generator, signer, verifier] of [
      [reference, node, reference],
      [reference, node, node],
      [node, reference, node],
      [node, reference, reference],
    ] as const) {
      const { signKey, publicKey } = await generator.signature.keygen();
      const message = bytes(33);
      const signature = await signer.signature.sign(signKey, message);
      expect(await verifier.signature.verify(publicKey, message, signature)).toBe(true);
    }
  });

  it('says no, without throwing, to a malformed signature key or signature', async () => {
    const { node } = await both(name);
    const { signKey, publicKey } = await node.signature.keygen();
    const message = bytes(10);
    const signature = await node.signature.sign(signKey, message);
    for (const key of [
      new Uint8Array(0),
      publicKey.subarray(1),
      new Uint8Array(publicKey.length),
    ]) {
      expect(await node.signature.verify(key, message, signature)).toBe(false);
    }
    expect(await node.signature.verify(publicKey, message, new Uint8Array(0))).toBe(false);
    expect(await node.signature.verify(publicKey, message, bytes(signature.length))).toBe(false);
  });

  it('derives the same HPKE key pair from the same ikm as ts-mls default', async () => {
    const { node, reference } = await both(name);
    for (let i = 0; i < 8; i++) {
      const ikm = bytes(i < 4 ? 32 : 64);
      const ours = await node.hpke.deriveKeyPair(ikm);
      const theirs = await reference.hpke.deriveKeyPair(ikm);
      expect(toHex(await node.hpke.exportPrivateKey(ours.privateKey))).toBe(
        toHex(await reference.hpke.exportPrivateKey(theirs.privateKey)),
      );
      expect(toHex(await node.hpke.exportPublicKey(ours.publicKey))).toBe(
        toHex(await reference.hpke.exportPublicKey(theirs.publicKey)),
      );
    }
  });

  it('generates HPKE keys that ts-mls default imports, and imports the ones it generates', async () => {
    const { pairs } = await both(name);
    for (const [, generator, , importer] of pairs) {
      const { privateKey, publicKey } = await generator.hpke.generateKeyPair();
      const privateBytes = await generator.hpke.exportPrivateKey(privateKey);
      const publicBytes = await generator.hpke.exportPublicKey(publicKey);
      const imported = await importer.hpke.importPrivateKey(privateBytes);
      expect(toHex(await importer.hpke.exportPrivateKey(imported))).toBe(toHex(privateBytes));
      const importedPublic = await importer.hpke.importPublicKey(publicBytes);
      expect(toHex(await importer.hpke.exportPublicKey(importedPublic))).toBe(toHex(publicBytes));
      // The imported private key opens what is sealed to the generated public key.
      const plaintext = bytes(20);
      const info = bytes(5);
      const { ct, enc } = await generator.hpke.seal(publicKey, plaintext, info);
      expect(enc.length).toBe(publicBytes.length);
      expect(toHex(await importer.hpke.open(imported, enc, ct, info))).toBe(toHex(plaintext));
    }
  });

  it('seals to ts-mls default, and opens what it seals, with and without aad', async () => {
    const { pairs } = await both(name);
    for (const [, sealer, , opener] of pairs) {
      const recipient = await opener.hpke.generateKeyPair();
      const publicKey = await sealer.hpke.importPublicKey(
        await opener.hpke.exportPublicKey(recipient.publicKey),
      );
      for (const aad of [undefined, bytes(9)]) {
        const plaintext = bytes(64);
        const info = bytes(30);
        const { ct, enc } = await sealer.hpke.seal(publicKey, plaintext, info, aad);
        expect(toHex(await opener.hpke.open(recipient.privateKey, enc, ct, info, aad))).toBe(
          toHex(plaintext),
        );
        await expect(
          opener.hpke.open(recipient.privateKey, enc, ct, bytes(30), aad),
        ).rejects.toThrow(CryptoError);
      }
    }
  });

  it('exports the secret ts-mls default imports, and the reverse', async () => {
    const { pairs } = await both(name);
    for (const [, sender, , recipient] of pairs) {
      const keys = await recipient.hpke.generateKeyPair();
      const publicKey = await sender.hpke.importPublicKey(
        await recipient.hpke.exportPublicKey(keys.publicKey),
      );
      const context = new TextEncoder().encode('MLS 1.0 external init secret');
      const info = bytes(3);
      const { enc, secret } = await sender.hpke.exportSecret(publicKey, context, 32, info);
      expect(
        toHex(await recipient.hpke.importSecret(keys.privateKey, context, enc, 32, info)),
      ).toBe(toHex(secret));
    }
  });

  it('opens nothing with the wrong key, and says so with a CryptoError', async () => {
    const { node } = await both(name);
    const right = await node.hpke.generateKeyPair();
    const wrong = await node.hpke.generateKeyPair();
    const { ct, enc } = await node.hpke.seal(right.publicKey, bytes(10), new Uint8Array(0));
    await expect(node.hpke.open(wrong.privateKey, enc, ct, new Uint8Array(0))).rejects.toThrow(
      CryptoError,
    );
    await expect(
      node.hpke.open(right.privateKey, enc.subarray(1), ct, new Uint8Array(0)),
    ).rejects.toThrow(CryptoError);
  });

  it('refuses HPKE keys of the wrong length with a CryptoError', async () => {
    const { node } = await both(name);
    const { publicKey, privateKey } = await node.hpke.generateKeyPair();
    const publicBytes = await node.hpke.exportPublicKey(publicKey);
    const privateBytes = await node.hpke.exportPrivateKey(privateKey);
    for (const key of [publicBytes.subarray(1), new Uint8Array(0), bytes(publicBytes.length + 1)]) {
      await expect(node.hpke.importPublicKey(key)).rejects.toThrow(CryptoError);
    }
    // ts-mls default left-pads a short P-521 private key (tested below); no other.
    const short = name === P521_SUITE ? [] : [privateBytes.subarray(1)];
    for (const key of [...short, new Uint8Array(0), bytes(privateBytes.length + 1)]) {
      await expect(node.hpke.importPrivateKey(key)).rejects.toThrow(CryptoError);
    }
  });
});

describe.each(ECDSA_SUITES)('node:crypto suite $id: P curve input', ({ name, curve, scalar }) => {
  const order = curve.Point.CURVE().n;
  const toScalar = (value: bigint) => hex(value.toString(16).padStart(2 * scalar, '0'));

  it('refuses an HPKE key that is not an uncompressed point of the curve', async () => {
    const cs = nodeImpl(name);
    const { publicKey, privateKey } = await cs.hpke.generateKeyPair();
    const point = await cs.hpke.exportPublicKey(publicKey);
    expect(point.length).toBe(1 + 2 * scalar);
    const offCurve = point.slice();
    offCurve[point.length - 1]! ^= 1;
    const last = point[point.length - 1]!;
    const compressed = Uint8Array.of(2 + (last & 1), ...point.subarray(1, 1 + scalar));
    for (const key of [offCurve, compressed, new Uint8Array(point.length)]) {
      await expect(cs.hpke.importPublicKey(key)).rejects.toThrow(CryptoError);
    }
    const { ct } = await cs.hpke.seal(publicKey, bytes(4), new Uint8Array(0));
    await expect(cs.hpke.open(privateKey, offCurve, ct, new Uint8Array(0))).rejects.toThrow(
      CryptoError,
    );
  });

  it('refuses a private key of zero or not below the order', async () => {
    const cs = nodeImpl(name);
    const reference = await defaultImpl(name);
    for (const key of [
      new Uint8Array(scalar),
      toScalar(order),
      new Uint8Array(scalar).fill(0xff),
    ]) {
      await expect(cs.hpke.importPrivateKey(key)).rejects.toThrow(CryptoError);
      await expect(reference.hpke.importPrivateKey(key)).rejects.toThrow(CryptoError);
      await expect(cs.signature.sign(key, bytes(3))).rejects.toThrow(/signing key/);
    }
    // n - 1 is the largest scalar.
    const largest = toScalar(order - 1n);
    const imported = await cs.hpke.importPrivateKey(largest);
    expect(toHex(await cs.hpke.exportPrivateKey(imported))).toBe(toHex(largest));
  });

  it('emits signature keys uncompressed (RFC 9420 section 5.1.1) and verifies compressed ones', async () => {
    const node = nodeImpl(name);
    const reference = await defaultImpl(name);
    const ours = await node.signature.keygen();
    expect(ours.signKey.length).toBe(scalar);
    expect(ours.publicKey.length).toBe(1 + 2 * scalar);
    expect(ours.publicKey[0]).toBe(0x04);
    const theirs = await reference.signature.keygen();
    expect(theirs.publicKey.length).toBe(1 + scalar); // ts-mls default emits compressed points
    const message = bytes(8);
    const signature = await node.signature.sign(theirs.signKey, message);
    expect(signature[0]).toBe(0x30); // a DER SEQUENCE
    expect(await node.signature.verify(theirs.publicKey, message, signature)).toBe(true);
  });

  it('derives the public key ts-mls default (@noble) derives from the same scalar', async () => {
    const node = nodeImpl(name);
    for (let i = 0; i < 4; i++) {
      const { signKey, publicKey } = await node.signature.keygen();
      expect(toHex(publicKey)).toBe(toHex(curve.getPublicKey(signKey, false)));
    }
  });

  it('accepts either S of an ECDSA signature, as ts-mls default (lowS: false) does', async () => {
    const node = nodeImpl(name);
    const reference = await defaultImpl(name);
    const { signKey, publicKey } = await node.signature.keygen();
    const message = bytes(8);
    const signature = await node.signature.sign(signKey, message);
    const mirrored = mirrorEcdsaS(signature, order);
    expect(toHex(mirrored)).not.toBe(toHex(signature));
    for (const cs of [node, reference]) {
      expect(await cs.signature.verify(publicKey, message, signature)).toBe(true);
      expect(await cs.signature.verify(publicKey, message, mirrored)).toBe(true);
    }
  });
});

describe('node:crypto suite 5: short P-521 private keys', () => {
  it('left-pads an HPKE private key shorter than 66 bytes, as ts-mls default does', async () => {
    const node = nodeImpl(P521_SUITE);
    const reference = await defaultImpl(P521_SUITE);
    // A scalar with a zero first byte, as one in 512 P-521 keys is.
    const full = hex(`00${toHex(bytes(65))}`);
    full[1]! |= 0x80;
    for (const cs of [node, reference]) {
      const imported = await cs.hpke.importPrivateKey(full.subarray(1));
      expect(toHex(await cs.hpke.exportPrivateKey(imported))).toBe(toHex(full));
    }
  });
});

describe.each(EDDSA_SUITES)('node:crypto suite $id: EdDSA and X keys', ({ name, seed }) => {
  it('signs with a raw seed or its PKCS#8, byte for byte as ts-mls default', async () => {
    const node = nodeImpl(name);
    const reference = await defaultImpl(name);
    const { signKey, publicKey } = await node.signature.keygen();
    // Ed25519: WebCrypto's PKCS#8, what ts-mls default emits on Node. Ed448: the raw seed,
    // what it emits through @noble (which signs with nothing else).
    expect(signKey.length).toBe(seed === 32 ? 48 : 57);
    expect(publicKey.length).toBe(seed);
    const raw = signKey.subarray(signKey.length - seed);
    const message = bytes(8);
    const withSeed = await node.signature.sign(raw, message);
    expect(withSeed.length).toBe(2 * seed);
    // EdDSA is deterministic: both spellings of the key, and both implementations, agree.
    expect(toHex(withSeed)).toBe(toHex(await node.signature.sign(signKey, message)));
    expect(toHex(withSeed)).toBe(toHex(await reference.signature.sign(signKey, message)));
    expect(await node.signature.verify(publicKey, message, withSeed)).toBe(true);
    if (seed === 57) expect(toHex(publicKey)).toBe(toHex(ed448.getPublicKey(raw)));
    await expect(node.signature.sign(bytes(seed + 8), message)).rejects.toThrow(/signing key/);
  });

  it('refuses an exchange with a low-order point (RFC 9180 section 7.1.4)', async () => {
    const cs = nodeImpl(name);
    const { privateKey, publicKey: own } = await cs.hpke.generateKeyPair();
    const length = (await cs.hpke.exportPublicKey(own)).length;
    for (const u of [0, 1]) {
      const lowOrder = new Uint8Array(length);
      lowOrder[0] = u; // the points u = 0 and u = 1 (little-endian)
      const publicKey = await cs.hpke.importPublicKey(lowOrder);
      await expect(cs.hpke.seal(publicKey, bytes(4), new Uint8Array(0))).rejects.toThrow();
      await expect(
        cs.hpke.open(privateKey, lowOrder, bytes(20), new Uint8Array(0)),
      ).rejects.toThrow(CryptoError);
    }
  });
});

describe.each(SUPPORTED_CIPHERSUITES)('cached keys and verifications, suite $id', ({ name }) => {
  it('signs with the new key when the key array is changed in place', async () => {
    const node = nodeImpl(name);
    const reference = await defaultImpl(name);
    const first = await node.signature.keygen();
    const second = await node.signature.keygen();
    const signKey = first.signKey.slice();
    const message = bytes(40);
    expect(
      await reference.signature.verify(
        first.publicKey,
        message,
        await node.signature.sign(signKey, message),
      ),
    ).toBe(true);
    signKey.set(second.signKey);
    const signature = await node.signature.sign(signKey, message);
    expect(await reference.signature.verify(second.publicKey, message, signature)).toBe(true);
    expect(await reference.signature.verify(first.publicKey, message, signature)).toBe(false);
  });

  it('remembers within one handshake copy only, and leaves other implementations alone', async () => {
    const node = nodeImpl(name);
    const remembering = withHandshakeMemory(node);
    expect(remembering.signature).not.toBe(node.signature);
    expect(withHandshakeMemory(remembering).signature).not.toBe(remembering.signature);
    const reference = await defaultImpl(name);
    expect(withHandshakeMemory(reference)).toBe(reference);
    // What one copy signed it takes as verified without asking OpenSSL; another copy asks.
    const { signKey, publicKey } = await node.signature.keygen();
    const message = bytes(64);
    const signature = await remembering.signature.sign(signKey, message);
    const verify = vi.spyOn(nodeCrypto, 'verify');
    try {
      expect(await remembering.signature.verify(publicKey, message, signature)).toBe(true);
      expect(verify).not.toHaveBeenCalled();
      const other = withHandshakeMemory(node);
      expect(await other.signature.verify(publicKey, message, signature)).toBe(true);
      expect(await other.signature.verify(publicKey, message, signature)).toBe(true);
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      verify.mockRestore();
    }
  });

  it('never answers for another key, message or signature than one that verified', async () => {
    const node = withHandshakeMemory(nodeImpl(name));
    const fresh = withHandshakeMemory(nodeImpl(name)); // another handshake: nothing remembered
    const { signKey, publicKey } = await node.signature.keygen();
    const other = await node.signature.keygen();
    const message = bytes(300);
    const signature = await node.signature.sign(signKey, message);
    expect(await node.signature.verify(publicKey, message, signature)).toBe(true);
    expect(await fresh.signature.verify(publicKey, message, signature)).toBe(true);
    const changedMessage = message.slice();
    changedMessage[299]! ^= 1;
    const changedSignature = signature.slice();
    changedSignature[signature.length - 1]! ^= 1;
    for (const verifier of [node, fresh]) {
      expect(await verifier.signature.verify(publicKey, changedMessage, signature)).toBe(false);
      expect(await verifier.signature.verify(publicKey, message, changedSignature)).toBe(false);
      expect(await verifier.signature.verify(other.publicKey, message, signature)).toBe(false);
    }
    // A public key array changed in place is not the cached key any more (no memory here).
    const key = publicKey.slice();
    expect(await nodeImpl(name).signature.verify(key, message, signature)).toBe(true);
    key.set(other.publicKey);
    expect(await nodeImpl(name).signature.verify(key, message, signature)).toBe(false);
  });
});
