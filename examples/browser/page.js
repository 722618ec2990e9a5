// The browser side of the example: @mlstls/streams over a WebSocket to the Node server that
// served this page. Each step is shown as it completes; the whole run ends up in
// `window.mlstlsResult` (what the test reads) and in `document.body.dataset.state`.
import { fromWebSocket, secureClient, TrustAnchors } from '@mlstls/streams';

const steps = document.querySelector('#steps');
const epochsCell = document.querySelector('#epochs');

/** Adds a row to the page's table of steps. */
function show(step, detail) {
  const row = steps.insertRow();
  row.insertCell().textContent = step;
  row.insertCell().textContent = detail;
  console.log(`${step}: ${detail}`);
}

/** One line (without its newline) from `reader`, whatever the records' boundaries. */
function lineReader(readable) {
  const reader = readable.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  return {
    async next() {
      for (;;) {
        const end = pending.indexOf('\n');
        if (end >= 0) {
          const line = pending.slice(0, end);
          pending = pending.slice(end + 1);
          return line;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the server closed before a whole line');
        pending += decoder.decode(value, { stream: true });
      }
    },
    /** Reads to the end: the server's close_notify. */
    async rest() {
      for (;;) {
        const { done } = await reader.read();
        if (done) return;
      }
    },
  };
}

async function run() {
  const epochs = [];
  const keyUpdates = [];
  const replies = [];
  const showEpochs = () => {
    epochsCell.textContent = epochs.map(([epoch, cause]) => `${epoch} (${cause})`).join(', ');
  };

  const ca = TrustAnchors.from(await (await fetch('/ca.pem')).text());
  const socket = new WebSocket(`ws://${location.host}/mlstls`);
  const client = secureClient(fromWebSocket(socket), {
    ca,
    // Checked against the certificate's names: 127.0.0.1 or localhost, as the page was opened.
    serverName: location.hostname,
    // No provider: the fastest the browser has, found by feature detection (WebCrypto).
    onEpoch: (epoch, cause) => {
      epochs.push([String(epoch), cause]);
      showEpochs();
    },
    onKeyUpdate: (direction, generation) => keyUpdates.push([direction, generation]),
  });

  const started = performance.now();
  const info = await client.handshake;
  const subject = info.peerCertificate?.subject?.CN ?? '?';
  show(
    'handshake',
    `epoch ${info.epoch}, MLS ciphersuite ${info.ciphersuite}, ${info.crypto} crypto, ` +
      `certificate "${subject}" ${info.authorized ? 'verified against the CA' : 'NOT verified'}, ` +
      `${Math.round(performance.now() - started)} ms`,
  );

  const writer = client.writable.getWriter();
  const lines = lineReader(client.readable);
  const say = async (text) => {
    await writer.write(new TextEncoder().encode(`${text}\n`));
    const reply = await lines.next();
    replies.push(reply);
    show('data', `sent "${text}", the server answered: ${reply}`);
  };

  await say('hello from the browser');
  await client.update();
  show('update', `a post-compromise-security update (an MLS commit): epoch ${client.epoch}`);
  await say('after the update');
  await client.keyUpdate({ requestPeer: true });
  show('key update', 'TLS KeyUpdate of the browser\u2019s keys, the server asked for one too');
  await say('after the key update');

  await writer.close();
  await lines.rest();
  await client.closed;
  show('close', 'close_notify both ways, the WebSocket closed');

  return {
    handshake: {
      epoch: String(info.epoch),
      ciphersuite: info.ciphersuite,
      crypto: info.crypto,
      authorized: info.authorized,
      subject,
    },
    epochs,
    keyUpdates,
    replies,
    finalEpoch: String(client.epoch),
  };
}

run().then(
  (result) => {
    window.mlstlsResult = result;
    document.body.dataset.state = 'done';
  },
  (error) => {
    show('failed', `${error.code ?? error.name}: ${error.message}`);
    window.mlstlsResult = { error: { code: error.code, message: error.message } };
    document.body.dataset.state = 'failed';
  },
);
