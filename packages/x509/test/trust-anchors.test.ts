import { type TestPki, testPki } from '@mlstls/test-support';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrustAnchors, verifyCertificateChain } from '../src/index.js';

let pki: TestPki;

beforeAll(async () => {
  pki = await testPki();
});

describe('TrustAnchors', () => {
  it('counts the same certificate given twice once', () => {
    expect(TrustAnchors.from([pki.root.pem, pki.root.der, pki.intermediate.pem]).size).toBe(2);
  });

  it('lazy anchors are parsed on first use, once, and then verify as eager ones', async () => {
    let loads = 0;
    const anchors = TrustAnchors.lazy(() => {
      loads++;
      return pki.root.pem;
    });
    expect(loads).toBe(0);
    const options = {
      anchors,
      now: Date.now(),
      purpose: 'server' as const,
      signaturePublicKey: pki.server.publicKey,
    };
    await verifyCertificateChain([pki.server.der, pki.intermediate.der], options);
    await verifyCertificateChain([pki.server.der, pki.intermediate.der], options);
    expect(loads).toBe(1);
    expect(anchors.size).toBe(1);
  });

  it('junk in lazy anchors is ERR_MLSTLS_INVALID_ARGUMENT at first use', () => {
    const anchors = TrustAnchors.lazy(() => 'not a certificate');
    expect(() => anchors.size).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }),
    );
  });
});
