import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { testPki } from '@mlstls/test-support';
import { decodeCertificates, describeCertificate } from '@mlstls/x509';
import { describe, expect, it } from 'vitest';

/** node's legacy certificate object, Buffers as Uint8Array, for comparing field by field. */
function nodeDescription(der: Uint8Array): Record<string, unknown> {
  const legacy = new X509Certificate(der).toLegacyObject() as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(legacy)) {
    out[key] = Buffer.isBuffer(value) ? new Uint8Array(value) : value;
  }
  return out;
}

/**
 * Our description where node has one; `pubkey` is ours alone for keys node leaves without
 * (Ed25519): there it is the raw key.
 */
function asNodeWould(der: Uint8Array): Record<string, unknown> {
  const mine: Record<string, unknown> = { ...describeCertificate(der) };
  if (!('pubkey' in nodeDescription(der))) delete mine.pubkey;
  return mine;
}

describe('describeCertificate matches node:crypto X509Certificate.toLegacyObject()', () => {
  it('for every root certificate node bundles (RSA, EC, BMPString names, infoAccess)', () => {
    const roots = decodeCertificates(rootCertificates);
    expect(roots.length).toBe(rootCertificates.length);
    for (const der of roots) expect(asNodeWould(der)).toStrictEqual(nodeDescription(der));
  });

  it('for the test PKI (Ed25519 and P-256 keys, SANs, EKU)', async () => {
    const pki = await testPki();
    for (const certificate of [pki.root, pki.intermediate, pki.server, pki.client]) {
      expect(asNodeWould(certificate.der)).toStrictEqual(nodeDescription(certificate.der));
    }
  });
});
