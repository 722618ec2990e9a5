// Checks shared by the tests of fatal errors: the error output, the alert record, the peer's
// view of it, and that the connection ends without hanging.
import { AlertDescription, alertName, type ErrorCode } from '@mlstls/codec';
import { expect } from 'vitest';
import { type Pair, peerOf, plaintextAlert, type Side } from './pair.js';

export interface FatalExpectation {
  /** How the peer takes the alert: as the alert itself (default), or not at all. */
  readonly peer?: 'receives the alert' | 'cannot read it' | { code: ErrorCode };
}

/**
 * `victim` has failed with `code`: one `error` output, and the last thing it sent is the
 * alert of that code. Then the pair settles (nothing hangs), and the peer either fails with
 * ERR_MLSTLS_ALERT_RECEIVED carrying that alert or with the code given.
 */
export async function expectFatal(
  pair: Pair,
  victim: Side,
  code: ErrorCode,
  expectation: FatalExpectation = {},
): Promise<void> {
  const endpoint = pair.endpoint(victim);
  expect(endpoint.failure?.code, endpoint.failure?.message).toBe(code);
  expect(pair.errors()[victim]).toEqual([code]);
  expect(endpoint.finished).toBe(true);
  const alert = endpoint.failure!.alert;
  expect(alert).not.toBe(AlertDescription.close_notify);

  const sent = pair.trace.filter((e) => e.side === victim && e.output.type === 'send').at(-1);
  expect(sent?.label.replace(/^send (plaintext )?/, '')).toBe(`alert(${alertName(alert)})`);
  if (sent?.output.type === 'send' && sent.label.startsWith('send plaintext')) {
    expect(plaintextAlert(sent.output.data)).toBe(alert);
  }

  await pair.settle();
  const peer = pair.endpoint(peerOf(victim));
  const peerExpectation = expectation.peer ?? 'receives the alert';
  if (peerExpectation === 'receives the alert') {
    expect(peer.failure?.code, peer.failure?.message).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(peer.failure?.alert).toBe(alert);
    // RFC 8446 6.2: nothing is sent back for an error alert.
    expect(pair.inFlight[peerOf(victim)]).toEqual([]);
  } else if (peerExpectation !== 'cannot read it') {
    expect(peer.failure?.code, peer.failure?.message).toBe(peerExpectation.code);
  }

  // The failed endpoint refuses commands and ignores anything more.
  await expect(endpoint.write(Uint8Array.of(1))).rejects.toMatchObject({
    code: 'ERR_MLSTLS_INVALID_STATE',
  });
  await endpoint.receive(Uint8Array.of(23, 3, 3, 0, 1, 0));
  expect(endpoint.poll()).toBeUndefined();
}
