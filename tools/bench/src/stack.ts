/**
 * What the connection benchmark needs of a TLS stack, so that node:tls and mlstls run the very
 * same measuring code: a server on 127.0.0.1, a client, and the negotiated suite.
 */
import type { Duplex } from 'node:stream';

export interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

export interface Negotiated {
  /** The TLS 1.3 cipher suite name, e.g. TLS_AES_128_GCM_SHA256. */
  readonly suite: string;
  readonly version: string;
}

export interface Stack {
  readonly name: string;
  /** A server on 127.0.0.1 (any port) that hands each connection, once secure, to the callback. */
  listen(onConnection: (socket: Duplex) => void): Promise<Listening>;
  /** A client connection to 127.0.0.1:`port`; `onSecure` runs when its handshake is complete. */
  connect(port: number, onSecure: () => void): Duplex;
  /** What a connected socket negotiated, from its `getCipher()`. */
  describe(socket: Duplex): Negotiated;
}
