// What a Node application sees of mlstls through diagnostics_channel and NODE_DEBUG, over real
// TCP: a handshake, an update and a resumption are traced on both ends, and no published object
// carries a secret of the key log.
import { tracingChannel } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { TRACING_CHANNELS } from '@mlstls/state-machine';
import { MemoryStore } from '@mlstls/storage';
import { afterEach, expect, it } from 'vitest';
import type { MlsTlsSocket } from '../src/index.js';
import { closeAll, connectPinned, startServer } from './loopback.js';

afterEach(closeAll);

interface Published {
  readonly channel: string;
  readonly event: string;
  readonly context: Record<string, unknown>;
}

function subscribeAll(): { published: Published[]; stop: () => void } {
  const published: Published[] = [];
  const stops: (() => void)[] = [];
  for (const name of Object.values(TRACING_CHANNELS)) {
    const channel = tracingChannel(name);
    const handlers = Object.fromEntries(
      ['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map((event) => [
        event,
        (context: Record<string, unknown>) =>
          published.push({ channel: name, event, context: { ...context } }),
      ]),
    ) as unknown as Parameters<typeof channel.subscribe>[0];
    channel.subscribe(handlers);
    stops.push(() => channel.unsubscribe(handlers));
  }
  return {
    published,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

/** Every value reachable from `value` as text (bigints and bytes as hex), to search it. */
function dump(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'bigint'
      ? item.toString()
      : item instanceof Uint8Array
        ? Buffer.from(item).toString('hex')
        : item,
  );
}

it('traces handshakes, an update and a resumption on both ends, without a secret', async () => {
  const { published, stop } = subscribeAll();
  try {
    const secrets: string[] = [];
    const keep = (line: Buffer) => secrets.push(line.toString('latin1').trim().split(' ')[3]!);
    const server = await startServer({ store: new MemoryStore() });
    server.on('keylog', keep);
    const store = new MemoryStore();
    const dial = async (): Promise<MlsTlsSocket> => {
      const socket = connectPinned(server, { store, sessionId: 'server' });
      socket.on('keylog', keep);
      await once(socket, 'secureConnect');
      return socket;
    };
    const first = await dial();
    await first.update();
    first.destroy();
    const second = await dial();
    expect(second.isSessionReused()).toBe(true);
    await second.update();

    const ended = (channel: string, role: string) =>
      published.filter(
        (entry) =>
          entry.channel === channel && entry.event === 'asyncEnd' && entry.context.role === role,
      );
    for (const role of ['initiator', 'responder']) {
      expect(ended('mlstls:handshake', role)).toHaveLength(1);
      expect(ended('mlstls:resume', role)).toHaveLength(1);
    }
    expect(ended('mlstls:update', 'initiator')).toHaveLength(2);
    const resumed = ended('mlstls:resume', 'initiator')[0]!.context;
    expect(resumed.epoch).toBe(2n);
    expect(resumed.result).toMatchObject({ resumed: true, epoch: 3n, crypto: 'node' });
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    const text = dump(published);
    for (const secret of secrets) expect(text).not.toContain(secret);
  } finally {
    stop();
  }
});
