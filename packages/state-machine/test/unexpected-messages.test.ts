// docs/protocol.md sections 1, 2 and 5: every message that is not legal in a state is fatal with
// the right alert, before the handshake, in SYNCED and in each waiting state.
import {
  ContentType,
  type ErrorCode,
  encodeHandshake,
  type HandshakeMessage,
  HandshakeType,
  KeyUpdateRequest,
  RecordLimits,
} from '@mlstls/codec';
import { sealPlaintextRecord } from '@mlstls/record';
import { describe, expect, it } from 'vitest';
import { expectFatal } from './fatal.js';
import { Pair, type Side, track } from './pair.js';

/** An MLSMessage header (mls10, `wireFormat`) and some bytes: enough for the codec. */
function mlsMessage(wireFormat: number): Uint8Array {
  return Uint8Array.of(0, 1, 0, wireFormat, 1, 2, 3, 4);
}

const message = {
  client_hello: { msgType: HandshakeType.client_hello, keyPackage: mlsMessage(5) },
  server_hello: { msgType: HandshakeType.server_hello, welcome: mlsMessage(3) },
  resumption: { msgType: HandshakeType.resumption, commit: mlsMessage(2) },
  connection_update: { msgType: HandshakeType.connection_update, update: mlsMessage(2) },
  key_update: {
    msgType: HandshakeType.key_update,
    requestUpdate: KeyUpdateRequest.update_not_requested,
  },
  eku: (epoch: number) => ({ msgType: HandshakeType.epoch_key_update, epoch }) as const,
} satisfies Record<string, HandshakeMessage | ((epoch: number) => HandshakeMessage)>;

/** A connected pair brought into a state; `from` is the side whose keys reach the victim. */
interface Setup {
  readonly name: string;
  readonly victim: Side;
  readonly make: () => Promise<Pair>;
}

const setups = {
  initiatorSynced: {
    name: 'the initiator in SYNCED',
    victim: 'initiator',
    make: () => Pair.connected(),
  },
  responderSynced: {
    name: 'the responder in SYNCED',
    victim: 'responder',
    make: () => Pair.connected(),
  },
  initiatorAwaitConfirm: {
    name: 'the initiator in AWAIT_CONFIRM',
    victim: 'initiator',
    make: async () => {
      const pair = await Pair.connected();
      track(pair.initiator.update());
      await pair.step();
      expect(pair.initiator.state).toBe('awaitConfirm');
      return pair;
    },
  },
  initiatorAwaitPeerEku: {
    name: 'the initiator in AWAIT_PEER_EKU',
    victim: 'initiator',
    make: async () => {
      const pair = await Pair.connected();
      track(pair.responder.update());
      await pair.step();
      await pair.deliverAll('responder');
      expect(pair.initiator.state).toBe('awaitPeerEpochKeyUpdate');
      return pair;
    },
  },
  responderAwaitConfirm: {
    name: 'the responder in AWAIT_CONFIRM',
    victim: 'responder',
    make: async () => {
      const pair = await Pair.connected();
      track(pair.responder.update());
      await pair.step();
      expect(pair.responder.state).toBe('awaitConfirm');
      return pair;
    },
  },
} satisfies Record<string, Setup>;

interface Case {
  readonly setup: Setup;
  readonly what: string;
  readonly messages: readonly HandshakeMessage[];
  readonly code: ErrorCode;
}

const U: ErrorCode = 'ERR_MLSTLS_UNEXPECTED_MESSAGE';
const P: ErrorCode = 'ERR_MLSTLS_ILLEGAL_PARAMETER';

