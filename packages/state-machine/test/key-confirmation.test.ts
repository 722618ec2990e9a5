// docs/protocol.md section 4, step 4: the initiator's first protected record, epoch_key_update(1),
// confirms that a live peer holds the Welcome's keys. Until the responder has opened it, it
// reports nothing, stores nothing and sends no protected record; and until the handshake is
// complete, a protected record that is not a handshake record is unexpected_message.
import {
  AlertDescription,
  ContentType,
  encodeAlert,
  encodeHandshake,
  type HandshakeMessage,
  HandshakeType,
  KeyUpdateRequest,
} from '@mlstls/codec';
import { sealPlaintextRecord } from '@mlstls/record';
import { MemoryStore, type SessionRecord, type SessionVersion } from '@mlstls/storage';
import { describe, expect, it } from 'vitest';
import { Responder } from '../src/index.js';
import { expectFatal } from './fatal.js';
import { hex, now, Pair, random } from './pair.js';

/** A MemoryStore that remembers every write it took: "nothing stored" is an empty list. */
class WatchedStore extends MemoryStore {
  readonly written: string[] = [];

  override async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const done = await super.compareAndSet(id, expected, next);
    if (done) this.written.push(hex(id));
    return done;
  }
}

const U = 'ERR_MLSTLS_UNEXPECTED_MESSAGE';

