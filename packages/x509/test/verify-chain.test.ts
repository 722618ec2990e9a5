import { X509Certificate } from 'node:crypto';
import { MlsTlsError } from '@mlstls/codec';
import {
  generateKeys,
  type IssuedCertificate,
  issueCertificate,
  type TestPki,
  testPki,
} from '@mlstls/test-support';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificatePurpose, TrustAnchors, verifyCertificateChain } from '../src/index.js';

let pki: TestPki;
let anchors: TrustAnchors;
const SECOND = 1000;
const HOUR = 60 * 60 * SECOND;

beforeAll(async () => {
  pki = await testPki();
  anchors = TrustAnchors.from(pki.root.pem);
});

interface Options {
  anchors?: TrustAnchors;
  now?: number;
  purpose?: CertificatePurpose;
  key?: Uint8Array;
}

async function verify(chain: readonly (IssuedCertificate | Uint8Array)[], options: Options = {}) {
  const ders = chain.map((item) => (item instanceof Uint8Array ? item : item.der));
  const leaf = chain[0];
  return verifyCertificateChain(ders, {
    anchors: options.anchors ?? anchors,
    now: options.now ?? Date.now(),
    purpose: options.purpose ?? 'server',
    signaturePublicKey:
      options.key ??
      (leaf === undefined || leaf instanceof Uint8Array ? new Uint8Array(32) : leaf.publicKey),
  });
}

/** The MlsTlsError a verification rejects with. */
async function failure(promise: Promise<unknown>): Promise<MlsTlsError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(MlsTlsError);
  return error as MlsTlsError;
}

/** The validity of a certificate, read back with node:crypto so the test does not trust ours. */
function validityOf(certificate: IssuedCertificate): { notBefore: number; notAfter: number } {
  const x509 = new X509Certificate(certificate.der);
  return { notBefore: Date.parse(x509.validFrom), notAfter: Date.parse(x509.validTo) };
}

