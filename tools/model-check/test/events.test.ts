import { describe, expect, it } from 'vitest';
import { type Event, formatSequence, parseSequence, type Step } from '../src/events.js';

describe('event sequences', () => {
  it('read back as written, crashes included', () => {
    const events: Event[] = [
      { kind: 'write', side: 'initiator' },
      { kind: 'update', side: 'responder' },
      { kind: 'keyUpdate', side: 'initiator', requestPeer: true },
      { kind: 'keyUpdate', side: 'responder', requestPeer: false },
      { kind: 'deliver', from: 'initiator' },
      { kind: 'deliver', from: 'responder' },
      { kind: 'break' },
      { kind: 'rollback', connection: 3 },
    ];
    const steps: Step[] = [
      ...events.map((event) => ({ event })),
      {
        event: { kind: 'deliver', from: 'responder' },
        crash: { side: 'initiator', write: 2, point: 'after' },
      },
      { event: { kind: 'break' }, crash: { side: 'responder', write: 1, point: 'before' } },
    ];
    const text = formatSequence(steps);
    expect(text).toContain('deliver R->I [crash I after write 2]');
    expect(parseSequence(text)).toEqual(steps);
  });

  it('refuses what is not an event', () => {
    expect(() => parseSequence('I.fly')).toThrow(/not an event/);
  });
});
