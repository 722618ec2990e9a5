import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MlsTlsSocket } from '../src/index.js';
import {
  closeAll,
  connectPinned,
  connectTo,
  nextSecureConnection,
  readAll,
  startServer,
} from './loopback.js';

afterEach(closeAll);

/** docs/protocol.md section 9, with node:tls's trailing newline. */
const KEY_LOG_LINE = /^MLSTLS_MASTER_SECRET ([0-9a-f]{64}) (\d+) ([0-9a-f]{64})\n$/;

function epochOf(line: Buffer): string {
  return KEY_LOG_LINE.exec(line.toString('latin1'))![2]!;
}

describe('key log', () => {
  it('emits one line per epoch on the client and the server, the same line on both', async () => {
    const server = await startServer();
    const serverLines: Buffer[] = [];
    const serverSockets: MlsTlsSocket[] = [];
    server.on('keylog', (line: Buffer, socket: MlsTlsSocket) => {
      serverLines.push(line);
      serverSockets.push(socket);
    });
    const accepted = nextSecureConnection(server);
    const client = connectPinned(server);
    const clientLines: Buffer[] = [];
    client.on('keylog', (line: Buffer) => clientLines.push(line));
    await once(client, 'secureConnect');
    const peer = await accepted;
    await client.update();
    client.end();
    await Promise.all([readAll(client), readAll(peer)]);

    expect(clientLines).toHaveLength(2);
    for (const line of clientLines) {
      expect(line).toBeInstanceOf(Buffer);
      expect(line.toString('latin1')).toMatch(KEY_LOG_LINE);
    }
    expect(clientLines.map(epochOf)).toEqual(['1', '2']);
    expect(serverLines).toEqual(clientLines);
    expect(serverSockets).toEqual([peer, peer]);
    // Each epoch has its own master secret, in one group.
    const [first, second] = clientLines.map((line) => KEY_LOG_LINE.exec(line.toString())!);
    expect(first![1]).toBe(second![1]);
    expect(first![3]).not.toBe(second![3]);
  });

  it('asks at each epoch: a listener added after the handshake gets the later epochs only', async () => {
    const server = await startServer();
    const client = await connectTo(server);
    const lines: Buffer[] = [];
    client.on('keylog', (line: Buffer) => lines.push(line));
    await client.update();
    expect(lines.map(epochOf)).toEqual(['2']);
  });

  it('appends the lines to the file MLSTLS_KEYLOGFILE names', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'mlstls-keylog-'));
    const file = join(directory, 'keys.log');
    process.env.MLSTLS_KEYLOGFILE = file;
    try {
      const server = await startServer();
      const accepted = nextSecureConnection(server);
      const client = await connectTo(server);
      const peer = await accepted;
      await peer.update();
      client.end();
      await Promise.all([readAll(client), readAll(peer)]);
      const lines = readFileSync(file, 'latin1').split(/(?<=\n)/);
      // Both ends log both epochs.
      expect(lines).toHaveLength(4);
      for (const line of lines) expect(line).toMatch(KEY_LOG_LINE);
      expect(new Set(lines).size).toBe(2);
    } finally {
      delete process.env.MLSTLS_KEYLOGFILE;
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
