// The sans-IO state machine of @mlstls/state-machine over a transport of your own: an
// Initiator (the TLS client) and a Responder (the TLS server) that never touch a socket, wired
// to the two ends of an in-memory pipe by a small loop that does what every binding does
// (send what `poll()` says to send, feed what arrives to `receive()`). They complete the MLS
// handshake, send data both ways, make a post-compromise-security update from each side and a
// TLS key update, and close with close_notify. `node main.mjs`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { generateCredential, Initiator, Responder } from '@mlstls/state-machine';

const STEP_TIMEOUT_MS = 10_000;
const text = new TextEncoder();
const fromBytes = new TextDecoder();

/**
 * The user-made transport: two ends of a pipe in memory. Bytes sent at one end arrive at the
 * other on a later turn of the event loop, in order, as from a socket; any byte-stream
 * transport (a socket, a WebSocket, a serial line) takes its place the same way.
 */
class PipeEnd {
  /** The other end; set by `pipe()`. */
  peer = undefined;
  /** Called with every chunk that arrives. */
  onData = () => {};
  bytesSent = 0;

  send(bytes) {
    this.bytesSent += bytes.length;
    const chunk = bytes.slice(); // the state machine may reuse its buffers
    setImmediate(() => this.peer.onData(chunk));
  }
}

function pipe() {
  const [a, b] = [new PipeEnd(), new PipeEnd()];
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/**
 * One endpoint on one transport: hands every output of the state machine to the transport or
 * the application, and emits them as events so that the code below can wait for them.
 */
class Connection extends EventEmitter {
  received = [];

  constructor(name, endpoint, transport) {
    super();
    this.name = name;
    this.endpoint = endpoint;
    this.transport = transport;
    transport.onData = (chunk) => this.#after(endpoint.receive(chunk));
  }

  /** Runs a command (`write`, `update`, ...) and acts on its outputs; resolves with its result. */
  async run(command) {
    const result = command(this.endpoint);
    void this.endpoint.settled().then(() => this.#drain());
    await result;
    this.#drain();
  }

  /** Resolves at the next `event`, rejects at an error or after STEP_TIMEOUT_MS. */
  next(event) {
    return once(this, event, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
  }

  #after(task) {
    task.then(
      () => this.#drain(),
      (error) => this.emit('error', error),
    );
  }

  #drain() {
    const { endpoint, name } = this;
    for (let output = endpoint.poll(); output; output = endpoint.poll()) {
      switch (output.type) {
        case 'send':
          this.transport.send(output.data);
          break;
        case 'data':
          this.received.push(fromBytes.decode(output.data));
          console.log(`${name}: received "${this.received.at(-1)}"`);
          this.emit('data');
          break;
        case 'handshakeComplete':
          console.log(`${name}: handshake complete, ${output.info.ciphersuite}`);
          this.emit('handshakeComplete', output.info);
          break;
        case 'epochChanged':
          console.log(`${name}: epoch ${output.epoch} (${output.cause})`);
          this.emit('epoch', output.epoch);
          break;
        case 'keyUpdated':
          console.log(`${name}: ${output.direction} keys at generation ${output.generation}`);
          this.emit('keyUpdated', output.direction);
          break;
        case 'peerClosed':
          console.log(`${name}: the peer sent close_notify`);
          this.emit('peerClosed');
          break;
        case 'error':
          this.emit('error', output.error);
          break;
      }
    }
  }
}

// The README's start: a responder with a credential that the initiator pins.
const random = (n) => new Uint8Array(randomBytes(n));
const credential = await generateCredential();
const server = new Responder({ random, now: Date.now, credential });
const client = new Initiator({
  random,
  now: Date.now,
  peerSignaturePublicKey: credential.signaturePublicKey,
});

const [clientEnd, serverEnd] = pipe();
const initiator = new Connection('initiator', client, clientEnd);
const responder = new Connection('responder', server, serverEnd);
const failed = new Promise((_, reject) => {
  initiator.on('error', reject);
  responder.on('error', reject);
});

async function main() {
  // The handshake: the responder reports it once the initiator has confirmed the keys.
  const handshakes = [initiator.next('handshakeComplete'), responder.next('handshakeComplete')];
  await initiator.run((endpoint) => endpoint.start());
  await Promise.all(handshakes);
  assert.equal(client.epoch, 1n);

  // Data both ways.
  let arrived = responder.next('data');
  await initiator.run((endpoint) => endpoint.write(text.encode('hello from the initiator')));
  await arrived;
  arrived = initiator.next('data');
  await responder.run((endpoint) => endpoint.write(text.encode('hello from the responder')));
  await arrived;

  // A post-compromise-security update from each side: an MLS commit, a new epoch and keys.
  // `update()` resolves once the peer has confirmed the commit; the peer's own side enters the
  // epoch when the updater's confirmation comes back.
  for (const [updater, peer] of [
    [initiator, responder],
    [responder, initiator],
  ]) {
    const entered = [updater.next('epoch'), peer.next('epoch')];
    await updater.run((endpoint) => endpoint.update());
    await Promise.all(entered);
  }
  assert.equal(client.epoch, 3n);
  assert.equal(server.epoch, 3n);
  const exported = (endpoint) => Buffer.from(endpoint.exportKeyingMaterial(16, 'example'));
  assert.deepEqual(exported(client), exported(server));
  console.log(`both at epoch ${client.epoch}, exporters equal`);

  // A TLS key update of the initiator's sending keys, then data under the new keys.
  const followed = responder.next('keyUpdated');
  await initiator.run((endpoint) => endpoint.keyUpdate());
  await followed;
  arrived = responder.next('data');
  await initiator.run((endpoint) => endpoint.write(text.encode('after the key update')));
  await arrived;

  // close_notify from both sides.
  const closed = [responder.next('peerClosed'), initiator.next('peerClosed')];
  await initiator.run((endpoint) => endpoint.close());
  await responder.run((endpoint) => endpoint.close());
  await Promise.all(closed);

  assert.deepEqual(responder.received, ['hello from the initiator', 'after the key update']);
  assert.deepEqual(initiator.received, ['hello from the responder']);
  console.log(`bytes on the pipe: ${clientEnd.bytesSent} out, ${serverEnd.bytesSent} back`);
  console.log('state-machine: OK');
}

// Every step above is bounded; so is the whole run.
setTimeout(() => {
  console.error('timed out after 30 s');
  process.exit(1);
}, 30_000).unref();

await Promise.race([main(), failed]);
