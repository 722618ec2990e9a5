// Checks against independent implementations: RFC 5869 HKDF written out with createHmac here,
// node:crypto's own hkdfSync, and the exporter of a real node:tls TLS 1.3 connection.
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deriveApplicationSecrets,
  deriveTrafficKeys,
  encodeHkdfLabel,
  exportKeyingMaterial,
  hkdfExpandLabel,
  hkdfExtract,
  nextTrafficSecret,
} from '../src/index.js';

type Hash = 'sha256' | 'sha384' | 'sha512';
const hashes: Hash[] = ['sha256', 'sha384', 'sha512'];
const lengths = { sha256: 32, sha384: 48, sha512: 64 };

/** RFC 5869 2.3 HKDF-Expand, written out. */
function referenceExpand(hash: Hash, prk: Uint8Array, info: Uint8Array, length: number) {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = createHmac(hash, prk)
      .update(Buffer.concat([previous, info, Buffer.of(i)]))
      .digest();
    blocks.push(previous);
  }
  return new Uint8Array(Buffer.concat(blocks).subarray(0, length));
}

describe('HKDF against independent implementations', () => {
  it('HKDF-Expand-Label matches RFC 5869 written out, for any secret, label and length', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...hashes),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 40 }).filter((s) => /^[ -~]+$/.test(s)),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 600 }),
        fc.constantFrom('node', 'noble') as fc.Arbitrary<'node' | 'noble'>,
        (hash, secretBytes, label, context, length, provider) => {
          const secret = secretBytes.subarray(0, lengths[hash]);
          const expected = referenceExpand(
            hash,
            secret,
            encodeHkdfLabel(label, context, length),
            length,
          );
          const actual = hkdfExpandLabel({ hash, secret, label, context, length, provider });
          expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('extract then expand equals node:crypto hkdfSync', () => {
    for (const hash of hashes) {
      const salt = new Uint8Array(lengths[hash]).fill(7);
      const ikm = new Uint8Array(40).fill(9);
      const info = encodeHkdfLabel('traffic upd', new Uint8Array(0), lengths[hash]);
      const prk = hkdfExtract({ hash, salt, ikm });
      expect(Buffer.from(referenceExpand(hash, prk, info, lengths[hash]))).toEqual(
        Buffer.from(hkdfSync(hash, ikm, salt, info, lengths[hash])),
      );
      expect(
        Buffer.from(
          hkdfExpandLabel({ hash, secret: prk, label: 'traffic upd', length: lengths[hash] }),
        ),
      ).toEqual(Buffer.from(hkdfSync(hash, ikm, salt, info, lengths[hash])));
    }
  });

  it('the "traffic upd" ratchet is HKDF-Expand-Label(secret, "traffic upd", "", Nh)', () => {
    for (const hash of hashes) {
      const secret = new Uint8Array(lengths[hash]).fill(3);
      const info = encodeHkdfLabel('traffic upd', new Uint8Array(0), lengths[hash]);
      expect(Buffer.from(nextTrafficSecret({ hash, secret }))).toEqual(
        Buffer.from(referenceExpand(hash, secret, info, lengths[hash])),
      );
    }
  });

  it('derives AES-256-GCM and ChaCha20-Poly1305 keys of 32 bytes and 12-byte IVs', () => {
    const secret = new Uint8Array(48).fill(1);
    for (const aead of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      const { key, iv } = deriveTrafficKeys({ hash: 'sha384', aead, secret });
      expect([key.length, iv.length]).toEqual([32, 12]);
      expect(Buffer.from(key)).toEqual(
        Buffer.from(
          referenceExpand('sha384', secret, encodeHkdfLabel('key', new Uint8Array(0), 32), 32),
        ),
      );
    }
  });

  it('the profile epoch derivation defaults to the transcript hash of nothing, Hash("")', () => {
    const masterSecret = new Uint8Array(32).fill(5);
    const empty = createHashOf('sha256', new Uint8Array(0));
    const implicit = deriveApplicationSecrets({ hash: 'sha256', masterSecret });
    const explicit = deriveApplicationSecrets({
      hash: 'sha256',
      masterSecret,
      transcriptHash: empty,
    });
    expect(Buffer.from(implicit.clientTrafficSecret)).toEqual(
      Buffer.from(explicit.clientTrafficSecret),
    );
    expect(Buffer.from(implicit.serverTrafficSecret)).not.toEqual(
      Buffer.from(implicit.clientTrafficSecret),
    );
  });

  it('takes a 64-byte master secret under SHA-256 and SHA-384, the post-quantum suites whose MLS KDF is HKDF-SHA512 (D93)', () => {
    const masterSecret = new Uint8Array(64).fill(7);
    for (const hash of ['sha256', 'sha384'] as const) {
      const secrets = deriveApplicationSecrets({ hash, masterSecret });
      const nh = hash === 'sha256' ? 32 : 48;
      expect(secrets.clientTrafficSecret.length).toBe(nh);
      const info = encodeHkdfLabel('c ap traffic', createHashOf(hash, new Uint8Array(0)), nh);
      expect(Buffer.from(secrets.clientTrafficSecret)).toEqual(
        Buffer.from(referenceExpand(hash, masterSecret, info, nh)),
      );
    }
  });

  it('refuses a hash or an AEAD the profile does not use, with a typed error', () => {
    expect(() =>
      deriveApplicationSecrets({ hash: 'md5' as Hash, masterSecret: new Uint8Array(16) }),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }));
    expect(() =>
      deriveTrafficKeys({
        hash: 'sha256',
        aead: 'rc4' as 'aes-128-gcm',
        secret: new Uint8Array(32),
      }),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }));
  });

  it('refuses a master secret of the wrong length and an output too long for HKDF', () => {
    expect(() =>
      deriveApplicationSecrets({ hash: 'sha384', masterSecret: new Uint8Array(32) }),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }));
    expect(() =>
      deriveApplicationSecrets({ hash: 'sha256', masterSecret: new Uint8Array(48) }),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }));
    expect(() =>
      hkdfExpandLabel({
        hash: 'sha256',
        secret: new Uint8Array(32),
        label: 'x',
        length: 255 * 32 + 1,
      }),
    ).toThrowError(expect.objectContaining({ code: 'ERR_MLSTLS_INVALID_ARGUMENT' }));
  });
});

