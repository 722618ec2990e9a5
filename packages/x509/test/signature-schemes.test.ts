// P-384, P-521 and Ed448 leaf keys as MLS signature keys (suites 7, 5, 4 and 6): certificates of
// the test issuer load as credentials, their chains verify, and the key bytes are the ones
// ts-mls's own signature implementation signs and verifies with, checked against node:crypto.
import { createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import { MlsTlsError } from '@mlstls/codec';
import { type IssuedCertificate, issueCertificate } from '@mlstls/test-support';
import {
  type CiphersuiteName,
  ciphersuites,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  loadX509Credential,
  TrustAnchors,
  verifyCertificateChain,
  type X509EndpointCredential,
  type X509SignatureAlgorithm,
  x509CredentialFromJwk,
} from '../src/index.js';

type NewKeyType = 'P-384' | 'P-521' | 'Ed448';

interface Scheme {
  readonly keyType: NewKeyType;
  readonly algorithm: X509SignatureAlgorithm;
  /** The suites that sign with it; the first is the one ts-mls signs with here. */
  readonly suites: readonly CiphersuiteName[];
  /** node:crypto's digest for the scheme (null: EdDSA hashes itself). */
  readonly hash: string | null;
  readonly publicKeyLength: number;
  readonly privateKeyLength: number;
  /** What describeCertificate says of the leaf's key. */
  readonly described: { nistCurve?: string; asn1Curve?: string; bits?: number };
}

const SCHEMES: readonly Scheme[] = [
  {
    keyType: 'P-384',
    algorithm: 'P384',
    suites: ['MLS_256_DHKEMP384_AES256GCM_SHA384_P384'],
    hash: 'sha384',
    publicKeyLength: 97,
    privateKeyLength: 48,
    described: { nistCurve: 'P-384', asn1Curve: 'secp384r1', bits: 384 },
  },
  {
    keyType: 'P-521',
    algorithm: 'P521',
    suites: ['MLS_256_DHKEMP521_AES256GCM_SHA512_P521'],
    hash: 'sha512',
    publicKeyLength: 133,
    privateKeyLength: 66,
    described: { nistCurve: 'P-521', asn1Curve: 'secp521r1', bits: 521 },
  },
  {
    keyType: 'Ed448',
    algorithm: 'Ed448',
    suites: [
      'MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448',
      'MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448',
    ],
    hash: null,
    publicKeyLength: 57,
    privateKeyLength: 57,
    described: {},
  },
];

interface Issued {
  readonly ca: IssuedCertificate;
  readonly leaf: IssuedCertificate;
  readonly client: IssuedCertificate;
}

const issued = new Map<NewKeyType, Issued>();

beforeAll(async () => {
  for (const { keyType } of SCHEMES) {
    const ca = await issueCertificate({ subject: `${keyType} CA`, ca: true, keyType });
    const leaf = await issueCertificate({
      subject: 'localhost',
      issuer: ca,
      keyType,
      dnsNames: ['localhost'],
      extendedKeyUsage: ['serverAuth'],
    });
    const client = await issueCertificate({
      subject: `${keyType} client`,
      issuer: ca,
      keyType,
      extendedKeyUsage: ['clientAuth'],
    });
    issued.set(keyType, { ca, leaf, client });
  }
}, 30_000);

function pkiOf(keyType: NewKeyType): Issued {
  const pki = issued.get(keyType);
  if (pki === undefined) throw new Error(`no ${keyType} certificates`);
  return pki;
}

function thrown(run: () => unknown): MlsTlsError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MlsTlsError);
    return error as MlsTlsError;
  }
  throw new Error('did not throw');
}

async function rejected(promise: Promise<unknown>): Promise<MlsTlsError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(MlsTlsError);
  return error as MlsTlsError;
}

/** The compressed SEC1 form of an uncompressed point, as ts-mls's own keygen makes them. */
function compressed(point: Uint8Array): Uint8Array {
  const size = (point.length - 1) / 2;
  const out = new Uint8Array(size + 1);
  out[0] = 0x02 | (point[point.length - 1]! & 1);
  out.set(point.subarray(1, size + 1), 1);
  return out;
}

