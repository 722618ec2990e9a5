// verifyCertificateChain shares parses, imported issuer keys and verified signatures between
// calls, so that a server's chain costs one parse and one WebCrypto import per process. These
// tests check that the caches save that work and change no outcome.
import { MlsTlsError } from '@mlstls/codec';
import {
  type IssuedCertificate,
  issueCertificate,
  type TestPki,
  testPki,
} from '@mlstls/test-support';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsedCertificates } from '../src/certificate.js';
import {
  type CertificatePurpose,
  describeCertificate,
  type PeerCertificate,
  TrustAnchors,
  verifyCertificateChain,
} from '../src/index.js';
import { issuerKeys } from '../src/signature.js';

let pki: TestPki;
let serverKey: Uint8Array;

beforeAll(async () => {
  pki = await testPki();
  serverKey = pki.server.publicKey;
});

beforeEach(() => {
  parsedCertificates.clear();
  issuerKeys.clear();
});

afterEach(() => {
  vi.restoreAllMocks();
});

interface Options {
  anchors?: TrustAnchors;
  now?: number;
  purpose?: CertificatePurpose;
  key?: Uint8Array;
}

/** Verifies fresh copies of the chain's bytes, as a connection receives them. */
function verify(chain: readonly (IssuedCertificate | Uint8Array)[], options: Options = {}) {
  return verifyCertificateChain(
    chain.map((item) => (item instanceof Uint8Array ? item : item.der).slice()),
    {
      anchors: options.anchors ?? TrustAnchors.from(pki.root.pem),
      now: options.now ?? Date.now(),
      purpose: options.purpose ?? 'server',
      signaturePublicKey: options.key ?? serverKey,
    },
  );
}

/** The outcome of a verification: the described path's subjects, or the error's code and text. */
async function outcome(verification: Promise<PeerCertificate>) {
  try {
    const leaf = await verification;
    const subjects: unknown[] = [];
    for (let step: PeerCertificate | undefined = leaf; step; step = step.issuerCertificate) {
      subjects.push(step.subject);
      if (step.issuerCertificate === step) break;
    }
    return { subjects, fingerprint: leaf.fingerprint256 };
  } catch (error) {
    expect(error).toBeInstanceOf(MlsTlsError);
    const { code, message } = error as MlsTlsError;
    return { code, message };
  }
}

/** Counts WebCrypto's key imports and verifications from here on. */
function countWebCrypto() {
  return {
    imports: vi.spyOn(crypto.subtle, 'importKey'),
    verifies: vi.spyOn(crypto.subtle, 'verify'),
  };
}

describe('a chain seen before costs no parse, key import or signature', () => {
  it('a second verification of the same chain parses, imports and verifies nothing', async () => {
    const anchors = TrustAnchors.from(pki.root.pem);
    const webCrypto = countWebCrypto();
    const parsesBefore = parsedCertificates.created;
    const first = await verify([pki.server, pki.intermediate], { anchors });
    expect(parsedCertificates.created).toBe(parsesBefore + 2);
    // The root's key for the intermediate, the intermediate's for the leaf.
    expect(webCrypto.imports).toHaveBeenCalledTimes(2);
    expect(webCrypto.verifies).toHaveBeenCalledTimes(2);
    const parses = parsedCertificates.created;
    const second = await verify([pki.server, pki.intermediate], { anchors });
    expect(parsedCertificates.created).toBe(parses);
    expect(webCrypto.imports).toHaveBeenCalledTimes(2);
    expect(webCrypto.verifies).toHaveBeenCalledTimes(2);
    expect(second).not.toBe(first);
    expect(second).toEqual(first);
  });

  it("an intermediate parsed anew (evicted) still finds its key imported, by the key's bytes", async () => {
    const anchors = TrustAnchors.from(pki.root.pem);
    await verify([pki.server, pki.intermediate], { anchors });
    const webCrypto = countWebCrypto();
    parsedCertificates.clear();
    const parses = parsedCertificates.created;
    await verify([pki.server, pki.intermediate], { anchors });
    expect(parsedCertificates.created).toBe(parses + 2);
    expect(webCrypto.imports).not.toHaveBeenCalled();
    // Verified signatures go with the parses they were checked for.
    expect(webCrypto.verifies).toHaveBeenCalledTimes(2);
  });

  it('the same key in a re-issued intermediate is imported once', async () => {
    const reissued = await issueCertificate({
      subject: 'mlstls test intermediate',
      issuer: pki.root,
      keys: pki.intermediate.keys,
      ca: { pathLength: 0 },
    });
    const anchors = TrustAnchors.from(pki.root.pem);
    await verify([pki.server, pki.intermediate], { anchors });
    const webCrypto = countWebCrypto();
    const leaf = await verify([pki.server, reissued], { anchors });
    expect(leaf.issuerCertificate?.raw).toEqual(reissued.der);
    expect(webCrypto.imports).not.toHaveBeenCalled();
  });

  it('describeCertificate shares the parse of the chain check', async () => {
    await verify([pki.server, pki.intermediate]);
    const parses = parsedCertificates.created;
    describeCertificate(pki.server.der.slice());
    expect(parsedCertificates.created).toBe(parses);
  });

  it('stays bounded: many leaves evict the oldest parses, not the recurring intermediate', async () => {
    const max = parsedCertificates.maxEntries;
    const keys = pki.server.keys;
    const leaves: IssuedCertificate[] = [];
    for (let i = 0; i < max + 10; i++) {
      leaves.push(await issueCertificate({ subject: `leaf ${i}`, issuer: pki.intermediate, keys }));
    }
    const anchors = TrustAnchors.from(pki.root.pem);
    for (const leaf of leaves) await verify([leaf, pki.intermediate], { anchors });
    expect(parsedCertificates.size).toBe(max);
    const webCrypto = countWebCrypto();
    const parses = parsedCertificates.created;
    // The intermediate, used by every call, is still held; the first leaves are not.
    await verify([leaves.at(-1)!, pki.intermediate], { anchors });
    expect(parsedCertificates.created).toBe(parses);
    await verify([leaves[0]!, pki.intermediate], { anchors });
    expect(parsedCertificates.created).toBe(parses + 1);
    expect(webCrypto.imports).not.toHaveBeenCalled();
    expect(issuerKeys.size).toBeLessThanOrEqual(issuerKeys.maxEntries);
  });
});