function createHashOf(hash: Hash, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(hash).update(data).digest());
}

describe('RFC 8446 7.5 exporter against node:tls', () => {
  it('exportKeyingMaterial equals a real TLS 1.3 connection, from its EXPORTER_SECRET', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlstls-exporter-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-subj',
          '/CN=localhost',
          '-days',
          '1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      const key = readFileSync(join(dir, 'key.pem'));
      const cert = readFileSync(join(dir, 'cert.pem'));
      for (const cipher of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'] as const) {
        const hash: Hash = cipher.endsWith('SHA384') ? 'sha384' : 'sha256';
        const { exporterSecret, socket } = await connectTls(key, cert, cipher);
        const context = new Uint8Array([1, 2, 3]);
        for (const [label, ctx, length] of [
          ['EXPERIMENTAL mlstls', context, 32],
          ['EXPERIMENTAL other', undefined, 77],
        ] as const) {
          // RFC 8446 7.5 hashes an absent context as an empty one; node:tls does the same.
          const expected = socket.exportKeyingMaterial(length, label, Buffer.from(ctx ?? []));
          const actual = exportKeyingMaterial({
            hash,
            exporterMasterSecret: exporterSecret,
            label,
            length,
            ...(ctx ? { context: ctx } : {}),
          });
          expect(Buffer.from(actual).toString('hex'), `${cipher} ${label}`).toBe(
            expected.toString('hex'),
          );
        }
        socket.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function connectTls(
  key: Buffer,
  cert: Buffer,
  cipher: string,
): Promise<{ exporterSecret: Uint8Array; socket: tls.TLSSocket }> {
  const server = tls.createServer({ key, cert, minVersion: 'TLSv1.3', ciphers: cipher }, (s) => {
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const lines: string[] = [];
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca: cert,
    servername: 'localhost',
    ciphers: cipher,
  });
  socket.on('keylog', (line) => lines.push(line.toString()));
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  expect(socket.getCipher().standardName).toBe(cipher);
  server.close();
  const line = lines.find((l) => l.startsWith('EXPORTER_SECRET '));
  if (!line) throw new Error('no EXPORTER_SECRET in the key log');
  return {
    exporterSecret: Uint8Array.from(Buffer.from(line.trim().split(' ')[2]!, 'hex')),
    socket,
  };
}
