// RFC 8448 section 3 values through every derivation of this package, with both providers.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  deriveApplicationSecrets,
  deriveSecret,
  deriveTrafficKeys,
  encodeHkdfLabel,
  hkdfExpandLabel,
  hkdfExtract,
} from '../src/index.js';

const v = JSON.parse(
  readFileSync(new URL('../../../vectors/rfc8448-simple-1rtt.json', import.meta.url), 'utf8'),
) as Record<string, string>;
const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

it('encodes HkdfLabel exactly as RFC 8448 shows it', () => {
  const transcript = hex(v.transcript_hash_server_finished!);
  expect(toHex(encodeHkdfLabel('c ap traffic', transcript, 32))).toBe(
    v.hkdf_label_info_c_ap_traffic,
  );
  expect(toHex(encodeHkdfLabel('key', new Uint8Array(0), 16))).toBe(v.hkdf_label_info_key);
  expect(toHex(encodeHkdfLabel('iv', new Uint8Array(0), 12))).toBe(v.hkdf_label_info_iv);
});

for (const provider of ['node', 'noble'] as const) {
  describe(`RFC 8448 key schedule with the ${provider} provider`, () => {
    const hash = 'sha256';

    it('derives the master secret from the handshake secret (Derive-Secret over Hash(""))', () => {
      const derived = deriveSecret({
        hash,
        secret: hex(v.handshake_secret!),
        label: 'derived',
        provider,
      });
      expect(toHex(derived)).toBe(v.derived_for_master);
      const master = hkdfExtract({ hash, salt: derived, ikm: new Uint8Array(32), provider });
      expect(toHex(master)).toBe(v.master_secret);
    });

    it('derives both application traffic secrets and the exporter master secret', () => {
      const secrets = deriveApplicationSecrets({
        hash,
        masterSecret: hex(v.master_secret!),
        transcriptHash: hex(v.transcript_hash_server_finished!),
        provider,
      });
      expect(toHex(secrets.clientTrafficSecret)).toBe(v.client_application_traffic_secret_0);
      expect(toHex(secrets.serverTrafficSecret)).toBe(v.server_application_traffic_secret_0);
      expect(toHex(secrets.exporterMasterSecret)).toBe(v.exporter_master_secret);
    });

    it('derives the resumption master secret over the client Finished transcript', () => {
      const secret = deriveSecret({
        hash,
        secret: hex(v.master_secret!),
        label: 'res master',
        transcriptHash: hex(v.transcript_hash_client_finished!),
        provider,
      });
      expect(toHex(secret)).toBe(v.resumption_master_secret);
    });

    it('derives write keys and IVs of both directions', () => {
      for (const side of ['client', 'server'] as const) {
        const keys = deriveTrafficKeys({
          hash,
          aead: 'aes-128-gcm',
          secret: hex(v[`${side}_application_traffic_secret_0`]!),
          provider,
        });
        expect(toHex(keys.key)).toBe(v[`${side}_application_write_key`]);
        expect(toHex(keys.iv)).toBe(v[`${side}_application_write_iv`]);
      }
    });

    it('expands a label with its context exactly as Derive-Secret does', () => {
      const secret = hex(v.master_secret!);
      const context = hex(v.transcript_hash_server_finished!);
      expect(
        toHex(
          hkdfExpandLabel({ hash, secret, label: 'c ap traffic', context, length: 32, provider }),
        ),
      ).toBe(v.client_application_traffic_secret_0);
    });
  });
}
