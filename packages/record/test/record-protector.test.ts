import { createDecipheriv } from 'node:crypto';
import { AlertDescription, ContentType, MlsTlsError, RecordLimits } from '@mlstls/codec';
import { deriveTrafficKeys, nextTrafficSecret } from '@mlstls/key-schedule';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AES_GCM_RECORD_LIMIT,
  KEY_UPDATE_MARGIN,
  RecordProtector,
  type RecordProtectorOptions,
} from '../src/index.js';
import { setSequenceNumberForTesting } from '../src/record-protector.js';
import { craftRecord, errorWith, SECRET } from './craft.js';

const aeads = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'] as const;
const providers = ['node', 'noble'] as const;
const contentTypes = [ContentType.alert, ContentType.handshake, ContentType.application_data];

function pair(options: Partial<RecordProtectorOptions> = {}) {
  const full: RecordProtectorOptions = {
    aead: 'aes-128-gcm',
    hash: 'sha256',
    trafficSecret: SECRET,
    ...options,
  };
  return { sealer: new RecordProtector(full), opener: new RecordProtector(full) };
}

/** Content of a given type and size, with padding that keeps the inner plaintext legal. */
const recordInput = fc
  .record({
    contentType: fc.constantFrom(...contentTypes),
    size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 2 ** 14 })),
    paddingShare: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ contentType, size, paddingShare, seed }) => {
    const length = contentType === ContentType.application_data ? size : Math.max(1, size);
    const content = new Uint8Array(length).map((_, i) => (i * 31 + seed) & 0xff);
    const padding = Math.floor((RecordLimits.maxPlaintext - length) * paddingShare * paddingShare);
    return { contentType, content, padding };
  });

describe('RecordProtector round trips', () => {
  for (const provider of providers) {
    for (const aead of aeads) {
      it(`open(seal(x)) == x for any content type, size 0..2^14 and padding (${aead}, ${provider})`, () => {
        const { sealer, opener } = pair({
          aead,
          provider,
          hash: aead === 'aes-128-gcm' ? 'sha256' : 'sha384',
          trafficSecret: new Uint8Array(aead === 'aes-128-gcm' ? 32 : 48).fill(9),
        });
        fc.assert(
          fc.property(recordInput, ({ contentType, content, padding }) => {
            const record = sealer.seal(contentType, content, padding);
            expect(record.length).toBe(5 + content.length + 1 + padding + 16);
            const opened = opener.open(record);
            expect(opened.contentType).toBe(contentType);
            expect(Buffer.from(opened.content).equals(Buffer.from(content))).toBe(true);
          }),
          { numRuns: provider === 'noble' ? 40 : 150 },
        );
      });
    }
  }

  it('the node and noble providers seal identical records', () => {
    const node = pair({ provider: 'node', aead: 'chacha20-poly1305' }).sealer;
    const noble = pair({ provider: 'noble', aead: 'chacha20-poly1305' }).sealer;
    for (const size of [0, 1, 15, 16, 17, 1000, 2 ** 14 - 3]) {
      const content = new Uint8Array(size).fill(size & 0xff);
      expect(Buffer.from(node.seal(ContentType.application_data, content, 3))).toEqual(
        Buffer.from(noble.seal(ContentType.application_data, content, 3)),
      );
    }
  });
});

