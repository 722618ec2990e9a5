// Certificates for the X.509 tests, issued in the run: nothing checked in can expire.
import {
  type IssuedCertificate,
  type IssueOptions,
  issueCertificate,
  testPki,
} from '@mlstls/test-support';

export {
  type IssuedCertificate,
  issueCertificate,
  within,
} from '@mlstls/test-support';

/** A chain as node:tls's `cert` option takes it: PEM blocks, leaf first. */
export function pemChain(...certificates: IssuedCertificate[]): string {
  return certificates.map((certificate) => certificate.pem).join('');
}

export interface NodePki {
  /** A self-signed Ed25519 root CA. */
  readonly root: IssuedCertificate;
  /** A P-256 intermediate CA issued by `root`. */
  readonly intermediate: IssuedCertificate;
  /** An Ed25519 leaf issued by `intermediate`: localhost, 127.0.0.1, ::1, serverAuth. */
  readonly server: IssuedCertificate;
  /** An Ed25519 leaf issued by `intermediate`: clientAuth (suite 1 signs with Ed25519). */
  readonly client: IssuedCertificate;
  /** `server` with its intermediate, as a server's `cert`. */
  readonly serverChain: string;
  /** `client` with its intermediate, as a client's `cert`. */
  readonly clientChain: string;
  /** A leaf issued by `intermediate` with the names and usages of `server` unless told. */
  issueLeaf(options: Partial<IssueOptions> & { subject: string }): Promise<IssuedCertificate>;
}

/** root CA -> intermediate CA -> a server and a client leaf whose keys can sign for suite 1. */
export async function nodePki(): Promise<NodePki> {
  const { root, intermediate, server } = await testPki();
  const issueLeaf = (options: Partial<IssueOptions> & { subject: string }) =>
    issueCertificate({
      issuer: intermediate,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      extendedKeyUsage: ['serverAuth'],
      ...options,
    });
  const client = await issueCertificate({
    subject: 'mlstls node test client',
    issuer: intermediate,
    extendedKeyUsage: ['clientAuth'],
  });
  return {
    root,
    intermediate,
    server,
    client,
    serverChain: pemChain(server, intermediate),
    clientChain: pemChain(client, intermediate),
    issueLeaf,
  };
}
