// What the tests of the MLS ciphersuite implementations share: suite names by id, hex, each of
// our two implementations by suite name, and the other valid form of an ECDSA signature.
import type { CiphersuiteImpl, CiphersuiteName } from 'ts-mls';
import { type NodeCiphersuiteOptions, nodeCiphersuite } from '../src/mls.js';
import { type WebCryptoCiphersuiteOptions, webCryptoCiphersuite } from '../src/webcrypto-mls.js';

/** MLS suites 1 to 7 (RFC 9420 section 17.1) by id, as the vectors name them. */
const SUITE_NAMES: Readonly<Record<number, CiphersuiteName>> = {
  1: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  2: 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256',
  3: 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519',
  4: 'MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448',
  5: 'MLS_256_DHKEMP521_AES256GCM_SHA512_P521',
  6: 'MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448',
  7: 'MLS_256_DHKEMP384_AES256GCM_SHA384_P384',
};

export const SUITE_IDS = [1, 2, 3, 4, 5, 6, 7] as const;

export function suiteName(id: number): CiphersuiteName {
  const name = SUITE_NAMES[id];
  if (name === undefined) throw new Error(`no MLS suite ${id}`);
  return name;
}

export const hex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
export const toHex = (data: Uint8Array) => Buffer.from(data).toString('hex');

/** node:crypto's implementation of `name`; a test that asks for one it lacks fails. */
export function nodeImpl(name: CiphersuiteName, options?: NodeCiphersuiteOptions): CiphersuiteImpl {
  const cs = nodeCiphersuite(name, options);
  if (cs === undefined) throw new Error(`no node:crypto implementation of ${name}`);
  return cs;
}

/** WebCrypto's implementation of `name`; a test that asks for one it lacks fails. */
export function webImpl(
  name: CiphersuiteName,
  options?: WebCryptoCiphersuiteOptions,
): CiphersuiteImpl {
  const cs = webCryptoCiphersuite(name, options);
  if (cs === undefined) throw new Error(`no WebCrypto implementation of ${name}`);
  return cs;
}

/** A DER length at `at`: its value and the offset just past it. */
function derLength(der: Uint8Array, at: number): [number, number] {
  const first = der[at]!;
  if (first < 0x80) return [first, at + 1];
  let length = 0;
  for (let i = 1; i <= (first & 0x7f); i++) length = (length << 8) | der[at + i]!;
  return [length, at + 1 + (first & 0x7f)];
}

function derHeader(tag: number, length: number): number[] {
  return length < 0x80 ? [tag, length] : [tag, 0x81, length];
}

/** The same DER ECDSA signature with S replaced by n - S (also valid: (r, -s) verifies). */
export function mirrorEcdsaS(der: Uint8Array, order: bigint): Uint8Array {
  const [, body] = derLength(der, 1);
  const [rLength, rAt] = derLength(der, body + 1);
  const r = der.subarray(rAt, rAt + rLength);
  const [sLength, sAt] = derLength(der, rAt + rLength + 1);
  const s = der.subarray(sAt, sAt + sLength);
  const mirrored = order - BigInt(`0x${toHex(s)}`);
  let sHex = mirrored.toString(16);
  if (sHex.length % 2 === 1) sHex = `0${sHex}`;
  if (Number.parseInt(sHex.slice(0, 2), 16) >= 0x80) sHex = `00${sHex}`;
  const newS = hex(sHex);
  const content = [...derHeader(0x02, r.length), ...r, ...derHeader(0x02, newS.length), ...newS];
  return Uint8Array.of(...derHeader(0x30, content.length), ...content);
}
