// RFC 8448 section 3 (Simple 1-RTT Handshake) through the mlstls key schedule and record layer:
// the profile's derivations are RFC 8446's, so the RFC's values must come out byte for byte.
import { readFileSync } from 'node:fs';
import type { ContentType } from '@mlstls/codec';
import {
  isNativeAeadAvailable,
  nodeProvider,
  type ProviderChoice,
  webCryptoProvider,
} from '@mlstls/crypto';
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

/** node:crypto alone, @mlstls/crypto-native's AEAD (where it built), @noble, WebCrypto. */
const providers: [string, ProviderChoice][] = [
  ['node:crypto', nodeProvider('node:crypto')],
  ...(isNativeAeadAvailable() ? [['native', 'native'] as [string, ProviderChoice]] : []),
  ['noble', 'noble'],
  ['webcrypto', webCryptoProvider],
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

describe('RFC 8448 simple 1-RTT records sealed and opened asynchronously by WebCrypto', () => {
  const protector = (sender: 'client' | 'server') => {
    const secrets = deriveApplicationSecrets({
      hash: 'sha256',
      masterSecret: hex(vectors.master_secret),
      transcriptHash: hex(vectors.transcript_hash_server_finished),
      provider: webCryptoProvider,
    });
    return new RecordProtector({
      aead: 'aes-128-gcm',
      hash: 'sha256',
      trafficSecret:
        sender === 'client' ? secrets.clientTrafficSecret : secrets.serverTrafficSecret,
      provider: webCryptoProvider,
    });
  };

  for (const sender of ['client', 'server'] as const) {
    const records = vectors.records.filter((record) => record.sender === sender);

    it(`every ${sender} record in flight at once, each at its own sequence number`, async () => {
      const sealer = protector(sender);
      expect(sealer.asynchronous).toBe(true);
      const outs = records.map((record) => new Uint8Array(record.record.length / 2));
      const sealing = records.map((record, index) =>
        sealer.sealIntoAsync(
          outs[index]!,
          0,
          record.content_type as ContentType,
          hex(record.plaintext),
        ),
      );
      // The key changing at once does not reach the records already started.
      sealer.nextGeneration();
      await Promise.all(sealing);
      records.forEach((record, index) => {
        expect(Buffer.from(outs[index]!).toString('hex'), record.name).toBe(record.record);
      });

      const opener = protector(sender);
      const opened = await Promise.all(
        records.map((record) => opener.openAsync(hex(record.record))),
      );
      records.forEach((record, index) => {
        expect(opened[index]!.contentType, record.name).toBe(record.content_type);
        expect(Buffer.from(opened[index]!.content).toString('hex')).toBe(record.plaintext);
      });
      expect(opener.sequenceNumber).toBe(BigInt(records.length));
    });
  }

  it('a record out of order fails to authenticate, as a rejection', async () => {
    const opener = protector('server');
    const [, second] = vectors.records.filter((record) => record.sender === 'server');
    await expect(opener.openAsync(hex(second!.record))).rejects.toMatchObject({
      code: 'ERR_MLSTLS_BAD_RECORD_MAC',
      alert: 20,
    });
  });
});
