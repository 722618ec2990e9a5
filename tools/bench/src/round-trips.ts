/**
 * Round-trip benchmark: time to the first byte at simulated round-trip times, node:tls against
 * mlstls, through a delaying TCP relay on 127.0.0.1 (`delay-relay.ts`, a child process), and the
 * number of round trips each connection costs, recovered from the times.
 *
 *   pnpm bench:round-trips            (from tools/bench, once the packages are built)
 *   pnpm bench:round-trips -- --rtt 0,1,10,50 --samples 15 --check
 *
 * Time to first byte: from `connect()` until the client has read the first byte the server
 * writes on 'secureConnection' (1 byte). The PCS update row times `await socket.update()` on an
 * established connection. Round trips = (t(rtt) - t(0)) / rtt, from the medians.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, type MlsTlsSocket } from '@mlstls/node';
import type { FromRelay, ToRelay } from './delay-relay.js';
import { ed25519Certificate, TLS_SUITE, TLS13_AES128 } from './ed25519-certificate.js';
import {
  type Column,
  endLine,
  formatHead,
  formatRow,
  machineSummary,
  median,
  positive,
  spread,
} from './harness.js';
import type { FromServers, ToServers } from './round-trips-server.js';

const { values: args } = parseArgs({
  // `pnpm bench:round-trips -- --samples 9` may pass the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    rtt: { type: 'string', default: '0,1,10,50' },
    samples: { type: 'string', default: '15' },
    'warmup-samples': { type: 'string', default: '3' },
    /** `on`: the relay also stands for TCP's handshake (1 round trip before the first byte). */
    tcp: { type: 'string', default: 'on' },
    check: { type: 'boolean', default: false },
  },
});

const RTTS = args.rtt.split(',').map((text) => {
  const rtt = Number(text.trim());
  if (!Number.isFinite(rtt) || rtt < 0) throw new Error(`--rtt: ${text} is not a time in ms`);
  return rtt;
});
if (!RTTS.includes(0)) throw new Error('--rtt must include 0: the round trips are counted from it');
const SAMPLES = Math.floor(positive('samples', args.samples));
const WARMUP_SAMPLES = Math.floor(Number(args['warmup-samples']));
if (!Number.isInteger(WARMUP_SAMPLES) || WARMUP_SAMPLES < 1) {
  throw new Error('--warmup-samples must be an integer >= 1 (it starts the resumption chains)');
}
if (args.tcp !== 'on' && args.tcp !== 'off') throw new Error(`--tcp is on or off, not ${args.tcp}`);
const TCP = args.tcp === 'on';

const HOST = '127.0.0.1';
const gc = (globalThis as { gc?: () => void }).gc;
const nowNs = () => process.hrtime.bigint();
/** The longest one sample may take before the run fails: no hang. */
const sampleTimeoutMs = (rtt: number) => 15_000 + 20 * rtt;

// ---- the child processes ------------------------------------------------------------------

/** How long a child may take to answer. */
const CHILD_TIMEOUT_MS = 10_000;

// Interrupted: exit, so that the 'exit' handlers below kill the children by pid.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

/** A child process answering one IPC message at a time (`failed` carries an error). */
class Helper<To extends { type: string }, From extends { type: string }> {
  readonly #child: ChildProcess;
  readonly name: string;

