// X.509 over real TCP, checked as node:tls checks certificates (docs/protocol.md section 4): the
// chain to `ca`, the validity period, the host name, the leaf key as the MLS signature key,
// client certificates; node:tls's option names, and getPeerCertificate() as node describes
// the same DER.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { Socket } from 'node:net';
import { checkServerIdentity as tlsCheckServerIdentity } from 'node:tls';
import { MemoryStore } from '@mlstls/storage';
import { type PeerCertificate, x509CredentialFromJwk } from '@mlstls/x509';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectOptions,
  connect,
  createSecureContext,
  createServer,
  MlsTlsError,
  type MlsTlsServer,
  type MlsTlsSocket,
  type ServerOptions,
} from '../src/index.js';
import {
  closeAll,
  closed,
  connectClient,
  errorsOf,
  nextError,
  nextSecureConnection,
  portOf,
  readAll,
  startRawServer,
  startServer,
} from './loopback.js';
import {
  type IssuedCertificate,
  issueCertificate,
  type NodePki,
  nodePki,
  pemChain,
  within,
} from './pki.js';

/** Every wait of these tests is bounded, so that a missing event fails with its name. */
const WAIT_MS = 10_000;
const DAY_MS = 86_400_000;

let pki: NodePki;
/** A root CA that issued none of the certificates the servers present. */
let strangerRoot: IssuedCertificate;

beforeAll(async () => {
  pki = await nodePki();
  strangerRoot = await issueCertificate({ subject: 'a root nobody here uses', ca: true });
});

afterEach(closeAll);

/** A server presenting `pki.server` and its intermediate unless `options` say otherwise. */
function x509Server(
  options: ServerOptions = {},
  listener?: (socket: MlsTlsSocket) => void,
): Promise<MlsTlsServer> {
  return startServer(
    options.credential !== undefined || options.secureContext !== undefined
      ? options
      : { key: pki.server.keyPem, cert: pki.serverChain, ...options },
    listener,
  );
}

/** A client of `server` on 127.0.0.1 that trusts `pki.root` unless `options` say otherwise. */
function x509Client(server: MlsTlsServer, options: Partial<ConnectOptions> = {}): MlsTlsSocket {
  return connectClient({
    host: '127.0.0.1',
    port: portOf(server),
    ...(options.secureContext === undefined ? { ca: pki.root.pem } : {}),
    ...options,
  });
}

async function secured(socket: MlsTlsSocket): Promise<MlsTlsSocket> {
  await within(once(socket, 'secureConnect'), WAIT_MS, "the client's secureConnect");
  return socket;
}

async function failure(socket: MlsTlsSocket): Promise<MlsTlsError> {
  const error = await within(nextError(socket), WAIT_MS, "the client's error");
  expect(error).toBeInstanceOf(MlsTlsError);
  return error as MlsTlsError;
}

async function clientError(server: MlsTlsServer): Promise<MlsTlsError> {
  const [error] = (await within(
    once(server, 'tlsClientError'),
    WAIT_MS,
    "the server's tlsClientError",
  )) as [MlsTlsError];
  return error;
}

async function accepted(server: MlsTlsServer): Promise<MlsTlsSocket> {
  return within(nextSecureConnection(server), WAIT_MS, "the server's secureConnection");
}

/** Ends both sides with a message each and checks that each arrived. */
async function exchange(client: MlsTlsSocket, peer: MlsTlsSocket): Promise<void> {
  const toServer = readAll(peer);
  const toClient = readAll(client);
  client.end('from the client');
  peer.end('from the server');
  expect((await within(toServer, WAIT_MS, 'the client data')).toString()).toBe('from the client');
  expect((await within(toClient, WAIT_MS, 'the server data')).toString()).toBe('from the server');
}

/** What `thunk` throws. */
function thrownBy(thunk: () => unknown): MlsTlsError {
  try {
    thunk();
  } catch (error) {
    expect(error).toBeInstanceOf(MlsTlsError);
    return error as MlsTlsError;
  }
  throw new Error('nothing was thrown');
}

