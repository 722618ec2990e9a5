import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type MlsTlsError, type MlsTlsServer, type MlsTlsSocket } from '../src/index.js';
import {
  closeAll,
  closed,
  connectRaw,
  nextError,
  portOf,
  readAll,
  startRawServer,
  startServer,
} from './loopback.js';

afterEach(closeAll);

/** The `'tlsClientError'` the server reports next. */
async function nextClientError(server: MlsTlsServer): Promise<MlsTlsError> {
  const [error] = (await once(server, 'tlsClientError')) as [MlsTlsError, MlsTlsSocket];
  return error;
}

/** A client of a raw server, with the raw side of its connection. */
async function connectToRawServer(
  options: { handshakeTimeout?: number } = {},
): Promise<{ client: MlsTlsSocket; raw: Socket }> {
  let accepted: (socket: Socket) => void = () => {};
  const raw = new Promise<Socket>((resolve) => {
    accepted = resolve;
  });
  const server = await startRawServer((socket) => accepted(socket));
  const client = connect({
    host: '127.0.0.1',
    port: portOf(server),
    rejectUnauthorized: false,
    ...options,
  });
  return { client, raw: await raw };
}

/** A plaintext alert record (RFC 8446 5.1): fatal, with `description`. */
function alertRecord(description: number): Buffer {
  return Buffer.from([21, 3, 3, 0, 2, 2, description]);
}

describe('a peer that is not mlstls', () => {
  it('a client sending an HTTP request gets unexpected_message, and the server reports it', async () => {
    const server = await startServer();
    const reported = nextClientError(server);
    const raw = await connectRaw(portOf(server));
    raw.end('GET / HTTP/1.1\r\nHost: example\r\n\r\n');
    const error = await reported;
    expect(error.code).toBe('ERR_MLSTLS_UNEXPECTED_MESSAGE');
    expect(error.alertName).toBe('unexpected_message');
    // The alert is flushed before the connection closes.
    expect(await readAll(raw)).toEqual(alertRecord(10));
  });

  it('a server without a tlsClientError listener survives garbage (no crash)', async () => {
    const server = await startServer();
    const raw = await connectRaw(portOf(server));
    raw.end(Buffer.from([22, 9, 9, 0, 1, 0]));
    // A major version other than 3 is not TLS: decode_error.
    expect(await readAll(raw)).toEqual(alertRecord(50));
    await closed(raw);
  });

  it('a server answering client_hello with application data in plaintext fails the client with unexpected_message', async () => {
    const { client, raw } = await connectToRawServer();
    const clientHello = once(raw, 'data');
    const failed = nextError(client);
    await clientHello;
    raw.write(Buffer.from([23, 3, 3, 0, 1, 0]));
    const error = (await failed) as MlsTlsError;
    expect(error.code).toBe('ERR_MLSTLS_UNEXPECTED_MESSAGE');
    expect(error.alertName).toBe('unexpected_message');
    await closed(client);
  });

  it('a record over 2^14 + 256 bytes is record_overflow', async () => {
    const server = await startServer();
    const reported = nextClientError(server);
    const raw = await connectRaw(portOf(server));
    raw.write(Buffer.from([22, 3, 3, 0x41, 0x01]));
    const error = await reported;
    expect(error.code).toBe('ERR_MLSTLS_RECORD_OVERFLOW');
    expect(await readAll(raw)).toEqual(alertRecord(22));
  });
});

describe('a peer that stops', () => {
  it('a client that ends inside a record is ERR_MLSTLS_TRUNCATED, not a hang', async () => {
    const server = await startServer();
    const reported = nextClientError(server);
    const raw = await connectRaw(portOf(server));
    raw.end(Buffer.from([22, 3, 3, 0, 64, 1, 0, 0]));
    const error = await reported;
    expect(error.code).toBe('ERR_MLSTLS_TRUNCATED');
    expect(error.message).toMatch(/inside a record/);
    // close_notify's code: nothing is sent back.
    expect(await readAll(raw)).toHaveLength(0);
  });

  it('a server that ends inside a record fails the client with ERR_MLSTLS_TRUNCATED', async () => {
    const { client, raw } = await connectToRawServer();
    const clientHello = once(raw, 'data');
    const failed = nextError(client);
    await clientHello;
    raw.end(Buffer.from([22, 3, 3, 1, 0, 2]));
    expect(((await failed) as MlsTlsError).code).toBe('ERR_MLSTLS_TRUNCATED');
  });

  it('a client that stalls mid-handshake is dropped after handshakeTimeout', async () => {
    const server = await startServer({ handshakeTimeout: 300 });
    const reported = nextClientError(server);
    const raw = await connectRaw(portOf(server));
    const started = Date.now();
    raw.write(Buffer.from([22, 3, 3, 0, 64, 1, 0]));
    const error = await reported;
    expect(error.code).toBe('ERR_MLSTLS_HANDSHAKE_TIMEOUT');
    expect(error.message).toMatch(/handshakeTimeout/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await readAll(raw)).toHaveLength(0);
  });

  it('a server that never answers client_hello fails the client after handshakeTimeout', async () => {
    const { client, raw } = await connectToRawServer({ handshakeTimeout: 300 });
    const failed = nextError(client);
    await once(raw, 'data');
    const error = (await failed) as MlsTlsError;
    expect(error.code).toBe('ERR_MLSTLS_HANDSHAKE_TIMEOUT');
    expect(error.message).toMatch(/handshakeTimeout/);
    // The client closed its transport.
    await once(raw, 'end');
  });
});
