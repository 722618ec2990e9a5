/**
 * Fuzz targets, one per parser (records, handshake messages, the section 7 extensions, X.509
 * chains), one for the responder's handshake and one for its resumption of a stored session,
 * each run for a time
 * budget: random bytes and mutations of valid messages go in; a result or an MlsTlsError whose
 * alert is its code's may come out, nothing else. The unit tests run the same kind of property briefly; this runs it for as long as asked.
 *
 *   pnpm fuzz                     (every target, 20 s each)
 *   pnpm fuzz -- --seconds 300 --target record
 */
import { parseArgs } from 'node:util';
import {
  ContentType,
  decodeAlert,
  decodeHandshake,
  decodeProtocolNameList,
  decodeRecordHeader,
  decodeServerName,
  ErrorCode,
  encodeHandshake,
  encodeProtocolNameList,
  encodeServerName,
  HandshakeType,
  MlsTlsError,
} from '@mlstls/codec';
import {
  HandshakeReassembler,
  openPlaintextRecord,
  RecordFramer,
  RecordProtector,
} from '@mlstls/record';
import { generateCredential, Initiator, Responder } from '@mlstls/state-machine';
import { encodeSessionRecord, MemoryStore, type SessionRecord } from '@mlstls/storage';
import { issueCertificate } from '@mlstls/test-support';
import {
  describeCertificate,
  TrustAnchors,
  verifyCertificateChain,
  x509CredentialFromJwk,
} from '@mlstls/x509';
import fc from 'fast-check';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    seconds: { type: 'string', default: '20' },
    target: { type: 'string' },
    seed: { type: 'string' },
  },
});

/** Runs `parse`; returns normally for a result or a well-formed MlsTlsError, throws otherwise. */
function survives(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    if (!(error instanceof MlsTlsError) || error.alert !== ErrorCode[error.code]) throw error;
  }
}

/** A valid input with some bytes flipped, inserted or cut: reaches deeper than random bytes. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(2))))
    .map(([bytes, edits]) => {
      let out = Array.from(bytes);
      for (const [at, value, kind] of edits) {
        const i = out.length === 0 ? 0 : at % out.length;
        if (kind === 0) out[i] = value;
        else if (kind === 1) out.splice(i, 0, value);
        else out = out.slice(0, i);
      }
      return Uint8Array.from(out);
    });
}

const mlsBody = (wireFormat: number) =>
  fc.uint8Array({ maxLength: 200 }).map((rest) => Uint8Array.of(0, 1, 0, wireFormat, ...rest));

const validHandshake = fc
  .oneof(
    mlsBody(5).map((keyPackage) => ({ msgType: HandshakeType.client_hello, keyPackage })),
    mlsBody(3).map((welcome) => ({ msgType: HandshakeType.server_hello, welcome })),
    mlsBody(2).map((update) => ({ msgType: HandshakeType.connection_update, update })),
    mlsBody(2).map((commit) => ({ msgType: HandshakeType.resumption, commit })),
    fc.nat(2 ** 32 - 1).map((epoch) => ({ msgType: HandshakeType.epoch_key_update, epoch })),
    fc.constantFrom(0 as const, 1 as const).map((requestUpdate) => ({
      msgType: HandshakeType.key_update,
      requestUpdate,
    })),
  )
  .map((message) => encodeHandshake(message));

const secret = new Uint8Array(32).fill(0x42);
const protector = () =>
  new RecordProtector({ aead: 'aes-128-gcm', hash: 'sha256', trafficSecret: secret });
const validRecords = fc
  .array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 })
  .map((contents) => {
    const fresh = protector();
    return Uint8Array.from(
      contents.flatMap((content) => [...fresh.seal(ContentType.application_data, content)]),
    );
  });

const inputs = (valid: fc.Arbitrary<Uint8Array>, maxLength = 600) =>
  fc.oneof(fc.uint8Array({ maxLength }), mutated(valid));

// A real client_hello record (a KeyPackage of suite 1), whose mutations reach the MLS decoders
// and the responder's checks.
const random = (length: number) => crypto.getRandomValues(new Uint8Array(length));
const now = Date.now;
const responderCredential = await generateCredential();
// With a server name and an ALPN list, so that mutations reach the section 7 decoders too.
const clientHello = await (async () => {
  const initiator = new Initiator({
    random,
    now,
    rejectUnauthorized: false,
    serverName: 'fuzz.example',
    alpnProtocols: ['h2', 'http/1.1'],
  });
  await initiator.start();
  const output = initiator.poll();
  if (output?.type !== 'send') throw new Error('the initiator sent no client_hello');
  return output.data;
})();

/**
 * Feeds `bytes` to a fresh responder, cut in pieces: it must take them without throwing and
 * report at most one error, a well-formed MlsTlsError.
 */
const responderOutcomes = new Map<string, number>();

