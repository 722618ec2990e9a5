import { MlsTlsError } from '@mlstls/codec';
import { decodeBase64 } from './base64.js';
import { type ParsedCertificate, parseCertificate } from './certificate.js';

/** PEM text (one or more CERTIFICATE blocks), a DER certificate, or a list of either. */
export type CertificateInput = string | Uint8Array | readonly (string | Uint8Array)[];

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * The DER body of each PEM block labelled `label` in `text`, in order. Text around the blocks
 * (OpenSSL's "subject=" lines, comments) is ignored, as OpenSSL's PEM reader does; so are
 * blocks of other labels.
 */
export function pemBlocks(text: string, label: string): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  for (const [, found, body] of text.matchAll(PEM_BLOCK)) {
    if (found !== label) continue;
    const der = decodeBase64(body!.replace(/\s+/g, ''), 'pem');
    if (der === undefined || der.length === 0) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `a ${label} PEM block is not base64`);
    }
    blocks.push(der);
  }
  return blocks;
}

/** Whether `bytes` hold PEM text rather than DER: DER opens with a SEQUENCE tag (0x30). */
export function looksLikePem(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] !== 0x30;
}

/**
 * The DER bytes of every certificate in `input`, in order. Junk (no PEM block, bad base64, DER
 * that is not a certificate) throws MlsTlsError ERR_MLSTLS_INVALID_ARGUMENT (a local
 * configuration mistake). A Uint8Array holding PEM text (as node:tls's Buffer `ca` does) is
 * read as PEM. The returned arrays are copies.
 */
export function decodeCertificates(input: CertificateInput): Uint8Array[] {
  return parseCertificates(input).map((certificate) => certificate.der);
}

/** The certificates of `input` parsed, each over its own copy of the bytes. */
export function parseCertificates(input: CertificateInput): ParsedCertificate[] {
  const items = typeof input === 'string' || input instanceof Uint8Array ? [input] : input;
  if (!Array.isArray(items)) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'certificates are PEM text or DER bytes');
  }
  const certificates: ParsedCertificate[] = [];
  for (const item of items) {
    if (typeof item === 'string' || (item instanceof Uint8Array && looksLikePem(item))) {
      const text = typeof item === 'string' ? item : new TextDecoder().decode(item);
      const blocks = pemBlocks(text, 'CERTIFICATE');
      if (blocks.length === 0) {
        throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'no CERTIFICATE PEM block found');
      }
      for (const der of blocks) certificates.push(parsed(der));
    } else if (item instanceof Uint8Array) {
      certificates.push(parsed(item.slice()));
    } else {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        'a certificate is PEM text or DER bytes',
      );
    }
  }
  return certificates;
}

function parsed(der: Uint8Array): ParsedCertificate {
  try {
    return parseCertificate(der);
  } catch (error) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      `not an X.509 certificate: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
