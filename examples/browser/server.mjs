// The browser example's server: one Node process that
// - makes a CA and a server certificate for 127.0.0.1 and localhost (@mlstls/x509-issuer),
// - runs an mlstls server (@mlstls/node's createServer, never listening on TCP itself),
// - bridges every WebSocket on /mlstls to it: the socket's binary messages are the server's
//   byte stream (`ws`'s createWebSocketStream, handed over as a 'connection'),
// - bundles page.js with @mlstls/streams for the browser (esbuild, in memory), and
// - serves the page, the bundle and the CA certificate over http on 127.0.0.1.
//
// Run it from the repository root after `pnpm install && pnpm build`:
//   node examples/browser/server.mjs [--port 8080]
// It borrows the dependencies of @mlstls/streams's tests (esbuild, ws, @mlstls/node,
// @mlstls/x509-issuer): examples/ is no package of the workspace.
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(join(root, 'packages', 'streams', 'package.json'));
const esbuild = require('esbuild');
const { WebSocketServer, createWebSocketStream } = require('ws');
const { createServer } = await import(pathToFileURL(require.resolve('@mlstls/node')).href);
const { issueCertificate } = await import(
  pathToFileURL(require.resolve('@mlstls/x509-issuer')).href
);

/**
 * An esbuild plugin that takes every `@mlstls/*` package from its TypeScript sources
 * (`packages/<name>/src/<subpath or index>.ts`), as the workspace's tests do: the page runs
 * what the repository holds, built or not.
 */
const workspaceSources = {
  name: 'mlstls-workspace-sources',
  setup(build) {
    build.onResolve({ filter: /^@mlstls\/[^/]+(\/.*)?$/ }, (args) => {
      const [, name, subpath = 'index'] = /^@mlstls\/([^/]+)\/?(.*)$/.exec(args.path) ?? [];
      return { path: join(root, 'packages', name, 'src', `${subpath || 'index'}.ts`) };
    });
  },
};

/** page.js and everything it imports, as one ES module for the browser. */
async function bundlePage() {
  const result = await esbuild.build({
    entryPoints: [join(here, 'page.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'inline',
    write: false,
    logLevel: 'silent',
    plugins: [workspaceSources],
  });
  return result.outputFiles[0].contents;
}

/**
 * Starts the example on `host`:`port` (0: any free port). Resolves once it listens, with its
 * URL and a `close()`. `log` receives one line per event of the server's connections.
 */
export async function startExample({ host = '127.0.0.1', port = 8080, log = console.log } = {}) {
  const [bundle, html] = await Promise.all([bundlePage(), readFile(join(here, 'index.html'))]);
  const ca = await issueCertificate({ subject: 'mlstls browser example CA', ca: true });
  const leaf = await issueCertificate({
    subject: 'mlstls browser example server',
    issuer: ca,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    extendedKeyUsage: ['serverAuth'],
  });

  const tls = createServer({ key: leaf.keyPem, cert: leaf.pem });
  tls.on('tlsClientError', (error) =>
    log(`server: a client failed: ${error.code ?? error.message}`),
  );
  tls.on('secureConnection', (socket) => {
    const sent = { generation: 0 };
    const received = { generation: 0 };
    log(`server: handshake complete, epoch ${socket.epoch}`);
    socket.on('epoch', (epoch, cause) => log(`server: epoch ${epoch} (${cause})`));
    socket.on('keyUpdate', (direction, generation) => {
      (direction === 'send' ? sent : received).generation = generation;
      log(`server: key update, ${direction} keys at generation ${generation}`);
    });
    socket.on('error', (error) => log(`server: connection failed: ${error.code ?? error.message}`));
    socket.on('end', () => log('server: close_notify from the browser'));
    // A line protocol: every line comes back with what the server knows of the connection.
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (text) => {
      pending += text;
      for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        log(`server: received "${line}"`);
        socket.write(
          `node heard "${line}" at epoch ${socket.epoch}, keys sent ${sent.generation} received ${received.generation}\n`,
        );
      }
    });
  });

  const http = createHttpServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const body = {
      '/': [html, 'text/html; charset=utf-8'],
      '/page.js': [bundle, 'text/javascript; charset=utf-8'],
      '/ca.pem': [ca.pem, 'application/x-pem-file'],
    }[path];
    if (body === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': body[1], 'cache-control': 'no-store' });
    response.end(body[0]);
  });
  const webSockets = new WebSocketServer({ server: http, path: '/mlstls' });
  webSockets.on('connection', (webSocket) => {
    log('server: a WebSocket opened');
    webSocket.on('close', (code) => log(`server: the WebSocket closed (${code})`));
    // The WebSocket as a byte stream, handed to the mlstls server as node:tls takes a socket.
    const stream = createWebSocketStream(webSocket);
    stream.on('error', () => {}); // the mlstls socket reports the connection's end
    tls.emit('connection', stream);
  });

  await new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, resolve);
  });
  const url = `http://${host}:${http.address().port}/`;
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        for (const client of webSockets.clients) client.terminate();
        webSockets.close();
        tls.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' } } });
  const example = await startExample({ port: Number(values.port) });
  console.log(`open ${example.url}`);
  const stop = () => example.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
