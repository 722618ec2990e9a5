import { describe, expect, it } from 'vitest';
import { generateCredential } from '../src/credential.js';
import {
  KeyPackagePool,
  type KeyPackageRequest,
  type KeyPackageSupply,
  type PreparedKeyPackage,
} from '../src/key-package-pool.js';
import { offerExtensions } from '../src/negotiation.js';
import { suiteParameters } from '../src/suites.js';
import { Pair } from './pair.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Until `pool` holds `count` KeyPackages (it fills on timers), at most 5 s. */
async function readyCount(pool: KeyPackagePool, count: number): Promise<void> {
  for (let waited = 0; pool.ready < count; waited += 10) {
    if (waited > 5000) throw new Error(`the pool holds ${pool.ready}, not ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function request(overrides: Partial<KeyPackageRequest> = {}): KeyPackageRequest {
  return {
    suite: suiteParameters(1),
    credential: undefined,
    extensions: [],
    now: Date.now(),
    ...overrides,
  };
}

describe('KeyPackagePool', () => {
  it('has none of a kind at first, then fills it, and gives each KeyPackage once', async () => {
    const pool = new KeyPackagePool({ size: 3 });
    expect(pool.take(request())).toBeUndefined();
    await readyCount(pool, 3);
    const given = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const prepared = pool.take(request());
      if (prepared === undefined) {
        await readyCount(pool, 1);
        continue;
      }
      for (const key of [
        prepared.publicPackage.initKey,
        prepared.publicPackage.leafNode.hpkePublicKey,
        prepared.credential.signaturePublicKey,
      ]) {
        expect(given.has(hex(key))).toBe(false);
        given.add(hex(key));
      }
    }
    expect(given.size).toBeGreaterThanOrEqual(3 * 6);
  });

  it('answers a request only with its own kind: suite, credential and extensions', async () => {
    const pool = new KeyPackagePool({ size: 1 });
    const credential = await generateCredential();
    const sni = offerExtensions('example.com', undefined);
    const kinds = [
      request(),
      request({ suite: suiteParameters(3) }),
      request({ credential }),
      request({ extensions: sni }),
    ];
    for (const kind of kinds) expect(pool.take(kind)).toBeUndefined();
    await readyCount(pool, kinds.length);
    const ephemeral = pool.take(kinds[0]!)!;
    expect(ephemeral.publicPackage.cipherSuite).toBe(suiteParameters(1).name);
    expect(ephemeral.publicPackage.extensions).toEqual([]);
    expect(pool.take(kinds[1]!)!.publicPackage.cipherSuite).toBe(suiteParameters(3).name);
    expect(pool.take(kinds[2]!)!.credential).toBe(credential);
    const named = pool.take(kinds[3]!)!;
    expect(named.publicPackage.extensions.map((e) => hex(e.extensionData))).toEqual(
      sni.map((e) => hex(e.extensionData)),
    );
    expect(named.credential).not.toBe(credential);
  });

  it('fills only once no handshake has started for `quiet` ms', async () => {
    const pool = new KeyPackagePool({ size: 2, quiet: 60 });
    for (let i = 0; i < 10; i++) {
      expect(pool.take(request())).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(pool.ready).toBe(0);
    await readyCount(pool, 2);
  });

  it('drops what is older than maxAge, and keeps at most `kinds` kinds', async () => {
    let clock = Date.now();
    const pool = new KeyPackagePool({ size: 2, maxAge: 1000, kinds: 2, now: () => clock });
    pool.take(request());
    await readyCount(pool, 2);
    clock += 1001;
    expect(pool.take(request())).toBeUndefined();
    await readyCount(pool, 2);
    // Two other kinds push the first out.
    pool.take(request({ suite: suiteParameters(3) }));
    pool.take(request({ suite: suiteParameters(2) }));
    await readyCount(pool, 4);
    expect(pool.take(request())).toBeUndefined();
  });
});

describe('handshakes with KeyPackages made ahead', () => {
  it('take each their own from the pool, both roles, and complete', async () => {
    const pool = new KeyPackagePool({ size: 2 });
    const given: PreparedKeyPackage[] = [];
    const recording: KeyPackageSupply = {
      take(asked) {
        const prepared = pool.take(asked);
        if (prepared !== undefined) given.push(prepared);
        return prepared;
      },
    };
    const responderCredential = await generateCredential();
    const options = {
      initiator: {
        keyPackages: recording,
        peerSignaturePublicKey: responderCredential.signaturePublicKey,
      },
      responder: { keyPackages: recording, credential: responderCredential },
    };
    await Pair.connected(options); // the pool learns both kinds
    await readyCount(pool, 4);
    for (let i = 0; i < 3; i++) {
      const taken = given.length;
      const pair = await Pair.connected(options);
      expect(pair.log.initiator.errors).toEqual([]);
      expect(pair.log.responder.errors).toEqual([]);
      expect(given.length).toBe(taken + 2);
      // The initiator's ephemeral credential is the pooled one, as the responder saw it.
      const initiatorSide = given.slice(taken).find((p) => p.credential !== responderCredential)!;
      expect(hex(pair.responder.handshake!.peer.signaturePublicKey)).toBe(
        hex(initiatorSide.credential.signaturePublicKey),
      );
      expect(hex(pair.initiator.exportKeyingMaterial(32, 'pool'))).toBe(
        hex(pair.responder.exportKeyingMaterial(32, 'pool')),
      );
      await readyCount(pool, 4);
    }
    const initKeys = given.map((p) => hex(p.publicPackage.initKey));
    expect(new Set(initKeys).size).toBe(initKeys.length);
  });
});
