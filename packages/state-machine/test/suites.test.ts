// docs/protocol.md sections 3 and 9: each supported MLS ciphersuite drives the record AEAD, and the
// key log line of each epoch gives every key of it.
import { ContentType } from '@mlstls/codec';
import { deriveApplicationSecrets, parseKeyLogLine } from '@mlstls/key-schedule';
import { RecordProtector } from '@mlstls/record';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_CIPHERSUITES } from '../src/index.js';
import { hex, Pair, random, type Side, sides } from './pair.js';

const expectedAead: Record<number, string> = {
  1: 'aes-128-gcm',
  2: 'aes-128-gcm',
  3: 'chacha20-poly1305',
};

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
    it(`suite ${suite.id} (${suite.name}) completes a handshake and updates with the record AEAD ${expectedAead[suite.id]}, and logs one equal key log line per epoch on both sides`, async () => {
      const pair = await Pair.connected({
        initiator: { ciphersuite: suite.id, keyLog: () => true },
        responder: { keyLog: () => true },
      });
      for (const side of sides) {
        const endpoint = pair.endpoint(side);
        expect(endpoint.handshake?.ciphersuite).toBe(suite.name);
        expect(endpoint.suite?.aead).toBe(expectedAead[suite.id]);
        expect(pair.keys(side).sender.aead).toBe(expectedAead[suite.id]);
        await expectKeyLogOpensNextRecord(pair, side);
      }

      for (const updater of sides) {
        const update = pair.endpoint(updater).update();
        await pair.settle();
        await update;
        for (const side of sides) {
          expect(pair.keys(side).sender.aead).toBe(expectedAead[suite.id]);
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
          expect(line).toMatch(new RegExp(`^MLSTLS_MASTER_SECRET ${groupId} [1-5] [0-9a-f]{64}$`));
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
