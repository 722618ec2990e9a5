import { MlsTlsError } from '@mlstls/codec';
import { Initiator, type InitiatorOptions } from '@mlstls/state-machine';
import { decodeSessionRecord, type SessionStore } from '@mlstls/storage';
import { type EndpointFactory, MlsTlsStream } from './connection.js';
import {
  type ClientOptions,
  DEFAULT_HANDSHAKE_TIMEOUT,
  endpointOptions,
  type StreamTransport,
} from './options.js';

/**
 * Session names held by live connections, per store: a second connection to a server whose
 * session is in use makes a full handshake, as resuming would take the session from the first.
 */
const liveSessions = new WeakMap<SessionStore, Map<string, number>>();

/**
 * Secures `transport` as the TLS client (the MLS initiator): sends its client_hello, or its
 * resumption flight when `store` holds a session under `sessionId` (or `session` is given).
 * Options it refuses (an unsupported suite, a store without `sessionId`) throw an
 * `MlsTlsError` at once, before the transport is touched.
 */
export function secureClient(
  transport: StreamTransport,
  options: ClientOptions = {},
): MlsTlsStream {
  const { store } = options;
  const sessionId =
    typeof options.sessionId === 'string'
      ? new TextEncoder().encode(options.sessionId)
      : options.sessionId;
  if (store !== undefined && sessionId === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'a store needs a sessionId');
  }
  const liveName = sessionId === undefined ? undefined : hex(sessionId);
  const live = store === undefined ? undefined : liveMap(store);
  const inUse = liveName !== undefined && (live?.get(liveName) ?? 0) > 0;
  const session = options.session === undefined ? undefined : decodeSessionRecord(options.session);
  const initiatorOptions: Omit<InitiatorOptions, 'keyLog' | 'persist'> = {
    ...endpointOptions(options),
    ...(store === undefined ? {} : { store }),
    ...(sessionId === undefined ? {} : { sessionId }),
    ...(session === undefined ? {} : { session }),
    ...(inUse || options.resume === false ? { resume: false } : {}),
    ...(options.serverName === undefined ? {} : { serverName: options.serverName }),
    ...(options.checkServerIdentity === undefined
      ? {}
      : { checkServerIdentity: options.checkServerIdentity }),
    ...(options.rejectUnauthorized === undefined
      ? {}
      : { rejectUnauthorized: options.rejectUnauthorized }),
    ...(options.peerSignaturePublicKey === undefined
      ? {}
      : { peerSignaturePublicKey: options.peerSignaturePublicKey }),
    ...(options.ciphersuite === undefined ? {} : { ciphersuite: options.ciphersuite }),
  };
  const createEndpoint: EndpointFactory<Initiator> = (hooks) =>
    new Initiator({ ...initiatorOptions, ...hooks });
  const { session: _refused, ...withoutSession } = initiatorOptions;
  const { reconnect } = options;
  const stream = new MlsTlsStream({
    transport,
    createEndpoint,
    fallback:
      reconnect === undefined
        ? undefined
        : {
            reconnect,
            createEndpoint: (hooks) =>
              new Initiator({ ...withoutSession, resume: false, ...hooks }),
          },
    callbacks: options,
    handshakeTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    signal: options.signal,
    // The session is free again as soon as this connection ends.
    onEnd: live === undefined || liveName === undefined ? undefined : () => release(live, liveName),
  });
  if (live !== undefined && liveName !== undefined) {
    live.set(liveName, (live.get(liveName) ?? 0) + 1);
  }
  return stream;
}

function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

function release(live: Map<string, number>, name: string): void {
  const count = (live.get(name) ?? 1) - 1;
  if (count === 0) live.delete(name);
  else live.set(name, count);
}

function liveMap(store: SessionStore): Map<string, number> {
  let live = liveSessions.get(store);
  if (live === undefined) {
    live = new Map();
    liveSessions.set(store, live);
  }
  return live;
}
