// docs/protocol.md section 4: the responder's checks of the client_hello (suite, capabilities,
// lifetime, signature, credential) and the initiator's fail-closed check of the responder.
import type { Capabilities } from 'ts-mls';
import { describe, expect, it } from 'vitest';
import { expectFatal } from './fatal.js';
import { clientHelloRecord, freshKeyPackage } from './mls.js';
import { now, Pair, type PairOptions } from './pair.js';

const DAY = 86_400_000;

/** A pair whose client_hello is in flight, not yet delivered. */
async function withClientHello(options: PairOptions = {}) {
  const pair = await Pair.create(options);
  await pair.initiator.start();
  await pair.step();
  return pair;
}

/** Replaces the client_hello in flight with `edit` of it. */
function editClientHello(pair: Pair, edit: (record: Uint8Array) => void): void {
  const [record] = pair.discard('initiator');
  const copy = record!.slice();
  edit(copy);
  pair.inject('initiator', copy);
}

// Offsets in a client_hello record: record header (5), handshake header (4), MLSMessage
// version and wire format (4), KeyPackage version (2), then the KeyPackage's cipher_suite.
const CIPHER_SUITE_OFFSET = 5 + 4 + 4 + 2;

describe('the responder checks the client_hello', () => {
  it('a KeyPackage of a suite the responder does not accept is handshake_failure', async () => {
    const pair = await withClientHello({
      initiator: { ciphersuite: 3 },
      responder: { ciphersuites: [1, 2] },
    });
    await pair.deliverAll('initiator');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_HANDSHAKE_FAILURE');
  });

  it('a client_hello carrying a Welcome instead of a KeyPackage is illegal_parameter', async () => {
    const pair = await withClientHello();
    // The MLSMessage wire_format (after its version) says mls_welcome (3).
    editClientHello(pair, (record) => {
      record[5 + 4 + 3] = 3;
    });
    await pair.deliverAll('initiator');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_ILLEGAL_PARAMETER');
  });

  const lacks: [string, Partial<Capabilities>][] = [
    ['its own suite', { ciphersuites: ['MLS_128_DHKEMP256_AES128GCM_SHA256_P256'] }],
    ['the responder credential type', { credentials: ['x509'] }],
    ['mls10', { versions: [] }],
  ];
  for (const [lacking, capabilities] of lacks) {
    it(`a KeyPackage whose capabilities lack ${lacking} is handshake_failure`, async () => {
      const pair = await Pair.create();
      const { publicPackage } = await freshKeyPackage('initiator', capabilities);
      pair.inject('initiator', clientHelloRecord(publicPackage));
      await pair.deliverAll('initiator');
      // The initiator never started: nobody reads the plaintext alert but the test.
      pair.discard('responder');
      await expectFatal(pair, 'responder', 'ERR_MLSTLS_HANDSHAKE_FAILURE', {
        peer: 'cannot read it',
      });
    });
  }

  it('a KeyPackage made with ts-mls directly, with mlstls capabilities, is accepted', async () => {
    const pair = await Pair.create();
    const { publicPackage } = await freshKeyPackage('initiator');
    pair.inject('initiator', clientHelloRecord(publicPackage));
    await pair.deliverAll('initiator');
    expect(pair.errors().responder).toEqual([]);
    expect(pair.labels('responder')).toContain('send plaintext server_hello');
  });

  it('a KeyPackage of an MLS suite mlstls does not speak (7, P-384) is handshake_failure', async () => {
    const pair = await withClientHello();
    editClientHello(pair, (record) => {
      record[CIPHER_SUITE_OFFSET] = 0;
      record[CIPHER_SUITE_OFFSET + 1] = 7;
    });
    await pair.deliverAll('initiator');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_HANDSHAKE_FAILURE');
  });

  for (const [when, shift] of [
    ['expired (made three days ago)', -3 * DAY],
    ['not yet valid (made three days ahead)', 3 * DAY],
  ] as const) {
    it(`a KeyPackage ${when} is illegal_parameter`, async () => {
      const pair = await withClientHello({ initiator: { now: () => now() + shift } });
      await pair.deliverAll('initiator');
      await expectFatal(pair, 'responder', 'ERR_MLSTLS_ILLEGAL_PARAMETER');
      expect(pair.responder.failure?.message).toMatch(/lifetime/);
    });
  }

  it('a KeyPackage made a few hours off the responder clock is accepted (skew)', async () => {
    const pair = await withClientHello({ initiator: { now: () => now() - 5 * 3_600_000 } });
    await pair.settle();
    await pair.expectInSync(1n);
  });

  it('a KeyPackage whose signature does not verify is decrypt_error', async () => {
    const pair = await withClientHello();
    // The KeyPackage ends with its signature; change a byte of it.
    editClientHello(pair, (record) => {
      record[record.length - 40]! ^= 0x01;
    });
    await pair.deliverAll('initiator');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_DECRYPT');
  });

  it('a client_hello whose MLSMessage has a trailing byte is decode_error', async () => {
    const pair = await withClientHello();
    editClientHello(pair, () => {});
    const record = pair.discard('initiator')[0]!;
    const longer = new Uint8Array(record.length + 1);
    longer.set(record);
    // Grow the record and handshake lengths by one.
    const recordLength = (record[3]! << 8) + record[4]! + 1;
    longer[3] = recordLength >> 8;
    longer[4] = recordLength & 0xff;
    const messageLength = (record[6]! << 16) + (record[7]! << 8) + record[8]! + 1;
    longer[6] = messageLength >> 16;
    longer[7] = (messageLength >> 8) & 0xff;
    longer[8] = messageLength & 0xff;
    pair.inject('initiator', longer);
    await pair.deliverAll('initiator');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_DECODE');
  });

  it('a credential the verifyPeer callback refuses is bad_certificate', async () => {
    const seen: Uint8Array[] = [];
    const pair = await withClientHello({
      responder: {
        verifyPeer: (peer) => {
          seen.push(peer.signaturePublicKey);
          return false;
        },
      },
    });
    await pair.deliverAll('initiator');
    expect(seen).toHaveLength(1);
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('a credential an async verifyPeer accepts completes the handshake, authorized', async () => {
    const pair = await Pair.connected({ responder: { verifyPeer: async () => true } });
    expect(pair.responder.handshake?.authorized).toBe(true);
    await pair.expectInSync(1n);
  });
});

describe('the initiator authenticates the responder, failing closed', () => {
  it('without a verifier or a pinned key it refuses the responder with bad_certificate', async () => {
    const pair = await withClientHello({ pin: false });
    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    // Its alert goes in plaintext (it has no keys); the responder, waiting for the key
    // confirmation (section 4), reads it: ERR_MLSTLS_ALERT_RECEIVED with bad_certificate.
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_BAD_CERTIFICATE');
    expect(pair.initiator.handshake).toBeUndefined();
    // Neither side told its application anything.
    expect(pair.responder.handshake).toBeUndefined();
    expect(pair.log.responder.count('handshakeComplete')).toBe(0);
    expect(pair.log.responder.persisted).toEqual([]);
  });

  it('a verifyPeer that refuses is bad_certificate', async () => {
    const pair = await withClientHello({ pin: false, initiator: { verifyPeer: () => false } });
    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('a pinned key that is not the responder key is bad_certificate, even with a verifier that accepts', async () => {
    const pair = await withClientHello({
      initiator: { peerSignaturePublicKey: new Uint8Array(32).fill(7), verifyPeer: () => true },
    });
    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('a verifyPeer that accepts completes the handshake, authorized, with the responder credential', async () => {
    const pair = await Pair.connected({ pin: false, initiator: { verifyPeer: async () => true } });
    const info = pair.initiator.handshake!;
    expect(info.authorized).toBe(true);
    expect(info.authorizationError).toBeUndefined();
    expect(info.peer.signaturePublicKey).toEqual(pair.responderCredential?.signaturePublicKey);
    expect(info.peer.credential).toEqual(pair.responderCredential?.credential);
    await pair.expectInSync(1n);
  });

  it('rejectUnauthorized: false without a verifier lets the connection through with authorized: false', async () => {
    const pair = await Pair.connected({ pin: false, initiator: { rejectUnauthorized: false } });
    const info = pair.initiator.handshake!;
    expect(info.authorized).toBe(false);
    expect(info.authorizationError?.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    await pair.expectInSync(1n);
    const update = pair.initiator.update();
    await pair.settle();
    await update;
    await pair.expectInSync(2n);
  });

  it('rejectUnauthorized: false with a verifier that refuses lets it through with authorized: false', async () => {
    const pair = await Pair.connected({
      pin: false,
      initiator: { rejectUnauthorized: false, verifyPeer: () => false },
    });
    expect(pair.initiator.handshake?.authorized).toBe(false);
    expect(pair.initiator.handshake?.authorizationError?.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    await pair.expectInSync(1n);
  });

  it('the pinned responder key is accepted (authorized)', async () => {
    const pair = await Pair.connected();
    expect(pair.initiator.handshake?.authorized).toBe(true);
    await pair.expectInSync(1n);
  });
});
