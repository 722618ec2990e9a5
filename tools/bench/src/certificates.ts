/**
 * Certificate benchmark: what X.509 costs an mlstls handshake, against a basic credential with
 * a pinned key and against node:tls with the same chain, all measured in the same run; then
 * chain verification by itself against node:crypto, and the parse of node's bundled roots.
 *
 *   pnpm bench:certificates            (from tools/bench, once the packages are built)
 *   pnpm bench:certificates -- --rounds 9 --round-ms 700 --only handshake
 *
 * The chain, made in the run by @mlstls/test-support: an Ed25519 root, a P-256 intermediate,
 * an Ed25519 server leaf for localhost and 127.0.0.1 (serverAuth). The server sends leaf +
 * intermediate; the client trusts the root and checks the name `localhost`.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { type TestPki, testPki } from '@mlstls/test-support';
import {
  checkServerIdentity,
  describeCertificate,
  TrustAnchors,
  verifyCertificateChain,
} from '@mlstls/x509';
import {
  closeAll,
  connected,
  type HandshakeRound,
  handshakeRound,
  listenFirstByte,
  negotiated,
} from './connection-load.js';
import {
  type Column,
  endLine,
  formatHead,
  formatRow,
  loadAverage,
  machineSummary,
  median,
  packageVersion,
  positive,
  range,
  spread,
} from './harness.js';
import { TLS_SUITE } from './node-tls-stack.js';
import {
  type CertificateStack,
  mlstlsBasicStack,
  mlstlsX509Stack,
  nodeTlsX509Stack,
  SERVER_NAME,
} from './x509-stacks.js';

const SECTIONS = ['handshake', 'verify', 'anchors'] as const;
type Section = (typeof SECTIONS)[number];

const { values: args } = parseArgs({
  // `pnpm bench:certificates -- --rounds 9` may pass the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    rounds: { type: 'string', default: '7' },
    'round-ms': { type: 'string', default: '700' },
    'warmup-ms': { type: 'string', default: '500' },
    'verify-round-ms': { type: 'string', default: '150' },
    'anchor-samples': { type: 'string', default: '5' },
    only: { type: 'string', default: SECTIONS.join(',') },
  },
});

const ROUNDS = Math.floor(positive('rounds', args.rounds));
const ROUND_MS = positive('round-ms', args['round-ms']);
const WARMUP_MS = positive('warmup-ms', args['warmup-ms']);
const VERIFY_ROUND_MS = positive('verify-round-ms', args['verify-round-ms']);
const ANCHOR_SAMPLES = Math.floor(positive('anchor-samples', args['anchor-samples']));
const ONLY = new Set(args.only.split(',').map((name) => name.trim()));
for (const name of ONLY) {
  if (!SECTIONS.includes(name as Section)) throw new Error(`--only: unknown section ${name}`);
}

const gc = (globalThis as { gc?: () => void }).gc;
const nowNs = () => process.hrtime.bigint();
const msSince = (since: bigint) => Number(nowNs() - since) / 1e6;

// ---- the summary ---------------------------------------------------------------------------

interface Figure {
  readonly name: string;
  readonly baselineName: string;
  readonly baseline: readonly number[];
  readonly candidateName: string;
  readonly candidate: readonly number[];
  /** Ratios of samples taken side by side (rounds), for the ratio's range. */
  readonly pairRatios: readonly number[];
}

const figures: Figure[] = [];

const SUMMARY: readonly Column[] = [
  { title: 'figure', width: 30, align: 'left' },
  { title: 'baseline', width: 14, align: 'left' },
  { title: 'baseline median (min-max)', width: 25, align: 'right' },
  { title: 'candidate', width: 12, align: 'left' },
  { title: 'candidate median (min-max)', width: 26, align: 'right' },
  { title: 'ratio', width: 5, align: 'right' },
  { title: 'ratio min-max', width: 13, align: 'right' },
];

