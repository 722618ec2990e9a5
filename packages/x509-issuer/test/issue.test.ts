// The issuer checked by an independent parser: node:crypto's X509Certificate (OpenSSL).
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeys, issueCertificate, toPem } from '../src/index.js';

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
