// Node and Deno, each in its own runtime, over real TCP on 127.0.0.1: @mlstls/node against
// @mlstls/deno both ways, and Deno against Deno. The Deno side is test/deno/peer.ts on the
// built package, driven by the command protocol of test/deno/commands.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  connect,
  createServer,
  generateCredential,
  type MlsTlsServer,
  type MlsTlsSocket,
} from '@mlstls/node';
import { SUPPORTED_CIPHERSUITES } from '@mlstls/state-machine';
import { MemoryStore } from '@mlstls/storage';
import { issueCertificate, testPki, within } from '@mlstls/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type Commanded,
  runClientScript,
  type ScriptResult,
  serveCommands,
} from './deno/commands.js';
import { denoBin, denoRunArgs, packageDir } from './deno-run.js';

/** A wait for a child: a Deno start on a loaded 2-core CI runner takes seconds. */
const WAIT = 60_000;

const children: ChildProcess[] = [];
const servers: MlsTlsServer[] = [];
const sockets: MlsTlsSocket[] = [];
let dir: string;
let files: { certFile: string; keyFile: string; caFile: string };
let pem: { cert: string; key: string; ca: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlstls-deno-'));
  const { root, intermediate } = await testPki();
  const leaf = await issueCertificate({
    subject: 'mlstls deno test server',
    issuer: intermediate,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    extendedKeyUsage: ['serverAuth'],
  });
  pem = { cert: leaf.pem + intermediate.pem, key: leaf.keyPem, ca: root.pem };
  files = {
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    caFile: join(dir, 'ca.pem'),
  };
  writeFileSync(files.certFile, pem.cert);
  writeFileSync(files.keyFile, pem.key);
  writeFileSync(files.caFile, pem.ca);
});

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const server of servers.splice(0)) server.close();
  for (const socket of sockets.splice(0)) socket.destroy();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A Deno peer (test/deno/peer.ts) and the JSON reports it prints, in order. */
function startDeno(config: object, env: Record<string, string> = {}) {
  const child = spawn(denoBin, [...denoRunArgs('test/deno/peer.ts'), JSON.stringify(config)], {
    cwd: packageDir,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: 'pipe',
  });
  children.push(child);
  const reports: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    reports.push(JSON.parse(line) as Record<string, unknown>);
    wake?.();
  });
  const exited = once(child, 'exit').then(([code]) => {
    wake?.();
    return code as number | null;
  });
  /** The next report that has `key`. */
  const next = async <T>(key: string): Promise<T> => {
    const found = async (): Promise<T> => {
      for (;;) {
        const index = reports.findIndex((report) => key in report);
        if (index >= 0) return reports.splice(index, 1)[0]![key] as T;
        if (child.exitCode !== null) throw new Error(`deno exited (${child.exitCode}): ${stderr}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    };
    return within(found(), WAIT, `deno's ${key} report`);
  };
  return { next, exited, stderr: () => stderr };
}

/** An @mlstls/node socket as the command protocol's connection. */
function commanded(socket: MlsTlsSocket): Commanded {
  return {
    readable: new ReadableStream<Uint8Array>({
      start(controller) {
        socket.on('data', (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
        socket.once('end', () => controller.close());
        socket.once('error', (error) => controller.error(error));
      },
    }),
    writable: new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          socket.write(chunk, (error) => (error ? reject(error) : resolve()));
        }),
      close: () =>
        new Promise<void>((resolve) => {
          socket.end(resolve);
        }),
    }),
    epoch: () => socket.epoch,
    update: () => socket.update(),
    keyUpdate: () => socket.keyUpdate({ requestPeer: true }),
    exported: () => socket.exportKeyingMaterial(16, 'mlstls test').toString('hex'),
  };
}

/** Each step leaves both sides in the same epoch, and the epochs go 1 (or n), +1, +2, +2. */
function expectAgreement(result: ScriptResult, first: number): void {
  expect(result.echoed).toBe(true);
  expect(result.exportedAgree).toBe(true);
  for (const { client, server } of result.epochs) expect(client).toBe(server);
  expect(result.epochs.map(({ client }) => client)).toEqual([
    first,
    first + 1,
    first + 2,
    first + 2,
  ]);
}