async function responderSurvives(bytes: Uint8Array): Promise<void> {
  const responder = new Responder({
    random,
    now,
    credential: responderCredential,
    alpnProtocols: ['h2'],
    selectCredential: (name) => (name === 'fuzz.example' ? responderCredential : undefined),
  });
  const error = await feed(responder, bytes, 211);
  responderOutcomes.set(error.code, (responderOutcomes.get(error.code) ?? 0) + 1);
}

/**
 * Gives `bytes` to a responder in pieces of `piece` bytes, then ends the transport, and returns
 * the one error that must come out: a well-formed MlsTlsError. Every input ends in one: at the
 * latest, the transport ends without close_notify.
 */
async function feed(responder: Responder, bytes: Uint8Array, piece: number): Promise<MlsTlsError> {
  for (let at = 0; at < bytes.length; at += piece) {
    await responder.receive(bytes.subarray(at, at + piece));
  }
  await responder.receiveEnd();
  const errors: MlsTlsError[] = [];
  for (let output = responder.poll(); output; output = responder.poll()) {
    if (output.type === 'error') errors.push(output.error);
  }
  const [error] = errors;
  if (errors.length !== 1 || error === undefined) throw new Error(`${errors.length} errors`);
  if (!(error instanceof MlsTlsError) || error.alert !== ErrorCode[error.code]) throw error;
  return error;
}

// A real resumption flight (connection_update(C1), resumption(C2)) of a stored session, whose
// mutations reach the responder's session lookup and the commits' processing.
const resumptionWorld = await (async () => {
  const initiatorStore = new MemoryStore();
  const responderStore = new MemoryStore();
  const sessionId = Uint8Array.of(1);
  const pinned = { peerSignaturePublicKey: responderCredential.signaturePublicKey };
  const initiatorOptions = { random, now, store: initiatorStore, sessionId, ...pinned };
  const responder = new Responder({
    random,
    now,
    credential: responderCredential,
    store: responderStore,
  });
  const initiator = new Initiator(initiatorOptions);
  await initiator.start();
  await pump(initiator, responder);
  const lost = initiator.update(); // its connection_update is lost below
  lost.catch(() => {});
  await initiator.settled();
  while (initiator.poll() !== undefined) {}
  const resuming = new Initiator(initiatorOptions);
  await resuming.start();
  const flight: number[] = [];
  for (let output = resuming.poll(); output; output = resuming.poll()) {
    if (output.type === 'send') flight.push(...output.data);
  }
  const groupId = responder.handshake!.groupId;
  const stored = (await responderStore.get(groupId)) as SessionRecord;
  return { flight: Uint8Array.from(flight), groupId, stored };
})();

/** Moves every record between two endpoints until neither has anything to send. */
async function pump(a: Initiator | Responder, b: Initiator | Responder): Promise<void> {
  for (let moved = true; moved; ) {
    moved = false;
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await from.settled();
      for (let output = from.poll(); output; output = from.poll()) {
        if (output.type === 'send') {
          moved = true;
          await to.receive(output.data);
        }
      }
    }
  }
}

const resumptionOutcomes = new Map<string, number>();

/**
 * Feeds `bytes` to a fresh responder whose store holds the session: it must end in one
 * well-formed MlsTlsError, and the stored session is byte for byte what it was unless the
 * flight resumed it.
 */
async function resumptionSurvives(bytes: Uint8Array): Promise<void> {
  const { groupId, stored } = resumptionWorld;
  const store = new MemoryStore();
  await store.compareAndSet(groupId, null, stored);
  const responder = new Responder({ random, now, credential: responderCredential, store });
  const error = await feed(responder, bytes, 307);
  const resumed = responder.handshake?.resumed === true;
  const after = await store.get(groupId);
  if (!resumed && hex(encodeSessionRecord(after!)) !== hex(encodeSessionRecord(stored))) {
    throw new Error('a refused flight changed the stored session');
  }
  const outcome = resumed ? 'resumed' : error.code;
  resumptionOutcomes.set(outcome, (resumptionOutcomes.get(outcome) ?? 0) + 1);
}

// A real chain (root -> intermediate -> leaf), whose mutated leaves and intermediates reach the
// DER parser, the path search and the signature checks.
const pki = await (async () => {
  const root = await issueCertificate({ subject: 'fuzz root', ca: true });
  const intermediate = await issueCertificate({ subject: 'fuzz CA', issuer: root, ca: true });
  const leaf = await issueCertificate({
    subject: 'fuzz.example',
    issuer: intermediate,
    dnsNames: ['fuzz.example'],
  });
  const { signaturePublicKey } = x509CredentialFromJwk([leaf.der], leaf.jwk);
  return { anchors: TrustAnchors.from(root.der), leaf, intermediate, signaturePublicKey };
})();

const chainOutcomes = new Map<string, number>();

