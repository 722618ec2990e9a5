// SNI and ALPN over real TCP (docs/protocol.md section 7): the server picks its certificate by the
// name in mlstls_server_name through node:tls's SNICallback, and its ALPN choice reaches
// both ends through the GroupContext.
import { once } from 'node:events';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectOptions,
  createSecureContext,
  MlsTlsError,
  type MlsTlsSecureContext,
  type MlsTlsServer,
  type MlsTlsSocket,
  type ServerOptions,
} from '../src/index.js';
import {
  closeAll,
  connectClient,
  errorsOf,
  nextError,
  nextSecureConnection,
  portOf,
  startServer,
} from './loopback.js';
import { type IssuedCertificate, type NodePki, nodePki, pemChain, within } from './pki.js';

const WAIT_MS = 10_000;

let pki: NodePki;
let a: IssuedCertificate;
let b: IssuedCertificate;

beforeAll(async () => {
  pki = await nodePki();
  a = await pki.issueLeaf({ subject: 'a.test', dnsNames: ['a.test'], ipAddresses: [] });
  b = await pki.issueLeaf({ subject: 'b.test', dnsNames: ['b.test'], ipAddresses: [] });
});

afterEach(closeAll);

function server(options: ServerOptions = {}): Promise<MlsTlsServer> {
  return startServer({ key: pki.server.keyPem, cert: pki.serverChain, ...options });
}

function client(to: MlsTlsServer, options: Partial<ConnectOptions> = {}): MlsTlsSocket {
  return connectClient({ host: '127.0.0.1', port: portOf(to), ca: pki.root.pem, ...options });
}

async function secured(socket: MlsTlsSocket): Promise<MlsTlsSocket> {
  await within(once(socket, 'secureConnect'), WAIT_MS, "the client's secureConnect");
  return socket;
}

async function accepted(from: MlsTlsServer): Promise<MlsTlsSocket> {
  return within(nextSecureConnection(from), WAIT_MS, "the server's secureConnection");
}

async function failure(socket: MlsTlsSocket): Promise<MlsTlsError> {
  const error = await within(nextError(socket), WAIT_MS, "the client's error");
  expect(error).toBeInstanceOf(MlsTlsError);
  return error as MlsTlsError;
}

async function clientError(from: MlsTlsServer): Promise<MlsTlsError> {
  const [error] = (await within(
    once(from, 'tlsClientError'),
    WAIT_MS,
    "the server's tlsClientError",
  )) as [MlsTlsError];
  return error;
}

function commonName(socket: MlsTlsSocket): unknown {
  return (socket.getPeerCertificate() as { subject?: { CN?: string } } | null)?.subject?.CN;
}

describe('SNI: the server picks its certificate by the name the client sends', () => {
  /** A server answering a.test and b.test by SNICallback; the names it was asked, in order. */
  async function sniServer(): Promise<{ server: MlsTlsServer; asked: string[] }> {
    const contexts = new Map<string, MlsTlsSecureContext>([
      ['a.test', createSecureContext({ key: a.keyPem, cert: pemChain(a, pki.intermediate) })],
      ['b.test', createSecureContext({ key: b.keyPem, cert: pemChain(b, pki.intermediate) })],
    ]);
    const asked: string[] = [];
    const sni = await server({
      SNICallback: (servername, callback) => {
        asked.push(servername);
        if (servername === 'd.test') callback(new Error('no certificates for d.test here'));
        // An asynchronous answer, as a callback that looks a certificate up would give.
        else setImmediate(() => callback(null, contexts.get(servername)));
      },
    });
    return { server: sni, asked };
  }

  for (const name of ['a.test', 'b.test']) {
    it(`servername ${name} gets the certificate for ${name}, and both sockets say the name`, async () => {
      const { server: sni, asked } = await sniServer();
      const serverSide = accepted(sni);
      const socket = await secured(client(sni, { servername: name }));
      expect(socket.authorized).toBe(true);
      expect(commonName(socket)).toBe(name);
      expect(socket.servername).toBe(name);
      const peer = await serverSide;
      expect(peer.servername).toBe(name);
      expect(asked).toEqual([name]);
      expect(errorsOf(socket)).toEqual([]);
    });
  }

  it('the name is sent in lower case without a trailing dot', async () => {
    const { server: sni, asked } = await sniServer();
    const socket = await secured(client(sni, { servername: 'B.Test.' }));
    expect(asked).toEqual(['b.test']);
    expect(commonName(socket)).toBe('b.test');
    expect(socket.authorized).toBe(true);
  });

  it('a name the callback has no context for is unrecognized_name; the server reports ERR_MLSTLS_UNRECOGNIZED_NAME', async () => {
    const { server: sni } = await sniServer();
    const reported = clientError(sni);
    const error = await failure(client(sni, { servername: 'c.test' }));
    expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(error.alert).toBe(112);
    expect(error.alertName).toBe('unrecognized_name');
    expect((await reported).code).toBe('ERR_MLSTLS_UNRECOGNIZED_NAME');
  });

  it('a callback that answers with an error is unrecognized_name too', async () => {
    const { server: sni } = await sniServer();
    const reported = clientError(sni);
    const error = await failure(client(sni, { servername: 'd.test' }));
    expect(error.alertName).toBe('unrecognized_name');
    const cause = (await reported).cause as Error;
    expect(cause.message).toBe('no certificates for d.test here');
  });

  it("a client connecting to an IP address sends no name and gets the server's own key and cert", async () => {
    const { server: sni, asked } = await sniServer();
    const serverSide = accepted(sni);
    const socket = await secured(client(sni));
    expect(commonName(socket)).toBe('localhost');
    expect(socket.authorized).toBe(true);
    expect(socket.servername).toBe(false);
    expect((await serverSide).servername).toBe(false);
    expect(asked).toEqual([]);
  });

  it('host localhost is sent as the name by default (unlike node:tls, which needs servername)', async () => {
    const { server: sni, asked } = await sniServer();
    const error = await failure(client(sni, { host: 'localhost' }));
    expect(asked).toEqual(['localhost']);
    expect(error.alertName).toBe('unrecognized_name');
  });
});

