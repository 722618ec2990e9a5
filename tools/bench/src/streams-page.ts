/**
 * The page of `bench:deno`'s browser part, bundled by streams-browser.ts with the built
 * `@mlstls/streams` and run in Chromium: both ends of every connection in this page, a client
 * and a server joined by two TransformStreams (an in-page loopback, no socket), with the run's
 * certificate chain. The same figures as under Deno: sequential handshakes/s and bulk MB/s,
 * for each provider asked for (`null`: the option left out, the binding's default).
 */
import {
  bulkRates,
  type End,
  handshakeRates,
  type LoadConfig,
  type LoadStack,
} from './web-streams-load.js';

/** What the page uses of `@mlstls/streams` and `@mlstls/x509`, handed over by the bundle. */
interface StreamsApi {
  secureClient(transport: Transport, options: Record<string, unknown>): MlsTlsStream;
  secureServer(transport: Transport, options: Record<string, unknown>): MlsTlsStream;
  readonly TrustAnchors: { from(pem: string): unknown };
  loadX509Credential(options: { cert: string; key: string }): Promise<unknown>;
}

interface Transport {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

interface MlsTlsStream extends Transport {
  readonly handshake: Promise<{ crypto: string; ciphersuite: string; authorized: boolean }>;
  close(): Promise<void>;
}

export interface PageConfig extends LoadConfig {
  /** The `provider` option of each row; `null` leaves it out. */
  readonly providers: readonly (string | null)[];
}

export interface PageRow {
  readonly provider: string | null;
  readonly crypto: string;
  readonly ciphersuite: string;
  /** Handshakes/s of each round. */
  readonly handshakes: number[];
  /** MB/s of each bulk connection. */
  readonly bulk: number[];
}

/** Two transports joined back to back: what one writes, the other reads. */
function loopback(): [Transport, Transport] {
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  return [
    { readable: down.readable, writable: up.writable },
    { readable: up.readable, writable: down.writable },
  ];
}

function endOf(stream: MlsTlsStream): End {
  return {
    readable: stream.readable,
    writable: stream.writable,
    handshake: () => stream.handshake,
    close: () => void stream.close(),
  };
}

/** Runs every figure of every provider; what `mlstlsBench(config)` resolves with. */
async function runPage(api: StreamsApi, config: PageConfig): Promise<PageRow[]> {
  const credential = await api.loadX509Credential({ cert: config.cert, key: config.key });
  const ca = api.TrustAnchors.from(config.ca);
  const streams = config.providers.map((provider) => {
    const options = provider === null ? {} : { provider };
    return {
      client: (transport: Transport) =>
        api.secureClient(transport, { ca, serverName: 'localhost', ...options }),
      server: (transport: Transport) => api.secureServer(transport, { credential, ...options }),
    };
  });
  const stacks: LoadStack[] = streams.map(({ client, server }, i) => ({
    name: String(config.providers[i] ?? 'default'),
    async open() {
      const [clientSide, serverSide] = loopback();
      return { client: endOf(client(clientSide)), server: endOf(server(serverSide)) };
    },
  }));

  // One connection of each, untimed: the chain verified, and the crypto it ran on.
  const infos: Awaited<MlsTlsStream['handshake']>[] = [];
  for (const { client, server } of streams) {
    const [clientSide, serverSide] = loopback();
    const pair = [client(clientSide), server(serverSide)] as const;
    const [info] = await Promise.all(pair.map((stream) => stream.handshake));
    if (!info!.authorized) throw new Error('the client did not verify the chain');
    await Promise.all(pair.map((stream) => stream.close()));
    infos.push(info!);
  }

  const handshakes = await handshakeRates(stacks, config);
  const bulk = await bulkRates(stacks, {
    totalBytes: config.bulkBytes,
    writeBytes: config.writeBytes,
    connections: config.bulkConnections,
  });
  return config.providers.map((provider, i) => ({
    provider,
    crypto: infos[i]!.crypto,
    ciphersuite: infos[i]!.ciphersuite,
    handshakes: handshakes[i]!,
    bulk: bulk[i]!,
  }));
}

// The bundle's entry puts the API on `globalThis.mlstlsStreams`; the benchmark calls this.
const page = globalThis as {
  mlstlsStreams?: StreamsApi;
  mlstlsBench?: (config: PageConfig) => Promise<PageRow[]>;
};
page.mlstlsBench = (config) => runPage(page.mlstlsStreams!, config);
