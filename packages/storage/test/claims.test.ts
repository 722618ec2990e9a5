import { describe, expect, it } from 'vitest';
import { claimSession, MemoryStore, type SessionStore } from '../src/index.js';

const id = (text: string) => new TextEncoder().encode(text);

/** Whether a new connection would find `name` contended (its claim given back at once). */
function contended(store: SessionStore, name: string): boolean {
  const claim = claimSession(store, id(name));
  claim.release();
  return claim.contended;
}

describe('claimSession', () => {
  it('says a session id is contended while another claim on the same store holds it', () => {
    const store = new MemoryStore();
    const first = claimSession(store, id('server:443'));
    expect(first.contended).toBe(false);
    const second = claimSession(store, id('server:443'));
    expect(second.contended).toBe(true);
    // Another id, and the same id in another store, are free.
    expect(contended(store, 'other:443')).toBe(false);
    expect(contended(new MemoryStore(), 'server:443')).toBe(false);
    first.release();
    expect(contended(store, 'server:443')).toBe(true); // the second still holds it
    second.release();
    expect(contended(store, 'server:443')).toBe(false);
  });

  it('counts a claim once however often it is released', () => {
    const store = new MemoryStore();
    const first = claimSession(store, id('s'));
    const second = claimSession(store, id('s'));
    second.release();
    second.release();
    expect(contended(store, 's')).toBe(true);
    first.release();
    expect(contended(store, 's')).toBe(false);
  });
});
