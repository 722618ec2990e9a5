import { type IssuedCertificate, issueCertificate } from '@mlstls/x509-issuer';

export interface TestPki {
  /** A self-signed Ed25519 root CA. */
  readonly root: IssuedCertificate;
  /** A P-256 intermediate CA issued by `root`. */
  readonly intermediate: IssuedCertificate;
  /** An Ed25519 server leaf issued by `intermediate`: localhost, 127.0.0.1, ::1, serverAuth. */
  readonly server: IssuedCertificate;
  /** A P-256 client leaf issued by `intermediate`: clientAuth. */
  readonly client: IssuedCertificate;
}

/** root CA -> intermediate CA -> a server and a client leaf, as several tests need. */
export async function testPki(): Promise<TestPki> {
  const root = await issueCertificate({ subject: 'mlstls test root', ca: true });
  const intermediate = await issueCertificate({
    subject: 'mlstls test intermediate',
    issuer: root,
    keyType: 'P-256',
    ca: { pathLength: 0 },
  });
  const server = await issueCertificate({
    subject: 'localhost',
    issuer: intermediate,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    extendedKeyUsage: ['serverAuth'],
  });
  const client = await issueCertificate({
    subject: 'mlstls test client',
    issuer: intermediate,
    keyType: 'P-256',
    extendedKeyUsage: ['clientAuth'],
  });
  return { root, intermediate, server, client };
}
