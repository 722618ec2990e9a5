import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { EpochCause } from '../src/index.js';
import {
  closeAll,
  connectTo,
  errorsOf,
  nextSecureConnection,
  readAll,
  startServer,
} from './loopback.js';

afterEach(closeAll);

async function connectedPair() {
  const server = await startServer();
  const accepted = nextSecureConnection(server);
  const client = await connectTo(server);
  const peer = await accepted;
  return { client, peer };
}

describe('updates and key updates', () => {
  it('update() on either side resolves once confirmed, moves both to the next epoch and changes the exporter', async () => {
    const { client, peer } = await connectedPair();
    const epochs: { side: string; epoch: bigint; cause: EpochCause }[] = [];
    client.on('epoch', (epoch: bigint, cause: EpochCause) =>
      epochs.push({ side: 'client', epoch, cause }),
    );
    peer.on('epoch', (epoch: bigint, cause: EpochCause) =>
      epochs.push({ side: 'server', epoch, cause }),
    );
    const atEpoch1 = client.exportKeyingMaterial(32, 'EXPORTER-test');

    await client.update();
    expect(client.epoch).toBe(2n);
    // The initiator's confirmation is the responder's epoch_key_update: the responder has
    // switched before sending it.
    expect(peer.epoch).toBe(2n);
    const atEpoch2 = client.exportKeyingMaterial(32, 'EXPORTER-test');
    expect(atEpoch2).not.toEqual(atEpoch1);
    expect(peer.exportKeyingMaterial(32, 'EXPORTER-test')).toEqual(atEpoch2);

    const clientAtEpoch3 = once(client, 'epoch');
    await peer.update();
    expect(peer.epoch).toBe(3n);
    // The initiator receives under epoch 3 once the responder's epoch_key_update arrives.
    await clientAtEpoch3;
    expect(client.epoch).toBe(3n);
    client.write('after both updates');
    const [data] = (await once(peer, 'data')) as [Buffer];
    expect(data.toString()).toBe('after both updates');
    expect(peer.exportKeyingMaterial(32, 'EXPORTER-test')).toEqual(
      client.exportKeyingMaterial(32, 'EXPORTER-test'),
    );
    expect(epochs).toEqual([
      { side: 'server', epoch: 2n, cause: 'peer' },
      { side: 'client', epoch: 2n, cause: 'local' },
      { side: 'server', epoch: 3n, cause: 'local' },
      { side: 'client', epoch: 3n, cause: 'peer' },
    ]);
    expect(errorsOf(client)).toEqual([]);
    expect(errorsOf(peer)).toEqual([]);
  });

  it('keyUpdate({ requestPeer: true }) ratchets the sender and makes the peer answer', async () => {
    const { client, peer } = await connectedPair();
    const events: string[] = [];
    client.on('keyUpdate', (direction: string, generation: number) =>
      events.push(`client ${direction} ${generation}`),
    );
    peer.on('keyUpdate', (direction: string, generation: number) =>
      events.push(`server ${direction} ${generation}`),
    );
    await client.keyUpdate({ requestPeer: true });
    expect(events).toEqual(['client send 1']);
    await once(client, 'keyUpdate');
    expect(events).toEqual([
      'client send 1',
      'server receive 1',
      'server send 1',
      'client receive 1',
    ]);
    await peer.keyUpdate();
    client.end('still readable');
    const [fromClient] = await Promise.all([readAll(peer), readAll(client)]);
    expect(fromClient.toString()).toBe('still readable');
    expect(events.slice(4)).toEqual(['server send 2', 'client receive 2']);
    // A TLS key update does not change the MLS epoch.
    expect(client.epoch).toBe(1n);
  });
});
