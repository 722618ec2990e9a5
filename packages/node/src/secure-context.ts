import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { MlsTlsError } from '@mlstls/codec';
import type { EndpointCredential } from '@mlstls/state-machine';
import {
  type CertificateInput,
  decodeCertificates,
  TrustAnchors,
  x509CredentialFromJwk,
} from '@mlstls/x509';

/** node:tls's `createSecureContext()` options that mlstls reads. */
export interface SecureContextOptions {
  /**
   * The private key of `cert`'s leaf, which is also the MLS signature key: PEM or DER in any
   * form node:crypto reads, or a `KeyObject`. Ed25519 for suites 1 and 3, P-256 for suite 2.
   */
  readonly key?: string | Uint8Array | KeyObject;
  /** The passphrase of an encrypted `key`. */
  readonly passphrase?: string;
  /** The certificate chain, leaf first: PEM text (several blocks), DER, or a list of them. */
  readonly cert?: CertificateInput;
  /**
   * The certificates to trust as anchors, PEM or DER. Default: node:tls's bundled roots
   * (`tls.rootCertificates`) and `NODE_EXTRA_CA_CERTS`'s, as node:tls does.
   */
  readonly ca?: CertificateInput;
}

/**
 * Credentials and trust anchors parsed once, as node:tls's `SecureContext`: pass it as
 * `secureContext` to many `connect()` calls, or give it to an `SNICallback`.
 */
export class MlsTlsSecureContext {
  /** The X.509 credential made of `key` and `cert`, if they were given. */
  readonly credential: EndpointCredential | undefined;
  readonly anchors: TrustAnchors;

  constructor(options: SecureContextOptions = {}) {
    this.credential = x509Credential(options);
    this.anchors = options.ca === undefined ? bundledRoots : TrustAnchors.from(options.ca);
  }
}

/** node:tls's `createSecureContext()`, for mlstls. */
export function createSecureContext(options: SecureContextOptions = {}): MlsTlsSecureContext {
  return new MlsTlsSecureContext(options);
}

/**
 * node:tls's default anchors: its bundled roots and the certificates of the file that
 * `NODE_EXTRA_CA_CERTS` names. Shared by every context, parsed when a peer first presents an
 * X.509 chain: a client that pins basic keys, or a server that asks for no client
 * certificates, never pays for it.
 */
const bundledRoots = TrustAnchors.lazy(() => [...rootCertificates, ...extraCertificates()]);

/** As node does, a file that cannot be read is warned about and ignored. */
function extraCertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [readFileSync(file, 'latin1')];
  } catch (error) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${String(error)}`);
    return [];
  }
}

/**
 * The MLS credential of `key` and `cert`. node:crypto reads the key (any format, encrypted or
 * not) and hands it over as a JWK; the portable part in @mlstls/x509 checks that it is the
 * leaf's key.
 */
function x509Credential(options: SecureContextOptions): EndpointCredential | undefined {
  const { key, cert, passphrase } = options;
  if (key === undefined && cert === undefined) return undefined;
  if (key === undefined || cert === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`key` and `cert` go together');
  }
  let jwk: JsonWebKey;
  try {
    const privateKey =
      typeof key === 'string' || key instanceof Uint8Array
        ? createPrivateKey({
            key:
              typeof key === 'string'
                ? key
                : Buffer.from(key.buffer, key.byteOffset, key.byteLength),
            ...(typeof key === 'string' || looksLikePem(key)
              ? {}
              : { format: 'der', type: 'pkcs8' }),
            ...(passphrase === undefined ? {} : { passphrase }),
          })
        : key;
    jwk = privateKey.export({ format: 'jwk' });
  } catch (error) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`key` could not be read', {
      cause: error,
    });
  }
  return x509CredentialFromJwk(decodeCertificates(cert), jwk);
}

function looksLikePem(bytes: Uint8Array): boolean {
  // '-----' opens every PEM block; DER opens with a SEQUENCE tag (0x30).
  return bytes[0] === 0x2d;
}
