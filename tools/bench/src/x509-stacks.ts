/**
 * The stacks of the certificate benchmark, each with one secure context per side made once (no
 * PEM parsed per connection): mlstls with an X.509 chain, mlstls with a basic credential and a
 * pinned key, and node:tls with the same chain. Every client names the server `localhost`
 * (sent, and checked against the certificate) and trusts the same root.
 */
import type { AddressInfo, Server } from 'node:net';
import tls from 'node:tls';
import {
  connect,
  createSecureContext,
  createServer,
  type MlsTlsSocket,
  type PeerCertificate,
} from '@mlstls/node';
import type { TestPki } from '@mlstls/test-support';
import { TLS_SUITE } from './node-tls-stack.js';
import type { Listening, Stack } from './stack.js';

/** The name every client asks for: the leaf's DNS name. */
export const SERVER_NAME = 'localhost';

/** Who the client found at the other end, to check before timing. */
interface PeerCheck {
  readonly authorized: boolean;
  /** The subject CNs of the verified path, leaf first; [] for a basic credential. */
  readonly path: readonly string[];
}

export interface CertificateStack extends Stack {
  check(socket: unknown): PeerCheck;
}

function listenOn(server: Server, onListening: (port: number) => void = () => {}) {
  return new Promise<Listening>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      onListening(port);
      resolve({ port, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

/** The CNs of a detailed peer certificate's path, leaf first, stopping at a self-issued one. */
function pathOf(certificate: PeerCertificate | tls.DetailedPeerCertificate | undefined): string[] {
  const names: string[] = [];
  let current = certificate;
  while (current !== undefined && Object.keys(current).length > 0 && names.length < 10) {
    const cn = current.subject.CN;
    names.push(Array.isArray(cn) ? cn.join('+') : String(cn));
    const next = current.issuerCertificate as typeof current | undefined;
    if (next === undefined || next === current) break;
    current = next;
  }
  return names;
}

function mlstlsCheck(socket: unknown): PeerCheck {
  const mlstls = socket as MlsTlsSocket;
  const certificate = mlstls.getPeerCertificate(true);
  return {
    authorized: mlstls.authorized,
    path: certificate === null ? [] : pathOf(certificate as PeerCertificate),
  };
}

function mlstlsDescribe(socket: unknown) {
  const cipher = (socket as MlsTlsSocket).getCipher();
  return { suite: cipher?.standardName ?? 'none', version: cipher?.version ?? 'none' };
}

/** mlstls, the server presenting leaf + intermediate, the client verifying them against `ca`. */
export function mlstlsX509Stack(pki: TestPki): CertificateStack {
  const serverContext = createSecureContext({
    key: pki.server.keyPem,
    cert: pki.server.pem + pki.intermediate.pem,
    ca: pki.root.pem,
  });
  const clientContext = createSecureContext({ ca: pki.root.pem });
  return {
    name: 'mlstls-x509',
    listen: (onConnection) =>
      listenOn(createServer({ ciphersuites: [1], secureContext: serverContext }, onConnection)),
    connect: (port, onSecure) =>
      connect(
        {
          host: '127.0.0.1',
          port,
          servername: SERVER_NAME,
          ciphersuite: 1,
          secureContext: clientContext,
        },
        onSecure,
      ),
    describe: mlstlsDescribe,
    check: mlstlsCheck,
  };
}

/**
 * mlstls as the connection benchmark runs it: a basic credential the server generates once,
 * whose signature key the client pins. The contexts are those of the X.509 stack but for the
 * server's certificate, so that the only difference is how the server is authenticated.
 */
export function mlstlsBasicStack(pki: TestPki): CertificateStack {
  const serverContext = createSecureContext({ ca: pki.root.pem });
  const clientContext = createSecureContext({ ca: pki.root.pem });
  const pinned = new Map<number, Uint8Array>();
  return {
    name: 'mlstls-basic',
    listen(onConnection) {
      const server = createServer(
        { ciphersuites: [1], secureContext: serverContext },
        onConnection,
      );
      return listenOn(server, (port) => {
        const key = server.credential?.signaturePublicKey;
        if (key === undefined) throw new Error('a listening server with no credential');
        pinned.set(port, key);
      });
    },
    connect(port, onSecure) {
      const peerSignaturePublicKey = pinned.get(port);
      if (peerSignaturePublicKey === undefined) throw new Error(`no mlstls server on ${port}`);
      return connect(
        {
          host: '127.0.0.1',
          port,
          servername: SERVER_NAME,
          ciphersuite: 1,
          secureContext: clientContext,
          peerSignaturePublicKey,
        },
        onSecure,
      );
    },
    describe: mlstlsDescribe,
    check: mlstlsCheck,
  };
}

/**
 * node:tls TLS 1.3 with TLS_AES_128_GCM_SHA256, the server presenting the same leaf and
 * intermediate (OpenSSL signs TLS 1.3 CertificateVerify with Ed25519), the client verifying
 * them against the same root and checking the name (`checkServerIdentity`, node's default).
 */
export function nodeTlsX509Stack(pki: TestPki): CertificateStack {
  const versions = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: TLS_SUITE } as const;
  // A node:tls server makes its one SecureContext of these options when it is created (it takes
  // no `secureContext` option of its own).
  const serverOptions = {
    key: pki.server.keyPem,
    cert: pki.server.pem + pki.intermediate.pem,
    ...versions,
  };
  const clientContext = tls.createSecureContext({ ca: pki.root.pem, ...versions });
  return {
    name: 'node:tls',
    listen: (onConnection) => listenOn(tls.createServer(serverOptions, onConnection)),
    connect: (port, onSecure) =>
      tls.connect(
        { host: '127.0.0.1', port, servername: SERVER_NAME, secureContext: clientContext },
        onSecure,
      ),
    describe(socket) {
      const cipher = (socket as tls.TLSSocket).getCipher();
      return { suite: cipher.standardName ?? cipher.name, version: cipher.version };
    },
    check(socket) {
      const tlsSocket = socket as tls.TLSSocket;
      return { authorized: tlsSocket.authorized, path: pathOf(tlsSocket.getPeerCertificate(true)) };
    },
  };
}
