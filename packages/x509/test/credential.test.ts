import { generateKeyPairSync, type webcrypto } from 'node:crypto';
import { MlsTlsError } from '@mlstls/codec';
import { issueCertificate, type TestPki, testPki, toPem } from '@mlstls/test-support';
import { type CiphersuiteName, getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadX509Credential, x509CredentialFromJwk } from '../src/index.js';

let pki: TestPki;

beforeAll(async () => {
  pki = await testPki();
});

/** ts-mls signs with the credential's private key and verifies with its public key. */
async function signsWithTsMls(
  suite: CiphersuiteName,
  credential: { signaturePrivateKey: Uint8Array; signaturePublicKey: Uint8Array },
): Promise<void> {
  const { signature } = await getCiphersuiteImpl(getCiphersuiteFromName(suite));
  const message = new TextEncoder().encode('an MLS leaf node');
  const signed = await signature.sign(credential.signaturePrivateKey, message);
  expect(await signature.verify(credential.signaturePublicKey, message, signed)).toBe(true);
  expect(await signature.verify(credential.signaturePublicKey, message.subarray(1), signed)).toBe(
    false,
  );
}

function thrown(run: () => unknown): MlsTlsError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MlsTlsError);
    return error as MlsTlsError;
  }
  throw new Error('did not throw');
}

async function rejected(promise: Promise<unknown>): Promise<MlsTlsError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(MlsTlsError);
  return error as MlsTlsError;
}

describe('x509CredentialFromJwk makes a credential ts-mls signs with', () => {
  it('Ed25519: raw public key, PKCS#8 of the seed as the private key', async () => {
    const credential = x509CredentialFromJwk(
      [pki.server.der, pki.intermediate.der],
      pki.server.jwk,
    );
    expect(credential.credential).toEqual({
      credentialType: 'x509',
      certificates: [pki.server.der, pki.intermediate.der],
    });
    expect(credential.signatureAlgorithm).toBe('Ed25519');
    expect(credential.signaturePublicKey).toEqual(pki.server.publicKey);
    expect(credential.signaturePrivateKey.length).toBe(48);
    expect(Buffer.from(credential.signaturePrivateKey.subarray(0, 16)).toString('hex')).toBe(
      '302e020100300506032b657004220420',
    );
    await signsWithTsMls('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', credential);
  });

  it('P-256: uncompressed point, raw scalar d', async () => {
    const credential = x509CredentialFromJwk([pki.client.der], pki.client.jwk);
    expect(credential.signatureAlgorithm).toBe('P256');
    expect(credential.signaturePublicKey).toEqual(pki.client.publicKey);
    expect(credential.signaturePrivateKey.length).toBe(32);
    await signsWithTsMls('MLS_128_DHKEMP256_AES128GCM_SHA256_P256', credential);
  });

  it('the certificates are copies', () => {
    const der = pki.server.der.slice();
    const credential = x509CredentialFromJwk([der], pki.server.jwk);
    der[0] = 0;
    expect(credential.credential.certificates[0]![0]).toBe(0x30);
  });
});

