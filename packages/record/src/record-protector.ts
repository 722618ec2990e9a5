import { ContentType, LEGACY_RECORD_VERSION, MlsTlsError, RecordLimits } from '@mlstls/codec';
import {
  type AeadAlgorithm,
  type AeadKey,
  aeadParameters,
  type CryptoProvider,
  type HashAlgorithm,
  hashLength,
  type ProviderChoice,
  resolveProvider,
} from '@mlstls/crypto';
import { deriveTrafficKeys, nextTrafficSecret } from '@mlstls/key-schedule';
import { checkContent, decodeRecord, type OpenedRecord } from './record.js';

export interface RecordProtectorOptions {
  readonly aead: AeadAlgorithm;
  readonly hash: HashAlgorithm;
  /** The direction's traffic secret of generation 0. Copied: the caller erases its own copy. */
  readonly trafficSecret: Uint8Array;
  /** `node` (the default where node:crypto exists), `noble`, or a provider of your own. */
  readonly provider?: ProviderChoice;
}

/**
 * Confidentiality limit of one AES-GCM key in records (docs/protocol.md section 3, after RFC 8446
 * 5.5). ChaCha20-Poly1305 keys are limited only by their 2^64 sequence numbers.
 */
export const AES_GCM_RECORD_LIMIT = 2 ** 24;

/** `keyUpdateDue` turns true this many records before a key's limit. */
export const KEY_UPDATE_MARGIN = 2 ** 12;

const TWO_32 = 2 ** 32;
const AES_GCM_LIMIT = [0, AES_GCM_RECORD_LIMIT] as const;
const CHACHA_LIMIT = [TWO_32, 0] as const;
const TAG_LENGTH = 16;
const TYPE_TRAILERS: Readonly<Record<number, Uint8Array>> = {
  [ContentType.alert]: Uint8Array.of(ContentType.alert),
  [ContentType.handshake]: Uint8Array.of(ContentType.handshake),
  [ContentType.application_data]: Uint8Array.of(ContentType.application_data),
};

type Role = 'unused' | 'seal' | 'open' | 'destroyed';

/** The whole record for `content` and `padding`, checked against RFC 8446 5.4's 2^14. */
function recordLength(content: Uint8Array, padding: number): number {
  if (
    !Number.isInteger(padding) ||
    padding < 0 ||
    content.length + padding > RecordLimits.maxPlaintext
  ) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      `padding ${padding} with ${content.length} content bytes exceeds 2^14`,
    );
  }
  return RecordLimits.headerLength + content.length + 1 + padding + TAG_LENGTH;
}

/** The inner content type and its padding, after the content (RFC 8446 5.2). */
function trailerOf(contentType: ContentType, padding: number): Uint8Array {
  if (padding === 0) return TYPE_TRAILERS[contentType]!;
  const trailer = new Uint8Array(1 + padding);
  trailer[0] = contentType;
  return trailer;
}

/** The content and type of an opened TLSInnerPlaintext, checked (see `RecordProtector.open`). */
function innerPlaintext(plaintext: Uint8Array | undefined): OpenedRecord {
  if (plaintext === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_BAD_RECORD_MAC', 'record failed to authenticate');
  }
  if (plaintext.length > RecordLimits.maxPlaintext + 1) {
    throw new MlsTlsError(
      'ERR_MLSTLS_RECORD_OVERFLOW',
      `inner plaintext of ${plaintext.length} bytes`,
    );
  }
  let end = plaintext.length - 1;
  while (end >= 0 && plaintext[end] === 0) end--;
  if (end < 0) {
    throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', 'inner plaintext of only zeros');
  }
  const contentType = plaintext[end]! as ContentType;
  const content = plaintext.subarray(0, end);
  checkContent(contentType, content, 'peer');
  return { contentType, content };
}

/**
 * One nonce buffer per length for every protector of the process: a nonce is written and used
 * within one synchronous `seal` or `open` (the providers copy it before they return), so an
 * idle connection keeps none of its own (four per connection otherwise).
 */
const NONCES = new Map<number, Uint8Array>();

function sharedNonce(length: number): Uint8Array {
  let nonce = NONCES.get(length);
  if (nonce === undefined) {
    nonce = new Uint8Array(length);
    NONCES.set(length, nonce);
  }
  return nonce;
}

let setSequence: (protector: RecordProtector, sequenceNumber: bigint) => void;

