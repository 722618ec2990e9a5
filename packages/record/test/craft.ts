// Builds protected records by hand with node:crypto, so that tests can send what RecordProtector
// itself never would: inner plaintexts of only zeros, oversized contents, unknown inner types.
import { createCipheriv } from 'node:crypto';
import { deriveTrafficKeys } from '@mlstls/key-schedule';

export const SECRET = new Uint8Array(32).map((_, i) => i + 1);

export function craftRecord(options: {
  inner: Uint8Array;
  sequence?: number;
  header?: { type?: number; version?: number };
  secret?: Uint8Array;
}): Uint8Array {
  const { key, iv } = deriveTrafficKeys({
    hash: 'sha256',
    aead: 'aes-128-gcm',
    secret: options.secret ?? SECRET,
  });
  const nonce = Buffer.from(iv);
  const sequence = options.sequence ?? 0;
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ sequence) >>> 0, 8);
  const length = options.inner.length + 16;
  const header = Buffer.alloc(5);
  header.writeUInt8(options.header?.type ?? 23, 0);
  header.writeUInt16BE(options.header?.version ?? 0x0303, 1);
  header.writeUInt16BE(length, 3);
  const cipher = createCipheriv('aes-128-gcm', key, nonce);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(options.inner), cipher.final(), cipher.getAuthTag()]);
  return new Uint8Array(Buffer.concat([header, body]));
}

export const errorWith = (code: string, alert: number) =>
  expectObject({ name: 'MlsTlsError', code, alert });

function expectObject(fields: Record<string, unknown>) {
  return {
    asymmetricMatch: (actual: unknown) =>
      typeof actual === 'object' &&
      actual !== null &&
      Object.entries(fields).every(([k, v]) => (actual as Record<string, unknown>)[k] === v),
    toString: () => `MlsTlsError ${JSON.stringify(fields)}`,
  };
}
