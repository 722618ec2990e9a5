/**
 * Record benchmark: seal+open of one record through RecordProtector against the raw AEAD of the
 * same provider on the same inner plaintext (content + 1 content-type byte) with a 5-byte AAD.
 * Imports the built packages (dist) through their package names.
 *
 *   pnpm bench:record            (from the repository root: builds first)
 *   pnpm bench:record -- --rounds 9 --round-ms 400 --check
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ContentType, RecordLimits } from '@mlstls/codec';
import {
  AEAD_PARAMETERS,
  type AeadAlgorithm,
  isNativeAeadAvailable,
  nodeProvider,
  type ProviderChoice,
} from '@mlstls/crypto';
import { deriveApplicationSecrets } from '@mlstls/key-schedule';
import { KEY_UPDATE_MARGIN, RecordProtector } from '@mlstls/record';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import {
  type Column,
  type CompareOptions,
  type Contender,
  compare,
  formatHead,
  formatRow,
  machineSummary,
  median,
  packageVersion,
  positive,
  type Round,
} from './harness.js';

/**
 * `node`: node:crypto alone (a cipher object per record, the pure JavaScript path); `native`:
 * the node provider's AEAD from `@mlstls/crypto-native`, where it built; `noble`.
 */
type ProviderName = 'node' | 'native' | 'noble';

function providerFor(name: ProviderName): ProviderChoice {
  return name === 'node' ? nodeProvider('node:crypto') : name;
}

const PROVIDERS: readonly ProviderName[] = isNativeAeadAvailable()
  ? ['node', 'native', 'noble']
  : ['node', 'noble'];

type Api = 'seal' | 'sealInto';

interface Case {
  readonly provider: ProviderName;
  readonly aead: AeadAlgorithm;
  /** Content bytes per record. */
  readonly size: number;
  /** `seal` returns a new record; `sealInto` writes into one send buffer the sender reuses. */
  readonly api: Api;
  /** Whether the ratio target applies to this row. */
  readonly target: boolean;
}

/** RecordProtector must reach this fraction of the raw AEAD's throughput on target rows. */
const TARGET_RATIO = 0.9;
const TAG_LENGTH = 16;
const SIZES = [RecordLimits.maxPlaintext, 1024] as const;

const CASES: readonly Case[] = PROVIDERS.flatMap((provider) =>
  (['aes-128-gcm', 'chacha20-poly1305'] as const).flatMap((aead) =>
    SIZES.flatMap((size) =>
      (aead === 'aes-128-gcm' ? (['seal', 'sealInto'] as const) : (['seal'] as const)).map(
        (api) => ({
          provider,
          aead,
          size,
          api,
          target: aead === 'aes-128-gcm' && size === RecordLimits.maxPlaintext,
        }),
      ),
    ),
  ),
);

const { values: args } = parseArgs({
  // `pnpm bench:record -- --rounds 9` may pass the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    rounds: { type: 'string', default: '7' },
    'round-ms': { type: 'string', default: '200' },
    'warmup-ms': { type: 'string', default: '400' },
    'budget-ms': { type: 'string', default: '4000' },
    check: { type: 'boolean', default: false },
  },
});

const rounds = Math.floor(positive('rounds', args.rounds));
const OPTIONS: Omit<CompareOptions, 'itemBytes'> = {
  rounds,
  minRounds: Math.min(3, rounds),
  roundMs: positive('round-ms', args['round-ms']),
  warmupMs: positive('warmup-ms', args['warmup-ms']),
  budgetMs: positive('budget-ms', args['budget-ms']),
};

/** The 5-byte TLSCiphertext header of a record of `contentLength` bytes: the AAD. */
function recordHeader(contentLength: number): Uint8Array {
  const length = contentLength + 1 + TAG_LENGTH;
  return Uint8Array.of(ContentType.application_data, 0x03, 0x03, length >>> 8, length & 0xff);
}

/** A nonce that changes per record, as the record layer's does: a counter in the last 4 bytes. */
function nonceCounter(): { nonce: Uint8Array; next(): Uint8Array } {
  const nonce = new Uint8Array(randomBytes(12));
  const view = new DataView(nonce.buffer);
  let counter = 0;
  return {
    nonce,
    next() {
      view.setUint32(8, counter++ >>> 0);
      return nonce;
    },
  };
}

