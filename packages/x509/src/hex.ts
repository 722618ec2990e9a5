/** Upper-case hex of `bytes`, as OpenSSL prints fingerprints, serials and moduli. */
export function hex(bytes: Uint8Array, separator = ''): string {
  const digits: string[] = [];
  for (const byte of bytes) digits.push(byte.toString(16).padStart(2, '0').toUpperCase());
  return digits.join(separator);
}
