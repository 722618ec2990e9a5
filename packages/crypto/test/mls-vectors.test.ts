// The MLS working group's vectors beyond crypto-basics (mlswg/mls-implementations, test-vectors/):
// the key schedule, the secret tree, PSK secrets, transcript hashes and a Welcome, for every suite
// they cover (1 to 7), each on node:crypto's implementation and on ts-mls's default one. The
// derivations are ts-mls's own functions with the implementation under test passed in, so that
// what is checked is that implementation's kdf, hash, AEAD, HPKE and signature.
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

const SUITES: Readonly<Record<number, CiphersuiteName>> = {
  1: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  2: 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256',
  3: 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519',
  4: 'MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448',
  5: 'MLS_256_DHKEMP521_AES256GCM_SHA512_P521',
  6: 'MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448',
  7: 'MLS_256_DHKEMP384_AES256GCM_SHA384_P384',
};

const hex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (data: Uint8Array) => Buffer.from(data).toString('hex');

function suiteName(id: number): CiphersuiteName {
  const name = SUITES[id];
  if (name === undefined) throw new Error(`no MLS suite ${id}`);
  return name;
}

/** The two implementations every vector runs on. */
const IMPLEMENTATIONS = [
  {
    impl: 'node:crypto',
    load: async (name: CiphersuiteName): Promise<CiphersuiteImpl> => {
      const cs = nodeCiphersuite(name);
      if (cs === undefined) throw new Error(`no node:crypto implementation of ${name}`);
      return cs;
    },
  },
  {
    impl: 'ts-mls default',
    load: (name: CiphersuiteName) => getCiphersuiteImpl(getCiphersuiteFromName(name)),
  },
] as const;

function load<T extends { cipher_suite: number }>(file: string): T[] {
  return JSON.parse(
    readFileSync(new URL(`../../../vectors/mlswg/${file}`, import.meta.url), 'utf8'),
  ) as T[];
}

/** Every (vector, implementation) pair, with names for the test titles. */
function cases<T extends { cipher_suite: number }>(vectors: readonly T[]) {
  return vectors.flatMap((vector) =>
    IMPLEMENTATIONS.map(({ impl, load: loadImpl }) => ({
      suite: vector.cipher_suite,
      leaves: 'leaves' in vector && Array.isArray(vector.leaves) ? vector.leaves.length : 0,
      impl,
      vector,
      cs: () => loadImpl(suiteName(vector.cipher_suite)),
    })),
  );
}

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

const KEY_SCHEDULE = load<KeyScheduleVector>('key-schedule.json');

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

const SECRET_TREE = load<SecretTreeVector>('secret-tree.json');

// psk_secret.json

interface PskSecretVector {
  cipher_suite: number;
  psks: { psk_id: string; psk: string; psk_nonce: string }[];
  psk_secret: string;
}

const PSK_SECRET = load<PskSecretVector>('psk_secret.json');

// transcript-hashes.json

interface TranscriptHashesVector {
  cipher_suite: number;
  confirmation_key: string;
  authenticated_content: string;
  interim_transcript_hash_before: string;
  confirmed_transcript_hash_after: string;
  interim_transcript_hash_after: string;
}

const TRANSCRIPT_HASHES = load<TranscriptHashesVector>('transcript-hashes.json');

// welcome.json

interface WelcomeVector {
  cipher_suite: number;
  init_priv: string;
  signer_pub: string;
  key_package: string;
  welcome: string;
}

const WELCOME = load<WelcomeVector>('welcome.json');

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

const MESSAGE_PROTECTION = load<MessageProtectionVector>('message-protection.json');

it.each([
  ['key-schedule.json', KEY_SCHEDULE],
  ['secret-tree.json', SECRET_TREE],
  ['psk_secret.json', PSK_SECRET],
  ['transcript-hashes.json', TRANSCRIPT_HASHES],
  ['welcome.json', WELCOME],
  ['message-protection.json', MESSAGE_PROTECTION],
] as const)('%s has vectors for suites 1 to 7, and only those', (_, vectors) => {
  const suites = [...new Set(vectors.map((vector) => vector.cipher_suite))].sort();
  expect(suites).toEqual([1, 2, 3, 4, 5, 6, 7]);
});

describe('MLS WG key-schedule.json', () => {
  it.each(cases(KEY_SCHEDULE))('suite $suite on $impl', async ({ vector, cs: loadImpl }) => {
    const cs = await loadImpl();
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

describe('MLS WG secret-tree.json', () => {
  it.each(cases(SECRET_TREE))(
    'suite $suite, $leaves leaf tree, on $impl',
    async ({ vector, cs: loadImpl }) => {
      const cs = await loadImpl();
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

describe('MLS WG psk_secret.json', () => {
  // Eleven vectors a suite, with 0 to 10 external PSKs; one test per suite and implementation.
  const suites = [...new Set(PSK_SECRET.map((vector) => vector.cipher_suite))];
  const bySuite = suites.map((suite) => ({
    cipher_suite: suite,
    vectors: PSK_SECRET.filter((vector) => vector.cipher_suite === suite),
  }));
  it.each(cases(bySuite))('suite $suite on $impl', async ({ vector, cs: loadImpl }) => {
    const cs = await loadImpl();
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

describe('MLS WG transcript-hashes.json', () => {
  it.each(cases(TRANSCRIPT_HASHES))('suite $suite on $impl', async ({ vector, cs: loadImpl }) => {
    const cs = await loadImpl();
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

describe('MLS WG welcome.json', () => {
  it.each(cases(WELCOME))('suite $suite on $impl', async ({ vector, cs: loadImpl }) => {
    const cs = await loadImpl();
    const keyPackageMessage = decodeMlsMessage(hex(vector.key_package), 0)?.[0];
    const welcomeMessage = decodeMlsMessage(hex(vector.welcome), 0)?.[0];
    if (keyPackageMessage?.wireformat !== 'mls_key_package') throw new Error('no key package');
    if (welcomeMessage?.wireformat !== 'mls_welcome') throw new Error('no welcome');
    const { welcome } = welcomeMessage;
    expect(welcome.cipherSuite).toBe(cs.name);

    const keyPackageRef = await makeKeyPackageRef(keyPackageMessage.keyPackage, cs.hash);
    const initPrivateKey = await cs.hpke.importPrivateKey(hex(vector.init_priv));
    // HPKE open of the group secrets, with the implementation's KEM, KDF and AEAD.
    const groupSecrets = await decryptGroupSecrets(initPrivateKey, keyPackageRef, welcome, cs.hpke);
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

describe('MLS WG message-protection.json', () => {
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

  it.each(cases(MESSAGE_PROTECTION))('suite $suite on $impl', async ({ vector, cs: loadImpl }) => {
    const cs = await loadImpl();
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
