// s_server and s_client as child processes, on 127.0.0.1: lines both ways, U, K and Q, the key
// log, the capture read back by decode, -reconnect, certificates, and the exit codes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testPki } from '@mlstls/test-support';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAll, mlstls, startServer } from './cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'mlstls-cli-'));
const file = (name: string) => join(dir, name);
afterEach(killAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY_LOG_LINE = /^MLSTLS_MASTER_SECRET [0-9a-f]{64} \d+ [0-9a-f]{64}$/;

/** The session of the first test, whose capture and key log the decode tests read. */
let session: Promise<void> | undefined;

function runSession(): Promise<void> {
  session ??= (async () => {
    const { server, port, pin } = await startServer(
      '-keylog',
      file('server.keys'),
      '-capture',
      file('server.cap'),
      '-trace',
    );
    const client = mlstls(
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-pin',
      pin!,
      '-keylog',
      file('client.keys'),
      '-capture',
      file('client.cap'),
    );
    await client.waitFor(/^Verify return code: 0 \(ok\)$/m);
    await client.waitFor(/^EPOCH 1 \(handshake\)$/m);
    await server.waitFor(/^EPOCH 1 \(handshake\)$/m);

    client.type('hello from the client');
    await server.waitFor(/^hello from the client$/m);
    server.type('hello from the server');
    await client.waitFor(/^hello from the server$/m);

    client.type('U');
    await client.waitFor(/^UPDATE: epoch 2$/m);
    await server.waitFor(/^EPOCH 2 \(peer\)$/m);
    server.type('U');
    await server.waitFor(/^UPDATE: epoch 3$/m);
    await client.waitFor(/^EPOCH 3 \(peer\)$/m);
    client.type('K');
    await client.waitFor(/^KEYUPDATE$/m);
    server.type('K');
    await server.waitFor(/^KEYUPDATE$/m);

    client.type('after the updates');
    await server.waitFor(/^after the updates$/m);
    server.type('server after the updates');
    await client.waitFor(/^server after the updates$/m);
    client.type('Q');
    expect(await client.exitCode()).toBe(0);
    await server.waitFor(/^CLOSED$/m);
    // -trace printed the records live, as decode prints them.
    expect(server.stdout).toMatch(/^TRACE #1 C->S handshake len \d+ plaintext$/m);
    expect(server.stdout).toMatch(/^TRACE {4}client_hello suite 1 /m);
    expect(server.stdout).toMatch(/^TRACE {4}data 22 bytes "hello from the client\\n"$/m);
    expect(server.stdout).toMatch(/^TRACE {4}epoch_key_update epoch 3$/m);
    server.type('Q');
    expect(await server.exitCode()).toBe(0);
  })();
  return session;
}

describe('s_server and s_client', { timeout: 60_000 }, () => {
  it('exchange lines; U and K on either side advance both epochs; Q closes with exit code 0', async () => {
    await runSession();
  });

  it('-keylog appends one line per epoch on each side, never printing a secret', async () => {
    await runSession();
    for (const name of ['client.keys', 'server.keys']) {
      const lines = readFileSync(file(name), 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      for (const line of lines) expect(line).toMatch(KEY_LOG_LINE);
    }
  });

  it('decode reads back the plaintext of both directions across the updates and the key updates', async () => {
    await runSession();
    for (const [capture, keys] of [
      ['client.cap', 'client.keys'],
      ['server.cap', 'server.keys'],
    ] as const) {
      const decode = mlstls('decode', '-keylog', file(keys), file(capture));
      expect(await decode.exitCode()).toBe(0);
      const out = decode.stdout;
      expect(out).toMatch(/client_hello suite 1 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519/);
      expect(out).toMatch(/server_hello suite 1/);
      expect(out).toMatch(/connection_update commit group [0-9a-f]{64} epoch 1 \(to 2\)/);
      expect(out).toMatch(/connection_update commit group [0-9a-f]{64} epoch 2 \(to 3\)/);
      expect(out).toMatch(/epoch_key_update epoch 3/);
      expect(out).toMatch(/key_update update_not_requested/);
      expect(out).toContain('data 22 bytes "hello from the client\\n"');
      expect(out).toContain('data 22 bytes "hello from the server\\n"');
      expect(out).toMatch(
        /epoch 3 gen 1 seq 0 inner application_data\n {3}data 18 bytes "after the updates\\n"/,
      );
      expect(out).toContain('"server after the updates\\n"');
      expect(out).toContain('alert warning close_notify');
      // Nothing secret: no master secret of the key log appears.
      for (const line of readFileSync(file(keys), 'utf8').trimEnd().split('\n')) {
        expect(out).not.toContain(line.split(' ')[3]);
      }
    }
  });

  it('decode of a corrupted capture, a cut one or with the wrong key log fails with a typed message and exit code 1', async () => {
    await runSession();
    const capture = readFileSync(file('client.cap'));
    const corrupted = Buffer.from(capture);
    corrupted[corrupted.length - 3]! ^= 0xff; // in the tag of the last record
    writeFileSync(file('corrupted.cap'), corrupted);
    writeFileSync(file('cut.cap'), capture.subarray(0, capture.length - 10));
    writeFileSync(file('garbage.cap'), 'GET / HTTP/1.1\r\n\r\n');
    writeFileSync(
      file('wrong.keys'),
      `MLSTLS_MASTER_SECRET ${'ab'.repeat(32)} 1 ${'cd'.repeat(32)}\n`,
    );
    const cases = [
      ['corrupted.cap', 'client.keys', /ERROR ERR_MLSTLS_BAD_RECORD_MAC bad_record_mac: /],
      ['cut.cap', 'client.keys', /ERROR ERR_MLSTLS_DECODE decode_error: capture: truncated/],
      ['garbage.cap', 'client.keys', /ERROR ERR_MLSTLS_DECODE decode_error: not an mlstls capture/],
      [
        'client.cap',
        'wrong.keys',
        /ERROR ERR_MLSTLS_BAD_RECORD_MAC bad_record_mac: none of the 1 key log line\(s\) of epoch 1 opens it/,
      ],
      [
        'client.cap',
        'corrupted.cap',
        /ERROR ERR_MLSTLS_BAD_RECORD_MAC bad_record_mac: the key log has no line of epoch 1/,
      ],
    ] as const;
    await Promise.all(
      cases.map(async ([capture_, keys, error]) => {
        const decode = mlstls('decode', '-keylog', file(keys), '-in', file(capture_));
        expect(await decode.exitCode()).toBe(1);
        expect(decode.stderr).toMatch(error);
      }),
    );
  });

  it('-reconnect resumes five times (Reused), stays on the last, whose capture decode reads', async () => {
    const { server, port, pin } = await startServer();
    const client = mlstls(
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-pin',
      pin!,
      '-reconnect',
      '-keylog',
      file('reconnect.keys'),
      '-capture',
      file('reconnect.cap'),
    );
    await client.waitFor(/(?:^Reused, TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256\n[\s\S]*){5}/m);
    expect(client.stdout.match(/^New, /gm)).toHaveLength(1);
    expect(client.stdout.match(/^drop connection and then reconnect$/gm)).toHaveLength(5);
    client.type('on the resumed connection');
    await server.waitFor(/^on the resumed connection$/m);
    server.type('answer on it');
    await client.waitFor(/^answer on it$/m);
    client.type('Q');
    expect(await client.exitCode()).toBe(0);
    const decode = mlstls('decode', '-keylog', file('reconnect.keys'), file('reconnect.cap.6'));
    expect(await decode.exitCode()).toBe(0);
    expect(decode.stdout).toMatch(
      /^#1 C->S handshake len \d+ plaintext\n {3}resumption commit group [0-9a-f]{64} epoch 5 \(to 6\)$/m,
    );
    expect(decode.stdout).toMatch(
      /^#2 S->C handshake len 36 plaintext\n {3}resumption_accept responder_random [0-9a-f]{64}$/m,
    );
    expect(decode.stdout).toContain('"on the resumed connection\\n"');
    expect(decode.stdout).toContain('"answer on it\\n"');
    server.kill();
  });

  it('checks an X.509 server with -CAfile; without the anchor it says so, or fails with -verify_return_error', async () => {
    const pki = await testPki();
    writeFileSync(file('server.pem'), pki.server.pem + pki.intermediate.pem);
    writeFileSync(file('server.key'), pki.server.keyPem);
    writeFileSync(file('root.pem'), pki.root.pem);
    writeFileSync(file('other.pem'), pki.client.pem);
    const { server, port } = await startServer(
      '-cert',
      file('server.pem'),
      '-key',
      file('server.key'),
      '-alpn',
      'h2,http/1.1',
    );
    const connectTo = [`-connect`, `localhost:${port}`];
    const trusted = mlstls(
      's_client',
      ...connectTo,
      '-CAfile',
      file('root.pem'),
      '-verify_return_error',
      '-alpn',
      'http/1.1',
    );
    await trusted.waitFor(/^Verify return code: 0 \(ok\)$/m);
    expect(trusted.stdout).toMatch(/^Peer certificate: subject=CN=localhost$/m);
    expect(trusted.stdout).toMatch(/^ALPN protocol: http\/1\.1$/m);
    trusted.type('Q');
    expect(await trusted.exitCode()).toBe(0);

    const untrusted = mlstls('s_client', ...connectTo, '-CAfile', file('other.pem'));
    await untrusted.waitFor(/^Verify return code: ERR_MLSTLS_UNKNOWN_CA /m);
    untrusted.type('Q');
    expect(await untrusted.exitCode()).toBe(0);

    const strict = mlstls(
      's_client',
      ...connectTo,
      '-CAfile',
      file('other.pem'),
      '-verify_return_error',
    );
    expect(await strict.exitCode()).toBe(1);
    expect(strict.stderr).toMatch(/^ERROR ERR_MLSTLS_UNKNOWN_CA unknown_ca: /m);
    server.kill();
  });

  it('exits 2 with the usage on stderr for an unknown flag, a missing value or a bad address', async () => {
    const cases = [
      ['s_client', '-bogus'],
      ['s_server', '-accept'],
      ['s_client', '-connect', 'nowhere'],
      ['decode', 'capture-only'],
      ['no_such_command'],
    ];
    await Promise.all(
      cases.map(async (args) => {
        const cli = mlstls(...args);
        expect(await cli.exitCode()).toBe(2);
        expect(cli.stderr).toMatch(/usage: mlstls/);
        expect(cli.stdout).toBe('');
      }),
    );
  });

  it('s_client exits 1 with an ERROR line when nothing listens', async () => {
    const { server, port } = await startServer();
    server.type('Q');
    expect(await server.exitCode()).toBe(0);
    const client = mlstls('s_client', '-connect', `127.0.0.1:${port}`);
    expect(await client.exitCode()).toBe(1);
    expect(client.stderr).toMatch(
      /^ERROR ERR_MLSTLS_ABORTED user_canceled: the transport failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/m,
    );
  });
});
