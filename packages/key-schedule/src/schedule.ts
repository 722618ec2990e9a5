import { MlsTlsError } from '@mlstls/codec';
import {
  type AeadAlgorithm,
  aeadParameters,
  type HashAlgorithm,
  hashLength,
  resolveProvider,
} from '@mlstls/crypto';
import { EMPTY, emptyTranscriptHash, expandLabel, type HashOptions } from './hkdf.js';

/** The MLS-Exporter label of `master_secret[e]` (docs/protocol.md section 3). */
export const MASTER_SECRET_EXPORTER_LABEL = 'mlstls master secret';

/** The secrets of one epoch, each `Nh` bytes. */
export interface ApplicationSecrets {
  /** `c_ap_secret[e][0]`: the initiator's sending direction. */
  readonly clientTrafficSecret: Uint8Array;
  /** `s_ap_secret[e][0]`: the responder's sending direction. */
  readonly serverTrafficSecret: Uint8Array;
  /** `exp_master[e]`, for `exportKeyingMaterial`. */
  readonly exporterMasterSecret: Uint8Array;
}

/** The longest MLS KDF output (HKDF-SHA512's). */
const MLS_KDF_NH_MAX = 64;

/**
 * Whether `length` bytes can be `master_secret[e]` of a suite whose record hash is `hash`: `Nh`
 * of its MLS KDF, the hash's own length or, for the post-quantum suites whose KDF is
 * HKDF-SHA512 under a SHA-256 or SHA-384 name, 64 (docs/protocol.md section 3, D93).
 */
export function isMasterSecretLength(hash: HashAlgorithm, length: number): boolean {
  return length === hashLength(hash) || length === MLS_KDF_NH_MAX;
}

/**
 * The epoch derivation of docs/protocol.md section 3: from `master_secret[e]` (the MLS exporter's
 * output), the two traffic secrets of generation 0 and the exporter master secret. The caller
 * erases `masterSecret` once this returns, as the profile asks.
 *
 * `transcriptHash` defaults to `Hash("")`, the profile's empty transcript; the RFC 8448
 * vectors pass the transcript of their TLS handshake instead.
 */
export function deriveApplicationSecrets(
  options: HashOptions & { masterSecret: Uint8Array; transcriptHash?: Uint8Array },
): ApplicationSecrets {
  const provider = resolveProvider(options.provider);
  const { hash, masterSecret } = options;
  const length = hashLength(hash);
  if (!isMasterSecretLength(hash, masterSecret.length)) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      `master secret must be ${length} or ${MLS_KDF_NH_MAX} bytes`,
    );
  }
  const transcriptHash = options.transcriptHash ?? emptyTranscriptHash(provider, hash);
  const derive = (label: string) =>
    expandLabel(provider, hash, masterSecret, label, transcriptHash, length);
  return {
    clientTrafficSecret: derive('c ap traffic'),
    serverTrafficSecret: derive('s ap traffic'),
    exporterMasterSecret: derive('exp master'),
  };
}

/**
 * `X_ap_secret[e][g+1] = HKDF-Expand-Label(X_ap_secret[e][g], "traffic upd", "", Nh)`: the
 * next generation of one direction (RFC 8446 7.2). The caller erases the old secret.
 */
export function nextTrafficSecret(options: HashOptions & { secret: Uint8Array }): Uint8Array {
  const { hash } = options;
  return expandLabel(
    resolveProvider(options.provider),
    hash,
    options.secret,
    'traffic upd',
    EMPTY,
    hashLength(hash),
  );
}

/** A direction's record protection key and IV. */
export interface TrafficKeys {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
}

/** RFC 8446 7.3: `write_key` and `write_iv` of a traffic secret for `aead`. */
export function deriveTrafficKeys(
  options: HashOptions & { aead: AeadAlgorithm; secret: Uint8Array },
): TrafficKeys {
  const provider = resolveProvider(options.provider);
  const { hash, secret } = options;
  const { keyLength, nonceLength } = aeadParameters(options.aead);
  return {
    key: expandLabel(provider, hash, secret, 'key', EMPTY, keyLength),
    iv: expandLabel(provider, hash, secret, 'iv', EMPTY, nonceLength),
  };
}

/**
 * RFC 8446 7.5 TLS-Exporter over `exp_master` of the current epoch:
 * `HKDF-Expand-Label(Derive-Secret(exp_master, label, ""), "exporter", Hash(context), length)`.
 * As in TLS 1.3, an absent context and an empty one give the same output.
 */
export function exportKeyingMaterial(
  options: HashOptions & {
    exporterMasterSecret: Uint8Array;
    label: string;
    context?: Uint8Array;
    length: number;
  },
): Uint8Array {
  const provider = resolveProvider(options.provider);
  const { hash } = options;
  const secret = expandLabel(
    provider,
    hash,
    options.exporterMasterSecret,
    options.label,
    emptyTranscriptHash(provider, hash),
    hashLength(hash),
  );
  try {
    return expandLabel(
      provider,
      hash,
      secret,
      'exporter',
      provider.digest(hash, options.context ?? EMPTY),
      options.length,
    );
  } finally {
    secret.fill(0);
  }
}
