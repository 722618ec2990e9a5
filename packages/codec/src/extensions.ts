// The KeyPackage and GroupContext extensions of docs/protocol.md section 7, inside the MLS
// `Extension.extension_data`. Their lists and strings use MLS's `<V>` prefixes; a protocol
// name inside the ALPN list keeps RFC 7301's one-byte prefix, so ALPN ids are TLS's.
import { MlsTlsError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/** RFC 6066 3: a HostName is at most 255 bytes of ASCII. */
const MAX_HOST_NAME_LENGTH = 255;

/** `opaque host_name<V>`: the name the initiator connects to, as TLS SNI. */
export function encodeServerName(hostName: string): Uint8Array {
  const bytes = new TextEncoder().encode(hostName);
  if (!isHostName(bytes)) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      'a server name is 1 to 255 printable ASCII bytes, not an IP address',
    );
  }
  return new Writer(bytes.length + 2).opaqueV(bytes).finish();
}

/**
 * The host name of an `mlstls_server_name` extension. A structure that does not fill the data
 * is `decode_error`; an empty, overlong or non-ASCII name, or an IP literal (RFC 6066 forbids
 * them), is `illegal_parameter`.
 */
export function decodeServerName(data: Uint8Array): string {
  const reader = new Reader(data, 'mlstls_server_name');
  const bytes = reader.opaqueV();
  reader.end();
  if (!isHostName(bytes)) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', 'mlstls_server_name: not a host name');
  }
  return String.fromCharCode(...bytes);
}

/** `opaque protocol_name_list<V>` of RFC 7301 `ProtocolName`s (`opaque<1..2^8-1>` each). */
export function encodeProtocolNameList(protocols: readonly Uint8Array[]): Uint8Array {
  if (protocols.length === 0) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'an ALPN list needs a protocol');
  }
  const list = new Writer();
  for (const protocol of protocols) {
    if (protocol.length === 0 || protocol.length > 255) {
      throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'an ALPN protocol is 1 to 255 bytes');
    }
    list.opaque(1, protocol);
  }
  return new Writer().opaqueV(list.finish()).finish();
}

/**
 * The protocols of an `mlstls_alpn` extension, in order. Structure errors, an empty list or an
 * empty name are `decode_error`, as RFC 7301's bounds make them.
 */
export function decodeProtocolNameList(data: Uint8Array): Uint8Array[] {
  const outer = new Reader(data, 'mlstls_alpn');
  const list = new Reader(outer.opaqueV(1), 'mlstls_alpn');
  outer.end();
  const protocols: Uint8Array[] = [];
  while (list.remaining > 0) protocols.push(list.opaque(1, 1));
  return protocols;
}

function isHostName(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes.length > MAX_HOST_NAME_LENGTH) return false;
  for (const byte of bytes) if (byte < 0x21 || byte > 0x7e) return false;
  const text = String.fromCharCode(...bytes);
  // An IPv6 literal has a colon; an IPv4 literal is four decimal labels.
  return !text.includes(':') && !/^\d+\.\d+\.\d+\.\d+\.?$/.test(text);
}
