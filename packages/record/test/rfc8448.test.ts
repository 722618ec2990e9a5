// RFC 8448 section 3 (Simple 1-RTT Handshake) through the mlstls key schedule and record layer:
// the profile's derivations are RFC 8446's, so the RFC's values must come out byte for byte.
import { readFileSync } from 'node:fs';
import type { ContentType } from '@mlstls/codec';
import { isNativeAeadAvailable, nodeProvider, type ProviderChoice } from '@mlstls/crypto';
import { deriveApplicationSecrets } from '@mlstls/key-schedule';
import { describe, expect, it } from 'vitest';
import { RecordProtector } from '../src/index.js';

interface VectorRecord {
  name: string;
  sender: 'client' | 'server';
  seq: number;
  content_type: number;
  plaintext: string;
  record: string;
}

const vectors = JSON.parse(
  readFileSync(new URL('../../../vectors/rfc8448-simple-1rtt.json', import.meta.url), 'utf8'),
) as { master_secret: string; transcript_hash_server_finished: string; records: VectorRecord[] };

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

/** node:crypto alone, @mlstls/crypto-native's AEAD (where it built), @noble. */
const providers: [string, ProviderChoice][] = [
  ['node:crypto', nodeProvider('node:crypto')],
  ...(isNativeAeadAvailable() ? [['native', 'native'] as [string, ProviderChoice]] : []),
  ['noble', 'noble'],
];

for (const [name, provider] of providers) {
  describe(`RFC 8448 simple 1-RTT records with the ${name} provider`, () => {
    const secrets = () =>
      deriveApplicationSecrets({
        hash: 'sha256',
        masterSecret: hex(vectors.master_secret),
        transcriptHash: hex(vectors.transcript_hash_server_finished),
        provider,
      });
    const protector = (sender: 'client' | 'server') =>
      new RecordProtector({
        aead: 'aes-128-gcm',
        hash: 'sha256',
        trafficSecret:
          sender === 'client' ? secrets().clientTrafficSecret : secrets().serverTrafficSecret,
        provider,
      });

    for (const sender of ['client', 'server'] as const) {
      const records = vectors.records.filter((record) => record.sender === sender);

      it(`seal reproduces the ${sender} records at their sequence numbers`, () => {
        const sealer = protector(sender);
        for (const record of records) {
          expect(sealer.sequenceNumber).toBe(BigInt(record.seq));
          const sealed = sealer.seal(record.content_type as ContentType, hex(record.plaintext));
          expect(Buffer.from(sealed).toString('hex'), record.name).toBe(record.record);
        }
      });

      it(`open recovers the ${sender} records' content and type`, () => {
        const opener = protector(sender);
        for (const record of records) {
          const opened = opener.open(hex(record.record));
          expect(opened.contentType, record.name).toBe(record.content_type);
          expect(Buffer.from(opened.content).toString('hex'), record.name).toBe(record.plaintext);
        }
        expect(opener.sequenceNumber).toBe(BigInt(records.length));
      });
    }

    it('opens a record only at its own sequence number', () => {
      const opener = protector('server');
      const [, second] = vectors.records.filter((record) => record.sender === 'server');
      expect(() => opener.open(hex(second!.record))).toThrowError(
        expect.objectContaining({ code: 'ERR_MLSTLS_BAD_RECORD_MAC', alert: 20 }),
      );
    });
  });
}
