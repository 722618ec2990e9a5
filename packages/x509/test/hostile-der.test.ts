// Certificates come from the peer: any bytes must end in a result or an MlsTlsError whose alert
// is its code's, never another exception (tools/fuzz runs the same property for longer).
import { ErrorCode, MlsTlsError } from '@mlstls/codec';
import { type TestPki, testPki } from '@mlstls/test-support';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeCertificate, TrustAnchors, verifyCertificateChain } from '../src/index.js';

let pki: TestPki;
let anchors: TrustAnchors;
let signaturePublicKey: Uint8Array;

beforeAll(async () => {
  pki = await testPki();
  anchors = TrustAnchors.from(pki.root.pem);
  signaturePublicKey = pki.server.publicKey;
});

/** `bytes` with some bytes changed, inserted or cut. */
function mutations(bytes: () => Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(2)), {
      minLength: 1,
      maxLength: 6,
    })
    .map((edits) => {
      let out = Array.from(bytes());
      for (const [at, value, kind] of edits) {
        const i = at % Math.max(out.length, 1);
        if (kind === 0) out[i] = value;
        else if (kind === 1) out.splice(i, 0, value);
        else out = out.slice(0, i);
      }
      return Uint8Array.from(out);
    });
}

async function outcome(run: () => unknown): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(MlsTlsError);
    const { code, alert } = error as MlsTlsError;
    expect(alert).toBe(ErrorCode[code]);
    return code;
  }
}

describe('hostile DER', () => {
  it('a mutated leaf is described or refused with an MlsTlsError', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        mutations(() => pki.server.der),
        async (leaf) => {
          seen.add(await outcome(() => describeCertificate(leaf)));
          seen.add(
            await outcome(() =>
              verifyCertificateChain([leaf, pki.intermediate.der], {
                anchors,
                now: Date.now(),
                purpose: 'server',
                signaturePublicKey,
              }),
            ),
          );
        },
      ),
      { numRuns: 300 },
    );
    // The mutations reached past the parser: some chains failed their signature check.
    expect(seen).toContain('ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('a mutated intermediate is refused with an MlsTlsError, or still verifies', async () => {
    await fc.assert(
      fc.asyncProperty(
        mutations(() => pki.intermediate.der),
        async (intermediate) => {
          await outcome(() =>
            verifyCertificateChain([pki.server.der, intermediate], {
              anchors,
              now: Date.now(),
              purpose: 'server',
              signaturePublicKey,
            }),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('random bytes as trust anchors are the caller mistake ERR_MLSTLS_INVALID_ARGUMENT', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
        try {
          TrustAnchors.from(bytes);
        } catch (error) {
          expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
        }
      }),
      { numRuns: 300 },
    );
  });
});