function printSummary(): void {
  if (figures.length === 0) return;
  console.log('');
  console.log('Summary (ratio = candidate median / baseline median; no targets are set):');
  console.log(formatHead(SUMMARY));
  for (const figure of figures) {
    console.log(
      formatRow(SUMMARY, [
        figure.name,
        figure.baselineName,
        spread(figure.baseline),
        figure.candidateName,
        spread(figure.candidate),
        (median(figure.candidate) / median(figure.baseline)).toFixed(2),
        range(figure.pairRatios),
      ]),
    );
  }
}

/** Round `round` in the order of `rotation`: each item first in turn, so drift falls alike. */
function rotated<T>(items: readonly T[], round: number): T[] {
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

// ---- 1. handshakes -------------------------------------------------------------------------

const HANDSHAKE_COLUMNS: readonly Column[] = [
  { title: 'stack', width: 12, align: 'left' },
  { title: 'handshakes/s', width: 20, align: 'right' },
  { title: 'latency ms', width: 20, align: 'right' },
  { title: 'CPU ms/handshake', width: 20, align: 'right' },
  { title: 'handshakes', width: 10, align: 'right' },
];

async function handshakes(pki: TestPki): Promise<void> {
  const [x509, basic, node] = [mlstlsX509Stack(pki), mlstlsBasicStack(pki), nodeTlsX509Stack(pki)];
  const stacks: readonly CertificateStack[] = [node, basic, x509];
  console.log('');
  console.log(
    `1. Handshakes/s, sequential, to the first byte (connect, full handshake, server writes 1 ` +
      `byte, client ends), 127.0.0.1: ${ROUNDS} rotating rounds of ~${ROUND_MS} ms per stack ` +
      `after ${WARMUP_MS} ms of warm-up each, both ends in this process, one secure context per ` +
      'side made once, the client naming the server localhost. CPU = process user+system time ' +
      '(all threads) per handshake.',
  );
  const servers = await Promise.all(stacks.map((stack) => listenFirstByte(stack)));
  const ports = new Map(stacks.map((stack, i) => [stack, servers[i]!.port]));
  for (const stack of stacks) {
    const port = ports.get(stack)!;
    const { suite, version } = await negotiated(stack, port);
    const socket = await connected(stack, port);
    const { authorized, path } = stack.check(socket);
    await closeAll([socket]);
    console.log(
      `   ${stack.name}: getCipher() -> ${suite}, ${version}; authorized ${authorized}; ` +
        `verified path ${path.length === 0 ? '(basic credential, pinned key)' : path.join(' <- ')}`,
    );
    if (suite !== TLS_SUITE || version !== 'TLSv1.3') {
      throw new Error(`${stack.name} negotiated ${suite} ${version}, not ${TLS_SUITE} TLSv1.3`);
    }
    const expectedPath = stack === basic ? 0 : 3;
    if (!authorized || path.length !== expectedPath) {
      throw new Error(`${stack.name}: authorized ${authorized}, path of ${path.length}`);
    }
  }
  // Interleaved warm-up, in two halves, so that every stack reaches optimized code.
  for (let half = 0; half < 2; half++) {
    for (const stack of stacks) {
      await handshakeRound(stack, ports.get(stack)!, 1, WARMUP_MS / 2);
    }
  }
  const results = new Map<CertificateStack, HandshakeRound[]>(stacks.map((stack) => [stack, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const stack of rotated(stacks, round)) {
      gc?.();
      results.get(stack)!.push(await handshakeRound(stack, ports.get(stack)!, 1, ROUND_MS));
    }
  }
  await Promise.all(servers.map((server) => server.close()));

  console.log(formatHead(HANDSHAKE_COLUMNS, '   '));
  for (const stack of stacks) {
    const rounds = results.get(stack)!;
    console.log(
      `   ${formatRow(HANDSHAKE_COLUMNS, [
        stack.name,
        spread(rounds.map((round) => round.perSecond)),
        spread(rounds.flatMap((round) => round.latenciesMs)),
        spread(rounds.map((round) => round.cpuMsPerHandshake)),
        String(rounds.reduce((sum, round) => sum + round.handshakes, 0)),
      ])}`,
    );
  }
  const rate = (stack: CertificateStack) => results.get(stack)!.map((round) => round.perSecond);
  const cpu = (stack: CertificateStack) =>
    median(results.get(stack)!.map((round) => round.cpuMsPerHandshake));
  const latency = (stack: CertificateStack) =>
    median(results.get(stack)!.flatMap((round) => round.latenciesMs));
  console.log(
    `   X.509 over basic, per handshake: +${(latency(x509) - latency(basic)).toFixed(2)} ms of ` +
      `latency (median), +${(cpu(x509) - cpu(basic)).toFixed(2)} ms of CPU (both ends).`,
  );
  for (const baseline of [node, basic]) {
    const base = rate(baseline);
    const cand = rate(x509);
    figures.push({
      name: 'handshakes/s, sequential',
      baselineName: baseline.name,
      baseline: base,
      candidateName: x509.name,
      candidate: cand,
      pairRatios: cand.map((value, i) => value / base[i]!),
    });
  }
}

// ---- 2. chain verification -----------------------------------------------------------------

interface Contender {
  readonly name: string;
  /** One call; a promise is awaited. */
  readonly run: () => unknown;
}

/** Milliseconds of `count` calls of `run`, one after the other, and of process CPU time. */
async function timeCalls(
  run: () => unknown,
  count: number,
): Promise<{ ms: number; cpuMs: number }> {
  const cpuStart = process.cpuUsage();
  const start = nowNs();
  for (let i = 0; i < count; i++) {
    const result = run();
    if (result instanceof Promise) await result;
  }
  const ms = msSince(start);
  const cpu = process.cpuUsage(cpuStart);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1e3 };
}

/** Calls until `ms` have passed; returns milliseconds per call at the end. */
async function warmUpCalls(run: () => unknown, ms: number): Promise<number> {
  const deadline = nowNs() + BigInt(Math.round(ms * 1e6));
  let count = 1;
  let perCall = Number.POSITIVE_INFINITY;
  while (nowNs() < deadline) {
    perCall = (await timeCalls(run, count)).ms / count;
    count = Math.max(1, Math.min(count * 2, Math.ceil(20 / perCall)));
  }
  return perCall;
}

const VERIFY_COLUMNS: readonly Column[] = [
  { title: 'what one call does', width: 76, align: 'left' },
  { title: 'µs per call', width: 20, align: 'right' },
  { title: 'CPU µs', width: 6, align: 'right' },
  { title: 'calls/s', width: 7, align: 'right' },
  { title: 'vs node', width: 7, align: 'right' },
  { title: 'min-max', width: 9, align: 'right' },
];

async function verification(pki: TestPki): Promise<void> {
  const chain = [pki.server.der, pki.intermediate.der];
  const anchors = TrustAnchors.from(pki.root.pem);
  const signaturePublicKey = pki.server.publicKey;
  const options = { anchors, now: Date.now(), purpose: 'server', signaturePublicKey } as const;
  const rootX509 = new X509Certificate(pki.root.der);
  const rootKey = rootX509.publicKey;
  const parsedLeaf = new X509Certificate(pki.server.der);
  const parsedIntermediate = new X509Certificate(pki.intermediate.der);

  // The signatures alone, as verifyCertificateChain makes them: the intermediate's P-256 key
  // imported per call (its certificate is parsed per call), the anchor's Ed25519 key once.
  const message = new Uint8Array(pki.server.der.length - 100).fill(7);
  const intermediateSpki = await crypto.subtle.exportKey('spki', pki.intermediate.keys.publicKey);
  const ecdsa = { name: 'ECDSA', hash: 'SHA-256' } as const;
  const ecdsaSignature = await crypto.subtle.sign(ecdsa, pki.intermediate.keys.privateKey, message);
  const ed25519Signature = await crypto.subtle.sign('Ed25519', pki.root.keys.privateKey, message);
  const rootPublicKey = pki.root.keys.publicKey;

  const nodeParsed: Contender = {
    name: 'node:crypto: 2 × new X509Certificate(der), 2 × verify(issuer key), checkHost',
    run() {
      const leaf = new X509Certificate(pki.server.der);
      const intermediate = new X509Certificate(pki.intermediate.der);
      if (!leaf.verify(intermediate.publicKey) || !intermediate.verify(rootKey)) {
        throw new Error('node:crypto: a signature did not verify');
      }
      if (leaf.checkHost(SERVER_NAME) !== SERVER_NAME) throw new Error('checkHost failed');
    },
  };
  const contenders: Contender[] = [
    nodeParsed,
    {
      name: 'verifyCertificateChain (parse 2, 2 WebCrypto verifies, rules, describe path)',
      run: () => verifyCertificateChain(chain, options),
    },
    {
      name: "initiator's check: describe leaf, verifyCertificateChain, checkServerIdentity",
      async run() {
        describeCertificate(pki.server.der);
        const peer = await verifyCertificateChain(chain, options);
        const mismatch = checkServerIdentity(SERVER_NAME, peer);
        if (mismatch !== undefined) throw mismatch;
      },
    },
    {
      name: 'node:crypto, certificates parsed once: 2 × verify(issuer key), checkHost',
      run() {
        if (
          !parsedLeaf.verify(parsedIntermediate.publicKey) ||
          !parsedIntermediate.verify(rootKey)
        ) {
          throw new Error('node:crypto: a signature did not verify');
        }
        parsedLeaf.checkHost(SERVER_NAME);
      },
    },
    {
      name: 'WebCrypto alone: importKey(P-256 SPKI) + ECDSA verify + Ed25519 verify',
      async run() {
        const key = await crypto.subtle.importKey(
          'spki',
          intermediateSpki,
          { name: 'ECDSA', namedCurve: 'P-256' },
          false,
          ['verify'],
        );
        const [a, b] = await Promise.all([
          crypto.subtle.verify(ecdsa, key, ecdsaSignature, message),
          crypto.subtle.verify('Ed25519', rootPublicKey, ed25519Signature, message),
        ]);
        if (!a || !b) throw new Error('WebCrypto: a signature did not verify');
      },
    },
    {
      name: 'describeCertificate(leaf) alone (parse, node object, 3 fingerprints)',
      run: () => describeCertificate(pki.server.der),
    },
  ];
  const COMPARED = 3;

  console.log('');
  console.log(
    `2. Chain verification by itself, root -> intermediate (P-256) -> leaf (Ed25519), ` +
      `${chain.length} certificates sent, the root an anchor parsed once: ${ROUNDS} rotating ` +
      `rounds of ~${VERIFY_ROUND_MS} ms per row after ${WARMUP_MS} ms of warm-up each; ` +
      'µs per call = median over the rounds of the round mean (min-max); CPU µs = process ' +
      'user+system time per call (all threads: WebCrypto verifies on the libuv pool), median. ' +
      'The first three rows are the comparison, the rest show where the time goes.',
  );
  const peer = await verifyCertificateChain(chain, options);
  if (checkServerIdentity(SERVER_NAME, peer) !== undefined || peer.subject.CN !== SERVER_NAME) {
    throw new Error('verifyCertificateChain: not the expected leaf');
  }
  const perCall = new Map<Contender, number>();
  for (let half = 0; half < 2; half++) {
    for (const contender of contenders) {
      perCall.set(contender, await warmUpCalls(contender.run, WARMUP_MS / 2));
    }
  }
  const counts = new Map(
    contenders.map((contender) => [
      contender,
      Math.max(1, Math.round(VERIFY_ROUND_MS / perCall.get(contender)!)),
    ]),
  );
  const samples = new Map<Contender, number[]>(contenders.map((contender) => [contender, []]));
  const cpuSamples = new Map<Contender, number[]>(contenders.map((contender) => [contender, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const contender of rotated(contenders, round)) {
      gc?.();
      const count = counts.get(contender)!;
      const { ms, cpuMs } = await timeCalls(contender.run, count);
      samples.get(contender)!.push((ms * 1e3) / count);
      cpuSamples.get(contender)!.push((cpuMs * 1e3) / count);
    }
  }
  const base = samples.get(nodeParsed)!;
  console.log(formatHead(VERIFY_COLUMNS, '   '));
  for (const [index, contender] of contenders.entries()) {
    const own = samples.get(contender)!;
    const ratios = own.map((value, i) => value / base[i]!);
    console.log(
      `   ${formatRow(VERIFY_COLUMNS, [
        contender.name,
        spread(own),
        median(cpuSamples.get(contender)!).toFixed(0),
        (1e6 / median(own)).toFixed(0),
        (median(own) / median(base)).toFixed(2),
        range(ratios),
      ])}`,
    );
    if (index > 0 && index < COMPARED) {
      figures.push({
        name: index === 1 ? 'chain verification, µs' : 'initiator X.509 check, µs',
        baselineName: 'node:crypto',
        baseline: base,
        candidateName: index === 1 ? 'verifyChain' : 'x509 path',
        candidate: own,
        pairRatios: ratios,
      });
    }
  }
}

// ---- 3. the bundled roots ------------------------------------------------------------------

/** Milliseconds of one call of `parse`. */
function timeOnce(parse: () => unknown): number {
  const start = nowNs();
  parse();
  return msSince(start);
}

/** The first TrustAnchors.from(rootCertificates) of the process, before any other parse. */
let coldAnchorsMs: number | undefined;

function anchorsColumns(): readonly Column[] {
  return [
    { title: 'what one call does', width: 60, align: 'left' },
    { title: 'first call ms', width: 13, align: 'right' },
    { title: `next ${ANCHOR_SAMPLES}, ms`, width: 20, align: 'right' },
  ];
}

function bundledRoots(): void {
  const roots = tls.rootCertificates;
  console.log('');
  console.log(
    `3. Node's ${roots.length} bundled roots (tls.rootCertificates, PEM), parsed as trust ` +
      'anchors: what the Node binding parses once per process, when a connection without `ca` ' +
      'first needs the default roots. The first call is the first certificate parse of the ' +
      'process (cold code), then more calls, each timed alone.',
  );
  const rows: [string, () => unknown, number | undefined][] = [
    ['TrustAnchors.from(tls.rootCertificates)', () => TrustAnchors.from(roots), coldAnchorsMs],
    [
      "node:tls: createSecureContext({ ca: tls.rootCertificates }) (OpenSSL's parse)",
      () => tls.createSecureContext({ ca: [...roots] }),
      undefined,
    ],
    [
      'node:crypto: new X509Certificate(pem) for each root',
      () => roots.map((pem) => new X509Certificate(pem)),
      undefined,
    ],
  ];
  console.log(formatHead(anchorsColumns(), '   '));
  for (const [name, parse, cold] of rows) {
    const first = cold ?? timeOnce(parse);
    const next: number[] = [];
    for (let i = 0; i < ANCHOR_SAMPLES; i++) {
      gc?.();
      next.push(timeOnce(parse));
    }
    console.log(`   ${formatRow(anchorsColumns(), [name, first.toFixed(2), spread(next)])}`);
  }
  const anchors = TrustAnchors.from(roots);
  if (anchors.size !== roots.length) {
    throw new Error(`TrustAnchors.from: ${anchors.size} anchors of ${roots.length} roots`);
  }
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = nowNs();
  // Before anything else parses a certificate: the code is as cold as on a first connection.
  if (ONLY.has('anchors')) coldAnchorsMs = timeOnce(() => TrustAnchors.from(tls.rootCertificates));
  console.log('mlstls certificate benchmark: X.509 in @mlstls/node and @mlstls/x509 vs node:tls');
  for (const line of machineSummary()) console.log(line);
  console.log(
    `ts-mls ${packageVersion('ts-mls', 'ts-mls')}; @mlstls/node from ` +
      `${new URL(import.meta.resolve('@mlstls/node')).pathname}; load average at start ${loadAverage()}`,
  );
  const pki = await testPki();
  if (ONLY.has('handshake')) await handshakes(pki);
  if (ONLY.has('verify')) await verification(pki);
  if (ONLY.has('anchors')) bundledRoots();
  printSummary();
  console.log('');
  console.log(endLine(started));
}

await main();
