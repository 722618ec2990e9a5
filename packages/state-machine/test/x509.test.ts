// docs/protocol.md sections 4 and 7: X.509 credentials checked as node:tls checks certificates
// (chain, validity by the injected clock, key usage, the MLS signature key, the host name),
// client certificates, credential changes in updates, SNI and ALPN.
import { HandshakeType } from '@mlstls/codec';
import { type IssuedCertificate, issueCertificate } from '@mlstls/test-support';
import { TrustAnchors, x509CredentialFromJwk } from '@mlstls/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EndpointCredential } from '../src/index.js';
import { expectFatal } from './fatal.js';
import { commitOf, persistedGroup } from './mls.js';
import { now, Pair, type PairOptions, track } from './pair.js';

const HOUR = 3_600_000;

/** Certificates valid around the pair's clock, not the wall clock: the tests keep their day. */
function issue(options: Parameters<typeof issueCertificate>[0]): Promise<IssuedCertificate> {
  return issueCertificate({
    notBefore: new Date(now() - HOUR),
    notAfter: new Date(now() + 24 * HOUR),
    ...options,
  });
}

function credentialOf(leaf: IssuedCertificate, ...chain: IssuedCertificate[]): EndpointCredential {
  return x509CredentialFromJwk(
    [leaf, ...chain].map((certificate) => certificate.der),
    leaf.jwk,
  );
}

let root: IssuedCertificate;
let intermediate: IssuedCertificate;
let anchors: TrustAnchors;
/** localhost and 127.0.0.1, serverAuth, issued by the intermediate. */
let server: EndpointCredential;
/** clientAuth, issued by the intermediate. */
let client: EndpointCredential;
/** As `server`, but valid only until an hour after the pair's clock. */
let shortLived: EndpointCredential;

beforeAll(async () => {
  root = await issue({ subject: 'state-machine test root', ca: true });
  intermediate = await issue({
    subject: 'state-machine test intermediate',
    issuer: root,
    ca: true,
  });
  anchors = TrustAnchors.from(root.pem);
  server = credentialOf(
    await issue({
      subject: 'localhost',
      issuer: intermediate,
      dnsNames: ['localhost', '*.example.test'],
      ipAddresses: ['127.0.0.1'],
      extendedKeyUsage: ['serverAuth'],
    }),
    intermediate,
  );
  shortLived = credentialOf(
    await issue({
      subject: 'localhost',
      issuer: intermediate,
      dnsNames: ['localhost'],
      notAfter: new Date(now() + HOUR),
    }),
    intermediate,
  );
  client = credentialOf(
    await issue({ subject: 'a client', issuer: intermediate, extendedKeyUsage: ['clientAuth'] }),
    intermediate,
  );
});

/** A pair whose responder presents `server` to an initiator trusting `root`, for `serverName`. */
function x509Pair(options: PairOptions = {}): Promise<Pair> {
  return Pair.connected({
    pin: false,
    ...options,
    initiator: { ca: anchors, serverName: 'localhost', ...options.initiator },
    responder: { credential: server, ...options.responder },
  });
}