describe('x509CredentialFromJwk refuses', () => {
  it("a key that is not the leaf's: ERR_MLSTLS_INVALID_ARGUMENT (node's key values mismatch)", () => {
    const error = thrown(() => x509CredentialFromJwk([pki.server.der], pki.client.jwk));
    expect(error.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    expect(error.message).toContain('the key does not match the certificate');
    const other = thrown(() => x509CredentialFromJwk([pki.server.der], pki.root.jwk));
    expect(other.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
  });

  it('RSA, secp256k1 and X25519: ERR_MLSTLS_UNSUPPORTED', async () => {
    const rsa = (await crypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: Uint8Array.of(1, 0, 1),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    )) as webcrypto.CryptoKeyPair;
    const rsaJwk = await crypto.subtle.exportKey('jwk', rsa.privateKey);
    expect(thrown(() => x509CredentialFromJwk([pki.server.der], rsaJwk)).code).toBe(
      'ERR_MLSTLS_UNSUPPORTED',
    );
    // P-384, P-521 and Ed448 sign MLS too (signature-schemes.test.ts); these curves do not.
    const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    const k256Jwk = k256.export({ format: 'jwk' });
    expect(k256Jwk.crv).toBe('secp256k1');
    expect(thrown(() => x509CredentialFromJwk([pki.server.der], k256Jwk)).code).toBe(
      'ERR_MLSTLS_UNSUPPORTED',
    );
    const x25519Jwk = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' });
    expect(thrown(() => x509CredentialFromJwk([pki.server.der], x25519Jwk)).code).toBe(
      'ERR_MLSTLS_UNSUPPORTED',
    );
    const k256Pem = k256.export({ format: 'pem', type: 'pkcs8' }).toString();
    const k256Error = await rejected(loadX509Credential({ cert: pki.server.pem, key: k256Pem }));
    expect(k256Error.code).toBe('ERR_MLSTLS_UNSUPPORTED');
    expect(k256Error.message).toContain('on 1.3.132.0.10');
    const rsaPkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', rsa.privateKey));
    const error = await rejected(
      loadX509Credential({ cert: pki.server.pem, key: toPem('PRIVATE KEY', rsaPkcs8) }),
    );
    expect(error.code).toBe('ERR_MLSTLS_UNSUPPORTED');
  });

  it('a public key alone, no certificate, or a certificate that does not parse', () => {
    const { d: _, ...publicJwk } = pki.server.jwk;
    expect(thrown(() => x509CredentialFromJwk([pki.server.der], publicJwk)).code).toBe(
      'ERR_MLSTLS_INVALID_ARGUMENT',
    );
    expect(thrown(() => x509CredentialFromJwk([], pki.server.jwk)).code).toBe(
      'ERR_MLSTLS_INVALID_ARGUMENT',
    );
    expect(
      thrown(() => x509CredentialFromJwk([Uint8Array.of(0x30, 0x00)], pki.server.jwk)).code,
    ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
  });
});

describe('loadX509Credential reads PEM or DER with WebCrypto', () => {
  it('PEM chain and PKCS#8 PEM key give what the JWK gives, for Ed25519 and P-256', async () => {
    for (const leaf of [pki.server, pki.client]) {
      const loaded = await loadX509Credential({
        cert: `${leaf.pem}${pki.intermediate.pem}`,
        key: leaf.keyPem,
      });
      expect(loaded).toEqual(x509CredentialFromJwk([leaf.der, pki.intermediate.der], leaf.jwk));
    }
  });

  it('DER certificate and DER key, and a PEM key given as bytes', async () => {
    const pkcs8 = new Uint8Array(
      await crypto.subtle.exportKey('pkcs8', pki.server.keys.privateKey),
    );
    const fromDer = await loadX509Credential({ cert: pki.server.der, key: pkcs8 });
    const fromBytes = await loadX509Credential({
      cert: [pki.server.der],
      key: new TextEncoder().encode(pki.server.keyPem),
    });
    expect(fromDer).toEqual(fromBytes);
    await signsWithTsMls('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', fromDer);
  });

  it('refuses a key that is not the leaf key, an encrypted key, and junk', async () => {
    expect(
      (await rejected(loadX509Credential({ cert: pki.server.pem, key: pki.client.keyPem }))).code,
    ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    const encrypted =
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n';
    const error = await rejected(loadX509Credential({ cert: pki.server.pem, key: encrypted }));
    expect(error.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    expect(error.message).toContain('encrypted');
    expect((await rejected(loadX509Credential({ cert: pki.server.pem, key: 'junk' }))).code).toBe(
      'ERR_MLSTLS_INVALID_ARGUMENT',
    );
    expect(
      (await rejected(loadX509Credential({ cert: pki.server.pem, key: Uint8Array.of(0x30, 0x00) })))
        .code,
    ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
  });

  it('a P-256 certificate for a key that is not the MLS key is refused before any handshake', async () => {
    // The certificate is for another key than the one given: the operator's mistake.
    const other = await issueCertificate({ subject: 'other', keyType: 'P-256' });
    expect(
      (await rejected(loadX509Credential({ cert: other.pem, key: pki.client.keyPem }))).code,
    ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
  });
});
