/**
 * The node:tls baseline's certificate for benchmarks whose server and client do not share a
 * `Stack` (separate processes, or a relay between them): the same self-signed Ed25519
 * certificate for 127.0.0.1 as `node-tls-stack.ts` makes, as PEM text that can go to a child
 * process, with the TLS 1.3 settings both ends use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The TLS 1.3 cipher suite with suite 1's AEAD and hash. */
export const TLS_SUITE = 'TLS_AES_128_GCM_SHA256';

/** TLS 1.3 only, TLS_AES_128_GCM_SHA256: the options of both ends' contexts. */
export const TLS13_AES128 = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: TLS_SUITE,
} as const;

interface KeyAndCertificate {
  readonly key: string;
  readonly cert: string;
}

/** A self-signed Ed25519 certificate for 127.0.0.1, valid for one day, made with `openssl`. */
export function ed25519Certificate(): KeyAndCertificate {
  const folder = mkdtempSync(join(tmpdir(), 'mlstls-bench-'));
  try {
    const keyFile = join(folder, 'key.pem');
    const certFile = join(folder, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ed25519',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
