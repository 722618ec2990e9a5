import { MlsTlsError, Writer } from '@mlstls/codec';
import {
  type CryptoProvider,
  type HashAlgorithm,
  hashLength,
  type ProviderChoice,
  resolveProvider,
} from '@mlstls/crypto';

const utf8 = new TextEncoder();
const LABEL_PREFIX = 'tls13 ';
/** The empty context and the empty message list. */
export const EMPTY = new Uint8Array(0);

/** What every derivation takes: the hash and, optionally, the crypto provider. */
export interface HashOptions {
  readonly hash: HashAlgorithm;
  readonly provider?: ProviderChoice;
}

/** RFC 5869 HKDF-Extract: HMAC-Hash(salt, IKM); an empty salt means Nh zero bytes. */
export function hkdfExtract(
  options: HashOptions & { salt: Uint8Array; ikm: Uint8Array },
): Uint8Array {
  const { hash } = options;
  const salt = options.salt.length === 0 ? new Uint8Array(hashLength(hash)) : options.salt;
  return resolveProvider(options.provider).hmac(hash, salt, options.ikm);
}

/** RFC 8446 7.1 HKDF-Expand-Label(Secret, Label, Context, Length). */
export function hkdfExpandLabel(
  options: HashOptions & {
    secret: Uint8Array;
    label: string;
    context?: Uint8Array;
    length: number;
  },
): Uint8Array {
  return expandLabel(
    resolveProvider(options.provider),
    options.hash,
    options.secret,
    options.label,
    options.context ?? EMPTY,
    options.length,
  );
}

/**
 * RFC 8446 7.1 Derive-Secret(Secret, Label, Messages), given Transcript-Hash(Messages). Without
 * `transcriptHash` it is the hash of the empty message list, `Hash("")` (docs/protocol.md section 3).
 */
export function deriveSecret(
  options: HashOptions & { secret: Uint8Array; label: string; transcriptHash?: Uint8Array },
): Uint8Array {
  const provider = resolveProvider(options.provider);
  const { hash } = options;
  return expandLabel(
    provider,
    hash,
    options.secret,
    options.label,
    options.transcriptHash ?? emptyTranscriptHash(provider, hash),
    hashLength(hash),
  );
}

/** `Hash("")`: the transcript hash of the empty message list (docs/protocol.md section 3). */
export function emptyTranscriptHash(provider: CryptoProvider, hash: HashAlgorithm): Uint8Array {
  return provider.digest(hash, EMPTY);
}

/** HKDF-Expand-Label with a resolved provider: the form the rest of this package uses. */
export function expandLabel(
  provider: CryptoProvider,
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  return expand(provider, hash, secret, encodeHkdfLabel(label, context, length), length);
}

/**
 * RFC 8446 7.1 `HkdfLabel`, the info of HKDF-Expand-Label:
 * `struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; }`.
 */
export function encodeHkdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  const fullLabel = utf8.encode(LABEL_PREFIX + label);
  return new Writer(4 + fullLabel.length + context.length)
    .u16(length)
    .opaque(1, fullLabel, 7, 255)
    .opaque(1, context, 0, 255)
    .finish();
}

/** RFC 5869 HKDF-Expand, with one HMAC per output block (faster than hkdfSync in Node). */
function expand(
  provider: CryptoProvider,
  hash: HashAlgorithm,
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const hashSize = hashLength(hash);
  if (!Number.isInteger(length) || length < 0 || length > 255 * hashSize) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `HKDF-Expand length ${length}`);
  }
  if (prk.length < hashSize) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', `HKDF-Expand secret shorter than ${hash}`);
  }
  const first = provider.hmac(hash, prk, info, Uint8Array.of(1));
  if (length === hashSize) return first;
  if (length < hashSize) {
    const out = first.slice(0, length);
    first.fill(0);
    return out;
  }
  const out = new Uint8Array(length);
  out.set(first);
  let block = first;
  for (let counter = 2, at = hashSize; at < length; counter++, at += hashSize) {
    const next = provider.hmac(hash, prk, block, info, Uint8Array.of(counter));
    block.fill(0);
    out.set(next.subarray(0, Math.min(hashSize, length - at)), at);
    block = next;
  }
  block.fill(0);
  return out;
}