describe('ALPN: the server chooses, by its own preference', () => {
  it('both sides offering: the same protocol on both sockets, the server preferring', async () => {
    const alpn = await server({ ALPNProtocols: ['h2', 'http/1.1'] });
    const serverSide = accepted(alpn);
    const socket = client(alpn, { ALPNProtocols: ['http/1.1', 'h2'] });
    expect(socket.alpnProtocol).toBeNull();
    await secured(socket);
    expect(socket.alpnProtocol).toBe('h2');
    expect((await serverSide).alpnProtocol).toBe('h2');
  });

  it("the server's first protocol that the client offers wins", async () => {
    const alpn = await server({ ALPNProtocols: ['h2', 'http/1.1'] });
    const serverSide = accepted(alpn);
    const socket = await secured(client(alpn, { ALPNProtocols: ['spdy/3', 'http/1.1'] }));
    expect(socket.alpnProtocol).toBe('http/1.1');
    expect((await serverSide).alpnProtocol).toBe('http/1.1');
  });

  for (const [who, serverProtocols, clientProtocols] of [
    ['the client', ['h2'], undefined],
    ['the server', undefined, ['h2']],
  ] as const) {
    it(`without ALPN on ${who}, alpnProtocol is false on both sockets`, async () => {
      const alpn = await server(
        serverProtocols === undefined ? {} : { ALPNProtocols: [...serverProtocols] },
      );
      const serverSide = accepted(alpn);
      const socket = await secured(
        client(alpn, clientProtocols === undefined ? {} : { ALPNProtocols: [...clientProtocols] }),
      );
      expect(socket.alpnProtocol).toBe(false);
      expect((await serverSide).alpnProtocol).toBe(false);
    });
  }

  it('no protocol in common is no_application_protocol; the server reports ERR_MLSTLS_NO_APPLICATION_PROTOCOL', async () => {
    const alpn = await server({ ALPNProtocols: ['h2'] });
    const reported = clientError(alpn);
    const error = await failure(client(alpn, { ALPNProtocols: ['http/1.1'] }));
    expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(error.alert).toBe(120);
    expect(error.alertName).toBe('no_application_protocol');
    expect((await reported).code).toBe('ERR_MLSTLS_NO_APPLICATION_PROTOCOL');
  });

  it('protocol names may be bytes: a Uint8Array matches the same name as a string', async () => {
    const alpn = await server({ ALPNProtocols: [new TextEncoder().encode('h2')] });
    const serverSide = accepted(alpn);
    const socket = await secured(client(alpn, { ALPNProtocols: ['h2'] }));
    expect(socket.alpnProtocol).toBe('h2');
    expect((await serverSide).alpnProtocol).toBe('h2');
  });

  it('SNI and ALPN together: the certificate by name, the protocol by preference', async () => {
    const both = await server({
      ALPNProtocols: ['h2'],
      SNICallback: (servername, callback) =>
        callback(
          null,
          servername === 'a.test'
            ? createSecureContext({ key: a.keyPem, cert: pemChain(a, pki.intermediate) })
            : undefined,
        ),
    });
    const socket = await secured(
      client(both, { servername: 'a.test', ALPNProtocols: ['http/1.1', 'h2'] }),
    );
    expect(commonName(socket)).toBe('a.test');
    expect(socket.alpnProtocol).toBe('h2');
  });
});
