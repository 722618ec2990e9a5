// A test peer that runs under Deno, on the built @mlstls/deno (what `npm:@mlstls/deno` gives),
// started by the vitest tests with one JSON argument. Each line it prints on stdout is a JSON
// report; the tests read them. Modes:
//   serve:  listen on 127.0.0.1:0 and answer the command protocol of commands.ts on every
//           connection; report `listening` (port, key to pin) and each `handshake`.
//   client: make `connections` connections one after the other with one store, run the
//           client script of commands.ts on each, report each `connection`, then exit; with
//           `ciphersuites`, one connection per suite.
import type * as MlsTls from '../../src/index.js';
import { type Commanded, runClientScript, serveCommands } from './commands.js';

declare const Deno: {
  readonly args: readonly string[];
  readTextFileSync(path: string): string;
  exit(code: number): never;
};

interface PeerConfig {
  readonly mode: 'serve' | 'client';
  readonly port?: number;
  /** Files of PEM text. */
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly caFile?: string;
  /** A pinned server key, hex. */
  readonly pin?: string;
  readonly serverName?: string;
  readonly connections?: number;
  readonly alpnProtocols?: string[];
  /** Keep sessions in Redis (@mlstls/storage-redis) under this URL, instead of memory. */
  readonly redisUrl?: string;
  /** The client's suite for each connection, in turn, each stored under its own session id. */
  readonly ciphersuites?: number[];
  /** The crypto provider, when not the default (WebCrypto). */
  readonly provider?: 'noble' | 'webcrypto' | 'node';
}

const mlstls = (await import(
  new URL('../../dist/index.js', import.meta.url).href
)) as typeof MlsTls;

const config = JSON.parse(Deno.args[0]!) as PeerConfig;
const report = (value: unknown): void =>
  console.log(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? Number(v) : v)));
const read = (file: string | undefined) =>
  file === undefined ? undefined : Deno.readTextFileSync(file);
const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
const unhex = (text: string) => new Uint8Array(text.match(/../g)!.map((h) => parseInt(h, 16)));

/** The session store: Redis under a random prefix when asked, else memory. */
async function openStore(): Promise<MlsTls.SessionStore & { close?: () => Promise<void> }> {
  if (config.redisUrl === undefined) return new mlstls.MemoryStore();
  const { RedisStore } = await import('@mlstls/storage-redis');
  const prefix = `mlstls-deno-test:${crypto.randomUUID()}:${config.mode}:`;
  return RedisStore.connect({ url: config.redisUrl, prefix });
}

const cert = read(config.certFile);
const key = read(config.keyFile);
const ca = read(config.caFile);
const certificates = {
  ...(cert === undefined || key === undefined ? {} : { cert, key }),
  ...(ca === undefined ? {} : { caCerts: [ca] }),
  ...(config.alpnProtocols === undefined ? {} : { alpnProtocols: config.alpnProtocols }),
  ...(config.provider === undefined ? {} : { provider: config.provider }),
};

const commanded = (conn: MlsTls.MlsTlsConn): Commanded => ({
  readable: conn.readable,
  writable: conn.writable,
  epoch: () => conn.epoch,
  update: () => conn.update(),
  keyUpdate: () => conn.keyUpdate({ requestPeer: true }),
  exported: () => hex(conn.exportKeyingMaterial(16, 'mlstls test')),
});

if (config.mode === 'serve') {
  const listener = mlstls.listen({
    hostname: '127.0.0.1',
    port: 0,
    store: await openStore(),
    ...certificates,
  });
  const credential = await listener.credential();
  report({ listening: { port: listener.addr.port, key: hex(credential.signaturePublicKey) } });
  for await (const conn of listener) {
    conn.handshake().then(
      (info) => report({ handshake: { resumed: info.resumed, crypto: info.crypto } }),
      (error: MlsTls.MlsTlsError) => report({ failed: error.code }),
    );
    serveCommands(commanded(conn)).catch((error: MlsTls.MlsTlsError) =>
      report({ failed: error.code ?? String(error) }),
    );
  }
} else {
  const store = await openStore();
  const suites = config.ciphersuites;
  for (let i = 0; i < (suites?.length ?? config.connections ?? 1); i++) {
    const conn = await mlstls.connect({
      hostname: '127.0.0.1',
      port: config.port!,
      store,
      ...(suites === undefined ? {} : { ciphersuite: suites[i]!, sessionId: `suite ${suites[i]}` }),
      ...(config.serverName === undefined ? {} : { serverName: config.serverName }),
      ...(config.pin === undefined ? {} : { peerSignaturePublicKey: unhex(config.pin) }),
      ...certificates,
    });
    const info = await conn.handshake();
    const script = await runClientScript(commanded(conn));
    report({
      connection: {
        ciphersuite: info.ciphersuite,
        resumed: info.resumed,
        crypto: info.crypto,
        alpnProtocol: info.alpnProtocol,
        authorized: info.authorized,
        ...script,
      },
    });
  }
  await store.close?.();
  Deno.exit(0);
}
