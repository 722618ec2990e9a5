import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, generateCredential, type MlsTlsError, type MlsTlsServer } from '../src/index.js';
import {
  closeAll,
  connectTo,
  errorsOf,
  nextError,
  nextSecureConnection,
  portOf,
  readAll,
  startServer,
} from './loopback.js';

afterEach(closeAll);

async function nextClientError(server: MlsTlsServer): Promise<MlsTlsError> {
  const [error] = (await once(server, 'tlsClientError')) as [MlsTlsError];
  return error;
}

describe('authentication', () => {
  it('a client without a verifier or pinned key fails closed with ERR_MLSTLS_BAD_CERTIFICATE', async () => {
    const server = await startServer();
    let accepted = 0;
    server.on('secureConnection', () => accepted++);
    const reported = once(server, 'tlsClientError') as Promise<[MlsTlsError]>;
    const client = connect({ host: '127.0.0.1', port: portOf(server) });
    let secure = false;
    client.on('secureConnect', () => {
      secure = true;
    });
    const error = (await nextError(client)) as MlsTlsError;
    expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    expect(error.alertName).toBe('bad_certificate');
    expect(secure).toBe(false);
    // The server waits for the client's key confirmation (section 4): the refusal is a
    // failed handshake there, its plaintext alert read and believed.
    const [serverError] = await reported;
    expect(serverError.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(serverError.alertName).toBe('bad_certificate');
    expect(accepted).toBe(0);
  });

  it('with rejectUnauthorized: false it connects, unauthorized, and says why', async () => {
    const server = await startServer();
    const accepted = nextSecureConnection(server);
    const client = connect({ host: '127.0.0.1', port: portOf(server), rejectUnauthorized: false });
    await once(client, 'secureConnect');
    expect(client.authorized).toBe(false);
    expect(client.authorizationError?.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    const peer = await accepted;
    client.end('unauthenticated but encrypted');
    expect((await readAll(peer)).toString()).toBe('unauthenticated but encrypted');
    await readAll(client);
  });

  it('a pinned key that is not the server key is ERR_MLSTLS_BAD_CERTIFICATE', async () => {
    const server = await startServer();
    const other = await generateCredential();
    const client = connect({
      host: '127.0.0.1',
      port: portOf(server),
      peerSignaturePublicKey: other.signaturePublicKey,
    });
    expect(((await nextError(client)) as MlsTlsError).code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('a client verifier that accepts the server authorizes it', async () => {
    const server = await startServer();
    const seen: Uint8Array[] = [];
    const client = connect({
      host: '127.0.0.1',
      port: portOf(server),
      verifyPeer: (peer) => {
        seen.push(peer.signaturePublicKey);
        return true;
      },
    });
    await once(client, 'secureConnect');
    expect(client.authorized).toBe(true);
    expect(seen.map((key) => Buffer.from(key))).toEqual([
      Buffer.from(server.credential!.signaturePublicKey),
    ]);
    client.destroy();
  });

  it('a server verifier that refuses the client fails both ends with bad_certificate', async () => {
    const server = await startServer({ verifyPeer: () => false });
    const reported = nextClientError(server);
    const client = connect({
      host: '127.0.0.1',
      port: portOf(server),
      peerSignaturePublicKey: server.credential!.signaturePublicKey,
    });
    const error = (await nextError(client)) as MlsTlsError;
    expect(error.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(error.alertName).toBe('bad_certificate');
    expect((await reported).code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
  });

  it('a server verifier that accepts the client marks it authorized', async () => {
    const clientCredential = await generateCredential();
    const server = await startServer({
      verifyPeer: async (peer) =>
        Buffer.from(peer.signaturePublicKey).equals(
          Buffer.from(clientCredential.signaturePublicKey),
        ),
    });
    const accepted = nextSecureConnection(server);
    const client = await connectTo(server, { credential: clientCredential });
    const peer = await accepted;
    expect(peer.authorized).toBe(true);
    peer.end();
    client.end();
    await readAll(client);
    expect(errorsOf(peer)).toEqual([]);
  });

  it('a server with its own credential presents it', async () => {
    const credential = await generateCredential();
    const server = await startServer({ credential });
    expect(server.credential).toBe(credential);
    const client = await connectTo(server);
    expect(Buffer.from(client.getPeerCredential()!.signaturePublicKey)).toEqual(
      Buffer.from(credential.signaturePublicKey),
    );
  });
});
