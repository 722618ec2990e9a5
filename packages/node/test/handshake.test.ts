import { once } from 'node:events';
import { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, generateCredential, MlsTlsError } from '../src/index.js';
import {
  closeAll,
  connectPinned,
  connectTo,
  errorsOf,
  nextSecureConnection,
  portOf,
  readAll,
  startServer,
} from './loopback.js';

afterEach(closeAll);

describe('handshake and data', () => {
  it('completes the handshake and carries data both ways; both ends agree on suite, epoch and exporter', async () => {
    const clientCredential = await generateCredential();
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server, { credential: clientCredential });
    const peer = await accepted;

    expect(client.encrypted).toBe(true);
    expect(client.getCipher()).toEqual({
      name: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
      standardName: 'TLS_AES_128_GCM_SHA256',
      version: 'TLSv1.3',
    });
    expect(peer.getCipher()).toEqual(client.getCipher());
    expect(client.epoch).toBe(1n);
    expect(peer.epoch).toBe(1n);
    const context = Buffer.from('context');
    const exported = client.exportKeyingMaterial(32, 'EXPORTER-test', context);
    expect(exported).toBeInstanceOf(Buffer);
    expect(exported).toHaveLength(32);
    expect(peer.exportKeyingMaterial(32, 'EXPORTER-test', context)).toEqual(exported);
    expect(peer.exportKeyingMaterial(32, 'EXPORTER-test')).not.toEqual(exported);
    expect(client.exportKeyingMaterial(16, 'EXPORTER-test', context)).not.toEqual(
      exported.subarray(0, 16),
    );

    client.end('hello server');
    peer.end('hello client');
    const [fromClient, fromServer] = await Promise.all([readAll(peer), readAll(client)]);
    expect(fromClient.toString()).toBe('hello server');
    expect(fromServer.toString()).toBe('hello client');

    expect(client.authorized).toBe(true);
    expect(client.authorizationError).toBeUndefined();
    expect(Buffer.from(client.getPeerCredential()!.signaturePublicKey)).toEqual(
      Buffer.from(server.credential!.signaturePublicKey),
    );
    expect(Buffer.from(peer.getPeerCredential()!.signaturePublicKey)).toEqual(
      Buffer.from(clientCredential.signaturePublicKey),
    );
    // A server without verifyPeer accepts any client, unverified.
    expect(peer.authorized).toBe(false);
    expect(errorsOf(client)).toEqual([]);
    expect(errorsOf(peer)).toEqual([]);
  });

  it('reports ChaCha20-Poly1305 for MLS suite 3', async () => {
    const server = await startServer({ ciphersuites: [3] });
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server, { ciphersuite: 3 });
    const peer = await accepted;
    expect(client.getCipher()?.standardName).toBe('TLS_CHACHA20_POLY1305_SHA256');
    expect(client.getCipher()?.name).toBe('MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519');
    client.end('over chacha');
    expect((await readAll(peer)).toString()).toBe('over chacha');
  });

  it('runs over an already connected socket given as the socket option', async () => {
    const server = await startServer({}, (socket) => socket.end('over your socket'));
    const tcp = new Socket();
    tcp.connect(portOf(server), '127.0.0.1');
    await once(tcp, 'connect');
    const client = connectPinned(server, { socket: tcp });
    await once(client, 'secureConnect');
    expect(client.remotePort).toBe(portOf(server));
    client.end();
    expect((await readAll(client)).toString()).toBe('over your socket');
    expect(errorsOf(client)).toEqual([]);
  });

  it('takes writes made before the handshake completes and delivers them after it', async () => {
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = connectPinned(server);
    let secure = false;
    client.once('secureConnect', () => {
      secure = true;
    });
    client.write('early ');
    client.end('and ended early');
    expect(secure).toBe(false);
    const peer = await accepted;
    peer.end();
    expect((await readAll(peer)).toString()).toBe('early and ended early');
    await readAll(client);
    expect(secure).toBe(true);
  });

  it('calls the connect callback on secureConnect and has no cipher or exporter before it', async () => {
    const server = await startServer();
    const client = connectPinned(server);
    expect(client.getCipher()).toBeUndefined();
    expect(client.epoch).toBe(0n);
    expect(() => client.exportKeyingMaterial(32, 'x')).toThrow(MlsTlsError);
    await once(client, 'secureConnect');
    expect(client.getCipher()).toBeDefined();
  });

  it("knows its epoch inside the 'secureConnect' and 'secureConnection' listeners", async () => {
    const seen: bigint[] = [];
    const server = await startServer({}, (socket) => seen.push(socket.epoch));
    const accepted = nextSecureConnection(server);
    const client = connectPinned(server);
    client.on('secureConnect', () => seen.push(client.epoch));
    await once(client, 'secureConnect');
    // The server reports its side once the client's key confirmation arrives (section 4).
    await accepted;
    expect(seen).toEqual([1n, 1n]);
  });

  it('delivers many small writes, batched by cork(), whole and in order', async () => {
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server);
    const peer = await accepted;
    const expected: string[] = [];
    client.cork();
    for (let index = 0; index < 1000; index++) {
      expected.push(`${index},`);
      client.write(`${index},`);
    }
    client.uncork();
    client.end();
    expect((await readAll(peer)).toString()).toBe(expected.join(''));
  });

  it('refuses bad options at once, without leaving a connection behind', async () => {
    expect(() => connect({ host: '127.0.0.1' })).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }),
    );
    expect(() => connect({ port: 1, ciphersuite: 99 })).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_UNSUPPORTED' }),
    );
    expect(() => createServer({ ciphersuites: [1, 99] })).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_UNSUPPORTED' }),
    );
  });
});

/** Node's own record of a net.Socket's TCP_NODELAY (no public getter in Node 20). */
function noDelayOf(socket: Socket): boolean | undefined {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  return symbol === undefined ? undefined : (socket as unknown as Record<symbol, boolean>)[symbol];
}

describe('TCP_NODELAY', () => {
  it('is set on accepted sockets by default and left off with noDelay: false', async () => {
    for (const [options, expected] of [
      [{}, true],
      [{ noDelay: false }, false],
    ] as const) {
      const server = await startServer(options);
      const accepted = once(server, 'connection') as Promise<[Socket]>;
      const secure = nextSecureConnection(server);
      const client = await connectTo(server);
      const [transport] = await accepted;
      await secure;
      expect(noDelayOf(transport)).toBe(expected);
      client.destroy();
    }
  });
});
