// Handshakes and updates with node:crypto's MLS implementation on one side and ts-mls's own on the
// other. The implementations themselves are tested, vectors included, in @mlstls/crypto.
import { randomBytes } from 'node:crypto';
import { nodeCiphersuite } from '@mlstls/crypto/mls';
import { type CiphersuiteImpl, type CiphersuiteName, getCiphersuiteFromName } from 'ts-mls';
import { describe, expect, it, vi } from 'vitest';
import type { EndpointCredential } from '../src/mls.js';
import { SUPPORTED_CIPHERSUITES } from '../src/suites.js';
import { Pair } from './pair.js';

// Endpoints whose `random` is in `nodeSide` load the node:crypto implementation, the others
// ts-mls's default: two implementations in one process, one per endpoint.
const { nodeSide, loaded } = vi.hoisted(() => ({
  nodeSide: new Set<(length: number) => Uint8Array>(),
  loaded: [] as ('node' | 'default')[],
}));

vi.mock('../src/mls.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/mls.js')>();
  const { nodeCiphersuite } = await import('@mlstls/crypto/mls');
  const tsMls = await import('ts-mls');
  return {
    ...original,
    async loadCiphersuite(name: CiphersuiteName, random: (length: number) => Uint8Array) {
      const node = nodeSide.has(random);
      loaded.push(node ? 'node' : 'default');
      const cs = node
        ? nodeCiphersuite(name)
        : await tsMls.getCiphersuiteImpl(tsMls.getCiphersuiteFromName(name));
      return { ...cs, rng: { randomBytes: random } };
    },
  };
});

const bytes = (length: number) => new Uint8Array(randomBytes(length));
const toHex = (data: Uint8Array) => Buffer.from(data).toString('hex');

function nodeImpl(name: CiphersuiteName): CiphersuiteImpl {
  const cs = nodeCiphersuite(name);
  if (cs === undefined) throw new Error(`no node:crypto implementation of ${name}`);
  return cs;
}

function nodeRandom(): (length: number) => Uint8Array {
  const random = (length: number) => bytes(length);
  nodeSide.add(random);
  return random;
}

const defaultRandom = () => (length: number) => bytes(length);

/** A credential whose key node:crypto generated (P-256 public keys uncompressed). */
async function nodeCredential(name: CiphersuiteName): Promise<EndpointCredential> {
  const cs = nodeImpl(name);
  const { publicKey, signKey } = await cs.signature.keygen();
  return {
    credential: { credentialType: 'basic', identity: publicKey.slice() },
    signatureAlgorithm: getCiphersuiteFromName(name).signature,
    signaturePublicKey: publicKey,
    signaturePrivateKey: signKey,
  };
}

async function exchangeAndUpdate(pair: Pair): Promise<void> {
  expect(pair.log.initiator.errors).toEqual([]);
  expect(pair.log.responder.errors).toEqual([]);
  expect(pair.initiator.epoch).toBe(1n);
  await pair.initiator.write(new TextEncoder().encode('ping'));
  await pair.responder.write(new TextEncoder().encode('pong'));
  pair.drain();
  await pair.settle();
  expect(new TextDecoder().decode(pair.log.responder.received)).toBe('ping');
  expect(new TextDecoder().decode(pair.log.initiator.received)).toBe('pong');
  for (const side of ['initiator', 'responder', 'initiator'] as const) {
    const update = pair.endpoint(side).update();
    pair.drain();
    await pair.settle();
    await update;
  }
  expect(pair.log.initiator.errors).toEqual([]);
  expect(pair.log.responder.errors).toEqual([]);
  expect(pair.initiator.epoch).toBe(4n);
  expect(pair.responder.epoch).toBe(4n);
  expect(toHex(pair.initiator.exportKeyingMaterial(32, 'mixed'))).toBe(
    toHex(pair.responder.exportKeyingMaterial(32, 'mixed')),
  );
}

/** Every suite both implementations run: RFC 9420's seven; the post-quantum ones are portable. */
const bothRun = SUPPORTED_CIPHERSUITES.filter((suite) => nodeCiphersuite(suite.name) !== undefined);

it('node:crypto runs MLS for every suite of RFC 9420', () => {
  expect(bothRun.map((suite) => suite.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
});

describe.each(bothRun)('mixed implementations, suite $id', ({ id, name }) => {
  for (const nodeRole of ['initiator', 'responder'] as const) {
    it(`handshakes and updates with node:crypto as the ${nodeRole} and ts-mls default as the other`, async () => {
      loaded.length = 0;
      const pair = await Pair.connected({
        initiator: {
          ciphersuite: id,
          random: nodeRole === 'initiator' ? nodeRandom() : defaultRandom(),
        },
        responder: { random: nodeRole === 'responder' ? nodeRandom() : defaultRandom() },
      });
      expect([...loaded].sort()).toEqual(['default', 'node']);
      await exchangeAndUpdate(pair);
    });

    it(`handshakes and updates with node:crypto-generated credentials, node:crypto as the ${nodeRole}`, async () => {
      loaded.length = 0;
      const initiatorCredential = await nodeCredential(name);
      const responderCredential = await nodeCredential(name);
      const pair = await Pair.connected({
        initiator: {
          ciphersuite: id,
          credential: initiatorCredential,
          peerSignaturePublicKey: responderCredential.signaturePublicKey,
          random: nodeRole === 'initiator' ? nodeRandom() : defaultRandom(),
        },
        responder: {
          credential: responderCredential,
          random: nodeRole === 'responder' ? nodeRandom() : defaultRandom(),
        },
      });
      expect([...loaded].sort()).toEqual(['default', 'node']);
      await exchangeAndUpdate(pair);
    });
  }
});

describe('loadCiphersuite', () => {
  // Only the node:crypto implementation's keys are instances of its own class: its
  // exportPublicKey takes its own keys and refuses the portable implementation's.
  it.each([
    ['node', true],
    ['portable', false],
  ] as const)('gives the %s implementation with the injected rng', async (kind, nodeKeys) => {
    const { loadCiphersuite } =
      await vi.importActual<typeof import('../src/mls.js')>('../src/mls.js');
    const random = (length: number) => new Uint8Array(length).fill(7);
    const cs = await loadCiphersuite('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', random, kind);
    expect(cs.rng.randomBytes(3)).toEqual(new Uint8Array([7, 7, 7]));
    const { publicKey } = await cs.hpke.generateKeyPair();
    const exported = nodeImpl('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519').hpke.exportPublicKey(
      publicKey,
    );
    if (nodeKeys) await expect(exported).resolves.toHaveLength(32);
    else await expect(exported).rejects.toThrow();
  });
});
