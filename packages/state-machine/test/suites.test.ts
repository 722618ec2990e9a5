// docs/protocol.md sections 3 and 9: each supported MLS ciphersuite drives the record AEAD, and the
// key log line of each epoch gives every key of it.
import { ContentType } from '@mlstls/codec';
import { deriveApplicationSecrets, parseKeyLogLine } from '@mlstls/key-schedule';
import { RecordProtector } from '@mlstls/record';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_CIPHERSUITES } from '../src/index.js';
import { hex, Pair, random, type Side, sides } from './pair.js';

/**
 * The record AEAD and hash a suite's name says (docs/protocol.md section 3), and its MLS KDF's
 * Nh: the hash's, but HKDF-SHA512's for every post-quantum suite (D93).
 */
function named(name: string): { aead: string; hash: string; nh: number } {
  const aead = name.includes('_AES128GCM_')
    ? 'aes-128-gcm'
    : name.includes('_AES256GCM_')
      ? 'aes-256-gcm'
      : 'chacha20-poly1305';
  const bits = Number(/_SHA(256|384|512)_/.exec(name)![1]);
  const postQuantum = /_(MLKEM\d+|XWING)_/.test(name);
  return { aead, hash: `sha${bits}`, nh: postQuantum ? 64 : bits / 8 };
}

it('every suite ts-mls implements is supported, with the AEAD and hash of its name', () => {
  expect(SUPPORTED_CIPHERSUITES.map((suite) => suite.id)).toEqual([
    1, 2, 3, 4, 5, 6, 7, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88,
  ]);
  for (const suite of SUPPORTED_CIPHERSUITES) {
    const { aead, hash } = named(suite.name);
    expect({ aead: suite.aead, hash: suite.hash }).toEqual({ aead, hash });
  }
});

/**
 * `side` writes fresh data; the first record it sends is opened with a key derived from
 * nothing but the key log line of the current epoch (its first record under that key, but
 * for the initiator's key confirmation in epoch 1, section 4, which that key opens first).
 */
async function expectKeyLogOpensNextRecord(pair: Pair, side: Side): Promise<void> {
  const epoch = pair.endpoint(side).epoch;
  const line = pair.log[side].keyLog.find((l) => parseKeyLogLine(l)?.epoch === epoch);
  expect(line, `a key log line for epoch ${epoch}`).toBeDefined();
  const entry = parseKeyLogLine(line!)!;
  const suite = pair.endpoint(side).suite!;
  const secrets = deriveApplicationSecrets({ hash: suite.hash, masterSecret: entry.masterSecret });
  const opener = new RecordProtector({
    aead: suite.aead,
    hash: suite.hash,
    trafficSecret: side === 'initiator' ? secrets.clientTrafficSecret : secrets.serverTrafficSecret,
  });
  if (side === 'initiator' && epoch === 1n) {
    const confirmation = pair.trace.find(
      (e) => e.side === side && e.label === 'send epoch_key_update(1)',
    );
    if (confirmation?.output.type !== 'send') throw new Error('no key confirmation sent');
    expect(opener.open(confirmation.output.data).contentType).toBe(ContentType.handshake);
  }
  const data = random(100);
  const mark = pair.mark();
  await pair.endpoint(side).write(data);
  await pair.step();
  const sent = pair.trace.slice(mark).find((e) => e.side === side && e.output.type === 'send');
  if (sent?.output.type !== 'send') throw new Error('nothing sent');
  const opened = opener.open(sent.output.data);
  expect(opened.contentType).toBe(ContentType.application_data);
  expect(hex(opened.content)).toBe(hex(data));
  await pair.settle();
}

describe('ciphersuites', () => {
  for (const suite of SUPPORTED_CIPHERSUITES) {
    it(`suite ${suite.id} (${suite.name}) completes a handshake and updates with the record AEAD ${suite.aead}, and logs one equal key log line per epoch on both sides`, async () => {
      const pair = await Pair.connected({
        initiator: { ciphersuite: suite.id, keyLog: () => true },
        responder: { keyLog: () => true },
      });
      for (const side of sides) {
        const endpoint = pair.endpoint(side);
        expect(endpoint.handshake?.ciphersuite).toBe(suite.name);
        // node:crypto runs MLS for RFC 9420's suites; the post-quantum ones are portable (D93).
        expect(endpoint.handshake?.crypto).toBe(suite.id <= 7 ? 'node' : 'portable');
        expect(endpoint.suite?.aead).toBe(named(suite.name).aead);
        expect(pair.keys(side).sender.aead).toBe(named(suite.name).aead);
        await expectKeyLogOpensNextRecord(pair, side);
      }

      for (const updater of sides) {
        const update = pair.endpoint(updater).update();
        await pair.settle();
        await update;
        for (const side of sides) {
          expect(pair.keys(side).sender.aead).toBe(named(suite.name).aead);
          await expectKeyLogOpensNextRecord(pair, side);
        }
      }
      await pair.expectInSync(3n);

      // A crossing: epoch 4 from the initiator, 5 from the responder's commit made again.
      const crossing = sides.map((side) => pair.endpoint(side).update());
      await pair.settle();
      await Promise.all(crossing);
      await pair.expectInSync(5n);

      const groupId = hex(pair.initiator.handshake!.groupId);
      expect(hex(pair.responder.handshake!.groupId)).toBe(groupId);
      for (const side of sides) {
        const lines = pair.log[side].keyLog;
        expect(lines.map((line) => parseKeyLogLine(line)?.epoch)).toEqual([1n, 2n, 3n, 4n, 5n]);
        for (const line of lines) {
          // Section 9's format; the output is the line without its newline (output.ts).
          expect(line).toMatch(
            new RegExp(
              `^MLSTLS_MASTER_SECRET ${groupId} [1-5] [0-9a-f]{${2 * named(suite.name).nh}}$`,
            ),
          );
        }
      }
      expect(pair.log.initiator.keyLog).toEqual(pair.log.responder.keyLog);
    });
  }
});

describe('key log', () => {
  it('is produced only when keyLog() says so, for each epoch', async () => {
    let enabled = false;
    const pair = await Pair.connected({
      initiator: { keyLog: () => enabled },
      responder: { keyLog: () => false },
    });
    enabled = true;
    const update = pair.initiator.update();
    await pair.settle();
    await update;
    expect(pair.log.responder.keyLog).toEqual([]);
    expect(pair.log.initiator.keyLog.map((line) => parseKeyLogLine(line)?.epoch)).toEqual([2n]);
  });
});
