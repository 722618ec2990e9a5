// Resumption over real TCP (docs/protocol.md section 6), and the full handshake a refusal falls back to.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { createServer, type MlsTlsSocket } from '@mlstls/node';
import { generateCredential } from '@mlstls/state-machine';
import { MemoryStore } from '@mlstls/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { type MlsTlsStream, secureClient, secureServer } from '../src/index.js';
import {
  closeAll,
  decode,
  portOf,
  readBytes,
  rejection,
  tcpConnect,
  tcpServer,
  text,
  track,
  webTransport,
} from './loopback.js';

afterEach(closeAll);

/** An echo server on its own store; `store` can be swapped to lose every session. */
async function echoServer() {
  const credential = await generateCredential({ provider: 'noble' });
  const world = { store: new MemoryStore(), connections: 0 };
  const tcp = await tcpServer((socket: Socket) => {
    world.connections++;
    const stream = track(
      secureServer(webTransport(socket), { credential, store: world.store, provider: 'noble' }),
    );
    stream.readable.pipeTo(stream.writable).catch(() => {});
  });
  const port = portOf(tcp);
  const transport = async () => webTransport(await tcpConnect(port));
  return { world, port, transport, key: credential.signaturePublicKey };
}

async function echoes(stream: MlsTlsStream, message: string): Promise<void> {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  await writer.write(text(message));
  expect(decode(await readBytes(reader, message.length))).toBe(message);
  writer.releaseLock();
  reader.releaseLock();
}

describe('resumption', () => {
  it('a second connection with the same store and sessionId resumes in a new epoch', async () => {
    const server = await echoServer();
    const store = new MemoryStore();
    const options = {
      peerSignaturePublicKey: server.key,
      provider: 'noble' as const,
      store,
      sessionId: 'the server',
    };
    const first = track(secureClient(await server.transport(), options));
    expect((await first.handshake).resumed).toBe(false);
    await echoes(first, 'first');
    await first.update();
    expect(first.epoch).toBe(2n);
    first.abort(); // a broken transport
    const second = track(secureClient(await server.transport(), options));
    const info = await second.handshake;
    expect(info.resumed).toBe(true);
    expect(second.epoch).toBe(3n);
    await echoes(second, 'second');
  });

  it('a refused resumption falls back to a full handshake on reconnect(), with the early writes', async () => {
    const server = await echoServer();
    const store = new MemoryStore();
    const options = { peerSignaturePublicKey: server.key, provider: 'noble' as const, store };
    const first = track(secureClient(await server.transport(), { ...options, sessionId: 's' }));
    await first.handshake;
    first.abort();
    server.world.store = new MemoryStore(); // the server lost its sessions
    let reconnects = 0;
    const second = track(
      secureClient(await server.transport(), {
        ...options,
        sessionId: 's',
        reconnect: () => {
          reconnects++;
          return server.transport();
        },
      }),
    );
    const writer = second.writable.getWriter();
    const early = writer.write(text('written early'));
    const info = await second.handshake;
    expect(info.resumed).toBe(false);
    expect(reconnects).toBe(1);
    await early;
    expect(decode(await readBytes(second.readable.getReader(), 13))).toBe('written early');
  });

  it('without reconnect() a refused resumption fails with unknown_psk_identity and forgets the session', async () => {
    const server = await echoServer();
    const store = new MemoryStore();
    const options = {
      peerSignaturePublicKey: server.key,
      provider: 'noble' as const,
      store,
      sessionId: 's',
    };
    const first = track(secureClient(await server.transport(), options));
    await first.handshake;
    first.abort();
    server.world.store = new MemoryStore();
    const refused = track(secureClient(await server.transport(), options));
    const error = await rejection(refused.handshake);
    expect(error).toMatchObject({
      code: 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY',
      alertName: 'unknown_psk_identity',
    });
    await expect(refused.closed).rejects.toBe(error);
    const fresh = track(secureClient(await server.transport(), options));
    expect((await fresh.handshake).resumed).toBe(false);
  });

  it('a streams client resumes with a node server, and the application can keep the session itself', async () => {
    const store = new MemoryStore();
    const server = createServer({ store });
    server.on('tlsClientError', () => {});
    server.on('secureConnection', (socket: MlsTlsSocket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const sessions: Uint8Array[] = [];
      const options = {
        peerSignaturePublicKey: server.credential!.signaturePublicKey,
        provider: 'noble' as const,
        onSession: (session: Uint8Array) => sessions.push(session),
      };
      const connectTo = async () => webTransport(await tcpConnect(portOf(server)));
      const first = track(secureClient(await connectTo(), options));
      await first.handshake;
      await echoes(first, 'one');
      expect(sessions.length).toBeGreaterThan(0);
      first.abort();
      const second = track(
        secureClient(await connectTo(), { ...options, session: sessions.at(-1)! }),
      );
      expect((await second.handshake).resumed).toBe(true);
      await echoes(second, 'two');
    } finally {
      server.close();
    }
  });
});
