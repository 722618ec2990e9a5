// What the replay tests share: clients that keep their sessions, echoes and clean closes over
// real TCP, and the cleanups of one test.
import { once } from 'node:events';
import { connect, type MlsTlsSocket } from '@mlstls/node';
import { decodeSessionRecord } from '@mlstls/storage';
import { within } from '@mlstls/test-support';
import { afterEach, expect } from 'vitest';

/** What to undo after each test, last first. */
export const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A client that keeps its sessions, as node:tls's `'session'` listeners do. */
export function client(options: { port: number; pinned: Uint8Array; session?: Uint8Array }) {
  const socket = connect({
    host: '127.0.0.1',
    port: options.port,
    peerSignaturePublicKey: options.pinned,
    fallback: false,
    handshakeTimeout: 30_000,
    ...(options.session === undefined ? {} : { session: options.session }),
  });
  cleanups.push(() => socket.destroy());
  const sessions: Buffer[] = [];
  const errors: Error[] = [];
  socket.on('session', (session: Buffer) => sessions.push(session));
  socket.on('error', (error) => errors.push(error));
  const secure = within(
    new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    }),
    30_000,
    'the handshake',
  );
  return { socket, sessions, errors, secure };
}

export async function echoes(socket: MlsTlsSocket, text: string): Promise<void> {
  socket.write(text);
  const [echo] = (await within(once(socket, 'data'), 10_000, 'the echo')) as [Buffer];
  expect(echo.toString()).toBe(text);
}

export async function closeCleanly(socket: MlsTlsSocket): Promise<void> {
  socket.resume();
  socket.end();
  await within(once(socket, 'close'), 10_000, 'a clean close');
}

/** The group_id of an initiator's session: its `pending` starts with `opaque group_id<1>`. */
export function groupIdOf(session: Uint8Array): Uint8Array {
  const { pending } = decodeSessionRecord(session);
  return pending!.subarray(1, 1 + pending![0]!);
}
