// The issuer checked by an independent parser: node:crypto's X509Certificate (OpenSSL).
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { describe, expect, it } from 'vitest';
import { generateKeys, issueCertificate, type KeyType, toPem } from '../src/index.js';

/** Each key type: its JWK, raw public key length, and the signature OID of what it issues. */
const KEY_TYPES: readonly {
  keyType: KeyType;
  jwk: { kty: string; crv: string };
  publicKeyLength: number;
  signatureOid: string;
}[] = [
  {
    keyType: 'Ed25519',
    jwk: { kty: 'OKP', crv: 'Ed25519' },
    publicKeyLength: 32,
    signatureOid: '1.3.101.112',
  },
  {
    keyType: 'P-256',
    jwk: { kty: 'EC', crv: 'P-256' },
    publicKeyLength: 65,
    signatureOid: '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  },
  {
    keyType: 'P-384',
    jwk: { kty: 'EC', crv: 'P-384' },
    publicKeyLength: 97,
    signatureOid: '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  },
  {
    keyType: 'P-521',
    jwk: { kty: 'EC', crv: 'P-521' },
    publicKeyLength: 133,
    signatureOid: '1.2.840.10045.4.3.4', // ecdsa-with-SHA512
  },
  {
    keyType: 'Ed448',
    jwk: { kty: 'OKP', crv: 'Ed448' },
    publicKeyLength: 57,
    signatureOid: '1.3.101.113',
  },
];

function signatureOidOf(der: Uint8Array): string {
  const certificate = AsnConvert.parse(der, Certificate);
  expect(certificate.tbsCertificate.signature.algorithm).toBe(
    certificate.signatureAlgorithm.algorithm,
  );
  return certificate.signatureAlgorithm.algorithm;
}

describe('issueCertificate', () => {
  it('makes a CA and a leaf that OpenSSL parses, links and reads as asked', async () => {
    const authority = await issueCertificate({ subject: 'test CA', ca: { pathLength: 0 } });
    const leaf = await issueCertificate({
      subject: 'localhost',
      issuer: authority,
      keyType: 'P-256',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      extendedKeyUsage: ['serverAuth'],
    });
    const ca = new X509Certificate(authority.pem);
    const server = new X509Certificate(leaf.pem);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subject).toBe('CN=localhost');
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(Date.parse(server.validTo) - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(Date.parse(server.validFrom)).toBeLessThan(Date.now());
    // The raw public key is the one in the certificate (P-256 uncompressed point).
    const spki = server.publicKey.export({ format: 'der', type: 'spki' });
    expect(Buffer.from(spki).subarray(-65)).toEqual(Buffer.from(leaf.publicKey));
    expect(leaf.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(leaf.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  for (const { keyType, jwk, publicKeyLength, signatureOid } of KEY_TYPES) {
    it(`${keyType}: a CA and a leaf OpenSSL verifies, signed with ${signatureOid}`, async () => {
      const authority = await issueCertificate({ subject: `${keyType} CA`, ca: true, keyType });
      const leaf = await issueCertificate({
        subject: `${keyType} leaf`,
        issuer: authority,
        keyType,
        extendedKeyUsage: ['serverAuth'],
      });
      const ca = new X509Certificate(authority.pem);
      const server = new X509Certificate(leaf.pem);
      expect(ca.verify(ca.publicKey)).toBe(true);
      expect(server.checkIssued(ca)).toBe(true);
      expect(server.verify(ca.publicKey)).toBe(true);
      expect(signatureOidOf(authority.der)).toBe(signatureOid);
      expect(signatureOidOf(leaf.der)).toBe(signatureOid);
      expect(leaf.jwk).toMatchObject(jwk);
      expect(leaf.publicKey).toHaveLength(publicKeyLength);
      const spki = server.publicKey.export({ format: 'der', type: 'spki' });
      expect(Buffer.from(spki).subarray(-publicKeyLength)).toEqual(Buffer.from(leaf.publicKey));
      expect(server.publicKey.asymmetricKeyType).toBe(
        keyType.startsWith('P-') ? 'ec' : keyType.toLowerCase(),
      );
    });
  }

  it("the signature algorithm follows the issuer's key, not the subject's", async () => {
    for (const issuerType of KEY_TYPES) {
      const authority = await issueCertificate({
        subject: 'CA',
        ca: true,
        keyType: issuerType.keyType,
      });
      for (const { keyType } of KEY_TYPES) {
        const leaf = await issueCertificate({ subject: 'leaf', issuer: authority, keyType });
        expect(signatureOidOf(leaf.der)).toBe(issuerType.signatureOid);
        expect(
          new X509Certificate(leaf.der).verify(new X509Certificate(authority.der).publicKey),
        ).toBe(true);
      }
    }
  });

  it('refuses to sign with a key of another kind', async () => {
    const rsa = (await crypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: Uint8Array.of(1, 0, 1),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    )) as Awaited<ReturnType<typeof generateKeys>>;
    await expect(issueCertificate({ subject: 'rsa', keys: rsa })).rejects.toThrow(
      'cannot sign certificates with a RSASSA-PKCS1-v1_5 key',
    );
  });

  it('signs with a given key pair and keeps validity bounds to whole seconds', async () => {
    const keys = await generateKeys('Ed25519');
    const notBefore = new Date('2026-01-01T00:00:00Z');
    const notAfter = new Date('2027-01-01T00:00:00Z');
    const self = await issueCertificate({ subject: 'self', keys, notBefore, notAfter });
    const parsed = new X509Certificate(self.der);
    expect(parsed.verify(parsed.publicKey)).toBe(true);
    expect(new Date(parsed.validFrom).toISOString()).toBe(notBefore.toISOString());
    expect(new Date(parsed.validTo).toISOString()).toBe(notAfter.toISOString());
    expect(self.keys).toBe(keys);
  });

  it('writes PEM in 64-character lines', () => {
    const pem = toPem('TEST', new Uint8Array(100).fill(0xff));
    const lines = pem.trimEnd().split('\n');
    expect(lines[0]).toBe('-----BEGIN TEST-----');
    expect(lines.at(-1)).toBe('-----END TEST-----');
    expect(lines[1]).toHaveLength(64);
    expect(Buffer.from(lines.slice(1, -1).join(''), 'base64')).toEqual(Buffer.alloc(100, 0xff));
  });
});
