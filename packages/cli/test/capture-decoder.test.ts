// The decoder over captures made in-process: two @mlstls/node sockets on loopback, each
// transport tapped as `-capture` taps it, with the key log lines of the 'keylog' events.
import { once } from 'node:events';
import { type AddressInfo, Socket } from 'node:net';
import { connect, createServer, type MlsTlsServer, type MlsTlsSocket } from '@mlstls/node';
import { MemoryStore } from '@mlstls/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { type CaptureChunk, tapTransport } from '../src/capture.js';
import { CaptureDecoder, type DecodedRecord, type ReadRecord } from '../src/capture-decoder.js';
import { parseKeyLog } from '../src/key-log-file.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface Tapped {
  readonly client: MlsTlsSocket;
  readonly server: MlsTlsSocket;
  /** The chunks as the client's transport saw them, and as the server's did. */
  readonly clientSide: CaptureChunk[];
  readonly serverSide: CaptureChunk[];
  readonly keyLog: string[];
}

async function startServer(): Promise<MlsTlsServer> {
  const server = createServer({ store: new MemoryStore() });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return server;
}

/** One connection, both transports tapped; `store` makes the second one a resumption. */
async function tappedConnection(server: MlsTlsServer, store: MemoryStore): Promise<Tapped> {
  const clientSide: CaptureChunk[] = [];
  const serverSide: CaptureChunk[] = [];
  const keyLog: string[] = [];
  const onConnection = (transport: Socket) =>
    tapTransport(transport, 'S', (chunk) => serverSide.push(chunk));
  server.prependOnceListener('connection', onConnection);
  const accepted = once(server, 'secureConnection');
  const transport = new Socket({ allowHalfOpen: true });
  transport.connect((server.address() as AddressInfo).port, '127.0.0.1');
  tapTransport(transport, 'C', (chunk) => clientSide.push(chunk));
  const client = connect({
    socket: transport,
    store,
    peerSignaturePublicKey: server.credential!.signaturePublicKey,
  });
  cleanups.push(() => client.destroy());
  client.on('keylog', (line: Buffer) => keyLog.push(line.toString('latin1')));
  await once(client, 'secureConnect');
  const [server_] = (await accepted) as [MlsTlsSocket];
  cleanups.push(() => server_.destroy());
  return { client, server: server_, clientSide, serverSide, keyLog };
}

async function received(socket: MlsTlsSocket, text: string): Promise<void> {
  let seen = '';
  while (!seen.includes(text)) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    seen += chunk.toString();
  }
}

/** Closes both ends with close_notify and waits for both sockets to close. */
async function closeBoth({ client, server }: Tapped): Promise<void> {
  server.resume();
  client.resume();
  const closed = Promise.all([once(client, 'close'), once(server, 'close')]);
  client.end();
  await closed;
}

function decode(chunks: CaptureChunk[], keyLog: string[]): DecodedRecord[] {
  const decoder = new CaptureDecoder(parseKeyLog(keyLog.join('')));
  const records = chunks.flatMap((chunk) => decoder.push(chunk));
  return [...records, ...decoder.finish()];
}

function read(records: DecodedRecord[]): ReadRecord[] {
  for (const record of records) {
    if (record.kind === 'unreadable') throw record.error;
  }
  return records as ReadRecord[];
}

function text(records: ReadRecord[], direction: 'C' | 'S'): string {
  return records
    .filter((record) => record.direction === direction && record.data !== undefined)
    .map((record) => Buffer.from(record.data!).toString())
    .join('');
}

