// Two @mlstls/streams endpoints over real TCP, through Node's own Web Streams adapter
// (`Duplex.toWeb`): handshake, data, updates, key updates, closure.
import { afterEach, describe, expect, it } from 'vitest';
import { type MlsTlsStream, secureClient, secureServer } from '../src/index.js';
import {
  closeAll,
  credential,
  decode,
  duplexToWeb,
  memoryPair,
  readAll,
  readBytes,
  sameBytes,
  securePair,
  tcpPair,
  text,
  track,
} from './loopback.js';

afterEach(closeAll);

/** A client and a server over `Duplex.toWeb` TCP sockets, each recording its epochs. */
const pair = (provider: 'noble' | 'node' = 'noble') => securePair({ provider, adapt: duplexToWeb });

function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
  return bytes;
}

/** Writes `payload` in 64 KiB chunks, each after the last was accepted, then closes. */
async function writeAll(stream: MlsTlsStream, payload: Uint8Array): Promise<void> {
  const writer = stream.writable.getWriter();
  for (let offset = 0; offset < payload.length; offset += 65_536) {
    await writer.write(payload.subarray(offset, offset + 65_536));
  }
  await writer.close();
}

async function roundTrip(from: MlsTlsStream, to: MlsTlsStream, message: string): Promise<void> {
  const writer = from.writable.getWriter();
  const reader = to.readable.getReader();
  await writer.write(text(message));
  expect(decode(await readBytes(reader, message.length))).toBe(message);
  writer.releaseLock();
  reader.releaseLock();
}

