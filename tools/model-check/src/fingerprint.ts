// What makes two worlds the same state for the explorer, and two rollbacks the same replay.
import { createHash } from 'node:crypto';
import type { Bounds } from './bounds.js';
import type { Connection } from './connection.js';
import { SIDES } from './side.js';
import { snapshotDigest } from './store.js';
import type { World } from './world.js';

/**
 * The observable world: each side's state, epoch and failure, what its application was told,
 * the records in flight and the tap's key positions, both stores' bytes and the writes they
 * acknowledged, the (key, nonce) pairs used, the events used, and, while a rollback is left,
 * what each rollback would replay.
 */
export async function fingerprint(world: World, bounds: Bounds): Promise<string> {
  const hash = createHash('sha256');
  const connection = world.current;
  hash.update(JSON.stringify({ used: world.used, rolled: world.rolledBack }));
  hash.update(`|${connection.index}|${connection.kind}|${connection.tap.position()}|`);
  for (const side of SIDES) {
    const endpoint = connection.endpoints[side];
    const log = connection.logs[side];
    const { requested, confirmed, rejected } = log.updates;
    hash.update(
      [
        side,
        endpoint?.state ?? '-',
        endpoint?.epoch ?? '-',
        log.failure?.code ?? '-',
        log.handshake === undefined ? '-' : log.handshake.resumed ? 'resumed' : 'full',
        log.writes.length,
        log.received.length,
        requested - confirmed - rejected,
        connection.frozen === side ? 'frozen' : '',
      ].join(','),
    );
    for (const record of connection.queues[side]) hash.update(record);
    hash.update('|');
    hash.update(snapshotDigest(await world.stores[side].snapshot()));
    hash.update(`|${world.stores[side].acknowledgedIds}|`);
  }
  hash.update(world.ledger.digest());
  if (world.used.rollbacks < bounds.rollbacks) {
    for (const earlier of world.connections) {
      if (earlier.responderStoreBefore !== undefined) hash.update(replayInput(earlier));
    }
  }
  return hash.digest('hex');
}

/**
 * What a rollback to before `original` replays and compares against: the store it restores
 * and every record of that connection. Two states with the same input replay the same bytes to
 * the same store with the same randomness, so the explorer tries each input once. (The replay's
 * records are also checked against every (key, nonce) of the run; a replay can only repeat keys
 * it derives from the restored epoch, which are that connection's.)
 */
export function replayInput(original: Connection): string {
  const hash = createHash('sha256').update(`${original.index}|`);
  hash.update(snapshotDigest(original.responderStoreBefore ?? new Map()));
  for (const side of SIDES) {
    hash.update(`|${side}|`);
    for (const record of original.sent[side]) hash.update(record);
  }
  return hash.digest('hex');
}
