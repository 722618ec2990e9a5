// One responder of the fleet demo, run as a child process by fleet-demo.ts: an mlstls echo
// server on 127.0.0.1 whose sessions live in the shared Redis, with the fleet's credential.
// It tells the demo what happens over the IPC channel.
import { createServer, type EndpointCredential, MlsTlsError } from '@mlstls/node';
import { RedisStore } from '@mlstls/storage-redis';

/** The first IPC message a responder receives. */
export interface FleetResponderConfig {
  readonly credential: EndpointCredential;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly exporterLabel: string;
}

/** What a responder reports. */
export type FleetResponderReport =
  | { readonly type: 'listening'; readonly port: number }
  | {
      readonly type: 'secureConnection';
      readonly resumed: boolean;
      /** `exportKeyingMaterial(32, exporterLabel)` once the handshake is complete. */
      readonly exporter: Uint8Array;
    }
  | { readonly type: 'epoch'; readonly epoch: bigint; readonly cause: string }
  | { readonly type: 'echoed'; readonly length: number }
  | { readonly type: 'error'; readonly code: string }
  /** The connection ended; `truncated`: without the peer's close_notify (no error then). */
  | { readonly type: 'closed'; readonly truncated: boolean };

const report = (message: FleetResponderReport) => process.send?.(message);
const codeOf = (error: Error) =>
  error instanceof MlsTlsError ? error.code : ((error as { code?: string }).code ?? error.name);

process.once('message', async (config: FleetResponderConfig) => {
  const store = await RedisStore.connect({ url: config.redisUrl, prefix: config.prefix });
  const server = createServer({ store, credential: config.credential }, (socket) => {
    socket.on('epoch', (epoch: bigint, cause: string) => report({ type: 'epoch', epoch, cause }));
    socket.on('error', (error) => report({ type: 'error', code: codeOf(error) }));
    socket.on('close', () => report({ type: 'closed', truncated: socket.truncated }));
    socket.on('data', (data: Buffer) => {
      socket.write(data);
      report({ type: 'echoed', length: data.length });
    });
    report({
      type: 'secureConnection',
      resumed: socket.isSessionReused(),
      exporter: new Uint8Array(socket.exportKeyingMaterial(32, config.exporterLabel)),
    });
  });
  server.on('tlsClientError', (error: Error) => report({ type: 'error', code: codeOf(error) }));
  server.listen(0, '127.0.0.1', () =>
    report({ type: 'listening', port: (server.address() as { port: number }).port }),
  );
});
// The demo's end is this process's end.
process.on('disconnect', () => process.exit(0));