const cases: Case[] = [
  ...[setups.initiatorSynced, setups.initiatorAwaitConfirm, setups.initiatorAwaitPeerEku].flatMap(
    (setup) => [
      { setup, what: 'server_hello', messages: [message.server_hello], code: U },
      { setup, what: 'client_hello', messages: [message.client_hello], code: U },
      { setup, what: 'resumption', messages: [message.resumption], code: U },
    ],
  ),
  ...[setups.responderSynced, setups.responderAwaitConfirm].flatMap((setup) => [
    { setup, what: 'client_hello', messages: [message.client_hello], code: U },
    { setup, what: 'server_hello', messages: [message.server_hello], code: U },
    { setup, what: 'resumption', messages: [message.resumption], code: U },
  ]),
  {
    setup: setups.initiatorSynced,
    what: 'epoch_key_update(1)',
    messages: [message.eku(1)],
    code: U,
  },
  {
    setup: setups.initiatorSynced,
    what: 'epoch_key_update(2)',
    messages: [message.eku(2)],
    code: U,
  },
  {
    setup: setups.responderSynced,
    what: 'epoch_key_update(1)',
    messages: [message.eku(1)],
    code: U,
  },
  {
    setup: setups.responderSynced,
    what: 'epoch_key_update(2)',
    messages: [message.eku(2)],
    code: U,
  },
  {
    setup: setups.initiatorAwaitPeerEku,
    what: 'connection_update',
    messages: [message.connection_update],
    code: U,
  },
  ...[setups.initiatorAwaitConfirm, setups.initiatorAwaitPeerEku, setups.responderAwaitConfirm]
    .flatMap((setup) => [1, 3, 0xffffffff].map((epoch) => ({ setup, epoch })))
    .map(({ setup, epoch }) => ({
      setup,
      what: `epoch_key_update(${epoch}) for another epoch than 2`,
      messages: [message.eku(epoch)],
      code: P,
    })),
  ...Object.values(setups).flatMap((setup) => [
    {
      setup,
      what: 'two key_updates in one record (a key-changing message must end its record)',
      messages: [message.key_update, message.key_update],
      code: U,
    },
  ]),
  {
    setup: setups.initiatorAwaitConfirm,
    what: 'epoch_key_update(2) followed by a key_update in the same record',
    messages: [message.eku(2), message.key_update],
    code: U,
  },
  {
    setup: setups.responderAwaitConfirm,
    what: 'epoch_key_update(2) followed by a key_update in the same record',
    messages: [message.eku(2), message.key_update],
    code: U,
  },
];

describe('handshake messages not legal in the state', () => {
  for (const { setup, what, messages, code } of cases) {
    const alert = code === U ? 'unexpected_message' : 'illegal_parameter';
    it(`${what} to ${setup.name} is ${alert}`, async () => {
      const pair = await setup.make();
      const from = setup.victim === 'initiator' ? 'responder' : 'initiator';
      pair.injectHandshake(from, ...messages);
      await pair.deliverAll(from);
      await expectFatal(pair, setup.victim, code);
    });
  }
});

/** Protected handshake content from the victim's peer, as raw bytes. */
async function injectRaw(pair: Pair, victim: Side, content: Uint8Array): Promise<void> {
  const from = victim === 'initiator' ? 'responder' : 'initiator';
  pair.inject(from, pair.seal(from, ContentType.handshake, content));
  await pair.deliverAll(from);
}

describe('malformed handshake content once keys exist', () => {
  for (const victim of ['initiator', 'responder'] as const) {
    it(`a handshake message of unknown type (99) to the ${victim} is unexpected_message`, async () => {
      const pair = await Pair.connected();
      await injectRaw(pair, victim, Uint8Array.of(99, 0, 0, 1, 0));
      await expectFatal(pair, victim, U);
    });

    it(`a key_update with request 2 to the ${victim} is illegal_parameter`, async () => {
      const pair = await Pair.connected();
      await injectRaw(pair, victim, Uint8Array.of(HandshakeType.key_update, 0, 0, 1, 2));
      await expectFatal(pair, victim, P);
    });

    it(`an epoch_key_update with a trailing byte to the ${victim} is decode_error`, async () => {
      const pair = await Pair.connected();
      await injectRaw(
        pair,
        victim,
        Uint8Array.of(HandshakeType.epoch_key_update, 0, 0, 5, 0, 0, 0, 1, 0),
      );
      await expectFatal(pair, victim, 'ERR_MLSTLS_DECODE');
    });

    it(`a key_update followed by part of another message in its record to the ${victim} is unexpected_message`, async () => {
      const pair = await Pair.connected();
      const content = Buffer.concat([encodeHandshake(message.key_update), Uint8Array.of(24, 0)]);
      await injectRaw(pair, victim, content);
      await expectFatal(pair, victim, U);
    });

    for (const [name, contentType, content] of [
      ['application data', ContentType.application_data, Uint8Array.of(1)],
      ['an alert', ContentType.alert, Uint8Array.of(1, 90)],
    ] as const) {
      it(`part of a handshake message followed by ${name} to the ${victim} is unexpected_message (no interleaving)`, async () => {
        const pair = await Pair.connected();
        const from = victim === 'initiator' ? 'responder' : 'initiator';
        const whole = encodeHandshake(message.key_update);
        pair.inject(from, pair.seal(from, ContentType.handshake, whole.subarray(0, 3)));
        pair.inject(from, pair.seal(from, contentType, content));
        await pair.deliverAll(from);
        await expectFatal(pair, victim, U);
      });
    }

    it(`a plaintext handshake record once keys exist to the ${victim} is unexpected_message`, async () => {
      const pair = await Pair.connected();
      const from = victim === 'initiator' ? 'responder' : 'initiator';
      pair.inject(
        from,
        sealPlaintextRecord(ContentType.handshake, encodeHandshake(message.key_update)),
      );
      await pair.deliverAll(from);
      await expectFatal(pair, victim, U);
    });

    it(`a plaintext alert once keys exist closes the ${victim} without its content being believed`, async () => {
      const pair = await Pair.connected();
      const from = victim === 'initiator' ? 'responder' : 'initiator';
      pair.inject(from, sealPlaintextRecord(ContentType.alert, Uint8Array.of(2, 42)));
      const mark = pair.mark();
      await pair.deliverAll(from);
      const endpoint = pair.endpoint(victim);
      expect(endpoint.failure?.code).toBe(U);
      expect(endpoint.failure?.alert).not.toBe(42);
      expect(endpoint.finished).toBe(true);
      // Closed, not answered: the peer gave up before it had keys.
      expect(pair.labels(victim, mark)).toEqual(['error ERR_MLSTLS_UNEXPECTED_MESSAGE']);
      await expect(endpoint.write(Uint8Array.of(1))).rejects.toMatchObject({
        code: 'ERR_MLSTLS_INVALID_STATE',
      });
    });
  }
});

