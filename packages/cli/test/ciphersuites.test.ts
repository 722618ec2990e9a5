// -ciphersuites on s_server and s_client, for every suite mlstls speaks (docs/protocol.md D18,
// D93): a handshake over TCP on 127.0.0.1, an update and a key update, the key log and the
// capture, then decode reading back every application record. The commands run in this
// process (test/in-process.ts) to keep the 19 runs fast; the listing and the usage error run
// as the CLI runs, in child processes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashLength } from '@mlstls/crypto';
import { SUPPORTED_CIPHERSUITES, type SuiteParameters } from '@mlstls/state-machine';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decode } from '../src/decode-command.js';
import { sClient } from '../src/s-client.js';
import { sServer } from '../src/s-server.js';
import { killAll, mlstls } from './cli-process.js';
import { InProcessCli } from './in-process.js';

const dir = mkdtempSync(join(tmpdir(), 'mlstls-cli-suites-'));
const file = (name: string) => join(dir, name);
const running: InProcessCli[] = [];
afterEach(async () => {
  killAll();
  // A failed test leaves its commands running: Q ends them.
  for (const cli of running.splice(0)) cli.type('Q');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: typeof sServer, args: string[]): InProcessCli {
  const cli = new InProcessCli(command, args);
  running.push(cli);
  return cli;
}

/** `Nh` of the suite's MLS KDF: 64 for every post-quantum suite (docs/protocol.md D93). */
function masterSecretLength(suite: SuiteParameters): number {
  return suite.id >= 77 ? 64 : hashLength(suite.hash);
}

/** The signature public key of each suite's signature scheme, in bytes: what -pin takes. */
const SIGNATURE_KEY_LENGTH: Record<string, number> = {
  Ed25519: 32,
  P256: 65,
  P384: 97,
  P521: 133,
  Ed448: 57,
  MLDSA87: 2592,
};

/** One connection on `suite`: both sides' key logs and captures, by file name prefix. */
async function session(suite: SuiteParameters, prefix: string): Promise<void> {
  const server = run(sServer, [
    '-accept',
    '127.0.0.1:0',
    '-ciphersuites',
    String(suite.id),
    '-keylog',
    file(`${prefix}-server.keys`),
    '-capture',
    file(`${prefix}-server.cap`),
  ]);
  const [, port] = (await server.waitFor(/^ACCEPT 127\.0\.0\.1:(\d+)$/m)) as [string, string];
  const [, pin] = (await server.waitFor(/^PIN ([0-9a-f]+)$/m)) as [string, string];
  // The generated credential fits the suite (the first, and only, of -ciphersuites).
  expect(pin.length / 2).toBe(SIGNATURE_KEY_LENGTH[suite.name.split('_').at(-1)!]);
  const client = run(sClient, [
    '-connect',
    `127.0.0.1:${port}`,
    '-pin',
    pin,
    '-ciphersuites',
    String(suite.id),
    '-keylog',
    file(`${prefix}-client.keys`),
    '-capture',
    file(`${prefix}-client.cap`),
  ]);
  await client.waitFor(/^Verify return code: 0 \(ok\)$/m);
  await server.waitFor(/^EPOCH 1 \(handshake\)$/m);
  for (const side of [client, server]) {
    expect(side.stdout).toContain(`Cipher is ${suite.tlsName}\nMLS ciphersuite: ${suite.name}\n`);
  }

  client.type('hello from the client');
  await server.waitFor(/^hello from the client$/m);
  server.type('hello from the server');
  await client.waitFor(/^hello from the server$/m);
  client.type('U');
  await client.waitFor(/^UPDATE: epoch 2$/m);
  await server.waitFor(/^EPOCH 2 \(peer\)$/m);
  client.type('K');
  await client.waitFor(/^KEYUPDATE$/m);
  client.type('after the updates');
  await server.waitFor(/^after the updates$/m);
  server.type('server after the updates');
  await client.waitFor(/^server after the updates$/m);

  client.type('Q');
  expect(await client.exit).toBe(0);
  await server.waitFor(/^CLOSED$/m);
  server.type('Q');
  expect(await server.exit).toBe(0);
  expect(client.stderr + server.stderr).toBe('');
}

describe('-ciphersuites: every suite over TCP, then decode', { timeout: 60_000 }, () => {
  it.each(SUPPORTED_CIPHERSUITES.map((suite) => [suite.id, suite.name, suite] as const))(
    'suite %i %s: handshake, U, K, key log and capture; decode reads every record',
    async (id, name, suite) => {
      await session(suite, `suite-${id}`);
      const secretHex = 2 * masterSecretLength(suite);
      const keyLogLine = new RegExp(`^MLSTLS_MASTER_SECRET [0-9a-f]+ [12] [0-9a-f]{${secretHex}}$`);
      for (const end of ['client', 'server']) {
        const lines = readFileSync(file(`suite-${id}-${end}.keys`), 'utf8')
          .trimEnd()
          .split('\n');
        expect(lines).toHaveLength(2); // epochs 1 and 2
        for (const line of lines) expect(line).toMatch(keyLogLine);

        const decoded = new InProcessCli(decode, [
          '-keylog',
          file(`suite-${id}-${end}.keys`),
          file(`suite-${id}-${end}.cap`),
        ]);
        expect(await decoded.exit).toBe(0);
        expect(decoded.stderr).toBe('');
        const out = decoded.stdout;
        expect(out).toContain(`client_hello suite ${id} ${name}\n`);
        expect(out).toContain(`server_hello suite ${id} ${name}\n`);
        expect(out).toMatch(/connection_update commit group [0-9a-f]+ epoch 1 \(to 2\)/);
        expect(out).toMatch(/epoch_key_update epoch 2/);
        expect(out).toMatch(/key_update update_not_requested/);
        expect(out).toMatch(
          /C->S application_data len \d+ epoch 1 gen 0 seq \d+ inner application_data\n {3}data 22 bytes "hello from the client\\n"/,
        );
        expect(out).toMatch(
          /S->C application_data len \d+ epoch 1 gen 0 seq \d+ inner application_data\n {3}data 22 bytes "hello from the server\\n"/,
        );
        // After the client's key_update: its second generation of epoch 2.
        expect(out).toMatch(
          /C->S application_data len \d+ epoch 2 gen 1 seq 0 inner application_data\n {3}data 18 bytes "after the updates\\n"/,
        );
        expect(out).toMatch(
          /S->C application_data len \d+ epoch 2 gen 0 seq \d+ inner application_data\n {3}data 25 bytes "server after the updates\\n"/,
        );
        expect(out.match(/alert warning close_notify/g)).toHaveLength(2);
        // Every protected record was opened: none is unreadable, each names its key.
        const records = out.match(/^#\d+ [CS]->[CS] .*$/gm)!;
        for (const record of records) {
          expect(record).toMatch(/ plaintext$| epoch \d+ gen \d+ seq \d+ inner \w+$/);
        }
      }
    },
  );
});

describe('-ciphersuites with -reconnect', { timeout: 60_000 }, () => {
  it('suite 80 resumes five times; decode reads the last capture, which has no client_hello, with its 64-byte master secrets', async () => {
    const server = run(sServer, ['-accept', '127.0.0.1:0', '-ciphersuites', '80', '-quiet']);
    const [, port] = (await server.waitFor(/^ACCEPT 127\.0\.0\.1:(\d+)$/m)) as [string, string];
    const [, pin] = (await server.waitFor(/^PIN ([0-9a-f]+)$/m)) as [string, string];
    const client = run(sClient, [
      '-connect',
      `127.0.0.1:${port}`,
      '-pin',
      pin,
      '-ciphersuites',
      'MLS_256_MLKEM768_CHACHA20POLY1305_SHA384_Ed25519',
      '-reconnect',
      '-keylog',
      file('reconnect-80.keys'),
      '-capture',
      file('reconnect-80.cap'),
    ]);
    await client.waitFor(
      /(?:^Reused, TLSv1\.3, Cipher is TLS_CHACHA20_POLY1305_SHA384\n[\s\S]*){5}/m,
    );
    client.type('on the resumed connection');
    await server.waitFor(/^on the resumed connection$/m);
    client.type('Q');
    expect(await client.exit).toBe(0);
    server.type('Q');
    expect(await server.exit).toBe(0);

    const decoded = new InProcessCli(decode, [
      '-keylog',
      file('reconnect-80.keys'),
      file('reconnect-80.cap.6'),
    ]);
    expect(await decoded.exit).toBe(0);
    expect(decoded.stdout).not.toContain('client_hello');
    expect(decoded.stdout).toMatch(/resumption_accept responder_random [0-9a-f]{64}/);
    expect(decoded.stdout).toContain('data 26 bytes "on the resumed connection\\n"');
  });
});

describe('-ciphersuites listing and usage', { timeout: 120_000 }, () => {
  it('s_client -ciphersuites (no value) and mlstls ciphersuites list all 19 suites with their record AEAD, hash and packages', async () => {
    const listings = [mlstls('s_client', '-ciphersuites'), mlstls('ciphersuites')];
    const [client, command] = listings as [ReturnType<typeof mlstls>, ReturnType<typeof mlstls>];
    for (const cli of listings) expect(await cli.exitCode()).toBe(0);
    expect(command.stdout).toBe(client.stdout);
    const lines = client.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +RECORD \(AEAD, HASH\) +OPTIONAL PACKAGES$/);
    expect(lines).toHaveLength(1 + SUPPORTED_CIPHERSUITES.length);
    expect(SUPPORTED_CIPHERSUITES).toHaveLength(19);
    for (const [i, suite] of SUPPORTED_CIPHERSUITES.entries()) {
      const packages = suite.requires.map((pkg) => `${pkg.name}@${pkg.version}`).join(' ');
      // Every optional package is installed in this workspace.
      const status = packages === '' ? '-' : `installed: ${packages}`;
      expect(lines[i + 1]).toMatch(
        new RegExp(`^ *${suite.id} +${suite.name} +${suite.tlsName} +${escapeRegExp(status)}$`),
      );
    }
  });

  it('an unknown suite, an empty list or a name with a typo is a usage error (exit 2) naming it', async () => {
    const cases = [
      [['s_client', '-ciphersuites', '99'], /-ciphersuites: unknown MLS ciphersuite "99";/],
      [
        ['s_server', '-ciphersuites', '83:MLS_128_NOPE'],
        /-ciphersuites: unknown MLS ciphersuite "MLS_128_NOPE";/,
      ],
      [['s_server', '-ciphersuites', '::'], /-ciphersuites: expected suite ids or names/],
    ] as const;
    await Promise.all(
      cases.map(async ([args, message]) => {
        const cli = mlstls(...args);
        expect(await cli.exitCode()).toBe(2);
        expect(cli.stderr).toMatch(message);
        expect(cli.stderr).toMatch(/without a value lists the 19 supported ones|ids or names/);
        expect(cli.stderr).toMatch(/usage: mlstls s_(client|server) \[options\]/);
        expect(cli.stdout).toBe('');
      }),
    );
  });

  it('s_server -ciphersuites 83:1 accepts either suite; the generated key fits the first suite', async () => {
    const server = run(sServer, ['-accept', '127.0.0.1:0', '-ciphersuites', '83:1', '-quiet']);
    const [, port] = (await server.waitFor(/^ACCEPT 127\.0\.0\.1:(\d+)$/m)) as [string, string];
    const [, pin] = (await server.waitFor(/^PIN ([0-9a-f]+)$/m)) as [string, string];
    expect(pin).toHaveLength(64); // an Ed25519 key, as suite 83 signs
    for (const [offer, name] of [
      ['83:1', 'MLS_256_XWING_AES256GCM_SHA512_Ed25519'], // only the first is offered
      ['1', 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'],
    ]) {
      const client = run(sClient, [
        '-connect',
        `127.0.0.1:${port}`,
        '-pin',
        pin,
        '-ciphersuites',
        offer!,
      ]);
      await client.waitFor(/^Verify return code: 0 \(ok\)$/m);
      expect(client.stdout).toContain(`MLS ciphersuite: ${name}\n`);
      client.type('Q');
      expect(await client.exit).toBe(0);
    }
    // A suite the server does not accept: handshake_failure (docs/protocol.md D18).
    const refused = run(sClient, [
      '-connect',
      `127.0.0.1:${port}`,
      '-pin',
      pin,
      '-ciphersuites',
      '3',
    ]);
    expect(await refused.exit).toBe(1);
    expect(refused.stderr).toMatch(/^ERROR ERR_MLSTLS_ALERT_RECEIVED handshake_failure: /m);
    server.type('Q');
    expect(await server.exit).toBe(0);

    // The first suite decides the generated key: P-521 for 5:1 (133 bytes, uncompressed).
    const p521 = run(sServer, ['-accept', '127.0.0.1:0', '-ciphersuites', '5:1', '-quiet']);
    expect((await p521.waitFor(/^PIN ([0-9a-f]+)$/m))[1]).toHaveLength(2 * 133);
    p521.type('Q');
    expect(await p521.exit).toBe(0);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