/**
 * What a raw baseline encrypts: a random key, the inner plaintext of one record (content and
 * its content-type byte), the record header as AAD, and a nonce per record.
 */
function rawInputs(aead: AeadAlgorithm, size: number) {
  const key = new Uint8Array(randomBytes(AEAD_PARAMETERS[aead].keyLength));
  const plaintext = new Uint8Array(randomBytes(size + 1));
  plaintext[size] = ContentType.application_data;
  return { key, plaintext, aad: recordHeader(size), nonces: nonceCounter() };
}

/** node:crypto with no record layer around it: one cipher and one decipher per record. */
function rawNode(aead: AeadAlgorithm, size: number): Contender {
  const algorithm = aead as 'aes-128-gcm';
  const { key, plaintext, aad, nonces } = rawInputs(aead, size);
  const round: Round = (count) => {
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const nonce = nonces.next();
      const cipher = createCipheriv(algorithm, key, nonce, { authTagLength: TAG_LENGTH });
      cipher.setAAD(aad);
      const ciphertext = cipher.update(plaintext);
      cipher.final();
      const tag = cipher.getAuthTag();
      const decipher = createDecipheriv(algorithm, key, nonce, { authTagLength: TAG_LENGTH });
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      const opened = decipher.update(ciphertext);
      decipher.final();
      bytes += opened.length - 1;
    }
    return bytes;
  };
  return { name: `raw node ${aead}`, setup: () => round };
}

/** @noble/ciphers with no record layer around it: one cipher instance per operation. */
function rawNoble(aead: AeadAlgorithm, size: number): Contender {
  const cipher = aead === 'chacha20-poly1305' ? chacha20poly1305 : gcm;
  const { key, plaintext, aad, nonces } = rawInputs(aead, size);
  const round: Round = (count) => {
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const nonce = nonces.next();
      const sealed = cipher(key, nonce, aad).encrypt(plaintext);
      const opened = cipher(key, nonce, aad).decrypt(sealed);
      bytes += opened.length - 1;
    }
    return bytes;
  };
  return { name: `raw noble ${aead}`, setup: () => round };
}

/**
 * A sealer and an opener with the same traffic secret, made anew for each round (outside the
 * timed region). Within a round, both move to the next key generation when `keyUpdateDue`,
 * checked every KEY_UPDATE_MARGIN records so that no key goes past its limit.
 */
function protector(name: ProviderName, aead: AeadAlgorithm, size: number, api: Api): Contender {
  const provider = providerFor(name);
  const hash = aead === 'aes-256-gcm' ? 'sha384' : 'sha256';
  const masterSecret = new Uint8Array(randomBytes(hash === 'sha256' ? 32 : 48));
  const { clientTrafficSecret } = deriveApplicationSecrets({ hash, masterSecret, provider });
  const content = new Uint8Array(randomBytes(size));
  const sendBuffer = new Uint8Array(5 + size + 1 + TAG_LENGTH);
  return {
    name: `RecordProtector.${api} ${name} ${aead}`,
    setup() {
      const options = { aead, hash, trafficSecret: clientTrafficSecret, provider } as const;
      const sealer = new RecordProtector(options);
      const opener = new RecordProtector(options);
      const sealOne =
        api === 'seal'
          ? () => sealer.seal(ContentType.application_data, content)
          : () =>
              sendBuffer.subarray(
                0,
                sealer.sealInto(sendBuffer, 0, ContentType.application_data, content),
              );
      return (count) => {
        let bytes = 0;
        let done = 0;
        while (done < count) {
          if (sealer.keyUpdateDue) {
            sealer.nextGeneration();
            opener.nextGeneration();
          }
          const end = Math.min(count, done + KEY_UPDATE_MARGIN);
          for (; done < end; done++) bytes += opener.open(sealOne()).content.length;
        }
        return bytes;
      };
    },
  };
}