describe('before the handshake', () => {
  const plaintextHandshake = (m: HandshakeMessage) =>
    sealPlaintextRecord(ContentType.handshake, encodeHandshake(m));
  const applicationData = Uint8Array.of(ContentType.application_data, 3, 3, 0, 2, 1, 2);

  const toResponder: [string, Uint8Array][] = [
    ['application data', applicationData],
    ['key_update', plaintextHandshake(message.key_update)],
    ['epoch_key_update', plaintextHandshake(message.eku(1))],
    ['server_hello', plaintextHandshake(message.server_hello)],
  ];
  // A plaintext connection_update or resumption opens a resumption flight (resumption.test.ts).
  for (const [name, record] of toResponder) {
    it(`${name} to the responder waiting for client_hello is unexpected_message, answered in plaintext`, async () => {
      const pair = await Pair.create();
      pair.inject('initiator', record);
      await pair.deliverAll('initiator');
      // Nobody listens: the initiator has not started. The alert's bytes say it all.
      pair.discard('responder');
      await expectFatal(pair, 'responder', U, { peer: 'cannot read it' });
    });
  }

  const toInitiator: [string, Uint8Array][] = [
    ['application data', applicationData],
    ['key_update', plaintextHandshake(message.key_update)],
    ['epoch_key_update', plaintextHandshake(message.eku(1))],
    ['connection_update', plaintextHandshake(message.connection_update)],
    ['client_hello', plaintextHandshake(message.client_hello)],
  ];
  for (const [name, record] of toInitiator) {
    it(`${name} to the initiator waiting for server_hello is unexpected_message, answered in plaintext`, async () => {
      const pair = await Pair.create();
      await pair.initiator.start();
      await pair.step();
      pair.discard('initiator');
      pair.inject('responder', record);
      await pair.deliverAll('responder');
      pair.discard('initiator');
      await expectFatal(pair, 'initiator', U, { peer: 'cannot read it' });
    });
  }

  it('a record over 2^14 + 256 bytes is record_overflow', async () => {
    const pair = await Pair.create();
    const length = RecordLimits.maxPlaintext + 257;
    const record = new Uint8Array(5 + length);
    record.set([ContentType.handshake, 3, 3, length >> 8, length & 0xff]);
    pair.inject('initiator', record);
    await pair.deliverAll('initiator');
    pair.discard('responder');
    await expectFatal(pair, 'responder', 'ERR_MLSTLS_RECORD_OVERFLOW', { peer: 'cannot read it' });
  });
});

describe('after an error alert', () => {
  it('an error alert from the peer ends the connection without an answer', async () => {
    const pair = await Pair.connected();
    pair.injectAlert('responder', 40, 2);
    await pair.settle();
    expect(pair.initiator.failure?.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(pair.initiator.failure?.alert).toBe(40);
    expect(pair.inFlight.initiator).toEqual([]);
  });

  it('an unknown alert description is an error alert (RFC 8446 6)', async () => {
    const pair = await Pair.connected();
    pair.injectAlert('initiator', 222 as never, 1);
    await pair.settle();
    expect(pair.responder.failure?.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(pair.responder.failure?.alert).toBe(222);
  });
});
