import { Responder, type ResponderOptions } from '@mlstls/state-machine';
import { MlsTlsStream } from './connection.js';
import {
  connectionSettings,
  endpointOptions,
  type ServerOptions,
  type StreamTransport,
} from './options.js';

/**
 * Secures `transport` as the TLS server (the MLS responder): it waits for a client_hello, or a
 * resumption flight of a session in `store`. Give every connection the same `credential`
 * (without one each connection makes its own ephemeral basic credential, which no client can
 * pin).
 */
export function secureServer(
  transport: StreamTransport,
  options: ServerOptions = {},
): MlsTlsStream {
  const responderOptions: Omit<ResponderOptions, 'keyLog' | 'persist'> = {
    ...endpointOptions(options),
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.ciphersuites === undefined ? {} : { ciphersuites: options.ciphersuites }),
    ...(options.requestCert === undefined ? {} : { requestCert: options.requestCert }),
    ...(options.rejectUnauthorized === undefined
      ? {}
      : { rejectUnauthorized: options.rejectUnauthorized }),
    ...(options.selectCredential === undefined
      ? {}
      : { selectCredential: options.selectCredential }),
  };
  return new MlsTlsStream({
    transport,
    createEndpoint: (hooks) => new Responder({ ...responderOptions, ...hooks }),
    callbacks: options,
    ...connectionSettings(options),
  });
}
