import { MlsTlsError } from '@mlstls/codec';
import type { EndpointCredential } from '@mlstls/state-machine';
import type { SharedOptions } from '@mlstls/streams';
import { loadX509Credential, TrustAnchors } from '@mlstls/x509';

/**
 * What `connect()` and `listen()` both take: `Deno.connectTls`'s and `Deno.listenTls`'s
 * certificate options (PEM text), and the options of `@mlstls/streams` but `ca`.
 */
export interface DenoSharedOptions extends Omit<SharedOptions, 'ca' | 'provider'> {
  /**
   * The crypto: `'webcrypto'` (the default where `crypto.subtle` exists, as it does in every
   * Deno: records several at a time, MLS suites 1, 2, 5 and 7 on WebCrypto) or `'noble'` (pure
   * JavaScript), or a provider of your own. Deno's node:crypto (`'node'`) works but seals
   * records at about a fifth of WebCrypto's speed. `HandshakeInfo.crypto` says which MLS
   * implementation ran.
   */
  readonly provider?: SharedOptions['provider'];
  /**
   * This end's certificate chain, leaf first, PEM. Its leaf's key is the MLS signature key:
   * Ed25519 for suites 1 and 3, P-256 for suite 2.
   */
  readonly cert?: string;
  /** The private key of `cert`'s leaf: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly key?: string;
  /**
   * The certificates to trust, PEM, as `Deno.connectTls`'s `caCerts`. Default: the Mozilla
   * roots of Deno's node:tls (`rootCertificates`), parsed when a peer first presents a chain.
   */
  readonly caCerts?: readonly string[];
}

/** The trust anchors of `caCerts`, or the bundled roots. */
export function anchorsOf(options: DenoSharedOptions): TrustAnchors {
  return options.caCerts === undefined ? bundledRoots : TrustAnchors.from([...options.caCerts]);
}

/** node:tls's `rootCertificates`, which Deno bundles; none where there is no node:tls. */
const bundledRoots = TrustAnchors.lazy(() => {
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
    .process;
  const tls = process?.getBuiltinModule?.('node:tls') as
    | { rootCertificates?: readonly string[] }
    | undefined;
  return [...(tls?.rootCertificates ?? [])];
});

/**
 * This end's credential: `credential`, or the X.509 one of `cert` and `key` (read by
 * @mlstls/x509 through WebCrypto), or none.
 */
export async function credentialOf(
  options: DenoSharedOptions,
): Promise<EndpointCredential | undefined> {
  const { cert, key, credential } = options;
  if (cert === undefined && key === undefined) return credential;
  if (cert === undefined || key === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', '`cert` and `key` go together');
  }
  if (credential !== undefined) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      '`credential` and `cert`/`key` both name this end: give one',
    );
  }
  return loadX509Credential({ cert, key });
}
