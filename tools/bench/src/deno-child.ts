/**
 * The Deno side of `bench:deno` (deno.ts starts it, with one JSON argument): one Deno process
 * holding both ends of every connection on 127.0.0.1, with the run's certificate chain:
 * `Deno.listenTls` + `Deno.connectTls` (rustls), the same listener + `Deno.startTls` over a
 * `Deno.connect` with TCP_NODELAY, and `@mlstls/deno`'s `listen()` + `connect()` on the built
 * package. Each line it prints is a JSON report (`DenoChildReport`).
 */
// Types only (erased): WebCrypto's, as @types/node names them.
import type { webcrypto } from 'node:crypto';
import {
  bulkRates,
  type End,
  handshakeRates,
  type LoadConfig,
  type LoadStack,
  type Pair,
} from './web-streams-load.js';

export interface DenoChildConfig extends LoadConfig {
  /** `@mlstls/deno`'s `provider` option, passed on only when given. */
  readonly provider?: string;
}

/** The stacks measured: rustls as `Deno.connectTls` makes it, rustls on TCP_NODELAY, mlstls. */
const STACKS = ['connectTls', 'startTls', 'mlstls'] as const;

/** Samples of each stack, in the order of their rounds or connections. */
export type DenoSamples = { readonly [stack in (typeof STACKS)[number]]: number[] };

export type DenoChildReport =
  | { readonly started: { readonly deno: string; readonly v8: string } }
  | {
      /** What one connection of mlstls settled, before timing. */
      readonly checked: {
        readonly crypto: string;
        readonly ciphersuite: string;
        readonly authorized: boolean;
        readonly peer: string;
      };
    }
  | { readonly handshakes: DenoSamples; readonly settleMs: number }
  | { readonly bulk: DenoSamples; readonly settleMs: number };

interface Listener<C> extends AsyncIterable<C> {
  readonly addr: { readonly port: number };
  close(): void;
}

interface DenoTlsConn extends End {
  handshake(): Promise<{ alpnProtocol: string | null }>;
}

interface DenoTcpConn {
  setNoDelay(noDelay: boolean): void;
}

declare const Deno: {
  readonly args: readonly string[];
  readonly version: { readonly deno: string; readonly v8: string };
  listenTls(options: {
    hostname: string;
    port: number;
    cert: string;
    key: string;
  }): Listener<DenoTlsConn>;
  connectTls(options: { hostname: string; port: number; caCerts: string[] }): Promise<DenoTlsConn>;
  connect(options: { hostname: string; port: number }): Promise<DenoTcpConn>;
  startTls(
    conn: DenoTcpConn,
    options: { hostname: string; caCerts: string[] },
  ): Promise<DenoTlsConn>;
  exit(code: number): never;
};

/** What the benchmark uses of `@mlstls/deno`; `provider` is not in its options yet. */
interface MlsTlsConn extends End {
  handshake(): Promise<{
    crypto: string;
    ciphersuite: string;
    authorized: boolean;
    peerCertificate?: { subject: Record<string, unknown> };
  }>;
}

interface MlsTlsDeno {
  listen(options: Record<string, unknown>): Listener<MlsTlsConn>;
  connect(options: Record<string, unknown>): Promise<MlsTlsConn>;
}

const config = JSON.parse(Deno.args[0]!) as DenoChildConfig;
const report = (value: DenoChildReport): void => console.log(JSON.stringify(value));

// The built package, as `npm:@mlstls/deno` gives it; its own imports resolve from its
// node_modules.
const mlstls = (await import(
  new URL('../../../packages/deno/dist/index.js', import.meta.url).href
)) as MlsTlsDeno;

/**
 * The connections `listener` accepts, handed out in turn by the function returned: each
 * `open()` below connects, then takes the next (connections are made one at a time).
 */
