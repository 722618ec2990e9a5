// Certificates made by the openssl CLI in the run (RSA, RSA-PSS, ECDSA P-256/384/521, Ed25519,
// Ed448), as real deployments make them: the chain verifies, and describeCertificate agrees with
// node:crypto.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MlsTlsError } from '@mlstls/codec';
import { issueCertificate, testPki } from '@mlstls/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeCertificates,
  describeCertificate,
  loadX509Credential,
  TrustAnchors,
  verifyCertificateChain,
} from '../src/index.js';

let dir: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function write(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

function read(name: string): string {
  return readFileSync(join(dir, name), 'utf8');
}

/** A CSR for `subject` with a new key made by `keyArgs`, signed by `ca` with `signArgs`. */
function issue(
  name: string,
  subject: string,
  keyArgs: string[],
  ca: string,
  extensions: string,
  signArgs: string[] = [],
): void {
  openssl(
    'req',
    '-new',
    ...keyArgs,
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    '0x0a1b2c',
    '-days',
    '30',
    '-out',
    `${name}.pem`,
    '-extfile',
    write(`${name}.ext`, extensions),
    ...signArgs,
  );
}

const CA_EXTENSIONS =
  'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlstls-x509-'));
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'root.key',
    '-out',
    'root.pem',
    '-days',
    '30',
    '-subj',
    '/C=US/ST=California/O=Root Org/OU=A/OU=B/CN=OpenSSL RSA Root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  issue(
    'ec',
    '/O=Intermediate Org/CN=OpenSSL P-384 Intermediate',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    'root',
    `${CA_EXTENSIONS}basicConstraints=critical,CA:TRUE,pathlen:0\n`,
  );
  issue(
    'leaf',
    '/CN=localhost',
    ['-newkey', 'ed25519'],
    'ec',
    'subjectAltName=DNS:localhost,DNS:*.example.com,IP:127.0.0.1,IP:::1,IP:fe80::1:2,email:a@example.com,URI:https://example.com/x\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nauthorityInfoAccess=OCSP;URI:http://ocsp.example.com\n',
    ['-sha384'],
  );
  // RSA-PSS: an intermediate signed with PSS by the rsaEncryption root, and a root whose own
  // key is an RSASSA-PSS key (the SPKI WebCrypto does not import as is).
  issue(
    'pss-signed',
    '/CN=PSS-signed leaf',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    'root',
    'keyUsage=critical,digitalSignature\n',
    ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
  );
  openssl(
    'genpkey',
    '-algorithm',
    'RSA-PSS',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    'pss-root.key',
  );
  openssl(
    'req',
    '-x509',
    '-key',
    'pss-root.key',
    '-out',
    'pss-root.pem',
    '-days',
    '30',
    '-subj',
    '/CN=RSA-PSS Root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-sha256',
  );
  issue(
    'pss-leaf',
    '/CN=under PSS root',
    ['-newkey', 'ed25519'],
    'pss-root',
    'keyUsage=critical,digitalSignature\n',
    ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
  );
  issue(
    'sha1-leaf',
    '/CN=SHA-1 signed',
    ['-newkey', 'ed25519'],
    'root',
    'keyUsage=critical,digitalSignature\n',
    ['-sha1'],
  );
  // Subject alternative names node has to quote, and name types it prints specially.
  const odd = [
    '[ext]',
    'subjectAltName=@alt',
    '[alt]',
    'DNS.1 = a,b.example',
    'DNS.2 = ünï.example',
    'URI.1 = http://x,y/',
    'email.1 = a:b@c',
    'RID.1 = 1.2.3.4',
    'otherName.1 = 1.3.6.1.4.1.311.20.2.3;UTF8:user@example.com',
    'dirName.1 = dir_sect',
    'IP.1 = 10.0.0.1',
    '[dir_sect]',
    'CN = Dir Name',
    'O = Org, Inc',
    '',
  ].join('\n');
  issue(
    'odd',
    '/CN=odd/emailAddress=e@x.y/DC=com/serialNumber=123/UID=u1/title=T/2.5.4.97=VATDE-1',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    'root',
    odd,
  );
  // The MLS signature schemes of suites 4 to 7: a P-384 root (ECDSA SHA-384) -> P-521
  // intermediate -> P-384 leaf (ECDSA SHA-512), and an Ed448 root -> Ed448 and P-521 leaves.
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-384',
    '-nodes',
    '-keyout',
    'p384-root.key',
    '-out',
    'p384-root.pem',
    '-days',
    '30',
    '-subj',
    '/CN=OpenSSL P-384 Root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-sha384',
  );
  issue(
    'p521-int',
    '/CN=OpenSSL P-521 Intermediate',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'],
    'p384-root',
    CA_EXTENSIONS,
    ['-sha384'],
  );
  issue(
    'p384-leaf',
    '/CN=P-384 leaf',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    'p521-int',
    'subjectAltName=DNS:localhost\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    ['-sha512'],
  );
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ed448',
    '-nodes',
    '-keyout',
    'ed448-root.key',
    '-out',
    'ed448-root.pem',
    '-days',
    '30',
    '-subj',
    '/CN=OpenSSL Ed448 Root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  issue(
    'ed448-leaf',
    '/CN=Ed448 leaf',
    ['-newkey', 'ed448'],
    'ed448-root',
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  issue(
    'p521-leaf',
    '/CN=P-521 leaf',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'],
    'ed448-root',
    'keyUsage=critical,digitalSignature\n',
  );
  // Several openssl processes, one of them an RSA key generation: seconds on a loaded runner.
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function leafKey(name: string): Promise<Uint8Array> {
  const credential = await loadX509Credential({
    cert: read(`${name}.pem`),
    key: read(`${name}.key`),
  });
  return credential.signaturePublicKey;
}