describe('the initiator checks an X.509 responder', () => {
  it('a chain to its ca that names the server authorizes it, and describes the leaf as node:tls', async () => {
    const pair = await x509Pair();
    const info = pair.initiator.handshake!;
    expect(info.authorized).toBe(true);
    expect(info.authorizationError).toBeUndefined();
    expect(info.peerCertificate?.subject).toMatchObject({ CN: 'localhost' });
    expect(info.peerCertificate?.subjectaltname).toContain('DNS:localhost');
    expect(info.peerCertificate?.issuerCertificate?.subject).toMatchObject({
      CN: 'state-machine test intermediate',
    });
  });

  it('a wildcard name and an IP address match as node:tls matches them', async () => {
    for (const serverName of ['api.example.test', '127.0.0.1']) {
      const pair = await x509Pair({ initiator: { serverName } });
      expect(pair.initiator.handshake?.authorized).toBe(true);
    }
  });

  // The initiator refuses before it has keys, so its alert is plaintext; the responder, waiting
  // for the key confirmation (section 4) and so not yet keyed to send, reads it: expectFatal's
  // default, ERR_MLSTLS_ALERT_RECEIVED with that alert.
  // Functions: the credentials exist only once beforeAll has run.
  const refusals: [string, () => PairOptions, string][] = [
    [
      'another host name',
      () => ({ initiator: { serverName: 'other.test' } }),
      'ERR_MLSTLS_CERT_ALTNAME_INVALID',
    ],
    [
      'no host name at all',
      () => ({ initiator: { serverName: '' } }),
      'ERR_MLSTLS_CERT_ALTNAME_INVALID',
    ],
    [
      'no trust anchors',
      () => ({ initiator: { ca: TrustAnchors.from([]) } }),
      'ERR_MLSTLS_UNKNOWN_CA',
    ],
    [
      'a clock past the leaf (valid for one more hour)',
      () => ({ initiator: { now: () => now() + 2 * HOUR }, responder: { credential: shortLived } }),
      'ERR_MLSTLS_CERT_HAS_EXPIRED',
    ],
    [
      'a clock before the leaf',
      () => ({ initiator: { now: () => now() - 2 * HOUR } }),
      'ERR_MLSTLS_CERT_NOT_YET_VALID',
    ],
  ];
  for (const [what, options, code] of refusals) {
    it(`${what} is ${code}, fatal by default`, async () => {
      const pair = await x509Pair(options());
      await expectFatal(pair, 'initiator', code as never);
    });

    it(`${what} goes on unauthorized with rejectUnauthorized: false`, async () => {
      const chosen = options();
      const pair = await x509Pair({
        ...chosen,
        initiator: { ...chosen.initiator, rejectUnauthorized: false },
      });
      const info = pair.initiator.handshake!;
      expect(info.authorized).toBe(false);
      expect(info.authorizationError?.code).toBe(code);
      expect(info.peerCertificate?.subject).toMatchObject({ CN: 'localhost' });
    });
  }

  it('checkServerIdentity replaces the host name check and gets the name and the leaf', async () => {
    const seen: [string, unknown][] = [];
    const pair = await x509Pair({
      initiator: {
        serverName: 'other.test',
        checkServerIdentity: (hostname, cert) => {
          seen.push([hostname, cert.subject]);
          return undefined;
        },
      },
    });
    expect(pair.initiator.handshake?.authorized).toBe(true);
    expect(seen).toEqual([['other.test', expect.objectContaining({ CN: 'localhost' })]]);

    const refusing = await x509Pair({
      initiator: { checkServerIdentity: () => new Error('not this one') },
    });
    await expectFatal(refusing, 'initiator', 'ERR_MLSTLS_CERT_ALTNAME_INVALID');
    expect(refusing.initiator.failure?.message).toBe('not this one');
  });

  it('a pinned key and a verifier are asked as well for an X.509 responder', async () => {
    const pinned = await x509Pair({
      initiator: { peerSignaturePublicKey: client.signaturePublicKey },
    });
    await expectFatal(pinned, 'initiator', 'ERR_MLSTLS_BAD_CERTIFICATE');
    const verified = await x509Pair({ initiator: { verifyPeer: () => false } });
    await expectFatal(verified, 'initiator', 'ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('a leaf whose key is not the MLS signature key is refused, however good the chain', async () => {
    const impostor: EndpointCredential = { ...client, credential: server.credential };
    const pair = await x509Pair({ responder: { credential: impostor } });
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_CERT_KEY_MISMATCH');
  });

  it('a verifier may choose the alert by throwing an MlsTlsError', async () => {
    const { MlsTlsError } = await import('@mlstls/codec');
    const pair = await x509Pair({
      initiator: {
        verifyPeer: () => {
          throw new MlsTlsError('ERR_MLSTLS_UNKNOWN_CA', 'revoked by policy');
        },
      },
    });
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_UNKNOWN_CA');
  });
});

describe('the responder checks the initiator with requestCert', () => {
  it('a client chain to its ca is authorized and described', async () => {
    const pair = await x509Pair({
      initiator: { credential: client },
      responder: { requestCert: true, ca: anchors },
    });
    const info = pair.responder.handshake!;
    expect(info.authorized).toBe(true);
    expect(info.peerCertificate?.subject).toMatchObject({ CN: 'a client' });
  });

  it('a client with a basic credential is certificate_required', async () => {
    const pair = await x509Pair({ responder: { requestCert: true, ca: anchors } });
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_CERTIFICATE_REQUIRED');
  });

  it('a server certificate used by a client is refused by its extended key usage', async () => {
    const pair = await x509Pair({
      initiator: { credential: server },
      responder: { requestCert: true, ca: anchors },
    });
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_CERT_INVALID_PURPOSE');
  });

  it('with rejectUnauthorized: false a basic client goes on, unauthorized', async () => {
    const pair = await x509Pair({
      responder: { requestCert: true, ca: anchors, rejectUnauthorized: false },
    });
    const info = pair.responder.handshake!;
    expect(info.authorized).toBe(false);
    expect(info.authorizationError?.code).toBe('ERR_MLSTLS_CERTIFICATE_REQUIRED');
  });

  it('without requestCert a client certificate is not checked and not authorized', async () => {
    const pair = await x509Pair({ initiator: { credential: client } });
    expect(pair.responder.handshake?.authorized).toBe(false);
    expect(pair.responder.handshake?.peerCertificate?.subject).toMatchObject({ CN: 'a client' });
  });
});

describe('an update may not change who the peer is', () => {
  it('a commit that swaps the X.509 chain for another is bad_certificate, refused by the hook', async () => {
    const pair = await x509Pair({
      initiator: { credential: client },
      responder: { requestCert: true, ca: anchors },
    });
    const group = persistedGroup(pair, 'initiator');
    const own = group.privatePath.leafIndex * 2;
    const node = group.ratchetTree[own];
    if (node?.nodeType !== 'leaf') throw new Error('no own leaf');
    // The same key, a certificate for another name: a different identity.
    const other = await issue({ subject: 'someone else', issuer: intermediate });
    const tree = group.ratchetTree.slice();
    tree[own] = {
      ...node,
      leaf: {
        ...node.leaf,
        credential: { credentialType: 'x509', certificates: [other.der, intermediate.der] },
      },
    };
    const commit = await commitOf({ ...group, ratchetTree: tree });
    pair.injectHandshake('initiator', { msgType: HandshakeType.connection_update, update: commit });
    await pair.deliverAll('initiator');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_BAD_CERTIFICATE');
    // ts-mls's credential validation hook refused it (its ValidationError is the cause).
    expect(String(pair.responder.failure?.cause)).toMatch(/validate credential/i);
  });

  it('an update that keeps the chain is applied', async () => {
    const pair = await x509Pair({ initiator: { credential: client } });
    const update = track(pair.initiator.update());
    await pair.settle();
    await update.promise;
    expect(pair.responder.epoch).toBe(2n);
  });
});

describe('SNI: mlstls_server_name', () => {
  it('the responder picks its credential by the name the initiator sends, in lower case', async () => {
    const asked: string[] = [];
    const pair = await x509Pair({
      initiator: { serverName: 'API.Example.Test.' },
      responder: {
        credential: client,
        selectCredential: (name) => {
          asked.push(name);
          return name === 'api.example.test' ? server : undefined;
        },
      },
    });
    expect(asked).toEqual(['api.example.test']);
    expect(pair.initiator.handshake?.authorized).toBe(true);
    expect(pair.responder.handshake?.serverName).toBe('api.example.test');
  });

  it('a name without a credential is unrecognized_name', async () => {
    const pair = await x509Pair({
      initiator: { serverName: 'unknown.test' },
      responder: { selectCredential: () => undefined },
    });
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_UNRECOGNIZED_NAME');
  });

  it('an IP address is not sent: the responder presents its default credential', async () => {
    const asked: string[] = [];
    const pair = await x509Pair({
      initiator: { serverName: '127.0.0.1' },
      responder: {
        selectCredential: (name) => {
          asked.push(name);
          return undefined;
        },
      },
    });
    expect(asked).toEqual([]);
    expect(pair.initiator.handshake?.authorized).toBe(true);
    expect(pair.responder.handshake?.serverName).toBeUndefined();
  });
});

describe('ALPN: mlstls_alpn', () => {
  const cases: [string, string[] | undefined, string[] | undefined, string | undefined][] = [
    ['the server preference wins', ['http/1.1', 'h2'], ['h2', 'http/1.1'], 'h2'],
    ['one protocol in common', ['x', 'smtp'], ['imap', 'smtp'], 'smtp'],
    ['the client offers nothing', undefined, ['h2'], undefined],
    ['the server speaks nothing', ['h2'], undefined, undefined],
  ];
  for (const [what, offered, spoken, agreed] of cases) {
    it(`${what}: ${agreed ?? 'no protocol'}, in the GroupContext for both`, async () => {
      const pair = await x509Pair({
        initiator: { ...(offered ? { alpnProtocols: offered } : {}) },
        responder: { ...(spoken ? { alpnProtocols: spoken } : {}) },
      });
      expect(pair.initiator.handshake?.alpnProtocol).toBe(agreed);
      expect(pair.responder.handshake?.alpnProtocol).toBe(agreed);
      const extensions = persistedGroup(pair, 'initiator').groupContext.extensions;
      expect(extensions.map((extension) => extension.extensionType)).toEqual(
        agreed === undefined ? [] : [0xf0a1],
      );
    });
  }

  it('no protocol in common is no_application_protocol', async () => {
    const pair = await x509Pair({
      initiator: { alpnProtocols: ['h2'] },
      responder: { alpnProtocols: ['http/1.1'] },
    });
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_NO_APPLICATION_PROTOCOL');
  });

  it('a protocol name that cannot be sent is refused when the initiator is made', async () => {
    await expect(x509Pair({ initiator: { alpnProtocols: [''] } })).rejects.toMatchObject({
      code: 'ERR_MLSTLS_INVALID_ARGUMENT',
    });
  });
});