function accepted<C>(listener: Listener<C>): () => Promise<C> {
  const ready: C[] = [];
  const waiting: ((conn: C) => void)[] = [];
  void (async () => {
    for await (const conn of listener) {
      const wake = waiting.shift();
      if (wake === undefined) ready.push(conn);
      else wake(conn);
    }
  })();
  return () =>
    ready.length > 0
      ? Promise.resolve(ready.shift()!)
      : new Promise<C>((resolve) => waiting.push(resolve));
}

function stackOf(name: string, next: () => Promise<End>, connect: () => Promise<End>): LoadStack {
  return {
    name,
    async open(): Promise<Pair> {
      const [client, server] = await Promise.all([connect(), next()]);
      return { client, server };
    },
  };
}

const hostname = '127.0.0.1';
const caCerts = [config.ca];
const provider = config.provider === undefined ? {} : { provider: config.provider };

const tlsListener = Deno.listenTls({ hostname, port: 0, cert: config.cert, key: config.key });
const nextTls = accepted(tlsListener);
const port = tlsListener.addr.port;
const connectTls = stackOf('Deno.connectTls', nextTls, () =>
  Deno.connectTls({ hostname, port, caCerts }),
);
// The same rustls client on a TCP connection with TCP_NODELAY, which Deno.connectTls does
// not set: its Finished otherwise waits for the server's delayed ACK.
const startTls = stackOf('Deno.startTls, TCP_NODELAY', nextTls, async () => {
  const tcp = await Deno.connect({ hostname, port });
  tcp.setNoDelay(true);
  return Deno.startTls(tcp, { hostname, caCerts });
});
const mlstlsListener = mlstls.listen({
  hostname,
  port: 0,
  cert: config.cert,
  key: config.key,
  ...provider,
});
const candidate = stackOf('@mlstls/deno', accepted(mlstlsListener), () =>
  mlstls.connect({ hostname, port: mlstlsListener.addr.port, caCerts, ...provider }),
);

report({ started: { deno: Deno.version.deno, v8: Deno.version.v8 } });

// One connection, untimed: mlstls verified the chain, and says what it ran on.
{
  const { client, server } = await candidate.open();
  const [info] = await Promise.all([(client as MlsTlsConn).handshake(), server.handshake()]);
  client.close();
  server.close();
  report({
    checked: {
      crypto: info.crypto,
      ciphersuite: info.ciphersuite,
      authorized: info.authorized,
      peer: String(info.peerCertificate?.subject.CN ?? 'none'),
    },
  });
}

// After a round of Deno's TLS connections, Deno's next WebCrypto signature verification waits,
// about 2.5 ms per connection made (1.4 to 1.7 s after 580 to 670; a digest does not wait),
// the process idle meanwhile: rustls leaves work behind off the JavaScript thread, in the
// way of WebCrypto's. Before each timed round one verification waits that out, untimed, so
// that an mlstls round does not start with the rustls round's wait.
const probeKey = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
  'sign',
  'verify',
])) as webcrypto.CryptoKeyPair;
const probeData = new Uint8Array(32);
const probeSignature = await crypto.subtle.sign(
  { name: 'ECDSA', hash: 'SHA-256' },
  probeKey.privateKey,
  probeData,
);
let settleMs = 0;
const settle = async (): Promise<void> => {
  const start = performance.now();
  await crypto.subtle.verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    probeKey.publicKey,
    probeSignature,
    probeData,
  );
  settleMs = Math.max(settleMs, performance.now() - start);
};

const stacks = [connectTls, startTls, candidate];
const samples = (rates: number[][]) =>
  Object.fromEntries(STACKS.map((stack, i) => [stack, rates[i]!])) as DenoSamples;
report({ handshakes: samples(await handshakeRates(stacks, { ...config, settle })), settleMs });
settleMs = 0;
const bulk = await bulkRates(stacks, {
  totalBytes: config.bulkBytes,
  writeBytes: config.writeBytes,
  connections: config.bulkConnections,
  settle,
});
report({ bulk: samples(bulk), settleMs });

tlsListener.close();
mlstlsListener.close();
Deno.exit(0);
