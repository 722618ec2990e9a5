/** The two upper-case hex digits of every byte value. */
const DIGITS = Array.from({ length: 256 }, (_, byte) =>
  byte.toString(16).padStart(2, '0').toUpperCase(),
);

/** Upper-case hex of `bytes`, as OpenSSL prints fingerprints, serials and moduli. */
export function hex(bytes: Uint8Array, separator = ''): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0) text += separator;
    text += DIGITS[bytes[i]!];
  }
  return text;
}
