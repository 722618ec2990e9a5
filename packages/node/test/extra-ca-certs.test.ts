// node:tls's default anchors include the file NODE_EXTRA_CA_CERTS names. The default anchors
// are parsed once per process, at the first certificate a peer presents: this file runs in a
// process of its own (vitest isolates test files), with the variable set before that.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { closeAll, connectClient, portOf, startServer } from './loopback.js';
import { type NodePki, nodePki, within } from './pki.js';

let pki: NodePki;
let dir: string;

beforeAll(async () => {
  pki = await nodePki();
  dir = mkdtempSync(join(tmpdir(), 'mlstls-extra-ca-'));
  const file = join(dir, 'extra.pem');
  writeFileSync(file, pki.root.pem);
  process.env.NODE_EXTRA_CA_CERTS = file;
});

afterEach(closeAll);

afterAll(() => {
  delete process.env.NODE_EXTRA_CA_CERTS;
  rmSync(dir, { recursive: true, force: true });
});

it('without `ca`, a server whose root NODE_EXTRA_CA_CERTS names is authorized, as in node:tls', async () => {
  const server = await startServer({ key: pki.server.keyPem, cert: pki.serverChain });
  const client = connectClient({ host: '127.0.0.1', port: portOf(server) });
  await within(once(client, 'secureConnect'), 10_000, 'the handshake');
  expect(client.authorized).toBe(true);
  const chain = client.getPeerCertificate(true);
  expect(chain?.issuerCertificate?.issuerCertificate?.subject).toEqual({ CN: pki.root.subject });
});
