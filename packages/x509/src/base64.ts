const STANDARD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function table(alphabet: string): Int16Array {
  const values = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
}
const STANDARD_VALUES = table(STANDARD);
const URL_SAFE_VALUES = table(URL_SAFE);

/**
 * The bytes of `text`, or undefined if it is not canonical base64: the PEM body (padded, the
 * standard alphabet) or a JWK member (unpadded base64url, RFC 7518). Written out rather than
 * `atob` so that a stray character or non-zero trailing bits refuse the input instead of
 * being dropped.
 */
export function decodeBase64(text: string, variant: 'pem' | 'jwk'): Uint8Array | undefined {
  const values = variant === 'pem' ? STANDARD_VALUES : URL_SAFE_VALUES;
  let length = text.length;
  if (variant === 'pem') {
    if (length % 4 !== 0) return undefined;
    if (text.endsWith('==')) length -= 2;
    else if (text.endsWith('=')) length -= 1;
  }
  if (length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let written = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? values[code]! : -1;
    if (value < 0) return undefined;
    buffer = (buffer << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[written++] = (buffer >> bits) & 0xff;
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}
