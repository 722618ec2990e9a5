// docs/protocol.md section 5 over real TCP: a connection_update may not change who the peer is. The
// attacker is a real client whose TCP socket the test owns: once connected (epoch 1) it builds
// a commit from its own group state, with another X.509 chain for the same key in its leaf,
// and writes it as the first record of its epoch-1 keys, which it takes from its key log.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { ContentType, encodeHandshake, HandshakeType } from '@mlstls/codec';
import { deriveApplicationSecrets, parseKeyLogLine } from '@mlstls/key-schedule';
import { RecordProtector } from '@mlstls/record';
import { decodeSessionRecord } from '@mlstls/storage';
import {
  type ClientState,
  createCommit,
  decodeGroupState,
  encodeMlsMessage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MlsTlsError, type MlsTlsServer, type MlsTlsSocket } from '../src/index.js';
import {
  closeAll,
  connectClient,
  connectRaw,
  errorsOf,
  nextError,
  nextSecureConnection,
  portOf,
  startServer,
} from './loopback.js';
import { type IssuedCertificate, issueCertificate, type NodePki, nodePki, within } from './pki.js';

const WAIT_MS = 10_000;
const SUITE_1 = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

let pki: NodePki;
/** A second certificate for the client's key: another identity, the same signature key. */
let impostor: IssuedCertificate;

beforeAll(async () => {
  pki = await nodePki();
  impostor = await issueCertificate({
    subject: 'someone else',
    issuer: pki.intermediate,
    keys: pki.client.keys,
    extendedKeyUsage: ['clientAuth'],
  });
});

afterEach(closeAll);

/**
 * The initiator's record after its key confirmation, sealed as its own record layer would
 * seal it: c_ap_secret of the key log's master secret (docs/protocol.md section 3), sequence
 * number 1 (0 carried its epoch_key_update(1), section 4).
 */
function sealSecondClientRecord(masterSecret: Uint8Array, content: Uint8Array): Uint8Array {
  const { clientTrafficSecret } = deriveApplicationSecrets({ hash: 'sha256', masterSecret });
  const protector = new RecordProtector({
    aead: 'aes-128-gcm',
    hash: 'sha256',
    trafficSecret: clientTrafficSecret,
  });
  protector.seal(ContentType.handshake, new Uint8Array(1));
  expect(protector.sequenceNumber).toBe(1n);
  return protector.seal(ContentType.handshake, content);
}

/** A client with an X.509 credential on a TCP socket the test holds, keeping its secrets. */
async function attacker(server: MlsTlsServer) {
  const raw: Socket = await connectRaw(portOf(server));
  const serverSide = within(nextSecureConnection(server), WAIT_MS, 'secureConnection');
  const client = connectClient({
    socket: raw,
    servername: 'localhost',
    ca: pki.root.pem,
    key: pki.client.keyPem,
    cert: pki.clientChain,
  });
  const sessions: Buffer[] = [];
  const masterSecrets = new Map<bigint, Uint8Array>();
  client.on('session', (session: Buffer) => sessions.push(session));
  client.on('keylog', (line: Buffer) => {
    const entry = parseKeyLogLine(line.toString('latin1'));
    if (entry !== undefined) masterSecrets.set(entry.epoch, entry.masterSecret);
  });
  await within(once(client, 'secureConnect'), WAIT_MS, 'secureConnect');
  expect(client.epoch).toBe(1n);
  const record = decodeSessionRecord(sessions.at(-1)!);
  expect(record.epoch).toBe(1n);
  const decoded = decodeGroupState(record.state, 0);
  if (decoded === undefined) throw new Error('the session holds no group state');
  const group: ClientState = { ...decoded[0], clientConfig: defaultClientConfig };
  const masterSecret = masterSecrets.get(1n);
  if (masterSecret === undefined) throw new Error('no key log line for epoch 1');
  return { raw, client, peer: await serverSide, group, masterSecret };
}

/**
 * A self-update commit of `group`, its own leaf presenting `certificates` if given, as the
 * body of a connection_update.
 */
async function connectionUpdate(
  group: ClientState,
  certificates?: Uint8Array[],
): Promise<Uint8Array> {
  let state = group;
  if (certificates !== undefined) {
    const own = group.privatePath.leafIndex * 2;
    const node = group.ratchetTree[own];
    if (node?.nodeType !== 'leaf') throw new Error('no own leaf in the tree');
    const tree = group.ratchetTree.slice();
    tree[own] = {
      ...node,
      leaf: { ...node.leaf, credential: { credentialType: 'x509', certificates } },
    };
    state = { ...group, ratchetTree: tree };
  }
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE_1));
  const { commit } = await createCommit({ state, cipherSuite: cs });
  return encodeHandshake({
    msgType: HandshakeType.connection_update,
    update: encodeMlsMessage(commit),
  });
}

async function untilEpoch(socket: MlsTlsSocket, epoch: bigint): Promise<void> {
  while (socket.epoch < epoch) {
    await within(once(socket, 'epoch'), WAIT_MS, `epoch ${epoch}`);
  }
}

describe('an update may not change who the peer is (over TCP)', () => {
  it('a connection_update keeping the credential is applied: the crafting is sound', async () => {
    const server = await startServer({
      key: pki.server.keyPem,
      cert: pki.serverChain,
      requestCert: true,
      ca: pki.root.pem,
    });
    const { raw, peer, group, masterSecret } = await attacker(server);
    expect(peer.authorized).toBe(true);
    const update = await connectionUpdate(group);
    raw.write(sealSecondClientRecord(masterSecret, update));
    await untilEpoch(peer, 2n);
    expect(peer.epoch).toBe(2n);
  });

  it('a connection_update whose commit swaps the X.509 chain is ERR_MLSTLS_BAD_CERTIFICATE; the client gets bad_certificate', async () => {
    const server = await startServer({
      key: pki.server.keyPem,
      cert: pki.serverChain,
      requestCert: true,
      ca: pki.root.pem,
    });
    const { raw, client, peer, group, masterSecret } = await attacker(server);
    // A valid chain to the same anchor, for the same key: only the identity differs.
    const update = await connectionUpdate(group, [impostor.der, pki.intermediate.der]);
    const serverFailed = within(nextError(peer), WAIT_MS, "the server socket's error");
    const clientFailed = within(nextError(client), WAIT_MS, "the client's error");
    raw.write(sealSecondClientRecord(masterSecret, update));
    const error = (await serverFailed) as MlsTlsError;
    expect(error).toBeInstanceOf(MlsTlsError);
    expect(error.code).toBe('ERR_MLSTLS_BAD_CERTIFICATE');
    expect(error.alert).toBe(42);
    // ts-mls's credential validation hook refused it (its ValidationError is the cause).
    expect(String(error.cause)).toMatch(/validate credential/i);
    const received = (await clientFailed) as MlsTlsError;
    expect(received.code).toBe('ERR_MLSTLS_ALERT_RECEIVED');
    expect(received.alert).toBe(42);
    expect(received.alertName).toBe('bad_certificate');
    expect(peer.epoch).toBe(1n);
    expect(errorsOf(peer)).toHaveLength(1);
  });
});
