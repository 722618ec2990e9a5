import { nodeCiphersuite } from '@mlstls/crypto/mls';
import { describe, expect, it } from 'vitest';
import { generateCredential } from '../src/credential.js';
import { createConnectionGroup, createKeyPackage, withoutExporterSecret } from '../src/group.js';
import { HeldGroup } from '../src/held-group.js';
import { suiteParameters } from '../src/suites.js';
import { random } from './pair.js';

async function connectionGroup() {
  const suite = suiteParameters(1);
  const cs = nodeCiphersuite(suite.name)!;
  const now = Date.now();
  const peer = await createKeyPackage(await generateCredential(), suite, now, cs);
  const own = await createKeyPackage(await generateCredential(), suite, now, cs);
  const { group } = await createConnectionGroup(peer.publicPackage, own, random(32), cs);
  return group;
}

describe('HeldGroup', () => {
  it('keeps an idle state encoded and gives back an equal one', async () => {
    const group = withoutExporterSecret(await connectionGroup());
    const held = new HeldGroup();
    held.state = group;
    held.idle();
    expect(held.epoch).toBe(group.groupContext.epoch);
    const back = held.state!;
    expect(back).not.toBe(group);
    expect(back.groupContext.epoch).toBe(group.groupContext.epoch);
    expect(back.groupContext.groupId).toEqual(group.groupContext.groupId);
    expect(back.keySchedule.initSecret).toEqual(group.keySchedule.initSecret);
    expect(back.ratchetTree).toEqual(group.ratchetTree);
    // Decoded, it stays one object until the next idle().
    expect(held.state).toBe(back);
  });

  it('never encodes a state that still holds its exporter secret', async () => {
    const group = await connectionGroup();
    expect(group.keySchedule.exporterSecret.length).toBeGreaterThan(0);
    const held = new HeldGroup();
    held.state = group;
    held.idle();
    expect(held.state).toBe(group);
  });
});
