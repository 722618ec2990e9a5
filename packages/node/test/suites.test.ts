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
import { closeAll, connectClient, connectTo, errorsOf, startServer } from './loopback.js';
import { issueCertificate, nodePki, pemChain } from './pki.js';

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

// X.509 with each signature scheme of RFC 9420's suites: the leaf key is the MLS signature key
// (docs/protocol.md section 4), issued under an Ed25519 root and a P-256 intermediate.
describe('X.509 leaf keys of every signature scheme', () => {
  it.each([
    [1, 'Ed25519'],
    [2, 'P-256'],
    [4, 'Ed448'],
    [5, 'P-521'],
    [6, 'Ed448'],
    [7, 'P-384'],
  ] as const)(
    'suite %i with a %s leaf: the chain and the name are checked, data flows, an update',
    async (id, keyType) => {
      const { root, intermediate } = await nodePki();
      const leaf = await issueCertificate({
        subject: `mlstls ${keyType} server`,
        issuer: intermediate,
        keyType,
        dnsNames: ['localhost'],
        extendedKeyUsage: ['serverAuth'],
      });
      const server = await startServer(
        { key: leaf.keyPem, cert: pemChain(leaf, intermediate), ciphersuites: [id] },
        (socket) => socket.on('data', (data: Buffer) => socket.write(data)),
      );
      const client = connectClient({
        host: '127.0.0.1',
        port: (server.address() as { port: number }).port,
        servername: 'localhost',
        ca: root.pem,
        ciphersuite: id,
      });
      await once(client, 'secureConnect');
      expect(client.authorized).toBe(true);
      expect(client.getPeerCertificate()?.subject).toMatchObject({
        CN: `mlstls ${keyType} server`,
      });
      await echoes(client, `over a ${keyType} certificate`);
      await client.update();
      await echoes(client, 'after the update');
      expect(errorsOf(client)).toEqual([]);
    },
  );
});