/** One record through each side before any timing: the work measured is the work meant. */
function checkOnce(name: ProviderName, aead: AeadAlgorithm): void {
  const provider = providerFor(name);
  const secret = new Uint8Array(32).fill(7);
  const options = { aead, hash: 'sha256', trafficSecret: secret, provider } as const;
  const content = new Uint8Array(randomBytes(100));
  const record = new RecordProtector(options).seal(ContentType.application_data, content);
  const opened = new RecordProtector(options).open(record);
  if (
    record.length !== 5 + content.length + 1 + TAG_LENGTH ||
    opened.contentType !== ContentType.application_data ||
    Buffer.compare(opened.content, content) !== 0
  ) {
    throw new Error(`RecordProtector ${name} ${aead} did not round-trip`);
  }
}

function sizeLabel(size: number): string {
  return size % 1024 === 0 ? `${size / 1024} KiB` : `${size} B`;
}

const COLUMNS: readonly Column[] = [
  { title: 'provider', width: 8, align: 'left' },
  { title: 'AEAD', width: 17, align: 'left' },
  { title: 'record', width: 6, align: 'right' },
  { title: 'API', width: 8, align: 'left' },
  { title: 'raw MB/s', width: 9, align: 'right' },
  { title: 'RecordProtector MB/s', width: 20, align: 'right' },
  { title: 'ratio', width: 5, align: 'right' },
  { title: 'ratio min-max', width: 13, align: 'right' },
  { title: 'rounds', width: 6, align: 'right' },
  { title: 'records/round', width: 13, align: 'right' },
  { title: 'target', width: 13, align: 'left' },
];

function main(): void {
  const started = process.hrtime.bigint();
  console.log('mlstls record benchmark: seal+open through RecordProtector vs the raw AEAD');
  for (const line of machineSummary()) console.log(line);
  console.log(
    `@noble/ciphers ${packageVersion('@noble/ciphers/aes.js', '@noble/ciphers')}; ` +
      `RecordProtector from ${new URL(import.meta.resolve('@mlstls/record')).pathname}`,
  );
  console.log(
    `Method: ${OPTIONS.warmupMs} ms warm-up per side, then up to ${OPTIONS.rounds} alternating ` +
      `rounds per side of ~${OPTIONS.roundMs} ms (at least ${OPTIONS.minRounds}, ` +
      `${OPTIONS.budgetMs} ms budget per row); medians. MB/s = 10^6 content bytes sealed and ` +
      'opened per second.',
  );
  console.log('');
  console.log(formatHead(COLUMNS));

  const checked = new Set<string>();
  const missed: string[] = [];
  for (const { provider, aead, size, api, target } of CASES) {
    if (!checked.has(provider + aead)) {
      checkOnce(provider, aead);
      checked.add(provider + aead);
    }
    // The native rows compare with node:crypto: what the addon saves over the raw AEAD a
    // JavaScript record layer has on Node.
    const raw = provider === 'noble' ? rawNoble(aead, size) : rawNode(aead, size);
    const result = compare(raw, protector(provider, aead, size, api), {
      ...OPTIONS,
      itemBytes: size,
    });
    const rawMBps = median(result.baseline);
    const protectorMBps = median(result.candidate);
    const ratio = protectorMBps / rawMBps;
    const pairRatios = result.candidate.map((value, i) => value / result.baseline[i]!);
    let verdict = '';
    if (target) {
      const met = ratio >= TARGET_RATIO;
      verdict = `${met ? 'met' : 'MISSED'} (>= ${TARGET_RATIO})`;
      if (!met) missed.push(`${provider} ${aead} ${sizeLabel(size)} ${api}: ${ratio.toFixed(2)}`);
    }
    console.log(
      formatRow(COLUMNS, [
        provider,
        aead,
        sizeLabel(size),
        api,
        rawMBps.toFixed(1),
        protectorMBps.toFixed(1),
        ratio.toFixed(2),
        `${Math.min(...pairRatios).toFixed(2)}-${Math.max(...pairRatios).toFixed(2)}`,
        String(result.baseline.length),
        String(result.count),
        verdict,
      ]),
    );
  }

  console.log('');
  console.log(
    missed.length === 0
      ? `Target met: ratio >= ${TARGET_RATIO} for 16 KiB AES-128-GCM records, both providers and APIs.`
      : `Target MISSED (ratio >= ${TARGET_RATIO} for 16 KiB AES-128-GCM): ${missed.join('; ')}.`,
  );
  console.log(`Total time ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s.`);
  if (args.check && missed.length > 0) process.exitCode = 1;
}

main();
