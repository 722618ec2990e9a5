import { X509Certificate } from 'node:crypto';
import {
  type PeerCertificate as NodePeerCertificate,
  checkServerIdentity as nodeCheckServerIdentity,
} from 'node:tls';
import { issueCertificate } from '@mlstls/test-support';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkServerIdentity, describeCertificate, type PeerCertificate } from '../src/index.js';

const certificates: Record<string, { dnsNames?: string[]; ipAddresses?: string[]; cn: string }> = {
  'DNS and IP names': {
    cn: 'localhost',
    dnsNames: ['localhost', '*.example.com'],
    ipAddresses: ['127.0.0.1', '::1', 'fe80::1:2'],
  },
  'a CN only': { cn: 'cn.example.com' },
  'a wildcard CN only': { cn: '*.example.com' },
  'IP names and a CN (node still reads the CN)': {
    cn: 'cn-with-ip.example.com',
    ipAddresses: ['10.0.0.1'],
  },
  'wildcards where they do not belong': {
    cn: 'x',
    dnsNames: ['*.com', 'f*.example.org', 'xn--*.example.net', 'a.*.example.io', '*'],
  },
  'upper case with a trailing dot': { cn: 'x', dnsNames: ['Example.COM.'] },
  'no names at all': { cn: '' },
  'a name node has to quote': { cn: 'x', dnsNames: ['a,b.example', 'good.example'] },
};

const hostnames = [
  'localhost',
  'LOCALHOST',
  'localhost.',
  'a.example.com',
  'A.Example.Com',
  'example.com',
  'example.com.',
  'a.b.example.com',
  '.example.com',
  '127.0.0.1',
  '::1',
  '0:0:0:0:0:0:0:1',
  '::ffff:127.0.0.1',
  'fe80::1:2',
  'FE80:0::1:2',
  'fe80::1:2%eth0',
  '127.0.0.2',
  '127.1',
  '[::1]',
  '',
  'cn.example.com',
  'cn-with-ip.example.com',
  '10.0.0.1',
  'foo.com',
  'fo.example.org',
  'foo.example.org',
  'xn--abc.example.net',
  'a.x.example.io',
  'a,b.example',
  'good.example',
  'x',
];

/**
 * Where this check is deliberately stricter than node's: a wildcard only as a whole label
 * (node also takes 'f*' and so matches 'fo' and 'foo'), and never matching an empty label.
 */
const STRICTER = new Set([
  'wildcards where they do not belong/fo.example.org',
  'wildcards where they do not belong/foo.example.org',
  'DNS and IP names/.example.com',
  'a wildcard CN only/.example.com',
]);

const described: Record<string, PeerCertificate> = {};
const legacy: Record<string, NodePeerCertificate> = {};

beforeAll(async () => {
  for (const [name, { cn, dnsNames, ipAddresses }] of Object.entries(certificates)) {
    const issued = await issueCertificate({
      subject: cn,
      ...(dnsNames === undefined ? {} : { dnsNames }),
      ...(ipAddresses === undefined ? {} : { ipAddresses }),
    });
    described[name] = describeCertificate(issued.der);
    legacy[name] = new X509Certificate(issued.der).toLegacyObject();
  }
});

describe('checkServerIdentity agrees with node:tls checkServerIdentity', () => {
  for (const name of Object.keys(certificates)) {
    it(`for ${name}, on every hostname of the table`, () => {
      const cert = described[name]!;
      for (const hostname of hostnames) {
        const expected = nodeCheckServerIdentity(hostname, cert as unknown as NodePeerCertificate);
        const actual = checkServerIdentity(hostname, cert);
        const row = `${name}/${hostname}`;
        if (STRICTER.has(row)) {
          expect(expected, row).toBeUndefined();
          expect(actual?.code, row).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
          continue;
        }
        expect(actual === undefined, row).toBe(expected === undefined);
        if (expected !== undefined) {
          expect(actual?.code, row).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
          expect(actual?.message, row).toBe(expected.message);
        }
        // node's own certificate object gives the same answer.
        expect(
          checkServerIdentity(hostname, legacy[name] as unknown as PeerCertificate)?.message,
          row,
        ).toBe(actual?.message);
      }
    });
  }

  it('leaves no stricter row unexercised', () => {
    for (const row of STRICTER) {
      const [name, hostname] = row.split('/') as [string, string];
      expect(
        nodeCheckServerIdentity(hostname, described[name] as unknown as NodePeerCertificate),
        row,
      ).toBeUndefined();
    }
  });
});

describe('checkServerIdentity rules', () => {
  it('a wildcard stands for exactly one whole leftmost label', () => {
    const cert = described['DNS and IP names']!;
    expect(checkServerIdentity('a.example.com', cert)).toBeUndefined();
    expect(checkServerIdentity('example.com', cert)?.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
    expect(checkServerIdentity('a.b.example.com', cert)?.code).toBe(
      'ERR_MLSTLS_CERT_ALTNAME_INVALID',
    );
  });

  it('IP literals match IP names only, compared as addresses', () => {
    const cert = described['DNS and IP names']!;
    expect(checkServerIdentity('0:0:0:0:0:0:0:1', cert)).toBeUndefined();
    expect(checkServerIdentity('FE80::1:2', cert)).toBeUndefined();
    expect(checkServerIdentity('127.0.0.2', cert)?.message).toBe(
      "Hostname/IP does not match certificate's altnames: IP: 127.0.0.2 is not in the cert's list: 127.0.0.1, ::1, fe80::1:2",
    );
    // The CN 'localhost' is no IP name, nor is a DNS name that looks like an address.
    const cn = described['a CN only']!;
    expect(checkServerIdentity('127.0.0.1', cn)?.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
  });

  it('an empty hostname never matches', () => {
    for (const cert of Object.values(described)) {
      expect(checkServerIdentity('', cert)?.code).toBe('ERR_MLSTLS_CERT_ALTNAME_INVALID');
    }
  });
});
