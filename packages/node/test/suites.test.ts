// Every MLS ciphersuite over real TCP (docs/protocol.md section 3, D93): a handshake, data, a PCS
// update from each side, a key update, a resumption from a store, and the key log line of each
// epoch, which opens nothing unless it is the suite's own length. The post-quantum suites run on
// the portable implementation, the others on node:crypto (`handshakeInfo.crypto`).
import { once } from 'node:events';
import { parseKeyLogLine } from '@mlstls/key-schedule';
import { SUPPORTED_CIPHERSUITES } from '@mlstls/state-machine';
import { MemoryStore } from '@mlstls/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { generateCredential, type MlsTlsSocket } from '../src/index.js';
import { closeAll, connectTo, errorsOf, startServer } from './loopback.js';

afterEach(closeAll);

async function echoes(socket: MlsTlsSocket, text: string): Promise<void> {
  socket.write(text);
  const [answer] = (await once(socket, 'data')) as [Buffer];
  expect(answer.toString()).toBe(text);
}

describe('every MLS ciphersuite over TCP', () => {
  for (const suite of SUPPORTED_CIPHERSUITES) {
    it(`suite ${suite.id} ${suite.name}: handshake, updates, key update, resumption, key log`, async () => {
      const credential = await generateCredential({ ciphersuite: suite.id });
      const store = new MemoryStore();
      const accepted: MlsTlsSocket[] = [];
      const server = await startServer(
        { credential, ciphersuites: [suite.id], store: new MemoryStore() },
        (socket) => {
          accepted.push(socket);
          socket.on('data', (data: Buffer) => socket.write(data));
        },
      );
      const keyLog: string[] = [];
      const client = await connectTo(server, { ciphersuite: suite.id, store, sessionId: 's' });
      client.on('keylog', (line: Buffer) => keyLog.push(line.toString()));
      expect(client.getCipher()).toMatchObject({ name: suite.name, standardName: suite.tlsName });
      await echoes(client, `hello over suite ${suite.id}`);
      await client.update();
      await echoes(client, 'after the client update');
      await accepted[0]!.update();
      await echoes(client, 'after the server update');
      await client.keyUpdate({ requestPeer: true });
      await echoes(client, 'after the key update');
      expect(client.epoch).toBe(3n);
      for (const line of keyLog) {
        const entry = parseKeyLogLine(line)!;
        expect(entry.masterSecret.length).toBe(
          /_(MLKEM\d+|XWING)_/.test(suite.name)
            ? 64
            : { sha256: 32, sha384: 48, sha512: 64 }[suite.hash],
        );
      }
      expect(keyLog.map((line) => parseKeyLogLine(line)?.epoch)).toEqual([2n, 3n]);
      client.end();
      await once(client, 'close');

      const resumed = await connectTo(server, { ciphersuite: suite.id, store, sessionId: 's' });
      expect(resumed.isSessionReused()).toBe(true);
      expect(resumed.getCipher()?.name).toBe(suite.name);
      await echoes(resumed, 'resumed');
      expect(errorsOf(client)).toEqual([]);
      expect(errorsOf(resumed)).toEqual([]);
    });
  }
});
