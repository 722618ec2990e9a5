// @mlstls/streams against @mlstls/node over real TCP, and X.509 credentials on both.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { connect, createServer, type MlsTlsServer, type MlsTlsSocket } from '@mlstls/node';
import { issueCertificate, testPki } from '@mlstls/test-support';
import { loadX509Credential, TrustAnchors } from '@mlstls/x509';
import { afterEach, describe, expect, it } from 'vitest';
import { secureClient, secureServer } from '../src/index.js';
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

const servers: MlsTlsServer[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  closeAll();
});

async function nodeServer(options: Parameters<typeof createServer>[0] = {}) {
  const server = createServer(options);
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return server;
}

describe('@mlstls/streams with @mlstls/node', () => {
  it('a streams client talks to a node server: data, updates from both sides, a key update', async () => {
    const server = await nodeServer();
    const accepted = once(server, 'secureConnection') as Promise<[MlsTlsSocket]>;
    const client = track(
      secureClient(webTransport(await tcpConnect(portOf(server))), {
        peerSignaturePublicKey: server.credential!.signaturePublicKey,
        provider: 'noble',
      }),
    );
    const info = await client.handshake;
    expect(info.crypto).toBe('portable');
    const [socket] = await accepted;
    socket.on('error', () => {}); // the test's end cuts it
    socket.on('data', (data: Buffer) => socket.write(data)); // echo
    const writer = client.writable.getWriter();
    const reader = client.readable.getReader();
    await writer.write(text('ping'));
    expect(decode(await readBytes(reader, 4))).toBe('ping');
    await client.update();
    expect(client.epoch).toBe(2n);
    await socket.update();
    expect(socket.epoch).toBe(3n);
    await client.keyUpdate({ requestPeer: true });
    await writer.write(text('pong'));
    expect(decode(await readBytes(reader, 4))).toBe('pong');
    expect(client.epoch).toBe(3n);
    expect(client.exportKeyingMaterial(16, 'l')).toEqual(
      new Uint8Array(socket.exportKeyingMaterial(16, 'l')),
    );
  });

  it('a node client talks to a streams server: data, updates from both sides, close_notify', async () => {
    const credential = await issueCredential();
    let secured!: (stream: ReturnType<typeof secureServer>) => void;
    const serverSide = new Promise<ReturnType<typeof secureServer>>((resolve) => {
      secured = resolve;
    });
    const tcp = await tcpServer((socket: Socket) => {
      secured(
        track(
          secureServer(webTransport(socket), {
            credential: credential.credential,
            provider: 'noble',
          }),
        ),
      );
    });
    const client = connect({
      host: '127.0.0.1',
      port: portOf(tcp),
      ca: credential.rootPem,
      servername: 'localhost',
    });
    client.on('error', () => {});
    await once(client, 'secureConnect');
    expect(client.authorized).toBe(true);
    const server = await serverSide;
    const info = await server.handshake;
    expect(info.resumed).toBe(false);
    // The server echoes.
    const echoing = server.readable.pipeTo(server.writable).catch(() => {});
    client.write('hello');
    const [data] = (await once(client, 'data')) as [Buffer];
    expect(data.toString()).toBe('hello');
    await client.update();
    await server.update();
    expect(server.epoch).toBe(3n);
    client.write('again');
    const [again] = (await once(client, 'data')) as [Buffer];
    expect(again.toString()).toBe('again');
    expect(client.epoch).toBe(3n);
    client.end();
    await once(client, 'end');
    await server.closed;
    await echoing;
  });

  it('a streams client checks an X.509 server: chain to its ca and the name, else bad', async () => {
    const credential = await issueCredential();
    const tcp = await tcpServer((socket: Socket) => {
      track(
        secureServer(webTransport(socket), {
          credential: credential.credential,
          provider: 'noble',
        }),
      );
    });
    const ca = TrustAnchors.from(credential.rootPem);
    const good = track(
      secureClient(webTransport(await tcpConnect(portOf(tcp))), { ca, serverName: 'localhost' }),
    );
    const info = await good.handshake;
    expect(info.authorized).toBe(true);
    expect(info.peerCertificate?.subject.CN).toBe('mlstls streams test server');
    const wrongName = track(
      secureClient(webTransport(await tcpConnect(portOf(tcp))), { ca, serverName: 'example.com' }),
    );
    const error = await rejection(wrongName.handshake);
    expect(error).toMatchObject({ code: 'ERR_MLSTLS_CERT_ALTNAME_INVALID' });
    const unknownCa = track(
      secureClient(webTransport(await tcpConnect(portOf(tcp))), { serverName: 'localhost' }),
    );
    expect(await rejection(unknownCa.handshake)).toMatchObject({ code: 'ERR_MLSTLS_UNKNOWN_CA' });
  });
});

/** A server credential issued in the run by the test PKI, for localhost. */
async function issueCredential() {
  const { root, intermediate } = await testPki();
  const leaf = await issueCertificate({
    subject: 'mlstls streams test server',
    issuer: intermediate,
    dnsNames: ['localhost'],
    extendedKeyUsage: ['serverAuth'],
  });
  const credential = await loadX509Credential({
    cert: leaf.pem + intermediate.pem,
    key: leaf.keyPem,
  });
  return { credential, rootPem: root.pem };
}
