// docs/protocol.md sections 2, 4 and 5: hostile MLS content. Every commit must be a self-update of
// the peer for the current epoch; a Welcome must describe a two-member group.
import { ContentType, HandshakeType } from '@mlstls/codec';
import { sealPlaintextRecord } from '@mlstls/record';
import { createApplicationMessage, encodeMlsMessage } from 'ts-mls';
import { describe, expect, it } from 'vitest';
import { expectFatal } from './fatal.js';
import {
  ciphersuite,
  commitOf,
  freshKeyPackage,
  handMadeServerHello,
  keyPackageOf,
  persistedGroup,
} from './mls.js';
import { Pair, peerOf, type Side, sides, track } from './pair.js';

function sendConnectionUpdate(pair: Pair, from: Side, update: Uint8Array): Promise<void> {
  pair.injectHandshake(from, { msgType: HandshakeType.connection_update, update });
  return pair.deliverAll(from);
}

describe('connection_update content', () => {
  for (const from of sides) {
    const victim = peerOf(from);

    it(`a commit from the ${from} with proposals is illegal_parameter`, async () => {
      const pair = await Pair.connected();
      const commit = await commitOf(persistedGroup(pair, from), [
        { proposalType: 'group_context_extensions', groupContextExtensions: { extensions: [] } },
      ]);
      await sendConnectionUpdate(pair, from, commit);
      await expectFatal(pair, victim, 'ERR_MLSTLS_ILLEGAL_PARAMETER');
      expect(pair.endpoint(victim).failure?.message).toMatch(/proposals/);
    });

    it(`a commit from the ${from} for an earlier epoch is illegal_parameter`, async () => {
      const pair = await Pair.connected();
      const epoch1 = persistedGroup(pair, from);
      const update = pair.initiator.update();
      await pair.settle();
      await update;
      expect(pair.responder.epoch).toBe(2n);
      await sendConnectionUpdate(pair, from, await commitOf(epoch1));
      await expectFatal(pair, victim, 'ERR_MLSTLS_ILLEGAL_PARAMETER');
    });

    it(`a replayed connection_update from the ${from} is illegal_parameter`, async () => {
      const pair = await Pair.connected();
      const update = pair.endpoint(from).update();
      await pair.step();
      const snapshot = pair.log[from].persisted.at(-1)!.snapshot;
      const commit =
        from === 'initiator' ? snapshot.unconfirmedCommits[0]! : snapshot.pending!.commit;
      await pair.settle();
      await update;
      await sendConnectionUpdate(pair, from, commit);
      await expectFatal(pair, victim, 'ERR_MLSTLS_ILLEGAL_PARAMETER');
    });

    it(`a commit of another group from the ${from} is illegal_parameter`, async () => {
      const pair = await Pair.connected();
      const other = await Pair.connected();
      await sendConnectionUpdate(pair, from, await commitOf(persistedGroup(other, from)));
      await expectFatal(pair, victim, 'ERR_MLSTLS_ILLEGAL_PARAMETER');
    });

    it(`an MLS application message instead of a commit from the ${from} is illegal_parameter`, async () => {
      const pair = await Pair.connected();
      const { privateMessage } = await createApplicationMessage(
        persistedGroup(pair, from),
        Uint8Array.of(1, 2, 3),
        await ciphersuite(),
      );
      const message = encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_private_message',
        privateMessage,
      });
      await sendConnectionUpdate(pair, from, message);
      await expectFatal(pair, victim, 'ERR_MLSTLS_ILLEGAL_PARAMETER');
    });

    it(`a commit from the ${from} that changes its credential is bad_certificate`, async () => {
      const pair = await Pair.connected();
      const group = persistedGroup(pair, from);
      const own = group.privatePath.leafIndex * 2;
      const node = group.ratchetTree[own];
      if (node?.nodeType !== 'leaf') throw new Error('no own leaf');
      const renamed = {
        ...node,
        leaf: {
          ...node.leaf,
          credential: { credentialType: 'basic' as const, identity: Uint8Array.of(6, 6, 6) },
        },
      };
      const tree = group.ratchetTree.slice();
      tree[own] = renamed;
      await sendConnectionUpdate(pair, from, await commitOf({ ...group, ratchetTree: tree }));
      await expectFatal(pair, victim, 'ERR_MLSTLS_BAD_CERTIFICATE');
    });

    it(`a commit body that is not MLS from the ${from} is decode_error`, async () => {
      const pair = await Pair.connected();
      await sendConnectionUpdate(pair, from, Uint8Array.of(0, 1, 0, 2, 0xff, 0xff, 0xff));
      await expectFatal(pair, victim, 'ERR_MLSTLS_DECODE');
    });
  }

  it("the responder's own commit reflected back to it is illegal_parameter", async () => {
    const pair = await Pair.connected();
    track(pair.responder.update());
    await pair.step();
    const own = pair.log.responder.persisted.at(-1)!.snapshot.pending!.commit;
    await sendConnectionUpdate(pair, 'initiator', own);
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_ILLEGAL_PARAMETER');
  });

  it("a commit with proposals crossing the responder's own update is illegal_parameter", async () => {
    const pair = await Pair.connected();
    track(pair.responder.update());
    await pair.step();
    const commit = await commitOf(persistedGroup(pair, 'initiator'), [
      { proposalType: 'group_context_extensions', groupContextExtensions: { extensions: [] } },
    ]);
    await sendConnectionUpdate(pair, 'initiator', commit);
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_ILLEGAL_PARAMETER');
  });
});