  constructor(name: string, script: string) {
    this.name = name;
    this.#child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      execArgv: process.execArgv.filter((arg) => arg !== '--expose-gc'),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // Failures reach `ask`; none may crash this process.
    this.#child.on('error', () => {});
    // Whatever ends this process, the child goes with it (by its pid).
    const pid = this.#child.pid;
    process.once('exit', () => {
      if (pid !== undefined && this.#child.exitCode === null && this.#child.signalCode === null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  async ask(message: To): Promise<From> {
    const child = this.#child;
    const done = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = once(child, 'message', { signal: done.signal });
      child.send(message);
      const reply = await Promise.race([
        answer.then(
          ([reply]) => reply as From,
          (error: unknown) => {
            throw new Error(`${this.name} process: ${error}`);
          },
        ),
        once(child, 'exit', { signal: done.signal }).then(([code]) => {
          throw new Error(`${this.name} process exited (code ${code})`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${this.name} process did not answer ${message.type}`)),
            CHILD_TIMEOUT_MS,
          );
        }),
      ]);
      if (reply.type === 'failed') {
        throw new Error(`${this.name}: ${(reply as { message?: string }).message}`);
      }
      return reply;
    } finally {
      clearTimeout(timer);
      done.abort();
    }
  }

  /** Asks the child to stop, then SIGKILLs it by pid if it has not exited in time. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Not events.once: it would reject on the child's 'error' (a send to a closed channel).
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) child.send({ type: 'stop' });
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL');
      }
    }, CHILD_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

type ServerPorts = FromServers & { type: 'listening' };

/** The server process's error count: any during the timed samples fails the run. */
async function serverErrors(servers: Helper<ToServers, FromServers>): Promise<number> {
  const reply = await servers.ask({ type: 'errors' });
  if (reply.type !== 'errors') throw new Error('server process: no error count');
  return reply.count;
}

// ---- one sample ----------------------------------------------------------------------------

interface ClientSocket extends NodeJS.EventEmitter {
  isSessionReused(): boolean;
  end(): void;
  destroy(): void;
}

/**
 * One connection: milliseconds from `make()` (which calls connect) to the first byte read, and
 * whether it resumed; the client then ends it and the promise waits for its close, so that no
 * teardown overlaps the next sample.
 */
function firstByte(
  make: () => ClientSocket,
  rtt: number,
): Promise<{ ms: number; reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ms: number | undefined;
    let reused = false;
    let session: Buffer | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no first byte and close within ${sampleTimeoutMs(rtt)} ms`));
    }, sampleTimeoutMs(rtt));
    const start = nowNs();
    const socket = make();
    socket.on('session', (next: Buffer) => {
      session = next;
    });
    socket.on('error', (error: Error) => {
      socket.destroy();
      // After the first byte the sample is taken: a failure of the teardown only ends it sooner.
      if (ms !== undefined) return;
      clearTimeout(timer);
      reject(error);
    });
    socket.once('data', () => {
      ms = Number(nowNs() - start) / 1e6;
      reused = socket.isSessionReused();
      socket.end();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (ms === undefined) reject(new Error('closed before the first byte'));
      else resolve({ ms, reused, session });
    });
  });
}

/** A row of the table: a way to measure one sample at a given relay. */
interface Row {
  readonly name: string;
  /** Round trips the protocol's flights predict (TCP's included when the relay stands for it). */
  readonly expected: number;
  /** One sample, through the relays of one RTT; milliseconds. */
  sample(relays: Relays, rtt: number): Promise<number>;
  /** Called once the last sample has been taken. */
  finish?(): Promise<void>;
}

/** Relay ports of one RTT, one per server. */
interface Relays {
  readonly tls: number;
  readonly mlstls: number;
  readonly mlstlsStored: number;
}

/** TCP's own handshake, when the relay stands for it: one round trip before the client writes. */
const TCP_ROUND_TRIPS = TCP ? 1 : 0;

function rows(clientContext: tls.SecureContext, pin: Uint8Array): Row[] {
  const mlstlsPin = { peerSignaturePublicKey: pin, ciphersuite: 1 } as const;
  const tlsConnect = (port: number, session: Buffer | undefined) => {
    const socket = tls.connect({
      host: HOST,
      port,
      secureContext: clientContext,
      ...(session === undefined ? {} : { session }),
    });
    socket.setNoDelay(true);
    return socket;
  };
  const checked = (name: string, reused: boolean, wanted: boolean) => {
    if (reused !== wanted) throw new Error(`${name}: isSessionReused() ${reused}`);
  };
  let ticket: Buffer | undefined;
  let mlstlsSession: Buffer | undefined;
  // The update row holds one connection per RTT, opened on its first sample.
  const updating = new Map<number, MlsTlsSocket>();

  const fullTls: Row = {
    name: 'node:tls full handshake',
    expected: TCP_ROUND_TRIPS + 2,
    async sample(relays, rtt) {
      const one = await firstByte(() => tlsConnect(relays.tls, undefined), rtt);
      checked(this.name, one.reused, false);
      return one.ms;
    },
  };
  const resumedTls: Row = {
    name: 'node:tls ticket resumption',
    expected: TCP_ROUND_TRIPS + 2,
    async sample(relays, rtt) {
      const first = ticket === undefined;
      const one = await firstByte(() => tlsConnect(relays.tls, ticket), rtt);
      // The first connection of the chain has no ticket to offer: a full handshake.
      checked(this.name, one.reused, !first);
      // A resumed connection may bring no new ticket before it closes: OpenSSL's tickets are
      // stateless and can be offered again, so the last one received is kept.
      ticket = one.session ?? ticket;
      if (ticket === undefined) throw new Error(`${this.name}: no ticket received`);
      return one.ms;
    },
  };
  const fullMlstls: Row = {
    name: 'mlstls full handshake',
    expected: TCP_ROUND_TRIPS + 2,
    async sample(relays, rtt) {
      const one = await firstByte(
        () => connect({ host: HOST, port: relays.mlstls, ...mlstlsPin }) as MlsTlsSocket,
        rtt,
      );
      checked(this.name, one.reused, false);
      return one.ms;
    },
  };
  const resumedMlstls: Row = {
    name: 'mlstls resumption',
    expected: TCP_ROUND_TRIPS + 2,
    async sample(relays, rtt) {
      const first = mlstlsSession === undefined;
      const one = await firstByte(
        () =>
          connect({
            host: HOST,
            port: relays.mlstlsStored,
            ...mlstlsPin,
            ...(mlstlsSession === undefined ? {} : { session: mlstlsSession, fallback: false }),
          }) as MlsTlsSocket,
        rtt,
      );
      checked(this.name, one.reused, !first);
      if (one.session === undefined) throw new Error(`${this.name}: no session given`);
      mlstlsSession = one.session;
      return one.ms;
    },
  };
  const update: Row = {
    name: 'mlstls PCS update (socket.update())',
    expected: 1,
    async sample(relays, rtt) {
      let socket = updating.get(rtt);
      if (socket === undefined) {
        socket = connect({ host: HOST, port: relays.mlstls, ...mlstlsPin });
        socket.on('error', () => {});
        await once(socket, 'secureConnect');
        updating.set(rtt, socket);
      }
      const epoch = socket.epoch;
      const start = nowNs();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        socket.update(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${update.name}: no confirmation`)),
            sampleTimeoutMs(rtt),
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const ms = Number(nowNs() - start) / 1e6;
      if (socket.epoch !== epoch + 1n) throw new Error(`${update.name}: epoch ${socket.epoch}`);
      return ms;
    },
    async finish() {
      const sockets = [...updating.values()];
      updating.clear();
      await Promise.all(
        sockets.map(async (socket) => {
          const closed = once(socket, 'close');
          socket.end();
          const timer = setTimeout(() => socket.destroy(), 5_000);
          await closed;
          clearTimeout(timer);
        }),
      );
    },
  };
  return [fullTls, resumedTls, fullMlstls, resumedMlstls, update];
}

// ---- the report ----------------------------------------------------------------------------

function columns(): Column[] {
  return [
    { title: 'row', width: 36, align: 'left' },
    ...RTTS.map((rtt) => ({ title: `RTT ${rtt} ms`, width: 22, align: 'right' as const })),
  ];
}

function roundTripColumns(): Column[] {
  return [
    { title: 'row', width: 36, align: 'left' },
    ...RTTS.filter((rtt) => rtt > 0).map((rtt) => ({
      title: `at ${rtt} ms`,
      width: 9,
      align: 'right' as const,
    })),
    { title: 'expected', width: 8, align: 'right' },
    { title: 'verdict', width: 7, align: 'left' },
  ];
}

/** A recovered count is as expected when within this of the protocol's count, at the largest RTT. */
const TOLERANCE = 0.3;

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = nowNs();
  console.log(
    'mlstls round-trip benchmark: time to first byte through a delaying relay, node:tls vs mlstls',
  );
  for (const line of machineSummary()) console.log(line);
  console.log(
    `Load average at start ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
  );
  const relay = new Helper<ToRelay, FromRelay>('relay', './delay-relay.ts');
  const server = new Helper<ToServers, FromServers>('server', './round-trips-server.ts');
  try {
    const { key, cert } = ed25519Certificate();
    const ports = (await server.ask({ type: 'start', key, cert })) as ServerPorts;
    const relayTo = async (target: number, rtt: number) => {
      const reply = await relay.ask({ type: 'relay', target, rttMs: rtt, tcp: TCP });
      if (reply.type !== 'relaying') throw new Error('relay process: no port given');
      return reply.port;
    };
    console.log(
      `Method: a relay process (pid ${relay.pid}) on ${HOST} forwards each chunk after RTT/2 in ` +
        `each direction, order kept${
          TCP
            ? ", and lets no client byte through before one RTT after its accept (TCP's handshake)"
            : ' (TCP handshake not simulated: --tcp off)'
        }; the servers in a process of their own (pid ${server.pid}), the clients in this one; ` +
        `TCP_NODELAY on every socket. node:tls: TLS 1.3, ${TLS_SUITE}, Ed25519 certificate, one ` +
        'client SecureContext; mlstls: @mlstls/node, suite 1, pinned basic credential. The server ' +
        'writes 1 byte on secureConnection; time to first byte = connect() to the client reading ' +
        `it. ${WARMUP_SAMPLES} unmeasured passes then ${SAMPLES}; each pass takes one sample of ` +
        'every row at every RTT, in rotating order; medians (min-max), ms.',
    );
    const table = rows(
      tls.createSecureContext({ ca: cert, ...TLS13_AES128 }),
      new Uint8Array(Buffer.from(ports.pin, 'hex')),
    );
    const times = new Map<Row, Map<number, number[]>>(
      table.map((row) => [row, new Map(RTTS.map((rtt) => [rtt, []]))]),
    );
    // A relay per server and RTT, made up front, so that every pass takes every RTT in turn and
    // a change of the machine's load falls on all of them alike.
    const relays = new Map<number, Relays>();
    for (const rtt of RTTS) {
      relays.set(rtt, {
        tls: await relayTo(ports.tls, rtt),
        mlstls: await relayTo(ports.mlstls, rtt),
        mlstlsStored: await relayTo(ports.mlstlsStored, rtt),
      });
    }
    for (let i = 0; i < WARMUP_SAMPLES + SAMPLES; i++) {
      // The client's garbage of the last pass collected outside any sample (--expose-gc).
      gc?.();
      const errorsBefore = await serverErrors(server);
      for (let k = 0; k < RTTS.length; k++) {
        const rtt = RTTS[(i + k) % RTTS.length]!;
        for (let j = 0; j < table.length; j++) {
          const row = table[(i + k + j) % table.length]!;
          const ms = await row.sample(relays.get(rtt)!, rtt);
          if (i >= WARMUP_SAMPLES) times.get(row)!.get(rtt)!.push(ms);
        }
      }
      const errorsAfter = await serverErrors(server);
      if (i >= WARMUP_SAMPLES && errorsAfter !== errorsBefore) {
        throw new Error(`${errorsAfter - errorsBefore} server-side errors in a timed pass`);
      }
    }
    for (const row of table) await row.finish?.();

    console.log('');
    console.log('Time to first byte (update: time of the update), ms, median (min-max):');
    console.log(formatHead(columns()));
    for (const row of table) {
      console.log(
        formatRow(columns(), [row.name, ...RTTS.map((rtt) => spread(times.get(row)!.get(rtt)!))]),
      );
    }

    const largest = Math.max(...RTTS);
    console.log('');
    console.log(
      'Round trips recovered from the times, (t(RTT) - t(0)) / RTT on the medians; expected = ' +
        `the protocol's flights${TCP ? ", TCP's handshake included" : ''}; verdict at ${largest} ms ` +
        `(within ${TOLERANCE}):`,
    );
    console.log(formatHead(roundTripColumns()));
    const off: string[] = [];
    for (const row of table) {
      const at = (rtt: number) =>
        (median(times.get(row)!.get(rtt)!) - median(times.get(row)!.get(0)!)) / rtt;
      const ok = largest === 0 || Math.abs(at(largest) - row.expected) <= TOLERANCE;
      if (!ok) off.push(`${row.name} ${at(largest).toFixed(1)} (expected ${row.expected})`);
      console.log(
        formatRow(roundTripColumns(), [
          row.name,
          ...RTTS.filter((rtt) => rtt > 0).map((rtt) => at(rtt).toFixed(1)),
          String(row.expected),
          ok ? 'as expected' : 'OFF',
        ]),
      );
    }
    console.log('');
    console.log(
      off.length === 0
        ? 'Every row takes the round trips its flights predict.'
        : `Round trips OFF the protocol's count: ${off.join('; ')}.`,
    );
    console.log(endLine(started));
    if (args.check && off.length > 0) process.exitCode = 1;
  } finally {
    await Promise.all([relay.stop(), server.stop()]);
  }
}

await main();
