// fromWebSocket over real WebSockets on 127.0.0.1: the `ws` package's server, and its client,
// which is a WHATWG WebSocket as far as the adapter goes (Node 20's own is behind a flag).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { MlsTlsError } from '@mlstls/codec';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { fromWebSocket, type MlsTlsStream, secureClient, secureServer } from '../src/index.js';
import { concat, credential, decode, readAll, readBytes, rejection, text } from './loopback.js';

const open: (() => void)[] = [];
afterEach(() => {
  for (const close of open.splice(0)) close();
});

/** A WebSocket server on an ephemeral loopback port. */
async function webSocketServer(): Promise<{ server: WebSocketServer; url: string }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  open.push(() => {
    for (const client of server.clients) client.terminate();
    server.close();
  });
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Both ends of one WebSocket: the client still connecting, the server's end open. */
async function webSocketPair(): Promise<{ client: WebSocket; server: WebSocket }> {
  const { server, url } = await webSocketServer();
  const accepted = once(server, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(url);
  open.push(() => client.terminate());
  const [serverEnd] = await accepted;
  return { client, server: serverEnd };
}

/** An mlstls client and server over one WebSocket, the server's key pinned. */
async function securePair(): Promise<{
  client: MlsTlsStream;
  server: MlsTlsStream;
  sockets: { client: WebSocket; server: WebSocket };
}> {
  const sockets = await webSocketPair();
  const serverKey = await credential();
  const server = secureServer(fromWebSocket(sockets.server), {
    credential: serverKey,
    provider: 'noble',
  });
  const client = secureClient(fromWebSocket(sockets.client), {
    peerSignaturePublicKey: serverKey.signaturePublicKey,
    provider: 'noble',
  });
  open.push(() => {
    client.abort();
    server.abort();
  });
  return { client, server, sockets };
}

describe('fromWebSocket', () => {
  it('carries a connection: handshake, data both ways, an update, a key update, close_notify both ways', async () => {
    const { client, server, sockets } = await securePair();
    const echoing = server.readable.pipeTo(server.writable);
    expect((await client.handshake).epoch).toBe(1n);
    const writer = client.writable.getWriter();
    const reader = client.readable.getReader();
    await writer.write(text('ping'));
    expect(decode(await readBytes(reader, 4))).toBe('ping');
    await client.update();
    await server.update();
    await client.keyUpdate({ requestPeer: true });
    // 200 KB: many records, many messages, every byte back in order.
    const large = new Uint8Array(200_000).map((_, index) => index % 251);
    const echoed = readBytes(reader, large.length);
    await writer.write(large);
    expect(await echoed).toEqual(large);
    expect(client.epoch).toBe(3n);
    expect(server.epoch).toBe(3n);
    // The graceful end: the socket stays open for the server's close_notify, then closes.
    const socketClosed = once(sockets.client, 'close');
    await writer.close();
    reader.releaseLock();
    expect(await readAll(client.readable)).toEqual(new Uint8Array(0));
    await client.closed;
    await server.closed;
    await echoing;
    const [code] = (await socketClosed) as [number];
    expect(code).toBe(1000);
  });

  it('a WebSocket closed without close_notify after the handshake is ERR_MLSTLS_TRUNCATED', async () => {
    const { client, server, sockets } = await securePair();
    await client.handshake;
    await server.handshake;
    sockets.server.close(1000);
    const error = await rejection(client.closed);
    expect(error).toBeInstanceOf(MlsTlsError);
    expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_TRUNCATED');
    expect(client.truncated).toBe(true);
    expect(((await rejection(client.readable.getReader().read())) as MlsTlsError).code).toBe(
      'ERR_MLSTLS_TRUNCATED',
    );
  });

  it('a WebSocket cut without a close frame after the handshake is ERR_MLSTLS_TRUNCATED too', async () => {
    const { client, server, sockets } = await securePair();
    await client.handshake;
    await server.handshake;
    sockets.server.terminate();
    expect(((await rejection(client.closed)) as MlsTlsError).code).toBe('ERR_MLSTLS_TRUNCATED');
  });

  it('a WebSocket that never opens fails the handshake with ERR_MLSTLS_ABORTED', async () => {
    const { server, url } = await webSocketServer();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const socket = new WebSocket(url);
    socket.on('error', () => {}); // ECONNREFUSED, seen by the adapter as a close
    const client = secureClient(fromWebSocket(socket), { provider: 'noble' });
    const error = (await rejection(client.handshake)) as MlsTlsError;
    expect(error.code).toBe('ERR_MLSTLS_ABORTED');
    expect(error.message).toContain('the WebSocket closed before it opened');
  });

  it('a text message fails the connection and closes the socket with 1003', async () => {
    const { client, server, sockets } = await securePair();
    await client.handshake;
    await server.handshake;
    const serverSawClose = once(sockets.server, 'close');
    sockets.server.send('not bytes');
    const error = (await rejection(client.closed)) as MlsTlsError;
    expect(error.code).toBe('ERR_MLSTLS_ABORTED');
    expect((error.cause as MlsTlsError).code).toBe('ERR_MLSTLS_UNEXPECTED_MESSAGE');
    const [code] = (await serverSawClose) as [number];
    expect(code).toBe(1003);
  });

  it('a closing WebSocket is refused at once', async () => {
    const { client } = await webSocketPair();
    await once(client, 'open');
    client.close();
    expect(() => fromWebSocket(client)).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }),
    );
  });

  it('writes wait while bufferedAmount is above the high-water mark, and every byte arrives', async () => {
    const { client, server } = await webSocketPair();
    const received: Uint8Array[] = [];
    server.binaryType = 'arraybuffer';
    server.on('message', (data: ArrayBuffer) => received.push(new Uint8Array(data)));
    // The server's end reads nothing: the kernel's buffers fill, then bufferedAmount grows.
    (server as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const transport = fromWebSocket(client, { highWaterMark: 65_536 });
    const writer = transport.writable.getWriter();
    const size = 65_536;
    let chunks = 0;
    let stalled = false;
    // At most 64 MiB: far more than loopback buffers hold.
    while (chunks < 1024) {
      await writer.ready;
      // Chunk n is filled with n % 256, to check the order on arrival.
      const write = writer.write(new Uint8Array(size).fill(chunks % 256));
      chunks++;
      const settled = await Promise.race([
        write.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300)),
      ]);
      if (!settled) {
        stalled = true;
        break;
      }
    }
    expect(stalled).toBe(true);
    expect(client.bufferedAmount).toBeGreaterThan(65_536);
    (server as unknown as { _socket: { resume(): void } })._socket.resume();
    await writer.close();
    await expect
      .poll(() => received.reduce((sum, part) => sum + part.length, 0))
      .toBe(chunks * size);
    const all = concat(received);
    for (let index = 0; index < chunks; index++) {
      expect([all[index * size], all[(index + 1) * size - 1]]).toEqual([index % 256, index % 256]);
    }
  });
});