describe('sealInto', () => {
  it('writes at the offset exactly the record seal would return, and nothing around it', () => {
    fc.assert(
      fc.property(
        recordInput,
        fc.integer({ min: 0, max: 40 }),
        ({ contentType, content, padding }, offset) => {
          const bySeal = pair().sealer.seal(contentType, content, padding);
          const { sealer, opener } = pair();
          const out = new Uint8Array(offset + bySeal.length + 7).fill(0xee);
          const written = sealer.sealInto(out, offset, contentType, content, padding);
          expect(written).toBe(bySeal.length);
          expect(
            Buffer.from(out.subarray(offset, offset + written)).equals(Buffer.from(bySeal)),
          ).toBe(true);
          expect(out.subarray(0, offset).every((b) => b === 0xee)).toBe(true);
          expect(out.subarray(offset + written).every((b) => b === 0xee)).toBe(true);
          expect(opener.open(out.subarray(offset, offset + written)).contentType).toBe(contentType);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses a buffer too small or an offset outside it, and spends no sequence number', () => {
    const { sealer } = pair();
    const content = new Uint8Array(10);
    for (const [size, offset] of [
      [31, 0],
      [32, 1],
      [64, -1],
      [64, 0.5],
      [64, 64],
    ]) {
      expect(() =>
        sealer.sealInto(new Uint8Array(size!), offset!, ContentType.application_data, content),
      ).toThrowError(errorWith('ERR_MLSTLS_INVALID_ARGUMENT', 80));
    }
    expect(sealer.sequenceNumber).toBe(0n);
    expect(sealer.sealInto(new Uint8Array(32), 0, ContentType.application_data, content)).toBe(32);
  });
});

describe('RecordProtector against tampering', () => {
  it('any single flipped bit is bad_record_mac or a header error, never another exception', () => {
    const { sealer } = pair();
    const record = sealer.seal(ContentType.application_data, new Uint8Array(40).fill(1));
    const allowed = new Set([
      'ERR_MLSTLS_BAD_RECORD_MAC',
      'ERR_MLSTLS_DECODE',
      'ERR_MLSTLS_UNEXPECTED_MESSAGE',
      'ERR_MLSTLS_RECORD_OVERFLOW',
    ]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: record.length * 8 - 1 }), (bit) => {
        const tampered = record.slice();
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        const { opener } = pair();
        let error: unknown;
        try {
          opener.open(tampered);
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(MlsTlsError);
        expect(allowed.has((error as MlsTlsError).code)).toBe(true);
        if (bit >= 40) expect((error as MlsTlsError).code).toBe('ERR_MLSTLS_BAD_RECORD_MAC');
      }),
      { numRuns: 400 },
    );
  });

  it('a failed open does not advance the sequence number', () => {
    const { sealer, opener } = pair();
    const record = sealer.seal(ContentType.application_data, Uint8Array.of(1, 2, 3));
    const tampered = record.slice();
    tampered[10]! ^= 0x80;
    expect(() => opener.open(tampered)).toThrowError(errorWith('ERR_MLSTLS_BAD_RECORD_MAC', 20));
    expect(opener.sequenceNumber).toBe(0n);
    expect(opener.open(record).content).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe('hostile protected records', () => {
  const open = (record: Uint8Array) => pair().opener.open(record);

  it('accepts a crafted record, so the cases below fail for their own reason', () => {
    expect(
      open(craftRecord({ inner: Uint8Array.of(7, ContentType.application_data, 0, 0) })).content,
    ).toEqual(Uint8Array.of(7));
  });

  it('an inner plaintext of only zeros is unexpected_message', () => {
    expect(() => open(craftRecord({ inner: new Uint8Array(20) }))).toThrowError(
      errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', AlertDescription.unexpected_message),
    );
  });

  it('a zero-length handshake or alert fragment is unexpected_message', () => {
    for (const type of [ContentType.handshake, ContentType.alert]) {
      expect(() => open(craftRecord({ inner: Uint8Array.of(type, 0, 0) }))).toThrowError(
        errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
      );
    }
  });

  it('zero-length application data is legal', () => {
    const opened = open(craftRecord({ inner: Uint8Array.of(ContentType.application_data) }));
    expect(opened).toEqual({ contentType: 23, content: new Uint8Array(0) });
  });

  it('an unknown inner content type is unexpected_message', () => {
    for (const type of [20, 24, 255]) {
      expect(() => open(craftRecord({ inner: Uint8Array.of(1, type) }))).toThrowError(
        errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10),
      );
    }
  });

  it('an inner plaintext over 2^14 + 1 bytes is record_overflow, padding included', () => {
    const content = new Uint8Array(2 ** 14 + 1).fill(1);
    expect(() =>
      open(craftRecord({ inner: Buffer.concat([content, Uint8Array.of(23)]) })),
    ).toThrowError(errorWith('ERR_MLSTLS_RECORD_OVERFLOW', 22));
    const padded = new Uint8Array(2 ** 14 + 2);
    padded[0] = 23;
    expect(() => open(craftRecord({ inner: padded }))).toThrowError(
      errorWith('ERR_MLSTLS_RECORD_OVERFLOW', 22),
    );
    const largest = new Uint8Array(2 ** 14 + 1).fill(2);
    largest[2 ** 14] = 23;
    expect(open(craftRecord({ inner: largest })).content.length).toBe(2 ** 14);
  });

  it('a record longer than 2^14 + 256 is record_overflow', () => {
    const record = new Uint8Array(5 + 2 ** 14 + 257);
    record.set([23, 3, 3, (2 ** 14 + 257) >> 8, (2 ** 14 + 257) & 0xff]);
    expect(() => open(record)).toThrowError(errorWith('ERR_MLSTLS_RECORD_OVERFLOW', 22));
  });

  it('a legacy_record_version other than 0x0303 on a protected record is decode_error', () => {
    for (const version of [0x0301, 0x0302]) {
      expect(() =>
        open(craftRecord({ inner: Uint8Array.of(1, 23), header: { version } })),
      ).toThrowError(errorWith('ERR_MLSTLS_DECODE', 50));
    }
  });

  it('an outer type other than application_data once keys exist is unexpected_message', () => {
    for (const type of [ContentType.handshake, ContentType.alert]) {
      expect(() =>
        open(craftRecord({ inner: Uint8Array.of(1, 23), header: { type } })),
      ).toThrowError(errorWith('ERR_MLSTLS_UNEXPECTED_MESSAGE', 10));
    }
  });

  it('a truncated record, or one longer than its header says, is decode_error', () => {
    const record = pair().sealer.seal(ContentType.application_data, Uint8Array.of(1));
    for (const cut of [
      record.subarray(0, 3),
      record.subarray(0, record.length - 1),
      Buffer.concat([record, Uint8Array.of(0)]),
    ]) {
      expect(() => open(new Uint8Array(cut))).toThrowError(errorWith('ERR_MLSTLS_DECODE', 50));
    }
  });

  it('a protected record too short to hold a tag and a content type is bad_record_mac', () => {
    const record = Uint8Array.of(23, 3, 3, 0, 16, ...new Uint8Array(16));
    expect(() => open(record)).toThrowError(errorWith('ERR_MLSTLS_BAD_RECORD_MAC', 20));
  });
});

describe('key generations (the "traffic upd" ratchet)', () => {
  it('generation 1 seals with HKDF-Expand-Label(secret, "traffic upd") keys from sequence 0', () => {
    const { sealer } = pair();
    sealer.seal(ContentType.application_data, Uint8Array.of(1));
    sealer.nextGeneration();
    expect([sealer.generation, sealer.sequenceNumber]).toEqual([1, 0n]);
    const record = sealer.seal(ContentType.application_data, Uint8Array.of(0xaa, 0xbb));
    const next = nextTrafficSecret({ hash: 'sha256', secret: SECRET });
    const { key, iv } = deriveTrafficKeys({ hash: 'sha256', aead: 'aes-128-gcm', secret: next });
    const decipher = createDecipheriv('aes-128-gcm', key, iv);
    decipher.setAAD(record.subarray(0, 5));
    decipher.setAuthTag(record.subarray(record.length - 16));
    const inner = Buffer.concat([
      decipher.update(record.subarray(5, record.length - 16)),
      decipher.final(),
    ]);
    expect(inner.toString('hex')).toBe('aabb17');
  });

  it('sealer and opener stay in step across generations; old-generation records fail', () => {
    const { sealer, opener } = pair({ aead: 'chacha20-poly1305' });
    for (let generation = 0; generation < 5; generation++) {
      const stale = sealer.seal(ContentType.application_data, Uint8Array.of(generation));
      expect(opener.open(stale).content).toEqual(Uint8Array.of(generation));
      sealer.nextGeneration();
      const fresh = sealer.seal(ContentType.application_data, Uint8Array.of(generation));
      expect(() => opener.open(fresh)).toThrowError(errorWith('ERR_MLSTLS_BAD_RECORD_MAC', 20));
      opener.nextGeneration();
      expect(opener.open(fresh).content).toEqual(Uint8Array.of(generation));
      sealer.nextGeneration();
      opener.nextGeneration();
    }
  });
});

describe('sequence numbers and AEAD limits', () => {
  it('an AES-GCM key says keyUpdateDue KEY_UPDATE_MARGIN records before 2^24', () => {
    const { sealer } = pair();
    setSequenceNumberForTesting(sealer, BigInt(AES_GCM_RECORD_LIMIT - KEY_UPDATE_MARGIN - 1));
    expect(sealer.keyUpdateDue).toBe(false);
    sealer.seal(ContentType.application_data, new Uint8Array(1));
    expect(sealer.keyUpdateDue).toBe(true);
  });

  it('an AES-GCM key refuses its 2^24th record; the next generation starts again at 0', () => {
    const { sealer } = pair();
    setSequenceNumberForTesting(sealer, BigInt(AES_GCM_RECORD_LIMIT - 1));
    sealer.seal(ContentType.handshake, Uint8Array.of(24, 0, 0, 1, 0));
    expect(() => sealer.seal(ContentType.application_data, new Uint8Array(1))).toThrowError(
      errorWith('ERR_MLSTLS_KEY_EXHAUSTED', 80),
    );
    sealer.nextGeneration();
    expect([sealer.sequenceNumber, sealer.keyUpdateDue]).toEqual([0n, false]);
    sealer.seal(ContentType.application_data, new Uint8Array(1));
  });

  it('a ChaCha20-Poly1305 key uses sequence number 2^64 - 1, then refuses to wrap', () => {
    const { sealer, opener } = pair({ aead: 'chacha20-poly1305' });
    setSequenceNumberForTesting(sealer, 2n ** 64n - 2n);
    setSequenceNumberForTesting(opener, 2n ** 64n - 2n);
    expect(sealer.keyUpdateDue).toBe(true);
    for (let i = 0; i < 2; i++) {
      expect(
        opener.open(sealer.seal(ContentType.application_data, Uint8Array.of(i))).content,
      ).toEqual(Uint8Array.of(i));
    }
    expect(sealer.sequenceNumber).toBe(2n ** 64n);
    expect(() => sealer.seal(ContentType.application_data, new Uint8Array(1))).toThrowError(
      errorWith('ERR_MLSTLS_KEY_EXHAUSTED', 80),
    );
    expect(() => opener.open(craftRecord({ inner: Uint8Array.of(1, 23) }))).toThrowError(
      errorWith('ERR_MLSTLS_KEY_EXHAUSTED', 80),
    );
  });

  it('the nonce carries the high half of the sequence number (2^32 and beyond)', () => {
    const { sealer, opener } = pair();
    const high = pair({ aead: 'chacha20-poly1305' });
    setSequenceNumberForTesting(high.sealer, 2n ** 32n + 5n);
    setSequenceNumberForTesting(high.opener, 5n);
    const record = high.sealer.seal(ContentType.application_data, Uint8Array.of(1));
    expect(() => high.opener.open(record)).toThrowError(errorWith('ERR_MLSTLS_BAD_RECORD_MAC', 20));
    setSequenceNumberForTesting(high.opener, 2n ** 32n + 5n);
    expect(high.opener.open(record).content).toEqual(Uint8Array.of(1));
    expect(
      opener.open(sealer.seal(ContentType.application_data, Uint8Array.of(2))).content,
    ).toEqual(Uint8Array.of(2));
  });
});

describe('misuse is refused', () => {
  it('a protector that sealed cannot open, and one that opened cannot seal', () => {
    const { sealer, opener } = pair();
    const record = sealer.seal(ContentType.application_data, Uint8Array.of(1));
    expect(() => sealer.open(record)).toThrowError(errorWith('ERR_MLSTLS_INVALID_STATE', 80));
    opener.open(record);
    expect(() => opener.seal(ContentType.application_data, Uint8Array.of(1))).toThrowError(
      errorWith('ERR_MLSTLS_INVALID_STATE', 80),
    );
  });

  it('destroy() erases the keys: every later call is refused', () => {
    const { sealer } = pair();
    sealer.destroy();
    expect(() => sealer.seal(ContentType.application_data, Uint8Array.of(1))).toThrowError(
      errorWith('ERR_MLSTLS_INVALID_STATE', 80),
    );
    expect(() => sealer.nextGeneration()).toThrowError(errorWith('ERR_MLSTLS_INVALID_STATE', 80));
  });

  it('the caller keeps its traffic secret: the protector works on a copy', () => {
    const secret = SECRET.slice();
    const { sealer, opener } = pair({ trafficSecret: secret });
    sealer.nextGeneration();
    opener.nextGeneration();
    expect(secret).toEqual(SECRET);
  });

  it('refuses an unknown AEAD or hash and a traffic secret that is not Nh bytes', () => {
    const cases: Partial<RecordProtectorOptions>[] = [
      { aead: 'aes-512-gcm' as 'aes-128-gcm' },
      { aead: 'constructor' as 'aes-128-gcm' },
      { hash: 'md5' as 'sha256' },
      { trafficSecret: new Uint8Array(31) },
      { hash: 'sha384' },
    ];
    for (const options of cases) {
      expect(() => pair(options), JSON.stringify(options)).toThrowError(
        errorWith('ERR_MLSTLS_INVALID_ARGUMENT', 80),
      );
    }
  });

  it('refuses content over 2^14, empty handshake or alert content, bad padding and bad types', () => {
    const { sealer } = pair();
    const cases: [number, Uint8Array, number][] = [
      [23, new Uint8Array(2 ** 14 + 1), 0],
      [23, new Uint8Array(2 ** 14), 1],
      [22, new Uint8Array(0), 0],
      [21, new Uint8Array(0), 0],
      [23, new Uint8Array(1), -1],
      [23, new Uint8Array(1), 0.5],
      [20, new Uint8Array(1), 0],
    ];
    for (const [type, content, padding] of cases) {
      expect(() => sealer.seal(type as ContentType, content, padding)).toThrowError(
        errorWith('ERR_MLSTLS_INVALID_ARGUMENT', 80),
      );
    }
    expect(sealer.sequenceNumber).toBe(0n);
  });
});
