import { describe, expect, it } from 'vitest';
import { Pair } from './pair.js';

describe('smoke', () => {
  it('handshakes, exchanges data, updates both ways', async () => {
    const pair = await Pair.connected();
    expect(pair.log.initiator.errors).toEqual([]);
    expect(pair.log.responder.errors).toEqual([]);
    expect(pair.initiator.epoch).toBe(1n);
    expect(pair.responder.epoch).toBe(1n);
    await pair.initiator.write(new TextEncoder().encode('hello'));
    await pair.responder.write(new TextEncoder().encode('world'));
    pair.drain();
    await pair.settle();
    expect(new TextDecoder().decode(pair.log.responder.received)).toBe('hello');
    expect(new TextDecoder().decode(pair.log.initiator.received)).toBe('world');
    const u1 = pair.initiator.update();
    pair.drain();
    await pair.settle();
    await u1;
    expect(pair.initiator.epoch).toBe(2n);
    expect(pair.responder.epoch).toBe(2n);
    const u2 = pair.responder.update();
    pair.drain();
    await pair.settle();
    await u2;
    expect(pair.initiator.epoch).toBe(3n);
    expect(pair.responder.epoch).toBe(3n);
    expect([...pair.initiator.exportKeyingMaterial(32, 'x')]).toEqual([
      ...pair.responder.exportKeyingMaterial(32, 'x'),
    ]);
  });
});
