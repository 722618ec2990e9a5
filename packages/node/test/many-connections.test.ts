import { afterEach, describe, expect, it } from 'vitest';
import type { MlsTlsSocket } from '../src/index.js';
import { closeAll, connectPinned, errorsOf, readAll, startServer } from './loopback.js';

afterEach(closeAll);

const CONNECTIONS = 200;

describe('many connections', () => {
  it(`serves ${CONNECTIONS} concurrent connections, each with its own data`, async () => {
    // An echo server: what a client sends comes back, then the server ends with the client.
    const server = await startServer({}, (socket) => socket.pipe(socket));
    const tlsClientErrors: Error[] = [];
    server.on('tlsClientError', (error) => tlsClientErrors.push(error));
    const served: MlsTlsSocket[] = [];
    server.on('secureConnection', (socket: MlsTlsSocket) => served.push(socket));

    const clients = Array.from({ length: CONNECTIONS }, (_, index) => {
      const client = connectPinned(server);
      client.end(`hello from client ${index}`);
      return readAll(client).then((echo) => ({ client, echo: echo.toString() }));
    });
    const results = await Promise.all(clients);

    results.forEach(({ client, echo }, index) => {
      expect(echo).toBe(`hello from client ${index}`);
      expect(errorsOf(client)).toEqual([]);
    });
    expect(tlsClientErrors).toEqual([]);
    expect(served).toHaveLength(CONNECTIONS);
    for (const socket of served) expect(errorsOf(socket)).toEqual([]);
  });
});