describe('server_hello content (the Welcome)', () => {
  async function initiatorWithClientHello(options: Parameters<typeof Pair.create>[0] = {}) {
    const pair = await Pair.create({ pin: false, ...options });
    await pair.initiator.start();
    await pair.step();
    const [clientHello] = pair.discard('initiator');
    return { pair, keyPackage: keyPackageOf(clientHello!) };
  }

  it('a Welcome into a group of exactly two members made with ts-mls directly is accepted', async () => {
    const { pair, keyPackage } = await initiatorWithClientHello({
      initiator: { rejectUnauthorized: false },
    });
    const { serverHello } = await handMadeServerHello([keyPackage]);
    pair.inject('responder', sealPlaintextRecord(ContentType.handshake, serverHello));
    await pair.deliverAll('responder');
    expect(pair.errors().initiator).toEqual([]);
    expect(pair.initiator.state).toBe('synced');
    expect(pair.initiator.handshake?.epoch).toBe(1n);
  });

  it('a Welcome into a group of three members (two KeyPackages added) is illegal_parameter', async () => {
    const { pair, keyPackage } = await initiatorWithClientHello({
      initiator: { rejectUnauthorized: false },
    });
    const third = await freshKeyPackage();
    const { serverHello } = await handMadeServerHello([keyPackage, third.publicPackage]);
    pair.inject('responder', sealPlaintextRecord(ContentType.handshake, serverHello));
    await pair.deliverAll('responder');
    expect(pair.initiator.failure?.message).toMatch(/3 members/);
    // The responder never saw the client_hello: the plaintext alert's bytes say it all.
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_ILLEGAL_PARAMETER', {
      peer: 'cannot read it',
    });
  });

  it('a Welcome into a group_id that is not 32 bytes is illegal_parameter', async () => {
    const { pair, keyPackage } = await initiatorWithClientHello({
      initiator: { rejectUnauthorized: false },
    });
    const { serverHello } = await handMadeServerHello([keyPackage], { groupIdLength: 16 });
    pair.inject('responder', sealPlaintextRecord(ContentType.handshake, serverHello));
    await pair.deliverAll('responder');
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_ILLEGAL_PARAMETER', {
      peer: 'cannot read it',
    });
  });

  it('a Welcome not encrypted to the KeyPackage of this connection is illegal_parameter', async () => {
    const { pair } = await initiatorWithClientHello({ initiator: { rejectUnauthorized: false } });
    const stranger = await freshKeyPackage('someone else');
    const { serverHello } = await handMadeServerHello([stranger.publicPackage]);
    pair.inject('responder', sealPlaintextRecord(ContentType.handshake, serverHello));
    await pair.deliverAll('responder');
    expect(pair.initiator.state).toBe('awaitServerHello');
    await expectFatal(pair, 'initiator', 'ERR_MLSTLS_ILLEGAL_PARAMETER', {
      peer: 'cannot read it',
    });
  });
});
