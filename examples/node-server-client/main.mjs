// The umbrella package's README example, as it stands there (packages/mlstls/README.md; the
// packed-package test checks that this file still holds the README's code): an echo server
// with an X.509 certificate made in the run, and a client that checks it, makes a
// post-compromise-security update and closes. Run it with `node main.mjs`.

import { connect, createServer } from 'mlstls'; // the node:tls-shaped Node binding
import { issueCertificate } from 'mlstls/x509-issuer'; // certificates for development

// A CA and a server certificate made in the run; in production, your own key, cert and ca.
const ca = await issueCertificate({ subject: 'dev CA', ca: true });
const leaf = await issueCertificate({
  subject: 'localhost',
  issuer: ca,
  dnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1'],
  extendedKeyUsage: ['serverAuth'],
});

const options = { key: leaf.keyPem, cert: [leaf.pem, ca.pem] };
const server = createServer(options, (socket) => socket.pipe(socket)); // an echo server
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const socket = connect({ host: '127.0.0.1', port, ca: ca.pem }, async () => {
    console.log(`connected: ${socket.getCipher().standardName}, epoch ${socket.epoch}`);
    await socket.update(); // a PCS update: new MLS epoch, new keys
    console.log(`updated: epoch ${socket.epoch}`);
    socket.end('hello'); // then close_notify
  });
  socket.on('data', (data) => console.log(`echoed: ${data}`));
  socket.on('close', () => server.close());
});

// Examples end on their own: one that hangs fails.
setTimeout(() => {
  console.error('timed out after 20 s');
  process.exit(1);
}, 20_000).unref();
