// The vectors every MLS ciphersuite implementation here runs, one runner for all of them:
// node:crypto's (src/mls.ts, suites 1 to 7), WebCrypto's (src/webcrypto-mls.ts, suites 1, 2, 5
// and 7) and ts-mls's default one (1 to 7), each on the vectors of the suites it implements.
// The MLS working group's (mlswg/mls-implementations, test-vectors/, kept in the repository's
// vectors/mlswg/): crypto-basics, the key schedule, the secret tree, PSK secrets, transcript
// hashes, a Welcome and message protection. Then, for our two, RFC 5869's HKDF vectors and RFC
// 9180's HPKE base-mode ones (test/vectors/), whose ephemeral keys need randomness that can be
// pinned. The derivations are ts-mls's own functions with the implementation under test passed
// in, so that what is checked is that implementation's kdf, hash, AEAD, HPKE and signature.
import { readFileSync } from 'node:fs';
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  decodeMlsMessage,
  defaultKeyRetentionConfig,
  type FramedContent,
  type GroupContext,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  mlsExporter,
} from 'ts-mls';
import { decodeAuthenticatedContent } from 'ts-mls/authenticatedContent.js';
import { encodeCommit } from 'ts-mls/commit.js';
import { refhash } from 'ts-mls/crypto/hash.js';
import { decryptWithLabel, encryptWithLabel } from 'ts-mls/crypto/hpke.js';
import { deriveSecret, deriveTreeSecret, expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { signWithLabel, verifyWithLabel } from 'ts-mls/crypto/signature.js';
import { createConfirmationTag, verifyConfirmationTag } from 'ts-mls/framedContent.js';
import { encodeGroupContext } from 'ts-mls/groupContext.js';
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { initializeEpoch } from 'ts-mls/keySchedule.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { unprotectPublicMessage } from 'ts-mls/messageProtectionPublic.js';
import { computePskSecret, type PreSharedKeyID } from 'ts-mls/presharedkey.js';
import { encodeProposal } from 'ts-mls/proposal.js';
import { createSecretTree, deriveKey, deriveNonce, ratchetUntil } from 'ts-mls/secretTree.js';
import { expandSenderDataKey, expandSenderDataNonce } from 'ts-mls/sender.js';
import { createConfirmedHash, createInterimHash } from 'ts-mls/transcriptHash.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { describe, expect, it } from 'vitest';
import { nodeCiphersuite } from '../src/mls.js';
import { webCryptoCiphersuite } from '../src/webcrypto-mls.js';
import { hex, nodeImpl, SUITE_IDS, suiteName, toHex, webImpl } from './mls-helpers.js';

/** An implementation of MLS ciphersuites, and the suites whose vectors it runs. */
interface Implementation {
  readonly impl: string;
  /**
   * The suites it implements, by id: it runs their vectors, and is checked to implement no
   * other of 1 to 7 (so that a suite it drops fails here rather than leaving its vectors out).
   */
  readonly suites: readonly number[];
  /** Its implementation of `name`, or `undefined` if it has none. */
  readonly find: (name: CiphersuiteName) => Promise<CiphersuiteImpl | undefined>;
}

/** One of ours, whose randomness can be pinned: RFC 9180's sender keys are DeriveKeyPair(ikmE). */
interface OwnImplementation extends Implementation {
  readonly seeded: (name: CiphersuiteName, randomBytes: () => Uint8Array) => CiphersuiteImpl;
}

const NODE: OwnImplementation = {
  impl: 'node:crypto',
  suites: SUITE_IDS,
  find: async (name) => nodeCiphersuite(name),
  seeded: (name, randomBytes) => nodeImpl(name, { randomBytes }),
};

const WEBCRYPTO: OwnImplementation = {
  impl: 'WebCrypto',
  suites: [1, 2, 5, 7],
  find: async (name) => webCryptoCiphersuite(name),
  seeded: (name, randomBytes) => webImpl(name, { randomBytes }),
};

/** ts-mls's own implementation (WebCrypto, @noble and hpke-js): the reference. */
const TS_MLS_DEFAULT: Implementation = {
  impl: 'ts-mls default',
  suites: SUITE_IDS,
  find: (name) => getCiphersuiteImpl(getCiphersuiteFromName(name)),
};

const OURS = [NODE, WEBCRYPTO] as const;
const ALL = [NODE, WEBCRYPTO, TS_MLS_DEFAULT] as const;

/** The EdDSA suites, whose signatures are deterministic (RFC 8032). */
const EDDSA_SUITE_IDS: readonly number[] = [1, 3, 4, 6];

async function load(implementation: Implementation, id: number): Promise<CiphersuiteImpl> {
  const cs = await implementation.find(suiteName(id));
  if (cs === undefined) throw new Error(`no ${implementation.impl} implementation of suite ${id}`);
  return cs;
}

function loadMlsWg<T extends { cipher_suite: number }>(file: string): T[] {
  return JSON.parse(
    readFileSync(new URL(`../../../vectors/mlswg/${file}`, import.meta.url), 'utf8'),
  ) as T[];
}

/** The vectors of the suites `implementation` runs, with names for the test titles. */
function casesFor<T extends { cipher_suite: number }>(
  vectors: readonly T[],
  implementation: Implementation,
) {
  return vectors
    .filter((vector) => implementation.suites.includes(vector.cipher_suite))
    .map((vector) => ({
      suite: vector.cipher_suite,
      leaves: 'leaves' in vector && Array.isArray(vector.leaves) ? vector.leaves.length : 0,
      vector,
    }));
}

// crypto-basics.json

interface CryptoBasicsVector {
  cipher_suite: number;
  ref_hash: { label: string; value: string; out: string };
  expand_with_label: {
    secret: string;
    label: string;
    context: string;
    length: number;
    out: string;
  };
  derive_secret: { secret: string; label: string; out: string };
  derive_tree_secret: {
    secret: string;
    label: string;
    generation: number;
    length: number;
    out: string;
  };
  sign_with_label: { priv: string; pub: string; content: string; label: string; signature: string };
  encrypt_with_label: {
    priv: string;
    pub: string;
    label: string;
    context: string;
    plaintext: string;
    kem_output: string;
    ciphertext: string;
  };
}

const CRYPTO_BASICS = loadMlsWg<CryptoBasicsVector>('crypto-basics.json');

// key-schedule.json

interface KeyScheduleEpoch {
  tree_hash: string;
  commit_secret: string;
  psk_secret: string;
  confirmed_transcript_hash: string;
  group_context: string;
  joiner_secret: string;
  welcome_secret: string;
  init_secret: string;
  sender_data_secret: string;
  encryption_secret: string;
  exporter_secret: string;
  epoch_authenticator: string;
  external_secret: string;
  confirmation_key: string;
  membership_key: string;
  resumption_psk: string;
  external_pub: string;
  exporter: { label: string; context: string; length: number; secret: string };
}

interface KeyScheduleVector {
  cipher_suite: number;
  group_id: string;
  initial_init_secret: string;
  epochs: KeyScheduleEpoch[];
}

const KEY_SCHEDULE = loadMlsWg<KeyScheduleVector>('key-schedule.json');

// secret-tree.json

interface SecretTreeVector {
  cipher_suite: number;
  encryption_secret: string;
  sender_data: { sender_data_secret: string; ciphertext: string; key: string; nonce: string };
  leaves: {
    generation: number;
    handshake_key: string;
    handshake_nonce: string;
    application_key: string;
    application_nonce: string;
  }[][];
}

const SECRET_TREE = loadMlsWg<SecretTreeVector>('secret-tree.json');

// psk_secret.json

interface PskSecretVector {
  cipher_suite: number;
  psks: { psk_id: string; psk: string; psk_nonce: string }[];
  psk_secret: string;
}

const PSK_SECRET = loadMlsWg<PskSecretVector>('psk_secret.json');

// transcript-hashes.json

interface TranscriptHashesVector {
  cipher_suite: number;
  confirmation_key: string;
  authenticated_content: string;
  interim_transcript_hash_before: string;
  confirmed_transcript_hash_after: string;
  interim_transcript_hash_after: string;
}

const TRANSCRIPT_HASHES = loadMlsWg<TranscriptHashesVector>('transcript-hashes.json');

// welcome.json

interface WelcomeVector {
  cipher_suite: number;
  init_priv: string;
  signer_pub: string;
  key_package: string;
  welcome: string;
}

const WELCOME = loadMlsWg<WelcomeVector>('welcome.json');

// message-protection.json

interface MessageProtectionVector {
  cipher_suite: number;
  group_id: string;
  epoch: number;
  tree_hash: string;
  confirmed_transcript_hash: string;
  signature_priv: string;
  signature_pub: string;
  encryption_secret: string;
  sender_data_secret: string;
  membership_key: string;
  proposal: string;
  proposal_priv: string;
  proposal_pub: string;
  commit: string;
  commit_priv: string;
  commit_pub: string;
  application: string;
  application_priv: string;
}

const MESSAGE_PROTECTION = loadMlsWg<MessageProtectionVector>('message-protection.json');

// RFC 9180's base-mode vectors (test/vectors/hpke-rfc9180-base.json)

interface HpkeVector {
  name: string;
  kem_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  encryptions: { aad: string; ct: string; pt: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
}

/** The MLS suite whose HPKE is the vector's (kem_id, HKDF-SHA256, aead_id). */
function suiteOf(vector: HpkeVector): number {
  if (vector.kem_id === 0x20 && vector.aead_id === 1) return 1;
  if (vector.kem_id === 0x10 && vector.aead_id === 1) return 2;
  if (vector.kem_id === 0x20 && vector.aead_id === 3) return 3;
  throw new Error(`no suite for ${vector.name}`);
}

const HPKE_VECTORS = (
  JSON.parse(
    readFileSync(new URL('./vectors/hpke-rfc9180-base.json', import.meta.url), 'utf8'),
  ) as HpkeVector[]
).map((vector) => ({ ...vector, cipher_suite: suiteOf(vector) }));

it.each([
  ['crypto-basics.json', CRYPTO_BASICS],
  ['key-schedule.json', KEY_SCHEDULE],
  ['secret-tree.json', SECRET_TREE],
  ['psk_secret.json', PSK_SECRET],
  ['transcript-hashes.json', TRANSCRIPT_HASHES],
  ['welcome.json', WELCOME],
  ['message-protection.json', MESSAGE_PROTECTION],
] as const)('%s has vectors for suites 1 to 7, and only those', (_, vectors) => {
  const suites = [...new Set(vectors.map((vector) => vector.cipher_suite))].sort();
  expect(suites).toEqual([...SUITE_IDS]);
});

it('hpke-rfc9180-base.json has one vector for the HPKE of each of suites 1, 2 and 3', () => {
  expect(HPKE_VECTORS.map((vector) => vector.cipher_suite).sort()).toEqual([1, 2, 3]);
});

describe.each(ALL)('MLS WG vectors on $impl', (implementation) => {
  it(`runs on suites ${implementation.suites.join(', ')}: every one of 1 to 7 it implements`, async () => {
    const implemented: number[] = [];
    for (const id of SUITE_IDS) {
      if ((await implementation.find(suiteName(id))) !== undefined) implemented.push(id);
    }
    expect(implemented).toEqual(implementation.suites);
  });

  describe.each(casesFor(CRYPTO_BASICS, implementation))(
    'crypto-basics.json, suite $suite',
    ({ vector }) => {
      it('RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret', async () => {
        const cs = await load(implementation, vector.cipher_suite);
        const { ref_hash: ref, expand_with_label: expand } = vector;
        const { derive_secret: derive, derive_tree_secret: tree } = vector;
        expect(toHex(await refhash(ref.label, hex(ref.value), cs.hash))).toBe(ref.out);
        expect(
          toHex(
            await expandWithLabel(
              hex(expand.secret),
              expand.label,
              hex(expand.context),
              expand.length,
              cs.kdf,
            ),
          ),
        ).toBe(expand.out);
        expect(toHex(await deriveSecret(hex(derive.secret), derive.label, cs.kdf))).toBe(
          derive.out,
        );
        expect(
          toHex(
            await deriveTreeSecret(
              hex(tree.secret),
              tree.label,
              tree.generation,
              tree.length,
              cs.kdf,
            ),
          ),
        ).toBe(tree.out);
      });

      it('verifies the vector signature, and signs what verifies (EdDSA byte for byte)', async () => {
        const cs = await load(implementation, vector.cipher_suite);
        const { priv, pub, content, label, signature } = vector.sign_with_label;
        expect(
          await verifyWithLabel(hex(pub), label, hex(content), hex(signature), cs.signature),
        ).toBe(true);
        const tampered = hex(signature);
        tampered[5]! ^= 1;
        expect(await verifyWithLabel(hex(pub), label, hex(content), tampered, cs.signature)).toBe(
          false,
        );
        const signed = await signWithLabel(hex(priv), label, hex(content), cs.signature);
        expect(await verifyWithLabel(hex(pub), label, hex(content), signed, cs.signature)).toBe(
          true,
        );
        // Ed25519 and Ed448 are deterministic (RFC 8032); ECDSA here is randomized.
        if (EDDSA_SUITE_IDS.includes(vector.cipher_suite)) expect(toHex(signed)).toBe(signature);
      });

      it('decrypts the vector ciphertext with its private key (DecryptWithLabel)', async () => {
        const cs = await load(implementation, vector.cipher_suite);
        const { priv, pub, label, context, plaintext, kem_output, ciphertext } =
          vector.encrypt_with_label;
        const privateKey = await cs.hpke.importPrivateKey(hex(priv));
        expect(toHex(await cs.hpke.exportPublicKey(await cs.hpke.importPublicKey(hex(pub))))).toBe(
          pub,
        );
        const opened = await decryptWithLabel(
          privateKey,
          label,
          hex(context),
          hex(kem_output),
          hex(ciphertext),
          cs.hpke,
        );
        expect(toHex(opened)).toBe(plaintext);
        const sealed = await encryptWithLabel(
          await cs.hpke.importPublicKey(hex(pub)),
          label,
          hex(context),
          hex(plaintext),
          cs.hpke,
        );
        expect(
          toHex(
            await decryptWithLabel(privateKey, label, hex(context), sealed.enc, sealed.ct, cs.hpke),
          ),
        ).toBe(plaintext);
      });
    },
  );

  describe('key-schedule.json', () => {
    it.each(casesFor(KEY_SCHEDULE, implementation))('suite $suite', async ({ vector }) => {
      const cs = await load(implementation, vector.cipher_suite);
      let initSecret: Uint8Array = hex(vector.initial_init_secret);
      for (const [epoch, expected] of vector.epochs.entries()) {
        const groupContext: GroupContext = {
          version: 'mls10',
          cipherSuite: suiteName(vector.cipher_suite),
          groupId: hex(vector.group_id),
          epoch: BigInt(epoch),
          treeHash: hex(expected.tree_hash),
          confirmedTranscriptHash: hex(expected.confirmed_transcript_hash),
          extensions: [],
        };
        const at = `epoch ${epoch}`;
        expect(toHex(encodeGroupContext(groupContext)), at).toBe(expected.group_context);
        const secrets = await initializeEpoch(
          initSecret,
          hex(expected.commit_secret),
          groupContext,
          hex(expected.psk_secret),
          cs.kdf,
        );
        const { keySchedule } = secrets;
        expect(
          {
            joiner_secret: toHex(secrets.joinerSecret),
            welcome_secret: toHex(secrets.welcomeSecret),
            init_secret: toHex(keySchedule.initSecret),
            sender_data_secret: toHex(keySchedule.senderDataSecret),
            encryption_secret: toHex(secrets.encryptionSecret),
            exporter_secret: toHex(keySchedule.exporterSecret),
            epoch_authenticator: toHex(keySchedule.epochAuthenticator),
            external_secret: toHex(keySchedule.externalSecret),
            confirmation_key: toHex(keySchedule.confirmationKey),
            membership_key: toHex(keySchedule.membershipKey),
            resumption_psk: toHex(keySchedule.resumptionPsk),
          },
          at,
        ).toEqual({
          joiner_secret: expected.joiner_secret,
          welcome_secret: expected.welcome_secret,
          init_secret: expected.init_secret,
          sender_data_secret: expected.sender_data_secret,
          encryption_secret: expected.encryption_secret,
          exporter_secret: expected.exporter_secret,
          epoch_authenticator: expected.epoch_authenticator,
          external_secret: expected.external_secret,
          confirmation_key: expected.confirmation_key,
          membership_key: expected.membership_key,
          resumption_psk: expected.resumption_psk,
        });
        // external_pub: the HPKE key pair DeriveKeyPair(external_secret) gives (section 8.3).
        const { publicKey } = await cs.hpke.deriveKeyPair(keySchedule.externalSecret);
        expect(toHex(await cs.hpke.exportPublicKey(publicKey)), at).toBe(expected.external_pub);
        // MLS-Exporter: the vectors' label is the text as it stands (hex digits), as every
        // implementation that made them reads it.
        const { label, context, length, secret } = expected.exporter;
        expect(
          toHex(await mlsExporter(keySchedule.exporterSecret, label, hex(context), length, cs)),
          at,
        ).toBe(secret);
        initSecret = keySchedule.initSecret;
      }
    });
  });

  describe('secret-tree.json', () => {
    it.each(casesFor(SECRET_TREE, implementation))(
      'suite $suite, $leaves leaf tree',
      async ({ vector }) => {
        const cs = await load(implementation, vector.cipher_suite);
        const { sender_data: senderData } = vector;
        const senderDataSecret = hex(senderData.sender_data_secret);
        const sample = hex(senderData.ciphertext);
        expect(toHex(await expandSenderDataKey(cs, senderDataSecret, sample))).toBe(senderData.key);
        expect(toHex(await expandSenderDataNonce(cs, senderDataSecret, sample))).toBe(
          senderData.nonce,
        );

        const tree = await createSecretTree(
          vector.leaves.length,
          hex(vector.encryption_secret),
          cs.kdf,
        );
        const config = { ...defaultKeyRetentionConfig, maximumForwardRatchetSteps: 1 << 16 };
        for (const [leaf, generations] of vector.leaves.entries()) {
          const node = tree[2 * leaf];
          if (node === undefined) throw new Error(`no secret tree node for leaf ${leaf}`);
          let { handshake, application } = node;
          for (const expected of generations) {
            [handshake] = await ratchetUntil(handshake, expected.generation, config, cs.kdf);
            [application] = await ratchetUntil(application, expected.generation, config, cs.kdf);
            const { generation } = expected;
            expect(
              {
                handshake_key: toHex(await deriveKey(handshake.secret, generation, cs)),
                handshake_nonce: toHex(await deriveNonce(handshake.secret, generation, cs)),
                application_key: toHex(await deriveKey(application.secret, generation, cs)),
                application_nonce: toHex(await deriveNonce(application.secret, generation, cs)),
              },
              `leaf ${leaf}, generation ${generation}`,
            ).toEqual({
              handshake_key: expected.handshake_key,
              handshake_nonce: expected.handshake_nonce,
              application_key: expected.application_key,
              application_nonce: expected.application_nonce,
            });
          }
        }
      },
    );
  });

  describe('psk_secret.json', () => {
    // Eleven vectors a suite, with 0 to 10 external PSKs; one test per suite and implementation.
    const suites = [...new Set(PSK_SECRET.map((vector) => vector.cipher_suite))];
    const bySuite = suites.map((suite) => ({
      cipher_suite: suite,
      vectors: PSK_SECRET.filter((vector) => vector.cipher_suite === suite),
    }));
    it.each(casesFor(bySuite, implementation))('suite $suite', async ({ vector }) => {
      const cs = await load(implementation, vector.cipher_suite);
      expect(vector.vectors.length).toBeGreaterThan(1);
      for (const [index, { psks, psk_secret: expected }] of vector.vectors.entries()) {
        const ids: [PreSharedKeyID, Uint8Array][] = psks.map((psk) => [
          { psktype: 'external', pskId: hex(psk.psk_id), pskNonce: hex(psk.psk_nonce) },
          hex(psk.psk),
        ]);
        expect(toHex(await computePskSecret(ids, cs)), `vector ${index}, ${psks.length} PSKs`).toBe(
          expected,
        );
      }
    });
  });

  describe('transcript-hashes.json', () => {
    it.each(casesFor(TRANSCRIPT_HASHES, implementation))('suite $suite', async ({ vector }) => {
      const cs = await load(implementation, vector.cipher_suite);
      const decoded = decodeAuthenticatedContent(hex(vector.authenticated_content), 0);
      if (decoded === undefined) throw new Error('authenticated_content does not decode');
      const [{ wireformat, content, auth }] = decoded;
      if (content.contentType !== 'commit' || auth.contentType !== 'commit') {
        throw new Error('authenticated_content is not a commit');
      }
      const confirmed = await createConfirmedHash(
        hex(vector.interim_transcript_hash_before),
        { wireformat, content, signature: auth.signature },
        cs.hash,
      );
      expect(toHex(confirmed)).toBe(vector.confirmed_transcript_hash_after);
      const confirmationKey = hex(vector.confirmation_key);
      expect(toHex(await createConfirmationTag(confirmationKey, confirmed, cs.hash))).toBe(
        toHex(auth.confirmationTag),
      );
      expect(
        await verifyConfirmationTag(confirmationKey, auth.confirmationTag, confirmed, cs.hash),
      ).toBe(true);
      expect(toHex(await createInterimHash(confirmed, auth.confirmationTag, cs.hash))).toBe(
        vector.interim_transcript_hash_after,
      );
    });
  });

  describe('welcome.json', () => {
    it.each(casesFor(WELCOME, implementation))('suite $suite', async ({ vector }) => {
      const cs = await load(implementation, vector.cipher_suite);
      const keyPackageMessage = decodeMlsMessage(hex(vector.key_package), 0)?.[0];
      const welcomeMessage = decodeMlsMessage(hex(vector.welcome), 0)?.[0];
      if (keyPackageMessage?.wireformat !== 'mls_key_package') throw new Error('no key package');
      if (welcomeMessage?.wireformat !== 'mls_welcome') throw new Error('no welcome');
      const { welcome } = welcomeMessage;
      expect(welcome.cipherSuite).toBe(cs.name);

      const keyPackageRef = await makeKeyPackageRef(keyPackageMessage.keyPackage, cs.hash);
      const initPrivateKey = await cs.hpke.importPrivateKey(hex(vector.init_priv));
      // HPKE open of the group secrets, with the implementation's KEM, KDF and AEAD.
      const groupSecrets = await decryptGroupSecrets(
        initPrivateKey,
        keyPackageRef,
        welcome,
        cs.hpke,
      );
      if (groupSecrets === undefined) throw new Error('group secrets do not decode');
      expect(groupSecrets.psks).toEqual([]);
      const pskSecret = await computePskSecret([], cs);
      // The welcome key and nonce from the joiner secret, and the AEAD open of the GroupInfo.
      const groupInfo = await decryptGroupInfo(welcome, groupSecrets.joinerSecret, pskSecret, cs);
      if (groupInfo === undefined) throw new Error('group info does not decode');
      expect(groupInfo.groupContext.cipherSuite).toBe(cs.name);
      expect(await verifyGroupInfoSignature(groupInfo, hex(vector.signer_pub), cs.signature)).toBe(
        true,
      );
      expect(
        await verifyGroupInfoConfirmationTag(groupInfo, groupSecrets.joinerSecret, pskSecret, cs),
      ).toBe(true);

      // And the reverse: a GroupInfo signature of one bit off, or another signer, does not verify.
      const forged = { ...groupInfo, signature: groupInfo.signature.slice() };
      forged.signature[3]! ^= 1;
      expect(await verifyGroupInfoSignature(forged, hex(vector.signer_pub), cs.signature)).toBe(
        false,
      );
      const other = keyPackageMessage.keyPackage.leafNode.signaturePublicKey;
      expect(await verifyGroupInfoSignature(groupInfo, other, cs.signature)).toBe(false);
    });
  });

  describe('message-protection.json', () => {
    /** The content of a message, as the bytes the vector gives for it. */
    function contentBytes(content: FramedContent): string {
      switch (content.contentType) {
        case 'proposal':
          return toHex(encodeProposal(content.proposal));
        case 'commit':
          return toHex(encodeCommit(content.commit));
        case 'application':
          return toHex(content.applicationData);
      }
    }

    it.each(casesFor(MESSAGE_PROTECTION, implementation))('suite $suite', async ({ vector }) => {
      const cs = await load(implementation, vector.cipher_suite);
      const groupContext: GroupContext = {
        version: 'mls10',
        cipherSuite: suiteName(vector.cipher_suite),
        groupId: hex(vector.group_id),
        epoch: BigInt(vector.epoch),
        treeHash: hex(vector.tree_hash),
        confirmedTranscriptHash: hex(vector.confirmed_transcript_hash),
        extensions: [],
      };
      const signaturePublicKey = hex(vector.signature_pub);
      // The sender is leaf 1 of a group of two (the vectors' rules).
      const secretTree = await createSecretTree(2, hex(vector.encryption_secret), cs.kdf);

      const privateMessages = [
        ['proposal', vector.proposal_priv, vector.proposal],
        ['commit', vector.commit_priv, vector.commit],
        ['application', vector.application_priv, vector.application],
      ] as const;
      for (const [kind, message, expected] of privateMessages) {
        const decoded = decodeMlsMessage(hex(message), 0)?.[0];
        if (decoded?.wireformat !== 'mls_private_message') throw new Error(`no ${kind}_priv`);
        // Sender data AEAD open, secret tree ratchet, content AEAD open, signature verify.
        const { content } = await unprotectPrivateMessage(
          hex(vector.sender_data_secret),
          decoded.privateMessage,
          secretTree,
          [],
          groupContext,
          defaultKeyRetentionConfig,
          cs,
          signaturePublicKey,
        );
        expect(content.content.contentType, kind).toBe(kind);
        expect(contentBytes(content.content), kind).toBe(expected);
      }

      const publicMessages = [
        ['proposal', vector.proposal_pub, vector.proposal],
        ['commit', vector.commit_pub, vector.commit],
      ] as const;
      for (const [kind, message, expected] of publicMessages) {
        const decoded = decodeMlsMessage(hex(message), 0)?.[0];
        if (decoded?.wireformat !== 'mls_public_message') throw new Error(`no ${kind}_pub`);
        // Membership tag (the implementation's MAC) and signature.
        const { content } = await unprotectPublicMessage(
          hex(vector.membership_key),
          groupContext,
          [],
          decoded.publicMessage,
          cs,
          signaturePublicKey,
        );
        expect(contentBytes(content), kind).toBe(expected);
        // A membership key one bit off is refused.
        const wrongKey = hex(vector.membership_key);
        wrongKey[0]! ^= 1;
        await expect(
          unprotectPublicMessage(
            wrongKey,
            groupContext,
            [],
            decoded.publicMessage,
            cs,
            signaturePublicKey,
          ),
          kind,
        ).rejects.toThrow();
      }
    });
  });
});

describe.each(OURS)('RFC 5869 and RFC 9180 vectors on $impl', (implementation) => {
  describe('RFC 5869 HKDF-SHA256 (suite 1)', () => {
    it('A.1: basic test case', async () => {
      const cs = await load(implementation, 1);
      const prk = await cs.kdf.extract(
        hex('000102030405060708090a0b0c'),
        new Uint8Array(22).fill(0x0b),
      );
      expect(toHex(prk)).toBe('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
      expect(toHex(await cs.kdf.expand(prk, hex('f0f1f2f3f4f5f6f7f8f9'), 42))).toBe(
        '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      );
    });

    it('A.3: zero-length salt and info', async () => {
      const cs = await load(implementation, 1);
      const prk = await cs.kdf.extract(new Uint8Array(0), new Uint8Array(22).fill(0x0b));
      expect(toHex(prk)).toBe('19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04');
      expect(toHex(await cs.kdf.expand(prk, new Uint8Array(0), 42))).toBe(
        '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
      );
    });
  });

  const hpkeCases = casesFor(HPKE_VECTORS, implementation).map(({ suite, vector }) => ({
    name: vector.name,
    suite,
    vector,
  }));

  describe.each(hpkeCases)('RFC 9180 $name (suite $suite)', ({ vector }) => {
    const name = suiteName(vector.cipher_suite);
    /** The sender whose ephemeral key is DeriveKeyPair(ikmE): GenerateKeyPair draws ikmE. */
    const sender = () => implementation.seeded(name, () => hex(vector.ikmE));

    it('derives skRm, pkRm, skEm and pkEm from ikmR and ikmE', async () => {
      const cs = await load(implementation, vector.cipher_suite);
      for (const [ikm, sk, pk] of [
        [vector.ikmR, vector.skRm, vector.pkRm],
        [vector.ikmE, vector.skEm, vector.pkEm],
      ] as const) {
        const { privateKey, publicKey } = await cs.hpke.deriveKeyPair(hex(ikm));
        expect(toHex(await cs.hpke.exportPrivateKey(privateKey))).toBe(sk);
        expect(toHex(await cs.hpke.exportPublicKey(publicKey))).toBe(pk);
      }
    });

    it('opens the sequence-0 ciphertext with skRm', async () => {
      const cs = await load(implementation, vector.cipher_suite);
      const privateKey = await cs.hpke.importPrivateKey(hex(vector.skRm));
      for (const { aad, ct, pt } of vector.encryptions) {
        const plaintext = await cs.hpke.open(
          privateKey,
          hex(vector.enc),
          hex(ct),
          hex(vector.info),
          hex(aad),
        );
        expect(toHex(plaintext)).toBe(pt);
      }
    });

    it('seals to the same enc and ciphertext when its randomness is ikmE', async () => {
      const cs = await load(implementation, vector.cipher_suite);
      const publicKey = await cs.hpke.importPublicKey(hex(vector.pkRm));
      for (const { aad, ct, pt } of vector.encryptions) {
        const sealed = await sender().hpke.seal(publicKey, hex(pt), hex(vector.info), hex(aad));
        expect(toHex(sealed.enc)).toBe(vector.enc);
        expect(toHex(sealed.ct)).toBe(ct);
      }
    });

    it('exports the listed secrets, as recipient and as sender', async () => {
      const cs = await load(implementation, vector.cipher_suite);
      const privateKey = await cs.hpke.importPrivateKey(hex(vector.skRm));
      const publicKey = await cs.hpke.importPublicKey(hex(vector.pkRm));
      const info = hex(vector.info);
      for (const { exporter_context, L, exported_value } of vector.exports) {
        const context = hex(exporter_context);
        expect(
          toHex(await cs.hpke.importSecret(privateKey, context, hex(vector.enc), L, info)),
        ).toBe(exported_value);
        const { enc, secret } = await sender().hpke.exportSecret(publicKey, context, L, info);
        expect(toHex(enc)).toBe(vector.enc);
        expect(toHex(secret)).toBe(exported_value);
      }
    });
  });
});
