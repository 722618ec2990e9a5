// What a peer or the application can break: every failure is a typed MlsTlsError, nothing hangs.
import type { Socket } from 'node:net';
import { generateCredential } from '@mlstls/state-machine';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, MlsTlsError, secureClient, secureServer } from '../src/index.js';
import {
  closeAll,
  concat,
  portOf,
  readAll,
  rejection,
  securePair,
  tcpConnect,
  tcpPair,
  tcpServer,
  text,
  track,
  webTransport,
} from './loopback.js';

afterEach(closeAll);

/** A plaintext fatal alert record (RFC 8446 5.1). */
const alertRecord = (description: number) => new Uint8Array([21, 3, 3, 0, 2, 2, description]);

/** A server that runs `onConnection` on the raw socket, and a connected raw peer. */
async function rawServer(onConnection: (socket: Socket) => void = () => {}) {
  const tcp = await tcpServer(onConnection);
  return portOf(tcp);
}

describe('a peer that is not mlstls', () => {
  it('garbage to a server is unexpected_message: the alert goes out, everything settles', async () => {
    let server!: ReturnType<typeof secureServer>;
    const port = await rawServer((socket) => {
      server = track(secureServer(webTransport(socket), { provider: 'noble' }));
    });
    const raw = await tcpConnect(port);
    const received: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise((resolve) => raw.once('close', resolve));
    raw.end('GET / HTTP/1.1\r\nHost: example\r\n\r\n');
    await ended;
    const error = await rejection(server.handshake);
    expect(error).toBeInstanceOf(MlsTlsError);
    expect(error).toMatchObject({
      code: 'ERR_MLSTLS_UNEXPECTED_MESSAGE',
      alertName: 'unexpected_message',
    });
    expect(concat(received)).toEqual(alertRecord(10));
    await expect(server.closed).rejects.toBe(error);
    await expect(server.readable.getReader().read()).rejects.toBe(error);
  });

  it('garbage to a client fails its handshake, and writes made meanwhile reject', async () => {
    const port = await rawServer((socket) => {
      socket.once('data', () => socket.write(new Uint8Array(64).fill(0x17)));
    });
    const client = track(
      secureClient(webTransport(await tcpConnect(port)), { rejectUnauthorized: false }),
    );
    const writing = client.writable.getWriter().write(text('never sent'));
    const error = await rejection(client.handshake);
    expect(error).toMatchObject({ code: expect.stringMatching(/^ERR_MLSTLS_/) });
    expect((error as MlsTlsError).alert).toBeGreaterThan(0);
    await expect(writing).rejects.toBe(error);
  });

  it('a transport that ends without close_notify errors the readable with ERR_MLSTLS_TRUNCATED', async () => {
    const credential = await generateCredential({ provider: 'noble' });
    let rawServerSide!: Socket;
    const port = await rawServer((socket) => {
      rawServerSide = socket;
      track(secureServer(webTransport(socket), { credential, provider: 'noble' }));
    });
    const client = track(
      secureClient(webTransport(await tcpConnect(port)), {
        peerSignaturePublicKey: credential.signaturePublicKey,
        provider: 'noble',
      }),
    );
    await client.handshake;
    rawServerSide.end(); // a FIN, no close_notify
    const error = await rejection(readAll(client.readable));
    expect(error).toMatchObject({ code: 'ERR_MLSTLS_TRUNCATED' });
    await expect(client.closed).rejects.toBe(error);
  });

  it('a peer that never answers is cut by handshakeTimeout', async () => {
    const port = await rawServer();
    const client = track(
      secureClient(webTransport(await tcpConnect(port)), { handshakeTimeout: 200 }),
    );
    expect(await rejection(client.handshake)).toMatchObject({
      code: 'ERR_MLSTLS_HANDSHAKE_TIMEOUT',
    });
  });
});

describe('the application', () => {
  it('aborting the signal fails the connection with ERR_MLSTLS_ABORTED and the reason', async () => {
    const port = await rawServer();
    const controller = new AbortController();
    const client = track(
      secureClient(webTransport(await tcpConnect(port)), { signal: controller.signal }),
    );
    controller.abort('enough');
    const error = await rejection(client.handshake);
    expect(error).toMatchObject({ code: 'ERR_MLSTLS_ABORTED', cause: 'enough' });
  });

  it('an aborted signal fails the connection at once', async () => {
    const { client: transport } = await tcpPair();
    const client = track(secureClient(transport, { signal: AbortSignal.abort() }));
    expect(await rejection(client.closed)).toMatchObject({ code: 'ERR_MLSTLS_ABORTED' });
  });

  it('abort() after the handshake erases the keys and errors both streams', async () => {
    const { client, server } = await securePair();
    await client.handshake;
    client.abort();
    expect(() => client.exportKeyingMaterial(16, 'x')).toThrow(MlsTlsError);
    await expect(client.writable.getWriter().write(text('x'))).rejects.toMatchObject({
      code: 'ERR_MLSTLS_ABORTED',
    });
    // The server sees a transport end without close_notify.
    expect(await rejection(readAll(server.readable))).toMatchObject({
      code: 'ERR_MLSTLS_TRUNCATED',
    });
  });

  it('close() sends close_notify and ends both streams; the peer reads a clean end', async () => {
    const { client, server } = await securePair();
    await client.handshake;
    await client.close();
    await client.closed;
    expect(await readAll(client.readable)).toEqual(new Uint8Array(0));
    expect(await readAll(server.readable)).toEqual(new Uint8Array(0));
  });

  it('a chunk that is not a Uint8Array is ERR_MLSTLS_INVALID_ARGUMENT', async () => {
    const { client: transport } = await tcpPair();
    const client = track(secureClient(transport, {}));
    const writer = client.writable.getWriter() as WritableStreamDefaultWriter<unknown>;
    await expect(writer.write('text')).rejects.toMatchObject({
      code: 'ERR_MLSTLS_INVALID_ARGUMENT',
    });
  });

  it('refuses a store without sessionId at once', () => {
    const transport = { readable: new ReadableStream(), writable: new WritableStream() };
    expect(() => secureClient(transport, { store: new MemoryStore() })).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }),
    );
  });
});
