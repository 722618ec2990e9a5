// The driver's own rules, between two drivers on a real TCP pair on 127.0.0.1 (a real initiator
// and responder, no binding). The hostile cases are the conformance suite's, run by every binding.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import {
  type EndpointCredential,
  generateCredential,
  Initiator,
  Responder,
} from '@mlstls/state-machine';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectionDriver,
  type ConnectionEnd,
  type ConnectionEvents,
  type DriverOptions,
  duplexTransport,
} from '../src/index.js';

const random = (length: number) => new Uint8Array(randomBytes(length));
let credential: EndpointCredential;
beforeAll(async () => {
  credential = await generateCredential({ ciphersuite: 1 });
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** What one end heard, in order. */
class Heard {
  readonly data: Uint8Array[] = [];
  readonly events: string[] = [];
  secure!: Promise<void>;
  readonly ended: Promise<ConnectionEnd>;
  #ended!: (end: ConnectionEnd) => void;
  #secure!: () => void;

  constructor() {
    this.secure = new Promise((resolve) => {
      this.#secure = resolve;
    });
    this.ended = new Promise((resolve) => {
      this.#ended = resolve;
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.data);
  }

  listeners(extra: Partial<ConnectionEvents> = {}): ConnectionEvents {
    return {
      secure: () => {
        this.events.push('secure');
        this.#secure();
      },
      data: (chunk) => {
        this.data.push(chunk.slice());
        return true;
      },
      peerClosed: () => this.events.push('peerClosed'),
      closed: (end) => {
        this.events.push(
          end.error === undefined
            ? `closed${end.truncated ? ' truncated' : ''}`
            : `closed ${end.error.code}`,
        );
        this.#ended(end);
      },
      timeout: () => this.events.push('timeout'),
      ...extra,
    };
  }
}

async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

function tcp(port: number): Socket {
  const socket = new Socket({ allowHalfOpen: true });
  socket.connect(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  return socket;
}

type Overrides = Partial<Omit<DriverOptions, 'transport' | 'createEndpoint' | 'events'>>;

/** A responder driver on every connection of a new port, and an initiator driver to it. */
async function pair(
  options: {
    server?: Overrides;
    client?: Overrides;
    serverEvents?: Partial<ConnectionEvents>;
  } = {},
) {
  const server = new Heard();
  const drivers: ConnectionDriver[] = [];
  const port = await listen((socket) => {
    drivers.push(
      new ConnectionDriver({
        transport: duplexTransport(socket),
        createEndpoint: (hooks) => new Responder({ random, now: Date.now, credential, ...hooks }),
        events: server.listeners(options.serverEvents),
        ...options.server,
      }),
    );
  });
  const client = new Heard();
  const socket = tcp(port);
  const driver = new ConnectionDriver({
    transport: duplexTransport(socket),
    createEndpoint: (hooks) =>
      new Initiator({
        random,
        now: Date.now,
        peerSignaturePublicKey: credential.signaturePublicKey,
        ...hooks,
      }),
    events: client.listeners(),
    ...options.client,
  });
  cleanups.push(() => driver.abort());
  return { server, client, driver, socket, serverDriver: () => drivers[0]! };
}

describe('the connection driver', () => {
  it('holds writes made before the handshake and sends them after it, in order', async () => {
    const { server, client, driver } = await pair();
    const writes = [driver.write(Buffer.from('one,')), driver.write(Buffer.from('two'))];
    expect(driver.secure).toBe(false);
    await Promise.all(writes);
    await server.secure;
    await client.secure;
    while (server.bytes.length < 7) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.bytes.toString()).toBe('one,two');
  });

  it('reports a clean close on both ends once both close_notify are through', async () => {
    const { server, client, driver, serverDriver } = await pair();
    await server.secure;
    await driver.close();
    while (!server.events.includes('peerClosed')) await new Promise((r) => setTimeout(r, 10));
    await serverDriver().close();
    expect(await client.ended).toEqual({ truncated: false });
    expect(await server.ended).toEqual({ truncated: false });
    expect(client.events).toEqual(['secure', 'peerClosed', 'closed']);
  });

  it('reports a truncation after the handshake without an error, or as ERR_MLSTLS_TRUNCATED with rejectTruncation', async () => {
    for (const rejectTruncation of [false, true]) {
      const { server, socket } = await pair({ server: { rejectTruncation } });
      await server.secure;
      socket.destroy();
      const end = await server.ended;
      expect(end.truncated).toBe(true);
      expect(end.error?.code).toBe(rejectTruncation ? 'ERR_MLSTLS_TRUNCATED' : undefined);
    }
  });

  it('reports a transport end before the handshake as a failed handshake, whatever rejectTruncation says', async () => {
    const client = new Heard();
    const port = await listen((socket) => socket.end());
    new ConnectionDriver({
      transport: duplexTransport(tcp(port)),
      createEndpoint: (hooks) => new Initiator({ random, now: Date.now, ...hooks }),
      events: client.listeners(),
      rejectTruncation: false,
    });
    const end = await client.ended;
    expect(end.error?.code).toBe('ERR_MLSTLS_TRUNCATED');
    expect(end.truncated).toBe(false);
  });

  it('times out a handshake whose peer never answers, and cuts the transport', async () => {
    const client = new Heard();
    let peer: Socket | undefined;
    const port = await listen((socket) => {
      peer = socket;
      socket.resume();
    });
    new ConnectionDriver({
      transport: duplexTransport(tcp(port)),
      createEndpoint: (hooks) => new Initiator({ random, now: Date.now, ...hooks }),
      events: client.listeners(),
      handshakeTimeout: 200,
    });
    const end = await client.ended;
    expect(end.error?.code).toBe('ERR_MLSTLS_HANDSHAKE_TIMEOUT');
    await once(peer!, 'end');
  });

  it('signals the idle timeout once per idle period, and again after activity', async () => {
    const { server, client, driver } = await pair();
    await server.secure;
    await client.secure;
    driver.setIdleTimeout(150);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(client.events.filter((event) => event === 'timeout')).toHaveLength(1);
    await driver.write(Buffer.from('activity'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.events.filter((event) => event === 'timeout')).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(client.events.filter((event) => event === 'timeout')).toHaveLength(2);
    driver.setIdleTimeout(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(client.events.filter((event) => event === 'timeout')).toHaveLength(2);
  });

  it('closeNow() sends close_notify and ends at once without an error; the peer sees a clean close', async () => {
    const { server, client, driver } = await pair();
    await server.secure;
    await driver.write(Buffer.from('last words'));
    await driver.closeNow();
    expect(await client.ended).toEqual({ truncated: false });
    await expect(driver.write(Buffer.from('more'))).rejects.toMatchObject({
      code: 'ERR_MLSTLS_INVALID_STATE',
    });
    while (!server.events.includes('peerClosed')) await new Promise((r) => setTimeout(r, 10));
    expect(server.bytes.toString()).toBe('last words');
  });

  it('ends the connection with ERR_MLSTLS_ABORTED when an event callback throws', async () => {
    const thrown = new Error('the application failed');
    const { server, driver } = await pair({
      serverEvents: {
        data: () => {
          throw thrown;
        },
      },
    });
    await driver.write(Buffer.from('to a failing application'));
    const end = await server.ended;
    expect(end.error?.code).toBe('ERR_MLSTLS_ABORTED');
    expect(end.error?.cause).toBe(thrown);
  });
});
