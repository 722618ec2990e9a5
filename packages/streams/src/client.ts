import { MlsTlsError } from '@mlstls/codec';
import type { EndpointFactory } from '@mlstls/driver';
import { Initiator, type InitiatorOptions } from '@mlstls/state-machine';
import { claimSession, decodeSessionRecord } from '@mlstls/storage';
import { MlsTlsStream } from './connection.js';
import {
  type ClientOptions,
  connectionSettings,
  endpointOptions,
  type StreamTransport,
} from './options.js';

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
  const session = options.session === undefined ? undefined : decodeSessionRecord(options.session);
  // Held for the connection's life: a second connection while this one lives makes a full
  // handshake, as resuming would take the session from this one.
  const claim =
    store === undefined || sessionId === undefined ? undefined : claimSession(store, sessionId);
  const initiatorOptions: Omit<InitiatorOptions, 'keyLog' | 'persist'> = {
    ...endpointOptions(options),
    ...(store === undefined ? {} : { store }),
    ...(sessionId === undefined ? {} : { sessionId }),
    ...(session === undefined ? {} : { session }),
    ...(claim?.contended === true || options.resume === false ? { resume: false } : {}),
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
  try {
    return new MlsTlsStream({
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
      ...connectionSettings(options),
      // The session is free again as soon as this connection ends.
      onEnd: claim?.release,
    });
  } catch (error) {
    claim?.release();
    throw error;
  }
}
