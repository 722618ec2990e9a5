import type { SessionStore } from './store.js';

/**
 * Session ids held by live connections, per store, across every binding of the process. A
 * second connection to a server whose session is in use makes a full handshake: resuming would
 * take the session from the first (docs/protocol.md D34, D35).
 */
const claims = new WeakMap<SessionStore, Map<string, number>>();

/** A live connection's hold on a session id; see `claimSession`. */
export interface SessionClaim {
  /** Whether another live connection held the id when this claim was made. */
  readonly contended: boolean;
  /** Gives the id back; calling it again does nothing. */
  release(): void;
}

/**
 * Claims `sessionId` in `store` for a connection's life. A binding claims it before making the
 * initiator (which should then not resume when the claim is `contended`), and releases it as
 * soon as the connection ends, so that the next connection resumes.
 */
export function claimSession(store: SessionStore, sessionId: Uint8Array): SessionClaim {
  let held = claims.get(store);
  if (held === undefined) {
    held = new Map();
    claims.set(store, held);
  }
  const live = held;
  const key = hex(sessionId);
  const count = live.get(key) ?? 0;
  live.set(key, count + 1);
  let released = false;
  return {
    contended: count > 0,
    release() {
      if (released) return;
      released = true;
      const left = (live.get(key) ?? 1) - 1;
      if (left === 0) live.delete(key);
      else live.set(key, left);
    },
  };
}

function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}