/**
 * One direction's record protection (RFC 8446 5.2, 5.3): its traffic secret, key, IV and
 * 64-bit sequence number. A protector either seals or opens, never both: the first call fixes
 * its direction.
 *
 * The sequence number starts at 0 for each key and never wraps. A sealing protector refuses to
 * go past the key's limit (`ERR_MLSTLS_KEY_EXHAUSTED`) and says `keyUpdateDue` when the limit
 * is near, so that the layer above sends key_update in time.
 */
export class RecordProtector {
  readonly aead: AeadAlgorithm;
  readonly hash: HashAlgorithm;
  readonly #provider: CryptoProvider;
  #secret: Uint8Array;
  #key: AeadKey;
  #iv: Uint8Array;
  /** The nonce of the record being sealed or opened: `NONCES`, shared (see there). */
  readonly #nonce: Uint8Array;
  // The sequence number as two 32-bit halves: exact to 2^64 and cheap to XOR into the nonce.
  #sequenceHigh = 0;
  #sequenceLow = 0;
  #generation = 0;
  #role: Role = 'unused';

  constructor(options: RecordProtectorOptions) {
    const { aead, hash, trafficSecret } = options;
    const { nonceLength } = aeadParameters(aead);
    if (trafficSecret.length !== hashLength(hash)) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        `a ${hash} traffic secret is ${hashLength(hash)} bytes, not ${trafficSecret.length}`,
      );
    }
    this.aead = aead;
    this.hash = hash;
    this.#provider = resolveProvider(options.provider);
    this.#secret = trafficSecret.slice();
    this.#nonce = sharedNonce(nonceLength);
    const { key, iv } = deriveTrafficKeys({
      hash,
      aead,
      secret: this.#secret,
      provider: this.#provider,
    });
    this.#key = this.#provider.aeadKey(aead, key);
    key.fill(0);
    this.#iv = iv;
  }

  /** The `traffic upd` generation of the current key: 0 for the epoch's first. */
  get generation(): number {
    return this.#generation;
  }

  /** The sequence number the next record will use. */
  get sequenceNumber(): bigint {
    return (BigInt(this.#sequenceHigh) << 32n) | BigInt(this.#sequenceLow);
  }

  /**
   * True once the key is within `KEY_UPDATE_MARGIN` records of its limit: the sender must
   * send key_update (and then call `nextGeneration()`) before more application data.
   */
  get keyUpdateDue(): boolean {
    const [limitHigh, limitLow] = this.#sealLimit();
    let softHigh = limitHigh;
    let softLow = limitLow - KEY_UPDATE_MARGIN;
    if (softLow < 0) {
      softLow += TWO_32;
      softHigh -= 1;
    }
    return this.#reached(softHigh, softLow);
  }

  /**
   * Protects one record: `content` (at most 2^14 bytes, with `padding` zero bytes after the
   * content type, RFC 8446 5.4) becomes a whole TLSCiphertext, header included.
   */
  seal(contentType: ContentType, content: Uint8Array, padding = 0): Uint8Array {
    const record = new Uint8Array(recordLength(content, padding));
    this.sealInto(record, 0, contentType, content, padding);
    return record;
  }

  /**
   * `seal`, written into `out` at `offset` instead of a new array: for a sender that reuses its
   * send buffer once the transport has taken the bytes (the record is
   * `5 + content.length + 1 + padding + 16` bytes). Returns the record's length.
   */
  sealInto(
    out: Uint8Array,
    offset: number,
    contentType: ContentType,
    content: Uint8Array,
    padding = 0,
  ): number {
    const total = this.#startSeal(out, offset, contentType, content, padding);
    this.#key.seal(...this.#sealArguments(out, offset, contentType, content, padding));
    this.#advance();
    return total;
  }

  /**
   * True when the key seals and opens asynchronously (the WebCrypto provider): then
   * `sealIntoAsync` and `openAsync` let several records be in flight at once.
   */
  get asynchronous(): boolean {
    return this.#key.sealAsync !== undefined && this.#key.openAsync !== undefined;
  }

  /**
   * `sealInto`, asynchronously. The record's sequence number is taken now, so records are
   * numbered in the order of the calls whenever they finish, and a key change afterwards does
   * not reach them (they are sealed under the key of the call). `out` holds the record
   * (`5 + content.length + 1 + padding + 16` bytes) once the promise resolves; `content` may
   * change as soon as this returns.
   */
  sealIntoAsync(
    out: Uint8Array,
    offset: number,
    contentType: ContentType,
    content: Uint8Array,
    padding = 0,
  ): Promise<void> {
    const key = this.#key;
    if (key.sealAsync === undefined) {
      this.sealInto(out, offset, contentType, content, padding);
      return Promise.resolve();
    }
    this.#startSeal(out, offset, contentType, content, padding);
    const sealed = key.sealAsync(
      ...this.#sealArguments(out, offset, contentType, content, padding),
    );
    this.#advance();
    return sealed;
  }

  /** What `AeadKey.seal` and `sealAsync` take for the record at `offset` of `out`. */
  #sealArguments(
    out: Uint8Array,
    offset: number,
    contentType: ContentType,
    content: Uint8Array,
    padding: number,
  ): [Uint8Array, Uint8Array, Uint8Array[], Uint8Array, number] {
    return [
      this.#nextNonce(),
      out.subarray(offset, offset + RecordLimits.headerLength),
      [content, trailerOf(contentType, padding)],
      out,
      offset + RecordLimits.headerLength,
    ];
  }

  /** Checks a record to seal and writes its header; returns the record's whole length. */
  #startSeal(
    out: Uint8Array,
    offset: number,
    contentType: ContentType,
    content: Uint8Array,
    padding: number,
  ): number {
    this.#use('seal');
    checkContent(contentType, content);
    const total = recordLength(content, padding);
    if (!Number.isInteger(offset) || offset < 0 || offset + total > out.length) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        `a record of ${total} bytes does not fit at ${offset} of ${out.length}`,
      );
    }
    const [limitHigh, limitLow] = this.#sealLimit();
    if (this.#reached(limitHigh, limitLow)) {
      throw new MlsTlsError(
        'ERR_MLSTLS_KEY_EXHAUSTED',
        `${this.aead} key used for its limit of records; key_update was due`,
      );
    }
    const length = total - RecordLimits.headerLength;
    out[offset] = ContentType.application_data;
    out[offset + 1] = LEGACY_RECORD_VERSION >>> 8;
    out[offset + 2] = LEGACY_RECORD_VERSION & 0xff;
    out[offset + 3] = length >>> 8;
    out[offset + 4] = length & 0xff;
    return total;
  }

  /**
   * Opens one whole TLSCiphertext (as `RecordFramer` yields them). Throws `MlsTlsError`:
   * `bad_record_mac` when it does not authenticate (the connection must then close),
   * `unexpected_message` for another outer type or an inner plaintext of only zeros,
   * `record_overflow` for an inner plaintext over 2^14 + 1 bytes, `decode_error` for a
   * legacy_record_version other than 0x0303 or a length that does not match the header.
   */
  open(record: Uint8Array): OpenedRecord {
    this.#startOpen(record);
    const plaintext = this.#key.open(
      this.#nextNonce(),
      record.subarray(0, RecordLimits.headerLength),
      record.subarray(RecordLimits.headerLength),
    );
    if (plaintext !== undefined) this.#advance();
    return innerPlaintext(plaintext);
  }

  /**
   * `open`, asynchronously, with the same errors (a rejection). The sequence number is taken
   * now, as in `sealIntoAsync`: records opened one after another may be in flight together.
   * Once the key changes (`nextGeneration`), the results of records opened before are those of
   * the old key: a caller that opened ahead of a key_update opens those records again.
   */
  openAsync(record: Uint8Array): Promise<OpenedRecord> {
    const key = this.#key;
    if (key.openAsync === undefined) return Promise.resolve(this.open(record));
    this.#startOpen(record);
    const opened = key.openAsync(
      this.#nextNonce(),
      record.subarray(0, RecordLimits.headerLength),
      record.subarray(RecordLimits.headerLength),
    );
    this.#advance();
    return opened.then(innerPlaintext);
  }

  /** The checks of a record before it is opened (see `open`). */
  #startOpen(record: Uint8Array): void {
    this.#use('open');
    const header = decodeRecord(record);
    if (header.contentType !== ContentType.application_data) {
      throw new MlsTlsError(
        'ERR_MLSTLS_UNEXPECTED_MESSAGE',
        `record of outer type ${header.contentType} once keys are in use`,
      );
    }
    if (header.legacyVersion !== LEGACY_RECORD_VERSION) {
      throw new MlsTlsError(
        'ERR_MLSTLS_DECODE',
        `protected record with legacy_record_version 0x${header.legacyVersion.toString(16)}`,
      );
    }
    if (this.#sequenceHigh === TWO_32) {
      throw new MlsTlsError('ERR_MLSTLS_KEY_EXHAUSTED', 'peer used every sequence number of a key');
    }
    if (header.length < TAG_LENGTH + 1) {
      throw new MlsTlsError('ERR_MLSTLS_BAD_RECORD_MAC', 'protected record too short for a tag');
    }
  }

  /**
   * Moves to the next `traffic upd` generation (RFC 8446 7.2): new key and IV, sequence number
   * 0. The old secret, key and IV are erased at once (docs/protocol.md section 3).
   */
  nextGeneration(): void {
    if (this.#role === 'destroyed') {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'RecordProtector used after destroy()');
    }
    const next = nextTrafficSecret({
      hash: this.hash,
      secret: this.#secret,
      provider: this.#provider,
    });
    this.#erase();
    this.#secret = next;
    const { key, iv } = deriveTrafficKeys({
      hash: this.hash,
      aead: this.aead,
      secret: next,
      provider: this.#provider,
    });
    this.#key = this.#provider.aeadKey(this.aead, key);
    key.fill(0);
    this.#iv = iv;
    this.#sequenceHigh = 0;
    this.#sequenceLow = 0;
    this.#generation++;
  }

  /** Erases the secret, key and IV. The protector cannot be used afterwards. */
  destroy(): void {
    if (this.#role === 'destroyed') return;
    this.#erase();
    this.#role = 'destroyed';
  }

  static {
    setSequence = (protector, sequenceNumber) => {
      protector.#sequenceHigh = Number(sequenceNumber >> 32n);
      protector.#sequenceLow = Number(sequenceNumber & 0xffffffffn);
    };
  }

  #erase(): void {
    this.#secret.fill(0);
    this.#key.destroy();
    this.#iv.fill(0);
  }

  #use(role: 'seal' | 'open'): void {
    if (this.#role === role) return;
    if (this.#role === 'unused') {
      this.#role = role;
      return;
    }
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_STATE',
      this.#role === 'destroyed'
        ? 'RecordProtector used after destroy()'
        : `RecordProtector made to ${this.#role} cannot ${role}: one protector per direction`,
    );
  }

  /** The first sequence number a sealing key may not use, as [high, low] halves. */
  #sealLimit(): readonly [number, number] {
    return this.aead === 'chacha20-poly1305' ? CHACHA_LIMIT : AES_GCM_LIMIT;
  }

  #reached(high: number, low: number): boolean {
    return this.#sequenceHigh > high || (this.#sequenceHigh === high && this.#sequenceLow >= low);
  }

  #advance(): void {
    if (++this.#sequenceLow === TWO_32) {
      this.#sequenceLow = 0;
      this.#sequenceHigh++;
    }
  }

  /** RFC 8446 5.3: the IV XOR the sequence number, left-padded to the nonce length. */
  #nextNonce(): Uint8Array {
    const nonce = this.#nonce;
    const iv = this.#iv;
    const n = nonce.length;
    nonce.set(iv);
    const high = this.#sequenceHigh;
    const low = this.#sequenceLow;
    nonce[n - 8] = iv[n - 8]! ^ (high >>> 24);
    nonce[n - 7] = iv[n - 7]! ^ ((high >>> 16) & 0xff);
    nonce[n - 6] = iv[n - 6]! ^ ((high >>> 8) & 0xff);
    nonce[n - 5] = iv[n - 5]! ^ (high & 0xff);
    nonce[n - 4] = iv[n - 4]! ^ (low >>> 24);
    nonce[n - 3] = iv[n - 3]! ^ ((low >>> 16) & 0xff);
    nonce[n - 2] = iv[n - 2]! ^ ((low >>> 8) & 0xff);
    nonce[n - 1] = iv[n - 1]! ^ (low & 0xff);
    return nonce;
  }
}

/**
 * Test access: moves a protector's sequence number, so that exhaustion can be checked without
 * sealing 2^24 records. Not exported from the package.
 */
export function setSequenceNumberForTesting(protector: RecordProtector, value: bigint): void {
  setSequence(protector, value);
}
