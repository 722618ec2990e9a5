import { once } from 'node:events';
import { Socket } from 'node:net';
import { startRelay } from '@mlstls/driver/conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { MlsTlsError } from '../src/index.js';
import {
  closeAll,
  closed,
  connectPinned,
  connectTo,
  errorsOf,
  nextError,
  nextSecureConnection,
  portOf,
  readAll,
  startServer,
} from './loopback.js';

afterEach(closeAll);

describe('closure', () => {
  it('half-closes: after the client ends, the server still writes and the client reads it', async () => {
    const server = await startServer({ allowHalfOpen: true });
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    const clientReads = readAll(client);

    client.end('last words');
    expect((await readAll(peer)).toString()).toBe('last words');
    // The client's write side is closed; its read side is still open.
    expect(client.writableFinished).toBe(true);
    expect(client.readableEnded).toBe(false);
    expect(peer.writable).toBe(true);

    peer.write('an answer ');
    peer.end('after your end');
    expect((await clientReads).toString()).toBe('an answer after your end');
    await Promise.all([closed(client), closed(peer)]);
    expect(errorsOf(client)).toEqual([]);
    expect(errorsOf(peer)).toEqual([]);
  });

  it('ends the server side with the client by default (allowHalfOpen false, as node:tls)', async () => {
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    const peerReads = readAll(peer);
    client.end();
    expect(await readAll(client)).toHaveLength(0);
    await peerReads;
    expect(peer.writableEnded).toBe(true);
    expect(errorsOf(client)).toEqual([]);
    expect(errorsOf(peer)).toEqual([]);
  });

  it("a destroyed client (no close_notify) ends the server's socket as truncated, without an 'error', as node:tls", async () => {
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    const ended = once(peer, 'end');
    peer.resume();
    client.destroy();
    await closed(client);
    expect(errorsOf(client)).toEqual([]);
    await ended;
    await closed(peer);
    expect(peer.truncated).toBe(true);
    expect(errorsOf(peer)).toEqual([]);
  });

  it('with rejectTruncation a destroyed client is ERR_MLSTLS_TRUNCATED on the server', async () => {
    const server = await startServer({ rejectTruncation: true });
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    const peerError = nextError(peer);
    client.destroy();
    await closed(client);
    const error = await peerError;
    expect(error).toBeInstanceOf(MlsTlsError);
    expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_TRUNCATED');
    expect(peer.truncated).toBe(true);
  });

  it('a clean close is not truncated on either side', async () => {
    const server = await startServer({}, (socket) => socket.resume());
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    client.resume();
    client.end();
    await Promise.all([closed(client), closed(peer)]);
    expect([client.truncated, peer.truncated]).toEqual([false, false]);
    expect([errorsOf(client), errorsOf(peer)]).toEqual([[], []]);
  });

  it('aborting the signal destroys the socket with ERR_MLSTLS_ABORTED', async () => {
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const controller = new AbortController();
    const client = await connectTo(server, { signal: controller.signal });
    const peer = await accepted;
    peer.resume();
    const reason = new Error('the user left');
    controller.abort(reason);
    const error = (await nextError(client)) as MlsTlsError;
    expect(error).toBeInstanceOf(MlsTlsError);
    expect(error.code).toBe('ERR_MLSTLS_ABORTED');
    expect(error.cause).toBe(reason);
    await closed(client);
    expect(client.destroyed).toBe(true);
    await closed(peer);
    expect(peer.truncated).toBe(true);
  });

  it('an already aborted signal fails the connection before its handshake', async () => {
    const server = await startServer();
    const client = connectPinned(server, { signal: AbortSignal.abort() });
    let secure = false;
    client.on('secureConnect', () => {
      secure = true;
    });
    const error = (await nextError(client)) as MlsTlsError;
    expect(error.code).toBe('ERR_MLSTLS_ABORTED');
    await closed(client);
    expect(secure).toBe(false);
  });

  it('a transport error destroys the socket with ERR_MLSTLS_ABORTED, that error as its cause', async () => {
    const server = await startServer();
    const tcp = new Socket();
    tcp.connect(portOf(server), '127.0.0.1');
    const client = connectPinned(server, { socket: tcp });
    await once(client, 'secureConnect');
    const broken = new Error('the transport broke');
    tcp.destroy(broken);
    const error = (await nextError(client)) as MlsTlsError;
    expect(error).toBeInstanceOf(MlsTlsError);
    expect(error.code).toBe('ERR_MLSTLS_ABORTED');
    expect(error.cause).toBe(broken);
    await closed(client);
  });
});

describe('through a plain TCP relay (a port forward, a load balancer)', () => {
  for (const halfOpen of [false, true]) {
    it(`an echo exchange ends with the client's end(), no error on either side (relay ${halfOpen ? 'half-closing' : 'of Node defaults'})`, async () => {
      const serverErrors: Error[] = [];
      const server = await startServer({}, (socket) => {
        socket.on('error', (error) => serverErrors.push(error));
        socket.on('data', (data) => socket.write(data));
        socket.on('end', () => socket.end());
      });
      server.on('tlsClientError', (error: Error) => serverErrors.push(error));
      const relay = await startRelay(portOf(server), halfOpen);
      try {
        const client = await connectTo(server, { host: '127.0.0.1', port: relay.port });
        client.write('hello');
        const [echo] = (await once(client, 'data')) as [Buffer];
        expect(echo.toString()).toBe('hello');
        client.end();
        client.resume();
        await closed(client);
        expect(errorsOf(client)).toEqual([]);
        // A relay without half-close ends towards the client before the server's close_notify:
        // a truncation, told by the flag, not an error.
        if (halfOpen) expect(client.truncated).toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(serverErrors).toEqual([]);
      } finally {
        relay.close();
      }
    });
  }
});