describe('a connection over Web Streams', () => {
  it('completes the handshake on the portable crypto and carries data both ways', async () => {
    const { client, server } = await pair();
    const [clientInfo, serverInfo] = await Promise.all([client.handshake, server.handshake]);
    expect(clientInfo.crypto).toBe('portable');
    expect(serverInfo.crypto).toBe('portable');
    expect(clientInfo.resumed).toBe(false);
    expect(client.epoch).toBe(1n);
    expect(server.epoch).toBe(1n);
    await roundTrip(client, server, 'hello server');
    await roundTrip(server, client, 'hello client');
    const label = 'EXPORTER-test';
    expect(client.exportKeyingMaterial(32, label)).toEqual(server.exportKeyingMaterial(32, label));
  });

  it('runs on node:crypto when asked, and says so', async () => {
    const { client, server } = await pair('node');
    expect((await client.handshake).crypto).toBe('node');
    await roundTrip(client, server, 'fast path');
  });

  it('sends data written before the handshake once it completes', async () => {
    const { client, server } = await pair();
    const writer = client.writable.getWriter();
    const written = writer.write(text('early'));
    expect(decode(await readBytes(server.readable.getReader(), 5))).toBe('early');
    await written;
  });

  it('moves 2 MiB each way over TCP', async () => {
    const { client, server } = await pair();
    const payload = pattern(2 * 1024 * 1024);
    const [received] = await Promise.all([readAll(server.readable), writeAll(client, payload)]);
    expect(sameBytes(received, payload)).toBe(true);
    const [echoed] = await Promise.all([readAll(client.readable), writeAll(server, payload)]);
    expect(sameBytes(echoed, payload)).toBe(true);
    await Promise.all([client.closed, server.closed]);
  });

  it('holds the writer while the peer does not read (backpressure end to end)', async () => {
    const { client: clientTransport, server: serverTransport } = memoryPair();
    const serverKey = await credential();
    const server = track(
      secureServer(serverTransport, { credential: serverKey, provider: 'noble' }),
    );
    const client = track(
      secureClient(clientTransport, {
        peerSignaturePublicKey: serverKey.signaturePublicKey,
        provider: 'noble',
      }),
    );
    const size = 1024 * 1024;
    const payload = pattern(size);
    const writer = client.writable.getWriter();
    let written = 0;
    const writing = (async () => {
      for (let offset = 0; offset < size; offset += 16_384) {
        await writer.write(payload.subarray(offset, offset + 16_384));
        written += 16_384;
      }
      await writer.close();
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Nobody reads the server: the pipes (2 x 64 KiB), the server's readable (64 KiB) and
    // what the core holds bound what the client could write.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(512 * 1024);
    const [received] = await Promise.all([readAll(server.readable), writing]);
    expect(sameBytes(received, payload)).toBe(true);
  });

  it('updates from the client, then from the server: both reach the same new epochs', async () => {
    const { client, server, epochs } = await pair();
    await Promise.all([client.handshake, server.handshake]);
    // Reading keeps each side processing the other's records.
    const clientReader = client.readable.getReader();
    const serverReader = server.readable.getReader();
    await client.update();
    expect(client.epoch).toBe(2n);
    await server.update();
    expect(server.epoch).toBe(3n);
    const writer = client.writable.getWriter();
    await writer.write(text('after updates'));
    expect(decode(await readBytes(serverReader, 13))).toBe('after updates');
    expect(server.epoch).toBe(3n);
    expect(client.epoch).toBe(3n);
    expect(epochs.client).toEqual([
      [1n, 'handshake'],
      [2n, 'local'],
      [3n, 'peer'],
    ]);
    expect(epochs.server).toEqual([
      [1n, 'handshake'],
      [2n, 'peer'],
      [3n, 'local'],
    ]);
    expect(client.exportKeyingMaterial(16, 'x')).toEqual(server.exportKeyingMaterial(16, 'x'));
    clientReader.releaseLock();
  });

  it('key-updates the sending keys, and the peer answers a request with its own', async () => {
    const { client: clientTransport, server: serverTransport } = await tcpPair(duplexToWeb);
    const serverKey = await credential();
    const seen = { client: [] as string[], server: [] as string[] };
    const keyLog = { client: [] as string[], server: [] as string[] };
    const server = track(
      secureServer(serverTransport, {
        credential: serverKey,
        provider: 'noble',
        onKeyUpdate: (direction, generation) => seen.server.push(`${direction} ${generation}`),
        onKeyLog: (line) => keyLog.server.push(line),
      }),
    );
    const client = track(
      secureClient(clientTransport, {
        peerSignaturePublicKey: serverKey.signaturePublicKey,
        provider: 'noble',
        onKeyUpdate: (direction, generation) => seen.client.push(`${direction} ${generation}`),
        onKeyLog: (line) => keyLog.client.push(line),
      }),
    );
    await Promise.all([client.handshake, server.handshake]);
    const reader = server.readable.getReader();
    const clientReader = client.readable.getReader();
    await client.keyUpdate({ requestPeer: true });
    const writer = client.writable.getWriter();
    await writer.write(text('after key update'));
    expect(decode(await readBytes(reader, 16))).toBe('after key update');
    const serverWriter = server.writable.getWriter();
    await serverWriter.write(text('answered'));
    expect(decode(await readBytes(clientReader, 8))).toBe('answered');
    expect(seen.client).toEqual(['send 1', 'receive 1']);
    expect(seen.server).toEqual(['receive 1', 'send 1']);
    expect(client.epoch).toBe(1n); // a key update is not an epoch
    // One docs/protocol.md section 9 line per epoch, the same on both sides.
    expect(keyLog.client).toHaveLength(1);
    expect(keyLog.client).toEqual(keyLog.server);
    expect(keyLog.client[0]).toMatch(/^MLSTLS_MASTER_SECRET [0-9a-f]{64} 1 [0-9a-f]{64}\n$/);
  });

  it('closes with close_notify both ways: readables end, closed resolves, keys are gone', async () => {
    const { client, server } = await pair();
    await client.writable.getWriter().close();
    expect(await readAll(server.readable)).toEqual(new Uint8Array(0));
    await server.writable.getWriter().close();
    expect(await readAll(client.readable)).toEqual(new Uint8Array(0));
    await Promise.all([client.closed, server.closed]);
    expect(() => client.exportKeyingMaterial(16, 'x')).toThrow(
      expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_STATE' }),
    );
    expect(client.epoch).toBe(1n);
  });
});
