// The record layer alone (@mlstls/record), keyed as mlstls keys it: traffic secrets from an
// epoch's master secret through the TLS 1.3 key schedule (@mlstls/key-schedule), records sealed
// on node:crypto and opened on @noble (@mlstls/crypto), a byte stream split anywhere, a TLS
// KeyUpdate, and a tampered record refused. Every result is checked. `node main.mjs`.
import assert from 'node:assert/strict';
import {
  ContentType,
  decodeHandshake,
  encodeHandshake,
  HandshakeType,
  KeyUpdateRequest,
  MlsTlsError,
} from '@mlstls/codec';
import { isNativeAeadAvailable, secureRandom } from '@mlstls/crypto';
import { deriveApplicationSecrets } from '@mlstls/key-schedule';
import { RecordFramer, RecordProtector } from '@mlstls/record';

const suite = { aead: 'aes-128-gcm', hash: 'sha256' };
const text = new TextEncoder();
const fromBytes = new TextDecoder();

// In mlstls the master secret is exported from the MLS epoch; here it is random.
const masterSecret = secureRandom(32);
const { clientTrafficSecret } = deriveApplicationSecrets({ hash: suite.hash, masterSecret });
masterSecret.fill(0); // docs/protocol.md section 3: the master secret goes at once

// One direction, client to server: the client seals, the server opens.
const sealer = new RecordProtector({ ...suite, trafficSecret: clientTrafficSecret });
const opener = new RecordProtector({
  ...suite,
  trafficSecret: clientTrafficSecret,
  provider: 'noble',
});
clientTrafficSecret.fill(0); // the protectors keep their own copies
console.log(`sealing on node:crypto (native AEAD: ${isNativeAeadAvailable()}), opening on @noble`);

// Three records on the wire: data, data, then a KeyUpdate, after which the sender moves on.
const wire = [
  sealer.seal(ContentType.application_data, text.encode('hello')),
  sealer.seal(ContentType.application_data, text.encode('record layer')),
  sealer.seal(
    ContentType.handshake,
    encodeHandshake({
      msgType: HandshakeType.key_update,
      requestUpdate: KeyUpdateRequest.update_not_requested,
    }),
  ),
];
sealer.nextGeneration(); // RFC 8446 4.6.3: new sending keys right after key_update
wire.push(sealer.seal(ContentType.application_data, text.encode('after the key update')));
const stream = Buffer.concat(wire);
console.log(`sealed ${wire.length} records, ${stream.length} bytes`);

// The server receives the stream in 7-byte pieces and frames it into records again.
const framer = new RecordFramer();
const received = [];
for (let offset = 0; offset < stream.length; offset += 7) {
  framer.push(stream.subarray(offset, offset + 7));
  for (let record = framer.next(); record; record = framer.next()) {
    const { contentType, content } = opener.open(record);
    if (contentType === ContentType.handshake) {
      const message = decodeHandshake(content);
      assert.equal(message.msgType, HandshakeType.key_update);
      opener.nextGeneration(); // the receiver follows
      console.log(`opened key_update: now at generation ${opener.generation}`);
    } else {
      received.push(fromBytes.decode(content));
      console.log(`opened application_data "${received.at(-1)}"`);
    }
  }
}
assert.deepEqual(received, ['hello', 'record layer', 'after the key update']);
assert.equal(framer.hasPartialRecord, false);

// A record changed on the way does not open: bad_record_mac.
const tampered = sealer.seal(ContentType.application_data, text.encode('tampered'));
tampered[tampered.length - 1] ^= 1;
try {
  opener.open(tampered);
  throw new Error('a tampered record opened');
} catch (error) {
  assert.ok(error instanceof MlsTlsError, `not an MlsTlsError: ${error}`);
  assert.equal(error.alertName, 'bad_record_mac');
  console.log(`tampered record: ${error.code} -> alert ${error.alertName}`);
}

sealer.destroy();
opener.destroy(); // erases the keys
console.log('record: OK');
