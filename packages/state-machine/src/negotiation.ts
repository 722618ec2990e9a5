// SNI and ALPN through the KeyPackage and GroupContext extensions of docs/protocol.md section 7.
import {
  decodeProtocolNameList,
  decodeServerName,
  ExtensionType,
  encodeProtocolNameList,
  encodeServerName,
  MlsTlsError,
} from '@mlstls/codec';
import type { ClientState, Extension, KeyPackage } from 'ts-mls';
import { equalBytes } from './mls.js';

/** An ALPN protocol id: a string is sent as its UTF-8 bytes. */
export type ProtocolName = string | Uint8Array;

/** What a client_hello's KeyPackage asks for. */
export interface Offer {
  /** The `mlstls_server_name` host name, lower case, if one was sent. */
  readonly serverName?: string;
  /** The `mlstls_alpn` list, in the initiator's order, if one was sent. */
  readonly protocols?: readonly Uint8Array[];
}

export function protocolBytes(protocols: readonly ProtocolName[]): Uint8Array[] {
  return protocols.map((name) =>
    typeof name === 'string' ? new TextEncoder().encode(name) : name,
  );
}

/**
 * The name to send as `mlstls_server_name`: none for an IP literal or an empty name (RFC 6066
 * 3 allows only host names), else lower case without a trailing dot.
 */
export function serverNameToSend(name: string | undefined): string | undefined {
  if (name === undefined || name === '' || isIpLiteral(name)) return undefined;
  return name.toLowerCase().replace(/\.$/, '');
}

/** The initiator's section 7 KeyPackage extensions. */
export function offerExtensions(
  serverName: string | undefined,
  protocols: readonly Uint8Array[] | undefined,
): Extension[] {
  const extensions: Extension[] = [];
  if (serverName !== undefined) {
    extensions.push({
      extensionType: ExtensionType.mlstls_server_name,
      extensionData: encodeServerName(serverName),
    });
  }
  if (protocols !== undefined && protocols.length > 0) {
    extensions.push({
      extensionType: ExtensionType.mlstls_alpn,
      extensionData: encodeProtocolNameList(protocols),
    });
  }
  return extensions;
}

/**
 * The section 7 extensions of a KeyPackage. A repeated one is `illegal_parameter` (RFC 9420
 * 13: extension types are unique); an ALPN offer from a leaf that does not list mlstls_alpn in
 * its capabilities could never enter the GroupContext, and is `illegal_parameter` too.
 */
export function readOffer(keyPackage: KeyPackage): Offer {
  let serverName: string | undefined;
  let protocols: Uint8Array[] | undefined;
  const seen = new Set<number>();
  for (const extension of keyPackage.extensions) {
    const type = extension.extensionType;
    if (type !== ExtensionType.mlstls_server_name && type !== ExtensionType.mlstls_alpn) continue;
    if (seen.has(type)) {
      throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `KeyPackage extension ${type} twice`);
    }
    seen.add(type);
    if (type === ExtensionType.mlstls_server_name) {
      serverName = decodeServerName(extension.extensionData).toLowerCase();
    } else {
      protocols = decodeProtocolNameList(extension.extensionData);
    }
  }
  if (
    protocols !== undefined &&
    !keyPackage.leafNode.capabilities.extensions.includes(ExtensionType.mlstls_alpn)
  ) {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      'an mlstls_alpn offer from a leaf whose capabilities lack mlstls_alpn',
    );
  }
  return {
    ...(serverName === undefined ? {} : { serverName }),
    ...(protocols === undefined ? {} : { protocols }),
  };
}

/**
 * The responder's ALPN choice: its own first protocol that the initiator offered (the server's
 * preference, as OpenSSL and node:tls choose). No choice when either side has no list; lists
 * with nothing in common are `no_application_protocol` (RFC 7301 3.2).
 */
export function chooseProtocol(
  offered: readonly Uint8Array[] | undefined,
  ours: readonly Uint8Array[] | undefined,
): Uint8Array | undefined {
  if (offered === undefined || ours === undefined || ours.length === 0) return undefined;
  const choice = ours.find((protocol) => offered.some((other) => equalBytes(protocol, other)));
  if (choice === undefined) {
    throw new MlsTlsError(
      'ERR_MLSTLS_NO_APPLICATION_PROTOCOL',
      'the client offers no application protocol that the server speaks',
    );
  }
  return choice;
}

/** The GroupContext extensions that carry the responder's choice. */
export function choiceExtensions(choice: Uint8Array | undefined): Extension[] {
  if (choice === undefined) return [];
  return [
    { extensionType: ExtensionType.mlstls_alpn, extensionData: encodeProtocolNameList([choice]) },
  ];
}

/**
 * The protocol in a group's GroupContext, as a string (node:tls's `alpnProtocol`). The
 * initiator checks it is exactly one protocol it offered (`illegal_parameter` otherwise, as
 * BoringSSL answers a server's unoffered choice); `offered` undefined skips that check (a
 * resumed group, whose choice was checked when it was made).
 */
export function agreedProtocol(
  group: ClientState,
  offered?: readonly Uint8Array[],
): string | undefined {
  const extension = group.groupContext.extensions.find(
    (candidate) => candidate.extensionType === ExtensionType.mlstls_alpn,
  );
  if (extension === undefined) return undefined;
  const list = decodeProtocolNameList(extension.extensionData);
  const choice = list[0]!;
  if (
    offered !== undefined &&
    (list.length !== 1 || !offered.some((protocol) => equalBytes(protocol, choice)))
  ) {
    throw new MlsTlsError(
      'ERR_MLSTLS_ILLEGAL_PARAMETER',
      'the responder chose an application protocol the initiator did not offer',
    );
  }
  return new TextDecoder().decode(choice);
}

function isIpLiteral(name: string): boolean {
  return name.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(name);
}