describe('Node and Deno', () => {
  it('a Node client (@mlstls/node) against a Deno server: X.509, updates, key updates, resumption', async () => {
    const deno = startDeno({ mode: 'serve', ...files });
    const { port } = await deno.next<{ port: number }>('listening');
    const store = new MemoryStore();
    const run = async () => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: pem.ca,
        store,
        sessionId: 'the deno server',
        allowHalfOpen: true,
      });
      sockets.push(socket);
      await within(once(socket, 'secureConnect'), WAIT, 'secureConnect');
      expect(socket.authorized).toBe(true);
      const result = await within(runClientScript(commanded(socket)), WAIT, 'the client script');
      return {
        socket,
        result,
        handshake: await deno.next<{ resumed: boolean; crypto: string }>('handshake'),
      };
    };
    const first = await run();
    expect(first.socket.isSessionReused()).toBe(false);
    expect(first.handshake).toEqual({ resumed: false, crypto: 'webcrypto' });
    expectAgreement(first.result, 1);
    const second = await run();
    expect(second.socket.isSessionReused()).toBe(true);
    expect(second.handshake).toEqual({ resumed: true, crypto: 'webcrypto' });
    // The first connection ended in epoch 3; resuming makes a new one.
    expectAgreement(second.result, 4);
  });

  it('a Deno client against a Node server (@mlstls/node createServer): the same, both ways', async () => {
    const store = new MemoryStore();
    const reused: boolean[] = [];
    const server = createServer(
      { key: pem.key, cert: pem.cert, store, allowHalfOpen: true },
      (socket) => {
        reused.push(socket.isSessionReused());
        socket.on('error', () => {});
        void serveCommands(commanded(socket)).catch(() => {});
      },
    );
    server.on('tlsClientError', () => {});
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const deno = startDeno({
      mode: 'client',
      port,
      caFile: files.caFile,
      serverName: 'localhost',
      connections: 2,
    });
    type Connection = ScriptResult & { resumed: boolean; crypto: string; authorized: boolean };
    const first = await deno.next<Connection>('connection');
    expect(first).toMatchObject({ resumed: false, crypto: 'webcrypto', authorized: true });
    expectAgreement(first, 1);
    const second = await deno.next<Connection>('connection');
    expect(second).toMatchObject({ resumed: true, crypto: 'webcrypto', authorized: true });
    expectAgreement(second, 4);
    expect(await within(deno.exited, WAIT, 'deno to exit')).toBe(0);
    expect(reused).toEqual([false, true]);
  });

  // The post-quantum suites run on the portable implementation in every runtime (D93): a Deno
  // client against a Node server, one server per signature scheme.
  it.each([
    ['Ed25519', [77, 78, 79, 80, 81, 82, 83, 84]],
    ['ML-DSA-87', [85, 86, 87, 88]],
  ])(
    'a Deno client against a Node server on every post-quantum suite signed with %s',
    async (_, ids) => {
      const credential = await generateCredential({ ciphersuite: ids[0]! });
      const server = createServer({ credential, ciphersuites: ids }, (socket) => {
        socket.on('error', () => {});
        void serveCommands(commanded(socket)).catch(() => {});
      });
      server.on('tlsClientError', () => {});
      servers.push(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const deno = startDeno({
        mode: 'client',
        port: (server.address() as { port: number }).port,
        pin: Buffer.from(credential.signaturePublicKey).toString('hex'),
        ciphersuites: ids,
      });
      for (const id of ids) {
        const connection = await deno.next<ScriptResult & { ciphersuite: string; crypto: string }>(
          'connection',
        );
        expect(connection).toMatchObject({
          ciphersuite: SUPPORTED_CIPHERSUITES.find((suite) => suite.id === id)!.name,
          crypto: 'portable',
        });
        expectAgreement(connection, 1);
      }
      expect(await within(deno.exited, WAIT, 'deno to exit')).toBe(0);
    },
  );

  // The client forces the pure-JavaScript provider; the server runs on WebCrypto, its default.
  it('Deno against Deno, with a pinned basic credential, writes MLSTLS_KEYLOGFILE', async () => {
    const keyLog = join(dir, 'keys.log');
    const server = startDeno({ mode: 'serve' }, { MLSTLS_KEYLOGFILE: keyLog });
    const { port, key: pin } = await server.next<{ port: number; key: string }>('listening');
    const client = startDeno({ mode: 'client', port, pin, connections: 2, provider: 'noble' });
    type Connection = ScriptResult & { resumed: boolean; crypto: string };
    const first = await client.next<Connection>('connection');
    expect(first).toMatchObject({ resumed: false, crypto: 'portable' });
    expect(await server.next<{ crypto: string }>('handshake')).toMatchObject({
      crypto: 'webcrypto',
    });
    expectAgreement(first, 1);
    const second = await client.next<Connection>('connection');
    expect(second).toMatchObject({ resumed: true, crypto: 'portable' });
    expectAgreement(second, 4);
    expect(await within(client.exited, WAIT, 'deno to exit')).toBe(0);
    // One line per epoch the server entered: 1 to 3, then 4 to 6.
    const lines = readFileSync(keyLog, 'latin1').trimEnd().split('\n');
    expect(lines.map((line) => line.split(' ')[2])).toEqual(['1', '2', '3', '4', '5', '6']);
    for (const line of lines) {
      expect(line).toMatch(/^MLSTLS_MASTER_SECRET [0-9a-f]{64} \d+ [0-9a-f]{64}$/);
    }
    expect(statSync(keyLog).mode & 0o777).toBe(0o600);
  });

  it('Deno against Deno with sessions in Redis (@mlstls/storage-redis) on both sides', async () => {
    const redisUrl = inject('redisUrl');
    const server = startDeno({ mode: 'serve', redisUrl });
    const { port, key: pin } = await server.next<{ port: number; key: string }>('listening');
    const client = startDeno({ mode: 'client', port, pin, connections: 2, redisUrl });
    type Connection = ScriptResult & { resumed: boolean };
    expect(await client.next<Connection>('connection')).toMatchObject({ resumed: false });
    const second = await client.next<Connection>('connection');
    expect(second).toMatchObject({ resumed: true });
    expectAgreement(second, 4);
    expect(await within(client.exited, WAIT, 'deno to exit')).toBe(0);
  });
});