for (const scheme of SCHEMES) {
  const { keyType, algorithm, suites, hash } = scheme;

  describe(`${keyType} leaf keys sign MLS (${suites.map((name) => ciphersuites[name]).join(', ')})`, () => {
    let credential: X509EndpointCredential;

    beforeAll(async () => {
      const { ca, leaf } = pkiOf(keyType);
      credential = await loadX509Credential({ cert: `${leaf.pem}${ca.pem}`, key: leaf.keyPem });
    });

    it(`loads as a ${algorithm} credential: ts-mls's key formats, what the JWK gives`, async () => {
      const { ca, leaf } = pkiOf(keyType);
      expect(credential.signatureAlgorithm).toBe(algorithm);
      for (const suite of suites) {
        // The state machine matches the credential against the suite by this name.
        expect(getCiphersuiteFromName(suite).signature).toBe(credential.signatureAlgorithm);
      }
      expect(credential.credential).toEqual({
        credentialType: 'x509',
        certificates: [leaf.der, ca.der],
      });
      expect(credential.signaturePublicKey).toHaveLength(scheme.publicKeyLength);
      expect(credential.signaturePrivateKey).toHaveLength(scheme.privateKeyLength);
      expect(credential.signaturePublicKey).toEqual(leaf.publicKey);
      // The certificate's own key, read by node:crypto, is the MLS signature key.
      const spki = new X509Certificate(leaf.der).publicKey.export({ format: 'der', type: 'spki' });
      expect(new Uint8Array(spki.subarray(-scheme.publicKeyLength))).toEqual(
        credential.signaturePublicKey,
      );
      expect(credential).toEqual(x509CredentialFromJwk([leaf.der, ca.der], leaf.jwk));
      // DER key and certificate, and the PEM key as bytes, give the same.
      const pkcs8 = createPrivateKey(leaf.keyPem).export({ format: 'der', type: 'pkcs8' });
      expect(
        await loadX509Credential({ cert: [leaf.der, ca.der], key: new Uint8Array(pkcs8) }),
      ).toEqual(credential);
      expect(
        await loadX509Credential({
          cert: [leaf.der, ca.der],
          key: new TextEncoder().encode(leaf.keyPem),
        }),
      ).toEqual(credential);
    });

    it('the chain verifies against the CA, the MLS key matching the certificate', async () => {
      const { ca, leaf, client } = pkiOf(keyType);
      const anchors = TrustAnchors.from(ca.pem);
      const peer = await verifyCertificateChain(credential.credential.certificates, {
        anchors,
        now: Date.now(),
        purpose: 'server',
        signaturePublicKey: credential.signaturePublicKey,
      });
      expect(peer.subject.CN).toBe('localhost');
      expect(peer.issuerCertificate?.subject.CN).toBe(`${keyType} CA`);
      expect(peer).toMatchObject(scheme.described);
      expect(peer.issuerCertificate).toMatchObject(scheme.described);
      const node = new X509Certificate(leaf.der);
      expect(peer.fingerprint256).toBe(node.fingerprint256);
      const asClient = await verifyCertificateChain([client.der], {
        anchors,
        now: Date.now(),
        purpose: 'client',
        signaturePublicKey: client.publicKey,
      });
      expect(asClient.subject.CN).toBe(`${keyType} client`);
      if (keyType !== 'Ed448') {
        // ts-mls makes compressed points; either form of the key is the certificate's.
        await verifyCertificateChain([leaf.der], {
          anchors,
          now: Date.now(),
          purpose: 'server',
          signaturePublicKey: compressed(credential.signaturePublicKey),
        });
      }
    });

    it("ts-mls signs with the loaded key; node:crypto verifies with the certificate's key, and back", async () => {
      const { leaf } = pkiOf(keyType);
      const certificateKey = new X509Certificate(leaf.der).publicKey;
      const nodeKey = createPrivateKey(leaf.keyPem);
      const message = new TextEncoder().encode(`an MLS leaf node signed with ${keyType}`);
      for (const suite of suites) {
        const { signature } = await getCiphersuiteImpl(getCiphersuiteFromName(suite));
        const signed = await signature.sign(credential.signaturePrivateKey, message);
        expect(verify(hash, message, certificateKey, signed)).toBe(true);
        expect(verify(hash, message.subarray(1), certificateKey, signed)).toBe(false);
        expect(await signature.verify(credential.signaturePublicKey, message, signed)).toBe(true);
        // The reverse: node:crypto signs with the PEM key, ts-mls verifies with the MLS key.
        const nodeSigned = new Uint8Array(sign(hash, message, nodeKey));
        expect(await signature.verify(credential.signaturePublicKey, message, nodeSigned)).toBe(
          true,
        );
        expect(
          await signature.verify(credential.signaturePublicKey, message.subarray(1), nodeSigned),
        ).toBe(false);
        if (keyType !== 'Ed448') {
          expect(
            await signature.verify(compressed(credential.signaturePublicKey), message, nodeSigned),
          ).toBe(true);
        }
      }
    });

    it("a key that is not the certificate's is refused: ERR_MLSTLS_INVALID_ARGUMENT", async () => {
      const { leaf, client } = pkiOf(keyType);
      // Same type, another key.
      const error = thrown(() => x509CredentialFromJwk([leaf.der], client.jwk));
      expect(error.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
      expect(error.message).toContain('the key does not match the certificate');
      expect(
        (await rejected(loadX509Credential({ cert: leaf.pem, key: client.keyPem }))).code,
      ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
      // Another type's key for this certificate, and this key for another type's certificate.
      for (const other of SCHEMES.filter((candidate) => candidate.keyType !== keyType)) {
        const otherLeaf = pkiOf(other.keyType).leaf;
        expect(thrown(() => x509CredentialFromJwk([leaf.der], otherLeaf.jwk)).code).toBe(
          'ERR_MLSTLS_INVALID_ARGUMENT',
        );
        expect(
          (await rejected(loadX509Credential({ cert: otherLeaf.pem, key: leaf.keyPem }))).code,
        ).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
      }
    });

    it("a peer's MLS key that is not its certificate's: ERR_MLSTLS_CERT_KEY_MISMATCH", async () => {
      const { ca, leaf, client } = pkiOf(keyType);
      const anchors = TrustAnchors.from(ca.pem);
      const keys = [
        client.publicKey,
        ...SCHEMES.filter((other) => other.keyType !== keyType).map(
          (other) => pkiOf(other.keyType).leaf.publicKey,
        ),
      ];
      if (keyType !== 'Ed448') {
        // The right x with the other y: not the key, and not a point.
        const flipped = compressed(leaf.publicKey);
        flipped[0]! ^= 0x01;
        const offCurve = leaf.publicKey.slice();
        offCurve[offCurve.length - 1]! ^= 0x01;
        keys.push(flipped, offCurve);
      }
      for (const key of keys) {
        const error = await rejected(
          verifyCertificateChain([leaf.der], {
            anchors,
            now: Date.now(),
            purpose: 'server',
            signaturePublicKey: key,
          }),
        );
        expect(error.code).toBe('ERR_MLSTLS_CERT_KEY_MISMATCH');
      }
    });

    it('a JWK member of the wrong length is refused', () => {
      const { leaf } = pkiOf(keyType);
      const short = {
        ...leaf.jwk,
        x: Buffer.from(leaf.publicKey.subarray(1, 20)).toString('base64url'),
      };
      const error = thrown(() => x509CredentialFromJwk([leaf.der], short));
      expect(error.code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
      expect(error.message).toMatch(/"x" is not \d+ bytes/);
    });
  });
}

describe('signatures across key types verify', () => {
  it('each of P-256, P-384, P-521, Ed448, Ed25519 CAs signs a leaf of each new type', async () => {
    for (const caType of ['Ed25519', 'P-256', 'P-384', 'P-521', 'Ed448'] as const) {
      const ca = await issueCertificate({
        subject: `${caType} mixed CA`,
        ca: true,
        keyType: caType,
      });
      const anchors = TrustAnchors.from(ca.der);
      for (const { keyType } of SCHEMES) {
        const leaf = await issueCertificate({
          subject: `${keyType} under ${caType}`,
          issuer: ca,
          keyType,
        });
        const peer = await verifyCertificateChain([leaf.der], {
          anchors,
          now: Date.now(),
          purpose: 'server',
          signaturePublicKey: leaf.publicKey,
        });
        expect(peer.issuerCertificate?.subject.CN).toBe(`${caType} mixed CA`);
        // node:crypto (OpenSSL) agrees that the CA signed it.
        expect(new X509Certificate(leaf.der).verify(new X509Certificate(ca.der).publicKey)).toBe(
          true,
        );
      }
    }
  });

  it('a P-384, P-521 or Ed448 signature with one byte changed does not verify', async () => {
    for (const { keyType } of SCHEMES) {
      const { ca, leaf } = pkiOf(keyType);
      const tampered = leaf.der.slice();
      tampered[tampered.length - 1]! ^= 0x01;
      const error = await rejected(
        verifyCertificateChain([tampered], {
          anchors: TrustAnchors.from(ca.pem),
          now: Date.now(),
          purpose: 'server',
          signaturePublicKey: leaf.publicKey,
        }),
      );
      expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
      expect(error.message).toContain('does not verify');
    }
  });

  it("an Ed448 signature by an Ed25519 key's issuer is refused as the wrong algorithm", async () => {
    // Without key identifiers, the same-named Ed25519 anchor is a candidate issuer.
    const keyIdentifiers = false;
    const ed25519 = await issueCertificate({
      subject: 'same name',
      ca: true,
      keyType: 'Ed25519',
      keyIdentifiers,
    });
    const ed448 = await issueCertificate({
      subject: 'same name',
      ca: true,
      keyType: 'Ed448',
      keyIdentifiers,
    });
    const leaf = await issueCertificate({
      subject: 'leaf',
      issuer: ed448,
      keyType: 'Ed448',
      keyIdentifiers,
    });
    const error = await rejected(
      verifyCertificateChain([leaf.der], {
        anchors: TrustAnchors.from(ed25519.der),
        now: Date.now(),
        purpose: 'server',
        signaturePublicKey: leaf.publicKey,
      }),
    );
    expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    expect(error.message).toContain('cannot make the eddsa signature');
  });
});