/** Verifies a chain with a mutated certificate: a result or a well-formed MlsTlsError. */
async function chainSurvives([leaf, intermediate]: [Uint8Array, Uint8Array]): Promise<void> {
  let outcome = 'verified';
  try {
    survives(() => describeCertificate(leaf));
    await verifyCertificateChain([leaf, intermediate], {
      anchors: pki.anchors,
      now: now(),
      purpose: 'server',
      signaturePublicKey: pki.signaturePublicKey,
    });
  } catch (error) {
    if (!(error instanceof MlsTlsError) || error.alert !== ErrorCode[error.code]) throw error;
    outcome = error.code;
  }
  chainOutcomes.set(outcome, (chainOutcomes.get(outcome) ?? 0) + 1);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const targets: Record<
  string,
  fc.IPropertyWithHooks<[Uint8Array]> | fc.IProperty<[Uint8Array]> | fc.IAsyncProperty<[Uint8Array]>
> = {
  handshake: fc.property(inputs(validHandshake), (bytes) => survives(() => decodeHandshake(bytes))),
  alert: fc.property(inputs(fc.constant(Uint8Array.of(2, 40))), (bytes) =>
    survives(() => decodeAlert(bytes)),
  ),
  'record-header': fc.property(inputs(fc.constant(Uint8Array.of(23, 3, 3, 0, 20))), (bytes) =>
    survives(() => decodeRecordHeader(bytes)),
  ),
  'plaintext-record': fc.property(
    inputs(
      validHandshake.map((m) => Uint8Array.of(22, 3, 3, m.length >> 8, m.length & 0xff, ...m)),
    ),
    (bytes) => survives(() => openPlaintextRecord(bytes)),
  ),
  reassembler: fc.property(inputs(validHandshake), (bytes) =>
    survives(() => {
      const reassembler = new HandshakeReassembler({ maxMessageLength: 4096 });
      for (let at = 0; at < bytes.length; at += 7) reassembler.push(bytes.subarray(at, at + 7));
      reassembler.checkBoundary();
    }),
  ),
  record: fc.property(inputs(validRecords), (bytes) =>
    survives(() => {
      const framer = new RecordFramer();
      const opener = protector();
      for (let at = 0; at < bytes.length; at += 13) framer.push(bytes.subarray(at, at + 13));
      for (let record = framer.next(); record; record = framer.next()) opener.open(record);
    }),
  ),
  'server-name': fc.property(inputs(fc.constant(encodeServerName('fuzz.example'))), (bytes) =>
    survives(() => decodeServerName(bytes)),
  ),
  alpn: fc.property(
    inputs(
      fc
        .array(fc.uint8Array({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 })
        .map(encodeProtocolNameList),
    ),
    (bytes) => survives(() => decodeProtocolNameList(bytes)),
  ),
  'certificate-chain': fc.asyncProperty(inputs(fc.constant(pki.leaf.der), 1200), (leaf) =>
    chainSurvives([leaf, pki.intermediate.der]),
  ),
  'certificate-issuer': fc.asyncProperty(
    inputs(fc.constant(pki.intermediate.der), 1200),
    (intermediate) => chainSurvives([pki.leaf.der, intermediate]),
  ),
  responder: fc.asyncProperty(inputs(fc.constant(clientHello), 1200), responderSurvives),
  resumption: fc.asyncProperty(
    inputs(fc.constant(resumptionWorld.flight), 2400),
    resumptionSurvives,
  ),
};

const seconds = Number(args.seconds);
const chosen = args.target ? [args.target] : Object.keys(targets);
let failed = false;
for (const name of chosen) {
  const property = targets[name];
  if (!property)
    throw new Error(`unknown target ${name}; targets: ${Object.keys(targets).join(', ')}`);
  chainOutcomes.clear();
  const started = performance.now();
  const details = await fc.check(property, {
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: seconds * 1000,
    markInterruptAsFailure: false,
    ...(args.seed ? { seed: Number(args.seed) } : {}),
  });
  const elapsed = ((performance.now() - started) / 1000).toFixed(1);
  if (details.failed) {
    failed = true;
    console.log(`${name}: FAILED after ${details.numRuns} inputs (seed ${details.seed})`);
    console.log(fc.defaultReportMessage(details));
  } else {
    console.log(`${name}: ${details.numRuns} inputs in ${elapsed} s, only MlsTlsError came out`);
  }
  // How deep the inputs went: a handshake or resumption that completes ends in TRUNCATED.
  const outcomes = {
    responder: responderOutcomes,
    resumption: resumptionOutcomes,
    'certificate-chain': chainOutcomes,
    'certificate-issuer': chainOutcomes,
  }[name];
  if (outcomes !== undefined) {
    console.log(`  ${[...outcomes].map(([code, count]) => `${code} ${count}`).join(', ')}`);
  }
}
process.exitCode = failed ? 1 : 0;
