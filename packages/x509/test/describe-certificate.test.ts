import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { inspect } from 'node:util';
import { testPki } from '@mlstls/test-support';
import { describe, expect, it } from 'vitest';
import {
  decodeCertificates,
  describeCertificate,
  type PeerCertificate,
  TrustAnchors,
  verifyCertificateChain,
} from '../src/index.js';

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
function asNodeWould(
  der: Uint8Array,
  description: PeerCertificate = describeCertificate(der),
): Record<string, unknown> {
  const { issuerCertificate: _issuer, ...mine }: Record<string, unknown> = { ...description };
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

describe('fingerprints and issuers are described on first read, as plain properties after', () => {
  it('a verified path matches node, issuer by issuer, the root linking to itself', async () => {
    const pki = await testPki();
    const leaf = await verifyCertificateChain([pki.server.der, pki.intermediate.der], {
      anchors: TrustAnchors.from(pki.root.der),
      now: Date.now(),
      purpose: 'server',
      signaturePublicKey: pki.server.publicKey,
    });
    const path = [pki.server, pki.intermediate, pki.root];
    let step: PeerCertificate | undefined = leaf;
    for (const certificate of path) {
      expect(step).toBeDefined();
      expect(asNodeWould(certificate.der, step)).toStrictEqual(nodeDescription(certificate.der));
      step = step!.issuerCertificate;
    }
    const root = leaf.issuerCertificate?.issuerCertificate;
    expect(root?.issuerCertificate).toBe(root);
    // Read twice, the same object: an issuer is described once.
    expect(leaf.issuerCertificate).toBe(leaf.issuerCertificate);
  });

  it('computes a lazy property once, then holds it as a data property', async () => {
    const pki = await testPki();
    // The P-256 intermediate, which node gives every field this package does.
    const der = pki.intermediate.der;
    const description = describeCertificate(der, [pki.root.der]);
    for (const key of ['fingerprint', 'fingerprint256', 'fingerprint512', 'issuerCertificate']) {
      expect(Object.getOwnPropertyDescriptor(description, key)).toMatchObject({
        enumerable: true,
      });
    }
    expect(Object.getOwnPropertyDescriptor(description, 'fingerprint256')?.get).toBeDefined();
    const fingerprint = description.fingerprint256;
    expect(fingerprint).toBe(new X509Certificate(der).fingerprint256);
    expect(Object.getOwnPropertyDescriptor(description, 'fingerprint256')).toEqual({
      value: fingerprint,
      writable: true,
      enumerable: true,
      configurable: true,
    });
    // node's objects are plain and writable; so is a lazy property, read or not.
    const written = description as { fingerprint512: string };
    written.fingerprint512 = 'mine';
    expect(description.fingerprint512).toBe('mine');
    expect(Object.keys(description)).toEqual(
      Object.keys(nodeDescription(der)).concat('issuerCertificate'),
    );
  });

  it('serializes to JSON and prints with util.inspect with every value', async () => {
    const pki = await testPki();
    const der = pki.server.der;
    const json = JSON.parse(JSON.stringify(describeCertificate(der))) as Record<string, unknown>;
    expect(json.fingerprint512).toBe(new X509Certificate(der).fingerprint512);
    // A path that ends at a certificate that is not self-issued has no cycle.
    const path = JSON.parse(JSON.stringify(describeCertificate(der, [pki.intermediate.der])));
    expect(path.issuerCertificate.subject).toEqual({ CN: 'mlstls test intermediate' });
    // The root links to itself, as node's: a cycle, which JSON refuses as for node's objects.
    const cyclic = describeCertificate(der, [pki.intermediate.der, pki.root.der]);
    expect(() => JSON.stringify(cyclic)).toThrow(TypeError);
    const printed = inspect(describeCertificate(der, [pki.intermediate.der]), { depth: 3 });
    expect(printed).not.toContain('Getter');
    expect(printed).toContain(new X509Certificate(der).fingerprint256);
    expect(printed).toContain(new X509Certificate(pki.intermediate.der).fingerprint);
  });
});