describe('the key confirmation (section 4, step 4)', () => {
  it("the responder reports nothing and stores nothing until the initiator's epoch_key_update(1)", async () => {
    const store = new WatchedStore();
    const pair = await Pair.awaitingKeyConfirmation({ responder: { store } });
    expect(pair.labels('responder')).toEqual(['send plaintext server_hello']);
    expect(pair.responder.handshake).toBeUndefined();
    expect(store.written).toEqual([]);
    expect(() => pair.responder.exportKeyingMaterial(32, 'EXPORTER-test')).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_STATE' }),
    );
    // Data written now waits: no protected record goes out before the confirmation.
    const data = random(10);
    await pair.responder.write(data);
    await pair.step();
    expect(pair.labels('responder')).toEqual(['send plaintext server_hello']);

    const mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.labels('responder', mark)).toEqual([
      'persist',
      'handshakeComplete',
      'epochChanged 1 handshake',
      'send application_data',
    ]);
    const groupId = pair.responder.handshake!.groupId;
    expect(store.written).toEqual([hex(groupId)]);
    expect((await store.get(groupId))?.epoch).toBe(1n);
    await pair.settle();
    expect(hex(pair.log.initiator.received)).toBe(hex(data));
    await pair.expectInSync(1n);
  });

  it('a replayed client_hello gets server_hello but no handshakeComplete, no persist and no stored row', async () => {
    const pair = await Pair.connected();
    const clientHello = pair.trace.find(
      (e) => e.side === 'initiator' && e.label === 'send plaintext client_hello',
    )!.output;
    if (clientHello.type !== 'send') throw new Error('no client_hello');

    // The same bytes, captured and sent again to the responder by someone without the keys.
    const store = new WatchedStore();
    const replayed = new Responder({
      random,
      now,
      credential: pair.responderCredential!,
      store,
    });
    await replayed.receive(clientHello.data);
    await replayed.receiveEnd();
    const outputs = [];
    for (let output = replayed.poll(); output !== undefined; output = replayed.poll()) {
      outputs.push(output);
    }
    expect(outputs.map((output) => output.type)).toEqual(['send', 'error']);
    expect(outputs[0]!.type === 'send' && outputs[0]!.data[0]).toBe(ContentType.handshake);
    expect(replayed.failure?.code).toBe('ERR_MLSTLS_TRUNCATED');
    expect(replayed.handshake).toBeUndefined();
    expect(store.written).toEqual([]);
  });

  const firstRecords: [string, ContentType, Uint8Array][] = [
    ['application data', ContentType.application_data, random(10)],
    ['empty application data', ContentType.application_data, new Uint8Array(0)],
    [
      'a key_update',
      ContentType.handshake,
      encodeHandshake({
        msgType: HandshakeType.key_update,
        requestUpdate: KeyUpdateRequest.update_not_requested,
      }),
    ],
    [
      'close_notify',
      ContentType.alert,
      encodeAlert({ level: 1, description: AlertDescription.close_notify }),
    ],
    [
      'a warning alert (user_canceled)',
      ContentType.alert,
      encodeAlert({ level: 1, description: AlertDescription.user_canceled }),
    ],
    [
      'a connection_update',
      ContentType.handshake,
      encodeHandshake({
        msgType: HandshakeType.connection_update,
        update: Uint8Array.of(0, 1, 0, 2, 1, 2, 3, 4),
      } as HandshakeMessage),
    ],
    ...[0, 2, 0xffffffff].map(
      (epoch) =>
        [
          `epoch_key_update(${epoch})`,
          ContentType.handshake,
          encodeHandshake({ msgType: HandshakeType.epoch_key_update, epoch }),
        ] as [string, ContentType, Uint8Array],
    ),
  ];
  for (const [name, contentType, content] of firstRecords) {
    it(`${name} as the initiator's first protected record is unexpected_message, answered in plaintext, and nothing is reported or stored`, async () => {
      const store = new WatchedStore();
      const pair = await Pair.awaitingKeyConfirmation({ responder: { store } });
      pair.discard('initiator');
      pair.inject('initiator', pair.sealFirst('initiator', 1n, contentType, content));
      await pair.deliverAll('initiator');
      expect(pair.labels('responder').at(-2)).toBe('send plaintext alert(unexpected_message)');
      // The initiator, its handshake complete, does not believe a plaintext alert (D30).
      await expectFatal(pair, 'responder', U, { peer: { code: U } });
      expect(pair.responder.handshake).toBeUndefined();
      expect(pair.log.responder.count('handshakeComplete')).toBe(0);
      expect(pair.log.responder.persisted).toEqual([]);
      expect(store.written).toEqual([]);
    });
  }

  it('the real epoch_key_update(1) after another first record is too late', async () => {
    const pair = await Pair.awaitingKeyConfirmation();
    const [confirmation] = pair.discard('initiator');
    pair.inject(
      'initiator',
      pair.sealFirst('initiator', 1n, ContentType.application_data, random(10)),
    );
    pair.inject('initiator', confirmation!);
    await pair.deliver('initiator');
    expect(pair.responder.failure?.code).toBe(U);
    await pair.settle();
    expect(pair.log.responder.count('handshakeComplete')).toBe(0);
  });

  it('a record that does not authenticate before the confirmation is bad_record_mac, answered in plaintext', async () => {
    const pair = await Pair.awaitingKeyConfirmation();
    const [confirmation] = pair.discard('initiator');
    const forged = confirmation!.slice();
    forged[forged.length - 1]! ^= 1;
    pair.inject('initiator', forged);
    await pair.deliverAll('initiator');
    expect(pair.labels('responder').at(-2)).toBe('send plaintext alert(bad_record_mac)');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_BAD_RECORD_MAC', { peer: { code: U } });
    expect(pair.responder.handshake).toBeUndefined();
  });

  it('a plaintext alert from the initiator before its confirmation is read: ERR_MLSTLS_ALERT_RECEIVED with that alert, nothing sent back', async () => {
    const pair = await Pair.awaitingKeyConfirmation();
    pair.discard('initiator');
    pair.inject(
      'initiator',
      sealPlaintextRecord(
        ContentType.alert,
        encodeAlert({ level: 2, description: AlertDescription.bad_certificate }),
      ),
    );
    const mark = pair.mark();
    await pair.deliverAll('initiator');
    expect(pair.responder.failure?.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(pair.responder.failure?.alert).toBe(AlertDescription.bad_certificate);
    expect(pair.labels('responder', mark)).toEqual(['error ERR_MLSTLS_ALERT_RECEIVED']);
  });

  it('the initiator sends its epoch_key_update(1) before the data written during the handshake, and the responder takes both from one transport write', async () => {
    const pair = await Pair.create();
    const early = random(5000);
    await pair.initiator.write(early);
    await pair.initiator.start();
    await pair.step();
    await pair.deliverAll('initiator');
    await pair.deliverAll('responder');
    expect(pair.labels('initiator').filter((l) => l.startsWith('send '))).toEqual([
      'send plaintext client_hello',
      'send epoch_key_update(1)',
      'send application_data',
    ]);
    await pair.deliverBytes('initiator', Number.POSITIVE_INFINITY);
    expect(pair.errors()).toEqual({ initiator: [], responder: [] });
    expect(hex(pair.log.responder.received)).toBe(hex(early));
    await pair.expectInSync(1n);
  });
});
