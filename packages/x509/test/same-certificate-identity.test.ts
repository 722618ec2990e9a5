import { issueCertificate, type TestPki, testPki } from '@mlstls/test-support';
import { sameCertificateIdentity } from '@mlstls/x509';
import { beforeAll, describe, expect, it } from 'vitest';

let pki: TestPki;

beforeAll(async () => {
  pki = await testPki();
});

describe('sameCertificateIdentity: same leaf subject and same set of subjectAltNames', () => {
  it('a renewal with a new key, from another CA, with the names in another order', async () => {
    const renewed = await issueCertificate({
      subject: 'localhost',
      ipAddresses: ['::1', '127.0.0.1'],
      dnsNames: ['localhost'],
      keyType: 'P-256',
    });
    expect(sameCertificateIdentity([pki.server.der, pki.intermediate.der], [renewed.der])).toBe(
      true,
    );
  });

  it('the same certificate', () => {
    expect(sameCertificateIdentity([pki.client.der], [pki.client.der])).toBe(true);
  });

  it('another subject', async () => {
    const other = await issueCertificate({
      subject: 'not localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    expect(sameCertificateIdentity([pki.server.der], [other.der])).toBe(false);
  });

  it('a name more, a name less, or another name', async () => {
    const variants = [
      { dnsNames: ['localhost', 'extra.example'], ipAddresses: ['127.0.0.1', '::1'] },
      { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
      { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::2'] },
      {},
    ];
    for (const names of variants) {
      const other = await issueCertificate({ subject: 'localhost', ...names });
      expect(sameCertificateIdentity([pki.server.der], [other.der])).toBe(false);
      expect(sameCertificateIdentity([other.der], [pki.server.der])).toBe(false);
    }
  });

  it('only the leaf counts', () => {
    expect(
      sameCertificateIdentity(
        [pki.server.der, pki.intermediate.der],
        [pki.server.der, pki.root.der],
      ),
    ).toBe(true);
    expect(sameCertificateIdentity([pki.intermediate.der, pki.server.der], [pki.server.der])).toBe(
      false,
    );
  });

  it('empty chains and DER that does not parse are never the same', () => {
    expect(sameCertificateIdentity([], [])).toBe(false);
    expect(sameCertificateIdentity([pki.server.der], [])).toBe(false);
    expect(sameCertificateIdentity([Uint8Array.of(0x30, 0x00)], [Uint8Array.of(0x30, 0x00)])).toBe(
      false,
    );
  });
});