describe('capture decoder', () => {
  it('reads every record and handshake message of a connection and of its resumption, from either end', async () => {
    const server = await startServer();
    const store = new MemoryStore();
    const first = await tappedConnection(server, store);
    first.client.write('hello from the client\n');
    await received(first.server, 'hello from the client');
    first.server.write('hello from the server\n');
    await received(first.client, 'hello from the server');
    await first.client.update();
    await first.server.update();
    await first.client.keyUpdate({ requestPeer: true });
    first.client.write('after the updates\n');
    await received(first.server, 'after the updates');
    first.server.write('server after the updates\n');
    await received(first.client, 'server after the updates');
    await closeBoth(first);

    const records = read(decode(first.clientSide, first.keyLog));
    // The server's tap saw the same bytes, so it decodes to the same records.
    expect(
      read(decode(first.serverSide, first.keyLog)).map(({ index: _, ...rest }) => rest),
    ).toEqual(
      expect.arrayContaining(records.map(({ index: _, ...rest }) => expect.objectContaining(rest))),
    );
    const types = records.flatMap((record) => record.handshake.map((message) => message.type));
    expect(types).toEqual(
      expect.arrayContaining([
        'client_hello',
        'server_hello',
        'connection_update',
        'epoch_key_update',
        'key_update',
      ]),
    );
    expect(text(records, 'C')).toBe('hello from the client\nafter the updates\n');
    expect(text(records, 'S')).toBe('hello from the server\nserver after the updates\n');
    const lastData = records.filter((record) => record.data !== undefined).at(-1)!;
    // Two updates: epoch 3; the server answered the requested key update with its own.
    expect(lastData.keys).toMatchObject({ epoch: 3n, generation: 1 });
    expect(records.at(-1)!.alert).toEqual({ level: 1, description: 0 });

    const second = await tappedConnection(server, store);
    expect(second.client.isSessionReused()).toBe(true);
    second.client.write('resumed\n');
    await received(second.server, 'resumed');
    second.server.write('resumed too\n');
    await received(second.client, 'resumed too');
    await closeBoth(second);
    // The key log of both connections, as one file would hold it.
    const resumed = read(decode(second.clientSide, [...first.keyLog, ...second.keyLog]));
    expect(resumed[0]!.handshake.map((message) => message.type)).toEqual(['resumption']);
    expect(resumed[0]!.keys).toBeUndefined();
    // The server's answer: resumption_accept in plaintext, then its epoch_key_update under the
    // resumed epoch's keys (the key log line carries the master secret keyed with its random).
    const answer = resumed.filter((record) => record.direction === 'S').slice(0, 2);
    expect(answer.map((record) => record.handshake.map((message) => message.type))).toEqual([
      ['resumption_accept'],
      ['epoch_key_update'],
    ]);
    expect(answer[0]!.keys).toBeUndefined();
    expect(answer[1]!.keys).toMatchObject({ epoch: 4n, generation: 0, sequence: 0n });
    expect(text(resumed, 'C')).toBe('resumed\n');
    expect(text(resumed, 'S')).toBe('resumed too\n');
    expect(resumed.find((record) => record.data !== undefined)!.keys!.epoch).toBe(4n);
  });

  it('reports a record no key log line opens, and stops that direction', async () => {
    const server = await startServer();
    const one = await tappedConnection(server, new MemoryStore());
    const other = await tappedConnection(server, new MemoryStore());
    one.client.write('x');
    await received(one.server, 'x');
    await closeBoth(one);
    await closeBoth(other);
    const records = decode(one.clientSide, other.keyLog);
    const unreadable = records.filter((record) => record.kind === 'unreadable');
    expect(unreadable.length).toBeGreaterThan(0);
    expect(unreadable[0]).toMatchObject({ error: { code: 'ERR_MLSTLS_BAD_RECORD_MAC' } });
  });

  it('waits for a key log line that comes after its records, as live tracing gets them', async () => {
    const server = await startServer();
    const tapped = await tappedConnection(server, new MemoryStore());
    tapped.client.write('late keys\n');
    await received(tapped.server, 'late keys');
    await closeBoth(tapped);
    const decoder = new CaptureDecoder();
    const early = tapped.clientSide.flatMap((chunk) => decoder.push(chunk));
    expect(early.every((record) => record.kind === 'record' && record.keys === undefined)).toBe(
      true,
    );
    const late = parseKeyLog(tapped.keyLog.join('')).flatMap((entry) =>
      decoder.addKeyLogEntry(entry),
    );
    expect(text(read(late), 'C')).toBe('late keys\n');
    expect(decoder.finish()).toEqual([]);
  });
});