describe('the caches change no outcome', () => {
  it('a swapped intermediate of the same name with another key fails after the real one passed', async () => {
    // Without key identifiers, only the signature tells the two same-named CAs apart.
    const options = { subject: 'twin', issuer: pki.root, ca: true, keyIdentifiers: false };
    const twin = await issueCertificate(options);
    const impostor = await issueCertificate(options);
    const leaf = await issueCertificate({
      subject: 'localhost',
      issuer: twin,
      keyIdentifiers: false,
      keys: pki.server.keys,
    });
    const cold = await outcome(verify([leaf, impostor]));
    expect(cold).toMatchObject({ code: 'ERR_MLSTLS_BAD_CERTIFICATE' });
    for (let round = 0; round < 2; round++) {
      expect(await outcome(verify([leaf, twin]))).toHaveProperty('subjects');
      expect(await outcome(verify([leaf, impostor]))).toEqual(cold);
    }
  });

  it('a buffer changed in place after a verification is read anew, and the cache kept a copy', async () => {
    const bytes = pki.server.der.slice();
    const anchors = TrustAnchors.from(pki.root.pem);
    const check = (leaf: Uint8Array) =>
      verifyCertificateChain([leaf, pki.intermediate.der], {
        anchors,
        now: Date.now(),
        purpose: 'server',
        signaturePublicKey: serverKey,
      });
    await check(bytes);
    // The last byte is in the signature: the same certificate, no longer signed by its issuer.
    bytes[bytes.length - 1]! ^= 1;
    const error = await check(bytes).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(MlsTlsError);
    expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    // The first bytes, cached, are still those of the certificate that verified.
    const leaf = await check(pki.server.der.slice());
    expect(leaf.raw).toEqual(pki.server.der);
  });

  it('every outcome is the same from empty caches and from warm ones', async () => {
    const expired = Date.now() + 3 * 24 * 60 * 60 * 1000;
    const other = await testPki();
    const cases: readonly [string, () => Promise<PeerCertificate>][] = [
      ['a good chain', () => verify([pki.server, pki.intermediate])],
      ['at a time after notAfter', () => verify([pki.server, pki.intermediate], { now: expired })],
      [
        'for the wrong purpose',
        () => verify([pki.server, pki.intermediate], { purpose: 'client' }),
      ],
      [
        'with another MLS key',
        () => verify([pki.server, pki.intermediate], { key: new Uint8Array(32) }),
      ],
      ['without the intermediate', () => verify([pki.server])],
      ['with an intermediate of another PKI', () => verify([pki.server, other.intermediate])],
      ['to another root', () => verify([other.server, other.intermediate])],
      [
        'a P-256 client leaf',
        async () =>
          verify([pki.client, pki.intermediate], {
            purpose: 'client',
            key: pki.client.publicKey,
          }),
      ],
    ];
    const cold: unknown[] = [];
    for (const [, run] of cases) {
      parsedCertificates.clear();
      issuerKeys.clear();
      cold.push(await outcome(run()));
    }
    for (let round = 0; round < 2; round++) {
      for (const [index, [what, run]] of cases.entries()) {
        expect(await outcome(run()), what).toEqual(cold[index]);
      }
    }
    expect(cold[0]).toHaveProperty('subjects');
  });
});
