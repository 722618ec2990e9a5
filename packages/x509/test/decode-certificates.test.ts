import { MlsTlsError } from '@mlstls/codec';
import { type IssuedCertificate, issueCertificate, toPem } from '@mlstls/test-support';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCertificates, TrustAnchors } from '../src/index.js';

let first: IssuedCertificate;
let second: IssuedCertificate;

beforeAll(async () => {
  first = await issueCertificate({ subject: 'first' });
  second = await issueCertificate({ subject: 'second', issuer: first });
});

function invalidArgument(run: () => unknown): MlsTlsError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MlsTlsError);
    expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_INVALID_ARGUMENT');
    return error as MlsTlsError;
  }
  throw new Error('did not throw');
}

describe('decodeCertificates reads PEM and DER, in order', () => {
  it('PEM text with several blocks, text around them, and CRLF line ends', () => {
    const text = `subject=CN = second\r\n${second.pem.replaceAll('\n', '\r\n')}\nissuer=CN = first\n${first.pem}`;
    expect(decodeCertificates(text)).toEqual([second.der, first.der]);
  });

  it('DER bytes, returned as copies', () => {
    const [copy] = decodeCertificates(first.der);
    expect(copy).toEqual(first.der);
    expect(copy).not.toBe(first.der);
  });

  it('a list mixing PEM and DER, and PEM given as bytes (as node:tls takes a Buffer ca)', () => {
    const pemBytes = new TextEncoder().encode(second.pem);
    expect(decodeCertificates([first.der, second.pem, pemBytes])).toEqual([
      first.der,
      second.der,
      second.der,
    ]);
  });

  it('skips PEM blocks of other labels', () => {
    expect(decodeCertificates(`${first.keyPem}${first.pem}`)).toEqual([first.der]);
  });

  it('an empty list is no certificates; TrustAnchors of it has size 0', () => {
    expect(decodeCertificates([])).toEqual([]);
    expect(TrustAnchors.from([]).size).toBe(0);
  });
});

describe('junk is ERR_MLSTLS_INVALID_ARGUMENT, a local configuration mistake', () => {
  it('text without a CERTIFICATE block', () => {
    invalidArgument(() => decodeCertificates('hello'));
    invalidArgument(() => decodeCertificates(''));
    invalidArgument(() => decodeCertificates(first.keyPem));
  });

  it('a block whose body is not base64', () => {
    invalidArgument(() =>
      decodeCertificates('-----BEGIN CERTIFICATE-----\nMII*\n-----END CERTIFICATE-----'),
    );
    // Base64 with the wrong padding.
    invalidArgument(() =>
      decodeCertificates('-----BEGIN CERTIFICATE-----\nMIIB=\n-----END CERTIFICATE-----'),
    );
  });

  it('a block whose DER is not a certificate', () => {
    const error = invalidArgument(() =>
      decodeCertificates(toPem('CERTIFICATE', Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01))),
    );
    expect(error.message).toContain('not an X.509 certificate');
  });

  it('DER that is truncated, has trailing bytes, or is empty', () => {
    invalidArgument(() => decodeCertificates(first.der.subarray(0, 100)));
    invalidArgument(() => decodeCertificates(Uint8Array.of(...first.der, 0)));
    invalidArgument(() => decodeCertificates(new Uint8Array(0)));
  });

  it('anything else in the list', () => {
    invalidArgument(() => decodeCertificates([42 as unknown as string]));
  });

  it('TrustAnchors.from refuses junk the same way', () => {
    invalidArgument(() => TrustAnchors.from('not a certificate'));
  });
});
