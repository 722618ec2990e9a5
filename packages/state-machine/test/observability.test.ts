// The portable crypto path against the node:crypto one, and what a connection tells
// diagnostics_channel subscribers and util.debuglog: the events, and never a secret.
import { spawnSync } from 'node:child_process';
import { tracingChannel } from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { ContentType } from '@mlstls/codec';
import { MemoryStore } from '@mlstls/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { TRACING_CHANNELS } from '../src/diagnostics.js';
import type { InitiatorOptions } from '../src/index.js';
import { Pair, type PairOptions } from './pair.js';

const SESSION_ID = new TextEncoder().encode('responder.example:443');

/** Every message of the three tracing channels, with its channel and event, while subscribed. */
function record(): { events: { channel: string; event: string; context: object }[]; stop(): void } {
  const events: { channel: string; event: string; context: object }[] = [];
  const stops: (() => void)[] = [];
  for (const name of Object.values(TRACING_CHANNELS)) {
    const channel = tracingChannel(name);
    const handlers = Object.fromEntries(
      (['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const).map((event) => [
        event,
        (context: object) => events.push({ channel: name, event, context: { ...context } }),
      ]),
    ) as unknown as Parameters<typeof channel.subscribe>[0];
    channel.subscribe(handlers);
    stops.push(() => channel.unsubscribe(handlers));
  }
  return {
    events,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

/** The master secrets (hex) of every key log line both sides produced. */
function secretsOf(pair: Pair): string[] {
  return [...pair.log.initiator.keyLog, ...pair.log.responder.keyLog].map(
    (line) => line.split(' ')[3]!,
  );
}

/** Everything in `value` as text, bigints and bytes included, to search for a secret. */
function dump(value: unknown): string {
  return JSON.stringify(value, (_key, item) =>
    typeof item === 'bigint'
      ? item.toString()
      : item instanceof Uint8Array
        ? Buffer.from(item).toString('hex')
        : item,
  );
}

/**
 * Pair options whose both ends store their state and log their keys, the responder's
 * credential pinned: every connection made with them can resume the last one.
 */
async function storedOptions(initiator: Partial<InitiatorOptions> = {}): Promise<PairOptions> {
  const { responderCredential } = await Pair.create();
  const credential = responderCredential!;
  return {
    initiator: {
      ...initiator,
      store: new MemoryStore(),
      sessionId: SESSION_ID,
      peerSignaturePublicKey: credential.signaturePublicKey,
      keyLog: () => true,
    },
    responder: { store: new MemoryStore(), credential, keyLog: () => true },
  };
}

let recording: ReturnType<typeof record> | undefined;
afterEach(() => {
  recording?.stop();
  recording = undefined;
});

describe('the portable crypto path', () => {
  it('talks to the node:crypto path: handshake, updates both ways, key updates, resumption', async () => {
    const options = await storedOptions({ provider: 'noble' });
    const pair = await Pair.connected(options);
    expect(pair.initiator.handshake?.crypto).toBe('portable');
    expect(pair.responder.handshake?.crypto).toBe('node');
    const initiatorUpdate = pair.initiator.update();
    await pair.settle();
    await initiatorUpdate;
    const responderUpdate = pair.responder.update();
    await pair.settle();
    await responderUpdate;
    await pair.initiator.keyUpdate({ requestPeer: true });
    await pair.settle();
    await pair.expectInSync(3n);

    const resumed = await Pair.create(options);
    await resumed.initiator.start();
    await resumed.settle();
    expect(resumed.initiator.handshake).toMatchObject({ resumed: true, crypto: 'portable' });
    await resumed.expectInSync(4n);
  });
});

describe('tracing channels', () => {
  it("report the responder's failure before the initiator's key confirmation as a failed handshake", async () => {
    recording = record();
    const pair = await Pair.awaitingKeyConfirmation();
    pair.discard('initiator');
    pair.inject(
      'initiator',
      pair.sealFirst('initiator', 1n, ContentType.application_data, new Uint8Array(1)),
    );
    await pair.deliverAll('initiator');
    expect(pair.responder.failure?.code).toBe('ERR_MLSTLS_UNEXPECTED_MESSAGE');
    const responder = recording.events
      .filter((entry) => (entry.context as { role: string }).role === 'responder')
      .map((entry) => `${entry.channel} ${entry.event}`);
    expect(responder).toEqual([
      'mlstls:handshake start',
      'mlstls:handshake end',
      'mlstls:handshake error',
      'mlstls:handshake asyncStart',
      'mlstls:handshake asyncEnd',
    ]);
  });

  it('trace a handshake, an update and a resumption, and never carry a secret', async () => {
    recording = record();
    const options = await storedOptions();
    const pair = await Pair.connected(options);
    const update = pair.initiator.update();
    await pair.settle();
    await update;
    const resumed = await Pair.create(options);
    await resumed.initiator.start();
    await resumed.settle();
    await resumed.expectInSync(3n);

    const seen = recording.events.map(
      (entry) => `${entry.channel} ${entry.event} ${(entry.context as { role: string }).role}`,
    );
    expect(seen).toEqual([
      'mlstls:handshake start initiator',
      'mlstls:handshake end initiator',
      'mlstls:handshake start responder',
      'mlstls:handshake end responder',
      // The responder completes only once it has read the initiator's epoch_key_update(1).
      'mlstls:handshake asyncStart initiator',
      'mlstls:handshake asyncEnd initiator',
      'mlstls:handshake asyncStart responder',
      'mlstls:handshake asyncEnd responder',
      'mlstls:update start initiator',
      'mlstls:update end initiator',
      'mlstls:update asyncStart initiator',
      'mlstls:update asyncEnd initiator',
      'mlstls:resume start initiator',
      'mlstls:resume end initiator',
      'mlstls:resume start responder',
      'mlstls:resume end responder',
      'mlstls:resume asyncStart responder',
      'mlstls:resume asyncEnd responder',
      'mlstls:resume asyncStart initiator',
      'mlstls:resume asyncEnd initiator',
    ]);
    const ends = recording.events.filter((entry) => entry.event === 'asyncEnd');
    for (const [at, role] of [
      [0, 'initiator'],
      [1, 'responder'],
    ] as const) {
      expect(ends[at]!.context).toMatchObject({ role, epoch: 0n });
      expect((ends[at]!.context as { result: object }).result).toMatchObject({
        epoch: 1n,
        resumed: false,
      });
    }
    expect(ends.at(-1)!.context).toMatchObject({ role: 'initiator', epoch: 2n });
    expect((ends.at(-1)!.context as { result: object }).result).toMatchObject({
      epoch: 3n,
      resumed: true,
    });
    const secrets = [...secretsOf(pair), ...secretsOf(resumed)];
    expect(secrets).toHaveLength(6);
    const text = dump(recording.events);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('report a failed handshake on the error event with its code', async () => {
    recording = record();
    const pair = await Pair.create({
      pin: false,
      initiator: { peerSignaturePublicKey: new Uint8Array(32) },
    });
    await pair.initiator.start();
    await pair.settle();
    const errors = recording.events.filter((entry) => entry.event === 'error');
    expect(errors.map((entry) => (entry.context as { role: string }).role)).toContain('initiator');
    const error = (
      errors.find((entry) => (entry.context as { role: string }).role === 'initiator')!.context as {
        error: { code: string };
      }
    ).error;
    expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
  });
});

/**
 * The fixture as a child process, its TypeScript run through tsx; the packages it imports are
 * their builds (turbo.json: this package's tests wait for its dependencies' builds).
 */
function runFixture(env: NodeJS.ProcessEnv) {
  const script = fileURLToPath(new URL('./fixtures/debug-log.ts', import.meta.url));
  return spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), script], {
    env,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('util.debuglog', () => {
  it('logs handshakes, updates and failures with NODE_DEBUG=mlstls, and never a secret', () => {
    const run = runFixture({ ...process.env, NODE_DEBUG: 'mlstls' });
    expect(run.status, run.stderr).toBe(0);
    const secrets = JSON.parse(run.stdout) as string[];
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    expect(run.stderr).toMatch(/MLSTLS \d+: initiator: handshake complete, epoch 1/);
    expect(run.stderr).toMatch(/MLSTLS \d+: responder: epoch 2 \(peer\)/);
    for (const secret of secrets) expect(run.stderr).not.toContain(secret);
  });

  it('is silent without NODE_DEBUG', () => {
    const { NODE_DEBUG: _unset, ...env } = process.env;
    const run = runFixture(env);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('MLSTLS');
  });
});