/** A plaintext fatal alert record (RFC 8446 5.1, 6). */
function alertRecord(description: number): Buffer {
  return Buffer.from([21, 3, 3, 0, 2, 2, description]);
}

/**
 * A TCP relay to `targetPort` that keeps what the client sends: to see the alert a client
 * refusing the server puts on the wire.
 */
async function startTap(targetPort: number): Promise<{ port: number; toServer: () => Buffer }> {
  const chunks: Buffer[] = [];
  const relay = await startRawServer((client) => {
    const server = new Socket({ allowHalfOpen: true });
    server.connect(targetPort, '127.0.0.1');
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('end', () => server.end());
    server.on('end', () => client.end());
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  });
  return { port: portOf(relay), toServer: () => Buffer.concat(chunks) };
}

/** The fields of node's own description of `der` that getPeerCertificate() must match. */
function nodeDescription(der: Uint8Array) {
  const certificate = new X509Certificate(der);
  const legacy = certificate.toLegacyObject();
  // node's own accessors and its legacy (getPeerCertificate-shaped) object agree.
  expect(legacy.subjectaltname).toBe(certificate.subjectAltName);
  expect(legacy.valid_from).toBe(certificate.validFrom);
  expect(legacy.serialNumber).toBe(certificate.serialNumber);
  expect(legacy.fingerprint256).toBe(certificate.fingerprint256);
  return {
    subject: { ...legacy.subject },
    issuer: { ...legacy.issuer },
    subjectaltname: legacy.subjectaltname,
    valid_from: legacy.valid_from,
    valid_to: legacy.valid_to,
    serialNumber: legacy.serialNumber,
    fingerprint: legacy.fingerprint,
    fingerprint256: legacy.fingerprint256,
  };
}

function describedAs(certificate: PeerCertificate) {
  return {
    subject: { ...certificate.subject },
    issuer: { ...certificate.issuer },
    subjectaltname: certificate.subjectaltname,
    valid_from: certificate.valid_from,
    valid_to: certificate.valid_to,
    serialNumber: certificate.serialNumber,
    fingerprint: certificate.fingerprint,
    fingerprint256: certificate.fingerprint256,
  };
}

function peerCertificateOf(socket: MlsTlsSocket, detailed = false): PeerCertificate {
  const certificate = socket.getPeerCertificate(detailed);
  expect(certificate).not.toBeNull();
  expect(certificate).toHaveProperty('raw');
  return certificate as PeerCertificate;
}

describe('a chain root -> intermediate -> server leaf', () => {
  for (const { host, by } of [
    { host: '127.0.0.1', by: 'its IP address SAN' },
    { host: 'localhost', by: 'its DNS SAN' },
  ]) {
    it(`authorizes the server by ${by} (host ${host}), and data flows both ways`, async () => {
      const server = await x509Server();
      const serverSide = accepted(server);
      const client = x509Client(server, { host });
      expect(client.getPeerCertificate()).toBeNull();
      await secured(client);
      expect(client.authorized).toBe(true);
      expect(client.authorizationError).toBeUndefined();
      expect(client.servername).toBe(host === 'localhost' ? 'localhost' : false);
      const peer = await serverSide;
      await exchange(client, peer);
      expect(errorsOf(client)).toEqual([]);
      expect(errorsOf(peer)).toEqual([]);
    });
  }

  it("getPeerCertificate() describes the leaf as node's X509Certificate does", async () => {
    const server = await x509Server();
    const client = await secured(x509Client(server));
    const certificate = peerCertificateOf(client);
    expect(describedAs(certificate)).toEqual(nodeDescription(pki.server.der));
    expect(certificate.subject.CN).toBe('localhost');
    expect(certificate.subjectaltname).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(Buffer.from(certificate.raw)).toEqual(Buffer.from(pki.server.der));
    expect(certificate.issuerCertificate).toBeUndefined();
  });

  it('getPeerCertificate(true) links the intermediate, then the root, which links to itself', async () => {
    const server = await x509Server();
    const client = await secured(x509Client(server));
    const leaf = peerCertificateOf(client, true);
    const intermediate = leaf.issuerCertificate!;
    const root = intermediate.issuerCertificate!;
    expect(describedAs(intermediate)).toEqual(nodeDescription(pki.intermediate.der));
    expect(describedAs(root)).toEqual(nodeDescription(pki.root.der));
    expect(intermediate.ca).toBe(true);
    expect(root.issuerCertificate).toBe(root);
  });

  it('the server socket of a client without a certificate has getPeerCertificate() {}', async () => {
    const server = await x509Server();
    const serverSide = accepted(server);
    await secured(x509Client(server));
    const peer = await serverSide;
    expect(peer.getPeerCertificate()).toEqual({});
    expect(peer.authorized).toBe(false);
  });
});