describe('openssl-made chains verify', () => {
  it('RSA-2048 root -> ECDSA P-384 intermediate (PKCS#1 v1.5) -> Ed25519 leaf (ECDSA SHA-384)', async () => {
    const anchors = TrustAnchors.from(read('root.pem'));
    const leaf = await verifyCertificateChain(
      decodeCertificates([read('leaf.pem'), read('ec.pem')]),
      {
        anchors,
        now: Date.now(),
        purpose: 'server',
        signaturePublicKey: await leafKey('leaf'),
      },
    );
    expect(leaf.subject).toEqual({ CN: 'localhost' });
    expect(leaf.issuerCertificate?.asn1Curve).toBe('secp384r1');
    expect(leaf.issuerCertificate?.issuerCertificate?.bits).toBe(2048);
  });

  it('RSA-PSS signatures, by an rsaEncryption key and by an RSASSA-PSS key', async () => {
    const signed = await verifyCertificateChain(decodeCertificates(read('pss-signed.pem')), {
      anchors: TrustAnchors.from(read('root.pem')),
      now: Date.now(),
      purpose: 'server',
      signaturePublicKey: await leafKey('pss-signed'),
    });
    expect(signed.nistCurve).toBe('P-256');
    const leaf = await verifyCertificateChain(decodeCertificates(read('pss-leaf.pem')), {
      anchors: TrustAnchors.from(read('pss-root.pem')),
      now: Date.now(),
      purpose: 'client',
      signaturePublicKey: await leafKey('pss-leaf'),
    });
    expect(leaf.issuerCertificate?.subject.CN).toBe('RSA-PSS Root');
  });

  it('a SHA-1 signature is refused as unsupported', async () => {
    const error = await verifyCertificateChain(decodeCertificates(read('sha1-leaf.pem')), {
      anchors: TrustAnchors.from(read('root.pem')),
      now: Date.now(),
      purpose: 'server',
      signaturePublicKey: await leafKey('sha1-leaf'),
    }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(MlsTlsError);
    expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    expect((error as MlsTlsError).message).toContain(
      '1.2.840.113549.1.1.5 of CN=SHA-1 signed is not supported',
    );
  });

  it('openssl verify accepts the chains of the test issuer', async () => {
    const pki = await testPki();
    write('t-root.pem', pki.root.pem);
    write('t-int.pem', pki.intermediate.pem);
    for (const leaf of [pki.server, pki.client]) {
      write('t-leaf.pem', leaf.pem);
      openssl(
        'verify',
        '-x509_strict',
        '-CAfile',
        't-root.pem',
        '-untrusted',
        't-int.pem',
        't-leaf.pem',
      );
    }
  });
});

describe('openssl-made P-384, P-521 and Ed448 keys sign MLS', () => {
  const cases = [
    {
      name: 'p384-leaf',
      chain: ['p521-int'],
      anchor: 'p384-root',
      algorithm: 'P384',
      purpose: 'server',
    },
    { name: 'ed448-leaf', chain: [], anchor: 'ed448-root', algorithm: 'Ed448', purpose: 'client' },
    { name: 'p521-leaf', chain: [], anchor: 'ed448-root', algorithm: 'P521', purpose: 'server' },
  ] as const;
  for (const { name, chain, anchor, algorithm, purpose } of cases) {
    it(`${name}: openssl's PKCS#8 key loads as a ${algorithm} credential, and its chain verifies`, async () => {
      const credential = await loadX509Credential({
        cert: [read(`${name}.pem`), ...chain.map((ca) => read(`${ca}.pem`))],
        key: read(`${name}.key`),
      });
      expect(credential.signatureAlgorithm).toBe(algorithm);
      const leaf = await verifyCertificateChain(credential.credential.certificates, {
        anchors: TrustAnchors.from(read(`${anchor}.pem`)),
        now: Date.now(),
        purpose,
        signaturePublicKey: credential.signaturePublicKey,
      });
      expect(leaf.raw).toEqual(credential.credential.certificates[0]);
      expect(leaf.issuerCertificate?.subject.CN).toBe(
        new X509Certificate(read(`${chain[0] ?? anchor}.pem`)).subject.replace(/^CN=/, ''),
      );
    });
  }

  it('openssl verify accepts P-384, P-521 and Ed448 chains of the test issuer', async () => {
    for (const keyType of ['P-384', 'P-521', 'Ed448'] as const) {
      const root = await issueCertificate({ subject: `${keyType} root`, ca: true, keyType });
      const intermediate = await issueCertificate({
        subject: `${keyType} intermediate`,
        issuer: root,
        ca: true,
        keyType,
      });
      const leaf = await issueCertificate({
        subject: 'localhost',
        issuer: intermediate,
        keyType,
        dnsNames: ['localhost'],
        extendedKeyUsage: ['serverAuth'],
      });
      write('t-root.pem', root.pem);
      write('t-int.pem', intermediate.pem);
      write('t-leaf.pem', leaf.pem);
      openssl(
        'verify',
        '-x509_strict',
        '-purpose',
        'sslserver',
        '-CAfile',
        't-root.pem',
        '-untrusted',
        't-int.pem',
        't-leaf.pem',
      );
    }
  });
});

describe('describeCertificate agrees with node:crypto on openssl-made certificates', () => {
  const names = [
    ...['root', 'ec', 'leaf', 'pss-root', 'pss-signed', 'odd'],
    ...['p384-root', 'p521-int', 'p384-leaf', 'ed448-root', 'ed448-leaf', 'p521-leaf'],
  ];
  for (const name of names) {
    it(`${name}: subject, issuer, subjectAltName, validity, serial, fingerprints, infoAccess`, () => {
      const [der] = decodeCertificates(read(`${name}.pem`));
      const node = new X509Certificate(der!);
      const mine = describeCertificate(der!);
      const legacy = node.toLegacyObject();
      expect({ ...mine.subject }).toEqual({ ...legacy.subject });
      expect({ ...mine.issuer }).toEqual({ ...legacy.issuer });
      expect(mine.subjectaltname).toBe(node.subjectAltName);
      expect(mine.valid_from).toBe(node.validFrom);
      expect(mine.valid_to).toBe(node.validTo);
      expect(mine.serialNumber).toBe(node.serialNumber);
      expect(mine.fingerprint).toBe(node.fingerprint);
      expect(mine.fingerprint256).toBe(node.fingerprint256);
      expect(mine.fingerprint512).toBe(node.fingerprint512);
      expect(mine.ca).toBe(node.ca);
      expect(mine.ext_key_usage).toEqual(legacy.ext_key_usage);
      expect(mine.infoAccess === undefined ? undefined : { ...mine.infoAccess }).toEqual(
        (legacy as { infoAccess?: object }).infoAccess === undefined
          ? undefined
          : { ...(legacy as { infoAccess?: object }).infoAccess },
      );
      for (const key of ['bits', 'modulus', 'exponent', 'asn1Curve', 'nistCurve'] as const) {
        expect(mine[key]).toEqual(legacy[key as keyof typeof legacy]);
      }
      if (legacy.pubkey !== undefined) expect(mine.pubkey).toEqual(new Uint8Array(legacy.pubkey));
    });
  }
});