describe('a chain that reaches an anchor is accepted', () => {
  it('root -> intermediate -> Ed25519 leaf, linked up to the self-signed anchor', async () => {
    const leaf = await verify([pki.server, pki.intermediate]);
    expect(leaf.subject.CN).toBe('localhost');
    expect(leaf.issuerCertificate?.subject.CN).toBe('mlstls test intermediate');
    const root = leaf.issuerCertificate?.issuerCertificate;
    expect(root?.subject.CN).toBe('mlstls test root');
    expect(root?.issuerCertificate).toBe(root);
  });

  it('a P-256 leaf, for a client, with its key given compressed or uncompressed', async () => {
    const uncompressed = pki.client.publicKey;
    expect(uncompressed.length).toBe(65);
    const compressed = new Uint8Array(33);
    compressed[0] = 0x02 | (uncompressed[64]! & 1);
    compressed.set(uncompressed.subarray(1, 33), 1);
    for (const key of [uncompressed, compressed]) {
      const leaf = await verify([pki.client, pki.intermediate], { purpose: 'client', key });
      expect(leaf.subject.CN).toBe('mlstls test client');
    }
  });

  it('intermediates in any order, with unrelated extras', async () => {
    const second = await issueCertificate({
      subject: 'second intermediate',
      issuer: pki.intermediate,
      ca: true,
      keyType: 'P-256',
    });
    // pathLength 0 of the first intermediate forbids a second one below it: use a fresh chain.
    const root = await issueCertificate({ subject: 'deep root', ca: true });
    const upper = await issueCertificate({ subject: 'upper', issuer: root, ca: true });
    const lower = await issueCertificate({ subject: 'lower', issuer: upper, ca: true });
    const leaf = await issueCertificate({ subject: 'leaf', issuer: lower });
    const unrelated = await issueCertificate({ subject: 'unrelated', ca: true });
    const result = await verify([leaf, unrelated, upper, second, lower, pki.server], {
      anchors: TrustAnchors.from([root.pem, pki.root.der]),
    });
    expect(result.issuerCertificate?.subject.CN).toBe('lower');
    expect(result.issuerCertificate?.issuerCertificate?.subject.CN).toBe('upper');
    expect(result.issuerCertificate?.issuerCertificate?.issuerCertificate?.subject.CN).toBe(
      'deep root',
    );
  });

  it('an ECDSA signature whose r or s is shorter than 32 bytes (left-padded for WebCrypto)', async () => {
    // About one P-256 signature in 128 has an r or s below 2^248; issue until one does.
    for (let attempt = 0; attempt < 2000; attempt++) {
      const leaf = await issueCertificate({ subject: 'short', issuer: pki.intermediate });
      if (!hasShortEcdsaInteger(leaf.der)) continue;
      await expect(verify([leaf, pki.intermediate])).resolves.toBeDefined();
      return;
    }
    throw new Error('no short ECDSA integer in 2000 signatures');
  });

  it('an intermediate given as an anchor is trusted as is, without its root', async () => {
    const leaf = await verify([pki.server], { anchors: TrustAnchors.from(pki.intermediate.pem) });
    // Not self-issued, so the path ends at the intermediate without a loop.
    expect(leaf.issuerCertificate?.subject.CN).toBe('mlstls test intermediate');
    expect(leaf.issuerCertificate?.issuerCertificate).toBeUndefined();
  });

  it('a self-signed leaf that is itself an anchor', async () => {
    const self = await issueCertificate({ subject: 'self' });
    const leaf = await verify([self], { anchors: TrustAnchors.from(self.der) });
    expect(leaf.issuerCertificate).toBe(leaf);
  });

  it('tries another candidate when the first one with the right name has the wrong key', async () => {
    // Without key identifiers, only the signature tells the two same-named CAs apart.
    const options = { subject: 'twin', issuer: pki.root, ca: true, keyIdentifiers: false };
    const impostor = await issueCertificate(options);
    const twin = await issueCertificate(options);
    const leaf = await issueCertificate({ subject: 'leaf', issuer: twin, keyIdentifiers: false });
    const result = await verify([leaf, impostor, twin]);
    expect(result.issuerCertificate?.raw).toEqual(twin.der);
    const error = await failure(verify([leaf, impostor]));
    expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('skips a same-named CA whose key identifier is not the one the certificate names', async () => {
    const impostor = await issueCertificate({
      subject: 'mlstls test intermediate',
      issuer: pki.root,
      ca: true,
    });
    const leaf = await verify([pki.server, impostor, pki.intermediate]);
    expect(leaf.issuerCertificate?.raw).toEqual(pki.intermediate.der);
    const error = await failure(verify([pki.server, impostor]));
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
  });
});

describe('a chain without a path to an anchor is ERR_MLSTLS_UNKNOWN_CA', () => {
  it('an unknown CA', async () => {
    const other = await testPki();
    const error = await failure(verify([other.server, other.intermediate]));
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
    expect(error.message).toContain('mlstls test root');
  });

  it('a self-signed leaf that is not an anchor', async () => {
    const self = await issueCertificate({ subject: 'self' });
    const error = await failure(verify([self]));
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
    expect(error.message).toContain('self-signed certificate CN=self');
  });

  it('a missing intermediate', async () => {
    const error = await failure(verify([pki.server]));
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
    expect(error.message).toContain('CN=mlstls test intermediate');
  });

  it('no anchors at all', async () => {
    const error = await failure(
      verify([pki.server, pki.intermediate], { anchors: TrustAnchors.from([]) }),
    );
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
  });

  it('a cycle of intermediates ends the search', async () => {
    // Two CAs that issued each other, neither anchored: A <- B <- A ...
    const keysA = await generateKeys();
    const keysB = await generateKeys();
    const selfA = await issueCertificate({ subject: 'A', ca: true, keys: keysA });
    const b = await issueCertificate({
      subject: 'B',
      ca: true,
      issuer: selfA,
      keys: keysB,
    });
    const a = await issueCertificate({
      subject: 'A',
      ca: true,
      issuer: b,
      keys: keysA,
    });
    const leaf = await issueCertificate({ subject: 'leaf', issuer: a });
    const error = await failure(verify([leaf, a, b, a, b]));
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
  });

  it('a path longer than 10 certificates', async () => {
    const root = await issueCertificate({ subject: 'long root', ca: true });
    let issuer = root;
    const intermediates: IssuedCertificate[] = [];
    for (let i = 0; i < 9; i++) {
      issuer = await issueCertificate({ subject: `ca ${i}`, issuer, ca: true });
      intermediates.push(issuer);
    }
    const leaf = await issueCertificate({ subject: 'leaf', issuer });
    const longAnchors = TrustAnchors.from(root.der);
    // Leaf, 8 intermediates and the root: 10 certificates.
    const eight = intermediates.slice(0, 8);
    const short = await issueCertificate({ subject: 'leaf', issuer: eight[7]! });
    await expect(verify([short, ...eight], { anchors: longAnchors })).resolves.toBeDefined();
    const error = await failure(verify([leaf, ...intermediates], { anchors: longAnchors }));
    expect(error.code).toBe('ERR_MLSTLS_UNKNOWN_CA');
    expect(error.message).toContain('10 certificates');
  });
});

describe('validity is checked at `now`, in whole seconds, for every certificate of the path', () => {
  it('the leaf: valid from notBefore through notAfter, not a second outside', async () => {
    const notBefore = new Date(Math.floor(Date.now() / SECOND) * SECOND + HOUR);
    const notAfter = new Date(notBefore.getTime() + HOUR);
    const leaf = await issueCertificate({
      subject: 'later',
      issuer: pki.intermediate,
      notBefore,
      notAfter,
    });
    const chain = [leaf, pki.intermediate];
    await expect(verify(chain, { now: notBefore.getTime() })).resolves.toBeDefined();
    await expect(verify(chain, { now: notAfter.getTime() + 999 })).resolves.toBeDefined();
    expect((await failure(verify(chain, { now: notBefore.getTime() - 1 }))).code).toBe(
      'ERR_MLSTLS_CERT_NOT_YET_VALID',
    );
    expect((await failure(verify(chain, { now: notAfter.getTime() + SECOND }))).code).toBe(
      'ERR_MLSTLS_CERT_HAS_EXPIRED',
    );
  });

  it('an expired intermediate', async () => {
    const notBefore = new Date(validityOf(pki.root).notBefore);
    const notAfter = new Date(notBefore.getTime() + HOUR);
    const intermediate = await issueCertificate({
      subject: 'short-lived intermediate',
      issuer: pki.root,
      ca: true,
      notBefore,
      notAfter,
    });
    const leaf = await issueCertificate({ subject: 'leaf', issuer: intermediate });
    const now = notAfter.getTime() + SECOND;
    const error = await failure(verify([leaf, intermediate], { now }));
    expect(error.code).toBe('ERR_MLSTLS_CERT_HAS_EXPIRED');
    expect(error.message).toContain('short-lived intermediate');
  });

  it('an expired anchor (OpenSSL checks the anchor too)', async () => {
    const { notAfter } = validityOf(pki.root);
    const error = await failure(verify([pki.server, pki.intermediate], { now: notAfter + SECOND }));
    expect(error.code).toBe('ERR_MLSTLS_CERT_HAS_EXPIRED');
  });
});

describe('certificates used for what they may not do are ERR_MLSTLS_CERT_INVALID_PURPOSE', () => {
  it('a leaf whose key usage lacks digitalSignature', async () => {
    const leaf = await issueCertificate({
      subject: 'encipher only',
      issuer: pki.intermediate,
      keyUsage: ['keyEncipherment'],
    });
    expect((await failure(verify([leaf, pki.intermediate]))).code).toBe(
      'ERR_MLSTLS_CERT_INVALID_PURPOSE',
    );
  });

  it('a clientAuth-only leaf used by a server, and a serverAuth-only leaf by a client', async () => {
    expect(
      (await failure(verify([pki.client, pki.intermediate], { purpose: 'server' }))).code,
    ).toBe('ERR_MLSTLS_CERT_INVALID_PURPOSE');
    expect(
      (await failure(verify([pki.server, pki.intermediate], { purpose: 'client' }))).code,
    ).toBe('ERR_MLSTLS_CERT_INVALID_PURPOSE');
  });

  it('a leaf without extended key usage serves either purpose', async () => {
    const leaf = await issueCertificate({ subject: 'any', issuer: pki.intermediate });
    await expect(verify([leaf, pki.intermediate], { purpose: 'client' })).resolves.toBeDefined();
    await expect(verify([leaf, pki.intermediate], { purpose: 'server' })).resolves.toBeDefined();
  });

  it('an issuer that is not a CA', async () => {
    const notCa = await issueCertificate({
      subject: 'not a CA',
      issuer: pki.root,
      keyUsage: ['digitalSignature', 'keyCertSign'],
    });
    const leaf = await issueCertificate({ subject: 'leaf', issuer: notCa });
    const error = await failure(verify([leaf, notCa]));
    expect(error.code).toBe('ERR_MLSTLS_CERT_INVALID_PURPOSE');
    expect(error.message).toContain('not a CA');
  });

  it('a CA whose key usage lacks keyCertSign', async () => {
    const ca = await issueCertificate({
      subject: 'crl signer',
      issuer: pki.root,
      ca: true,
      keyUsage: ['cRLSign'],
    });
    const leaf = await issueCertificate({ subject: 'leaf', issuer: ca });
    expect((await failure(verify([leaf, ca]))).code).toBe('ERR_MLSTLS_CERT_INVALID_PURPOSE');
  });

  it('a pathLenConstraint exceeded', async () => {
    // The test intermediate has pathLength 0: no CA may sit below it.
    const below = await issueCertificate({ subject: 'below', issuer: pki.intermediate, ca: true });
    const leaf = await issueCertificate({ subject: 'leaf', issuer: below });
    const error = await failure(verify([leaf, below, pki.intermediate]));
    expect(error.code).toBe('ERR_MLSTLS_CERT_INVALID_PURPOSE');
    expect(error.message).toContain('allows 0 intermediate CAs');
  });
});

describe('the leaf must carry the MLS signature key: ERR_MLSTLS_CERT_KEY_MISMATCH', () => {
  it('another Ed25519 key', async () => {
    const error = await failure(
      verify([pki.server, pki.intermediate], { key: new Uint8Array(32).fill(7) }),
    );
    expect(error.code).toBe('ERR_MLSTLS_CERT_KEY_MISMATCH');
  });

  it('a P-256 key for an Ed25519 certificate, and the other way round', async () => {
    const p256 = pki.client.publicKey;
    const ed25519 = pki.server.publicKey;
    expect((await failure(verify([pki.server, pki.intermediate], { key: p256 }))).code).toBe(
      'ERR_MLSTLS_CERT_KEY_MISMATCH',
    );
    expect(
      (await failure(verify([pki.client, pki.intermediate], { key: ed25519, purpose: 'client' })))
        .code,
    ).toBe('ERR_MLSTLS_CERT_KEY_MISMATCH');
  });

  it('a P-256 point with a flipped parity bit', async () => {
    const key = pki.client.publicKey;
    const compressed = new Uint8Array(33);
    compressed[0] = 0x03 ^ (key[64]! & 1);
    compressed.set(key.subarray(1, 33), 1);
    const error = await failure(
      verify([pki.client, pki.intermediate], { key: compressed, purpose: 'client' }),
    );
    expect(error.code).toBe('ERR_MLSTLS_CERT_KEY_MISMATCH');
  });
});

describe('certificates that cannot be verified are ERR_MLSTLS_BAD_CERTIFICATE', () => {
  it('an empty chain', async () => {
    expect((await failure(verify([]))).code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('DER that does not parse', async () => {
    const truncated = pki.server.der.subarray(0, pki.server.der.length - 1);
    expect((await failure(verify([truncated, pki.intermediate]))).code).toBe(
      'ERR_MLSTLS_BAD_CERTIFICATE',
    );
    const trailing = Uint8Array.of(...pki.server.der, 0);
    expect((await failure(verify([trailing, pki.intermediate]))).code).toBe(
      'ERR_MLSTLS_BAD_CERTIFICATE',
    );
  });

  it('a signature with one byte changed, at the leaf and at the intermediate', async () => {
    for (const [index, target] of [pki.server, pki.intermediate].entries()) {
      const tampered = target.der.slice();
      tampered[tampered.length - 1]! ^= 0x01;
      const chain = [pki.server.der, pki.intermediate.der];
      chain[index] = tampered;
      const error = await failure(verify(chain, { key: pki.server.publicKey }));
      expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
      expect(error.message).toContain('does not verify');
    }
  });

  it('a signed part changed after signing', async () => {
    const tampered = pki.server.der.slice();
    // The CN 'localhost' lies inside the signed part; change one letter.
    const at = indexOf(tampered, new TextEncoder().encode('localhost'));
    tampered[at] = 'L'.charCodeAt(0);
    const error = await failure(
      verify([tampered, pki.intermediate], { key: pki.server.publicKey }),
    );
    expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('an unknown critical extension, but not an unknown non-critical one', async () => {
    const extension = { oid: '1.3.6.1.4.1.99999.1', value: Uint8Array.of(0x05, 0x00) };
    const critical = await issueCertificate({
      subject: 'critical',
      issuer: pki.intermediate,
      extraExtensions: [{ ...extension, critical: true }],
    });
    const error = await failure(verify([critical, pki.intermediate]));
    expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    expect(error.message).toContain('1.3.6.1.4.1.99999.1');
    const plain = await issueCertificate({
      subject: 'plain',
      issuer: pki.intermediate,
      extraExtensions: [{ ...extension, critical: false }],
    });
    await expect(verify([plain, pki.intermediate])).resolves.toBeDefined();
  });

  it('messages name certificates but carry no key material', async () => {
    const key = new Uint8Array(32).fill(0xab);
    const error = await failure(verify([pki.server, pki.intermediate], { key }));
    expect(error.message).toContain('CN=localhost');
    expect(error.message).not.toMatch(/ab ?ab|AB ?AB|q6ur/);
  });
});

describe('options the caller got wrong are ERR_MLSTLS_INVALID_ARGUMENT', () => {
  it('a clock that is not a number, an unknown purpose, a key that is not bytes', async () => {
    const chain = [pki.server.der, pki.intermediate.der];
    const key = pki.server.publicKey;
    const base = { anchors, now: Date.now(), purpose: 'server' as const, signaturePublicKey: key };
    for (const options of [
      { ...base, now: Number.NaN },
      { ...base, purpose: 'peer' as CertificatePurpose },
      { ...base, signaturePublicKey: 'key' as unknown as Uint8Array },
      { ...base, anchors: {} as TrustAnchors },
    ]) {
      expect((await failure(verifyCertificateChain(chain, options))).code).toBe(
        'ERR_MLSTLS_INVALID_ARGUMENT',
      );
    }
  });
});

describe('trust anchors are parsed once and reused', () => {
  it('verifies many chains with one TrustAnchors, and counts each anchor once', async () => {
    const twice = TrustAnchors.from([pki.root.pem, pki.root.pem, pki.root.der]);
    expect(twice.size).toBe(1);
    const key = pki.server.publicKey;
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        verifyCertificateChain([pki.server.der, pki.intermediate.der], {
          anchors: twice,
          now: Date.now(),
          purpose: 'server',
          signaturePublicKey: key,
        }),
      ),
    );
    expect(new Set(results.map((result) => result.fingerprint256)).size).toBe(1);
  });
});

/** Whether the certificate's ECDSA P-256 signature (at its end) has an integer under 32 bytes. */
function hasShortEcdsaInteger(der: Uint8Array): boolean {
  // The signature BIT STRING ends the certificate: 03 len 00 30 len 02 rl r 02 sl s.
  for (let start = der.length - 72; start < der.length - 6; start++) {
    if (der[start] !== 0x30 || der[start + 1] !== der.length - start - 2) continue;
    const rLength = der[start + 3]!;
    const r = der.subarray(start + 4, start + 4 + rLength);
    const s = der.subarray(start + 6 + rLength);
    const short = (value: Uint8Array) =>
      value.length < 32 || (value.length === 32 && value[0] === 0);
    return short(r) || short(s);
  }
  throw new Error('no ECDSA signature found');
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('not found');
}