describe('the chain must lead to `ca`', () => {
  it('an unknown CA is ERR_MLSTLS_UNKNOWN_CA with unknown_ca on the wire, and both ends close', async () => {
    const server = await x509Server();
    const tap = await startTap(portOf(server));
    const secured: MlsTlsSocket[] = [];
    server.on('secureConnection', (socket: MlsTlsSocket) => secured.push(socket));
    const [clientError] = await Promise.all([
      (async () => {
        const client = connectClient({ host: '127.0.0.1', port: tap.port, ca: strangerRoot.pem });
        const error = await failure(client);
        await within(closed(client), WAIT_MS, 'the client closing');
        return error;
      })(),
      // Key confirmation (section 4): the server waits for the client's first protected
      // record, so the refusal is a handshake failure on its side, its alert read and believed.
      within(
        once(server, 'tlsClientError') as Promise<[MlsTlsError, MlsTlsSocket]>,
        WAIT_MS,
        'the server reporting the client error',
      ).then(([error]) => {
        expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
        expect(error.alertName).toBe('unknown_ca');
      }),
    ]);
    expect(clientError.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
    expect(clientError.alert).toBe(48);
    expect(clientError.alertName).toBe('unknown_ca');
    expect(secured).toEqual([]);
    expect(tap.toServer().subarray(-7)).toEqual(alertRecord(48));
  });

  it("without `ca` the default is node:tls's bundled roots, which do not know the test CA", async () => {
    const server = await x509Server();
    const client = connectClient({ host: '127.0.0.1', port: portOf(server) });
    expect((await failure(client)).code).toBe('ERR_MLSTLS_UNKNOWN_CA');
  });

  it('a server that leaves out its intermediate is ERR_MLSTLS_UNKNOWN_CA for a client trusting the root', async () => {
    const server = await x509Server({ key: pki.server.keyPem, cert: pki.server.pem });
    const error = await failure(x509Client(server));
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
    expect(error.alertName).toBe('unknown_ca');
  });

  it('an intermediate given as `ca` is an anchor: the leaf alone verifies', async () => {
    const server = await x509Server({ key: pki.server.keyPem, cert: pki.server.pem });
    const client = await secured(x509Client(server, { ca: pki.intermediate.pem }));
    expect(client.authorized).toBe(true);
    const leaf = peerCertificateOf(client, true);
    expect(leaf.issuerCertificate?.fingerprint256).toBe(
      new X509Certificate(pki.intermediate.der).fingerprint256,
    );
  });

  it('`ca` may list several anchors, PEM text or DER', async () => {
    const server = await x509Server();
    const client = await secured(x509Client(server, { ca: [strangerRoot.pem, pki.root.der] }));
    expect(client.authorized).toBe(true);
  });
});

describe('the validity period, by the clock', () => {
  it('an expired leaf is ERR_MLSTLS_CERT_HAS_EXPIRED with certificate_expired', async () => {
    const expired = await pki.issueLeaf({
      subject: 'localhost',
      notBefore: new Date(Date.now() - 2 * DAY_MS),
      notAfter: new Date(Date.now() - DAY_MS),
    });
    const server = await x509Server({
      key: expired.keyPem,
      cert: pemChain(expired, pki.intermediate),
    });
    const error = await failure(x509Client(server));
    expect(error.code).toBe('ERR_MLSTLS_CERT_HAS_EXPIRED');
    expect(error.alert).toBe(45);
    expect(error.alertName).toBe('certificate_expired');
  });

  it('a leaf not valid yet is ERR_MLSTLS_CERT_NOT_YET_VALID with certificate_expired', async () => {
    const early = await pki.issueLeaf({
      subject: 'localhost',
      notBefore: new Date(Date.now() + DAY_MS),
      notAfter: new Date(Date.now() + 2 * DAY_MS),
    });
    const server = await x509Server({ key: early.keyPem, cert: pemChain(early, pki.intermediate) });
    const error = await failure(x509Client(server));
    expect(error.code).toBe('ERR_MLSTLS_CERT_NOT_YET_VALID');
    expect(error.alert).toBe(45);
  });
});

describe('the purpose (extended key usage)', () => {
  it('a server leaf for clientAuth only is ERR_MLSTLS_CERT_INVALID_PURPOSE with unsupported_certificate', async () => {
    const clientOnly = await pki.issueLeaf({
      subject: 'localhost',
      extendedKeyUsage: ['clientAuth'],
    });
    const server = await x509Server({
      key: clientOnly.keyPem,
      cert: pemChain(clientOnly, pki.intermediate),
    });
    const error = await failure(x509Client(server));
    expect(error.code).toBe('ERR_MLSTLS_CERT_INVALID_PURPOSE');
    expect(error.alert).toBe(43);
    expect(error.alertName).toBe('unsupported_certificate');
  });

  it('a server leaf without extended key usage serves', async () => {
    // issueLeaf would add serverAuth; this leaf has no extendedKeyUsage extension at all.
    const plain = await issueCertificate({
      subject: 'localhost',
      issuer: pki.intermediate,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const server = await x509Server({ key: plain.keyPem, cert: pemChain(plain, pki.intermediate) });
    expect((await secured(x509Client(server))).authorized).toBe(true);
  });
});

describe('the host name (servername, default host)', () => {
  it('a servername the certificate does not name is ERR_MLSTLS_CERT_ALTNAME_INVALID with bad_certificate', async () => {
    const server = await x509Server();
    const error = await failure(x509Client(server, { servername: 'other.test' }));
    expect(error.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
    expect(error.alert).toBe(42);
    expect(error.alertName).toBe('bad_certificate');
  });

  it('a leaf for another name is ERR_MLSTLS_CERT_ALTNAME_INVALID for host 127.0.0.1 and localhost', async () => {
    const elsewhere = await pki.issueLeaf({
      subject: 'elsewhere.test',
      dnsNames: ['elsewhere.test'],
      ipAddresses: [],
    });
    const server = await x509Server({
      key: elsewhere.keyPem,
      cert: pemChain(elsewhere, pki.intermediate),
    });
    for (const host of ['127.0.0.1', 'localhost']) {
      const error = await failure(x509Client(server, { host }));
      expect(error.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
    }
  });

  it('with rejectUnauthorized: false the connection works, unauthorized, and says why', async () => {
    const server = await x509Server();
    const serverSide = accepted(server);
    const client = await secured(
      x509Client(server, { servername: 'other.test', rejectUnauthorized: false }),
    );
    expect(client.authorized).toBe(false);
    expect(client.authorizationError).toBeInstanceOf(MlsTlsError);
    expect(client.authorizationError?.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
    expect(peerCertificateOf(client).subject.CN).toBe('localhost');
    await exchange(client, await serverSide);
  });

  it('a checkServerIdentity that accepts authorizes the server, asked with servername and the certificate', async () => {
    const server = await x509Server();
    const asked: [string, string | string[] | undefined][] = [];
    const client = await secured(
      x509Client(server, {
        servername: 'other.test',
        checkServerIdentity: (hostname, certificate) => {
          asked.push([hostname, certificate.subject.CN]);
          return undefined;
        },
      }),
    );
    expect(client.authorized).toBe(true);
    expect(asked).toEqual([['other.test', 'localhost']]);
  });

  it('a checkServerIdentity that returns an Error refuses a server the default check accepts', async () => {
    const server = await x509Server();
    const error = await failure(
      x509Client(server, { checkServerIdentity: () => new Error('not this one') }),
    );
    expect(error.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
    expect(error.alertName).toBe('bad_certificate');
  });

  it("node:tls's own checkServerIdentity gives the same verdicts", async () => {
    const server = await x509Server();
    const checkServerIdentity = tlsCheckServerIdentity as NonNullable<
      ConnectOptions['checkServerIdentity']
    >;
    for (const host of ['127.0.0.1', 'localhost']) {
      const client = await secured(x509Client(server, { host, checkServerIdentity }));
      expect(client.authorized).toBe(true);
    }
    const refused = await failure(
      x509Client(server, { servername: 'other.test', checkServerIdentity }),
    );
    expect(refused.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
    // node's error is the cause, with node's code.
    expect((refused.cause as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

describe('the leaf key is the MLS signature key', () => {
  it('a server signing with another key than its leaf holds is ERR_MLSTLS_CERT_KEY_MISMATCH', async () => {
    const other = await pki.issueLeaf({ subject: 'localhost' });
    const own = x509CredentialFromJwk([pki.server.der, pki.intermediate.der], pki.server.jwk);
    const borrowed = x509CredentialFromJwk([other.der, pki.intermediate.der], other.jwk);
    // pki.server's signature key pair, presenting `other`'s chain (valid, trusted, named).
    const server = await x509Server({ credential: { ...own, credential: borrowed.credential } });
    const error = await failure(x509Client(server));
    expect(error.code).toBe('ERR_MLSTLS_CERT_KEY_MISMATCH');
    expect(error.alertName).toBe('bad_certificate');
  });

  it('a key that is not the leaf key is refused at createServer() and connect(), synchronously', async () => {
    const other = await pki.issueLeaf({ subject: 'localhost' });
    const mismatched = { key: pki.server.keyPem, cert: pemChain(other, pki.intermediate) };
    expect(thrownBy(() => createServer(mismatched)).code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    expect(thrownBy(() => connect({ port: 1, ...mismatched })).code).toBe(
      'ERR_MLSTLS_INVALID_ARGUMENT',
    );
    expect(thrownBy(() => createServer({ key: pki.server.keyPem })).code).toBe(
      'ERR_MLSTLS_INVALID_ARGUMENT',
    );
  });

  it('a P-256 certificate serves suite 2, described with its curve', async () => {
    const p256 = await pki.issueLeaf({ subject: 'localhost', keyType: 'P-256' });
    const server = await x509Server({
      key: p256.keyPem,
      cert: pemChain(p256, pki.intermediate),
      ciphersuites: [2],
    });
    const client = await secured(x509Client(server, { ciphersuite: 2 }));
    expect(client.authorized).toBe(true);
    expect(client.getCipher()?.name).toBe('MLS_128_DHKEMP256_AES128GCM_SHA256_P256');
    const certificate = peerCertificateOf(client);
    const legacy = new X509Certificate(p256.der).toLegacyObject();
    expect(certificate.nistCurve).toBe('P-256');
    expect(certificate.asn1Curve).toBe(legacy.asn1Curve);
    expect(Buffer.from(certificate.pubkey)).toEqual(legacy.pubkey);
  });

  it('a P-256 client certificate cannot sign for suite 1: connect() refuses it', async () => {
    const p256 = await issueCertificate({
      subject: 'a P-256 client',
      issuer: pki.intermediate,
      keyType: 'P-256',
      extendedKeyUsage: ['clientAuth'],
    });
    const error = thrownBy(() =>
      connect({ port: 1, key: p256.keyPem, cert: pemChain(p256, pki.intermediate) }),
    );
    expect(error.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    expect(error.message).toMatch(/Ed25519/);
  });

  it('a server with a P-256 certificate refuses a suite-1 client with handshake_failure', async () => {
    const p256 = await pki.issueLeaf({ subject: 'localhost', keyType: 'P-256' });
    const server = await x509Server({ key: p256.keyPem, cert: pemChain(p256, pki.intermediate) });
    const reported = clientError(server);
    const error = await failure(x509Client(server));
    expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(error.alertName).toBe('handshake_failure');
    expect((await reported).code).toBe('ERR_MLSTLS_HANDSHAKE_FAILURE');
  });
});

describe('key forms (node:tls options)', () => {
  const passphrase = 'correct horse battery staple';
  const encrypted = () =>
    createPrivateKey(pki.server.keyPem).export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase,
    }) as string;

  it('an encrypted PKCS#8 key is read with its passphrase', async () => {
    const server = await x509Server({ key: encrypted(), passphrase, cert: pki.serverChain });
    const client = await secured(x509Client(server));
    expect(client.authorized).toBe(true);
  });

  it('an encrypted key without its passphrase, or with a wrong one, is ERR_MLSTLS_INVALID_ARGUMENT', () => {
    const key = encrypted();
    expect(thrownBy(() => createServer({ key, cert: pki.serverChain })).code).toBe(
      'ERR_MLSTLS_INVALID_ARGUMENT',
    );
    expect(
      thrownBy(() => createServer({ key, passphrase: 'wrong', cert: pki.serverChain })).code,
    ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
  });

  it('a KeyObject, a DER key and DER certificates work as PEM does', async () => {
    const keyObject = createPrivateKey(pki.server.keyPem);
    const der = keyObject.export({ type: 'pkcs8', format: 'der' });
    for (const key of [keyObject, new Uint8Array(der)]) {
      const server = await x509Server({ key, cert: [pki.server.der, pki.intermediate.der] });
      const client = await secured(x509Client(server));
      expect(client.authorized).toBe(true);
    }
  });
});

describe('secureContext (createSecureContext)', () => {
  it('one context serves many connect() calls', async () => {
    const server = await x509Server();
    const secureContext = createSecureContext({ ca: pki.root.pem });
    const clients = await Promise.all(
      [1, 2, 3].map(() => secured(x509Client(server, { secureContext }))),
    );
    for (const client of clients) expect(client.authorized).toBe(true);
  });

  it("a server's context replaces key and cert; giving both is ERR_MLSTLS_INVALID_ARGUMENT", async () => {
    const secureContext = createSecureContext({ key: pki.server.keyPem, cert: pki.serverChain });
    const server = await x509Server({ secureContext });
    expect((await secured(x509Client(server))).authorized).toBe(true);
    expect(
      thrownBy(() => createServer({ secureContext, key: pki.server.keyPem, cert: pki.serverChain }))
        .code,
    ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
  });

  it("a client's context holds its certificate for a server that asks for one", async () => {
    const server = await x509Server({ requestCert: true, ca: pki.root.pem });
    const serverSide = accepted(server);
    const secureContext = createSecureContext({
      key: pki.client.keyPem,
      cert: pki.clientChain,
      ca: pki.root.pem,
    });
    await secured(x509Client(server, { secureContext }));
    expect((await serverSide).authorized).toBe(true);
  });
});

describe('client certificates (requestCert)', () => {
  it("a client certificate that chains to the server's `ca` authorizes the client", async () => {
    const server = await x509Server({ requestCert: true, ca: pki.root.pem });
    const serverSide = accepted(server);
    const client = await secured(
      x509Client(server, { key: pki.client.keyPem, cert: pki.clientChain }),
    );
    const peer = await serverSide;
    expect(peer.authorized).toBe(true);
    expect(peer.authorizationError).toBeUndefined();
    const certificate = peerCertificateOf(peer, true);
    expect(certificate.subject.CN).toBe('mlstls node test client');
    expect(describedAs(certificate)).toEqual(nodeDescription(pki.client.der));
    expect(certificate.issuerCertificate?.subject.CN).toBe(pki.intermediate.subject);
    expect(client.authorized).toBe(true);
    await exchange(client, peer);
  });

  it('a client without a certificate gets certificate_required; the server reports ERR_MLSTLS_CERTIFICATE_REQUIRED', async () => {
    const server = await x509Server({ requestCert: true, ca: pki.root.pem });
    const reported = clientError(server);
    let secure = false;
    server.on('secureConnection', () => {
      secure = true;
    });
    const error = await failure(x509Client(server));
    expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(error.alert).toBe(116);
    expect(error.alertName).toBe('certificate_required');
    expect((await reported).code).toBe('ERR_MLSTLS_CERTIFICATE_REQUIRED');
    expect(secure).toBe(false);
  });

  it('with rejectUnauthorized: false on the server, a client without a certificate connects, unauthorized', async () => {
    const server = await x509Server({
      requestCert: true,
      rejectUnauthorized: false,
      ca: pki.root.pem,
    });
    const serverSide = accepted(server);
    const client = await secured(x509Client(server));
    const peer = await serverSide;
    expect(peer.authorized).toBe(false);
    expect(peer.authorizationError?.code).toBe('ERR_MLSTLS_CERTIFICATE_REQUIRED');
    expect(peer.getPeerCertificate()).toEqual({});
    await exchange(client, peer);
  });

  it('a client certificate from an unknown CA is unknown_ca', async () => {
    const server = await x509Server({ requestCert: true, ca: strangerRoot.pem });
    const reported = clientError(server);
    const error = await failure(
      x509Client(server, { key: pki.client.keyPem, cert: pki.clientChain }),
    );
    expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(error.alertName).toBe('unknown_ca');
    expect((await reported).code).toBe('ERR_MLSTLS_UNKNOWN_CA');
  });

  it('a client leaf for serverAuth only is ERR_MLSTLS_CERT_INVALID_PURPOSE (unsupported_certificate)', async () => {
    const server = await x509Server({ requestCert: true, ca: pki.root.pem });
    const reported = clientError(server);
    const error = await failure(
      x509Client(server, { key: pki.server.keyPem, cert: pki.serverChain }),
    );
    expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(error.alert).toBe(43);
    expect((await reported).code).toBe('ERR_MLSTLS_CERT_INVALID_PURPOSE');
  });

  it('without requestCert a client certificate is described but not authorized', async () => {
    const server = await x509Server();
    const serverSide = accepted(server);
    await secured(x509Client(server, { key: pki.client.keyPem, cert: pki.clientChain }));
    const peer = await serverSide;
    expect(peer.authorized).toBe(false);
    expect(peerCertificateOf(peer).subject.CN).toBe('mlstls node test client');
  });
});

/**
 * Destroys `socket` and waits for its 'close' event: a session counts as in use (and a new
 * connection makes a full handshake) until then, though `socket.closed` is true at once.
 */
async function destroyed(socket: MlsTlsSocket): Promise<void> {
  const gone = once(socket, 'close');
  socket.destroy();
  await within(gone, WAIT_MS, 'the first connection closing');
}

describe('resumption keeps what the handshake established, and checks again', () => {
  it('a resumed connection has the certificate and the ALPN protocol, and is authorized', async () => {
    const server = await x509Server({ store: new MemoryStore(), ALPNProtocols: ['h2'] });
    const store = new MemoryStore();
    const options = { store, sessionId: 'the x509 server', ALPNProtocols: ['h2'] };
    // The server stores the session once the client's key confirmation arrives (section 4).
    const firstServerSide = accepted(server);
    const first = await secured(x509Client(server, options));
    await firstServerSide;
    expect(first.isSessionReused()).toBe(false);
    const firstCertificate = peerCertificateOf(first);
    await destroyed(first);

    const serverSide = accepted(server);
    const second = await secured(x509Client(server, options));
    expect(second.isSessionReused()).toBe(true);
    expect(second.authorized).toBe(true);
    expect(second.alpnProtocol).toBe('h2');
    expect(describedAs(peerCertificateOf(second))).toEqual(describedAs(firstCertificate));
    const peer = await serverSide;
    expect(peer.isSessionReused()).toBe(true);
    expect(peer.alpnProtocol).toBe('h2');
    await exchange(second, peer);
  });

  it('a resumption checks the stored certificate against the `ca` of the new connection', async () => {
    const server = await x509Server({ store: new MemoryStore() });
    const store = new MemoryStore();
    const options = { store, sessionId: 'the x509 server' };
    await destroyed(await secured(x509Client(server, options)));

    const distrusting = x509Client(server, { ...options, ca: strangerRoot.pem });
    expect((await failure(distrusting)).code).toBe('ERR_MLSTLS_UNKNOWN_CA');
    const renamed = x509Client(server, { ...options, servername: 'other.test' });
    expect((await failure(renamed)).code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
  });
});
