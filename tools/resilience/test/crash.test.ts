// Persist before send (docs/protocol.md sections 5 and 6): "a crash at any point must leave stored
// state from which resumption succeeds". One role at a time runs in a child process on a
// SQLite file and kills itself with SIGKILL at one of its persist points (the state machine's
// compare-and-sets): before the write, after it, or after it at the next transport write, so
// that the state is stored and the bytes that depend on it never leave. A new process of that
// role then opens the same file: the client resumes whenever both ends hold the session (never
// falling back to a full handshake; a client whose first handshake the server never completed
// makes a new one), and data and an update go through. The scripted flow
// passes every persist point of both roles: handshake, a client update, a server update, a
// transport break and a resumption. Each run also checks that the kill landed where it was
// aimed, by the state left in the file.
//
// The store yields a turn of the event loop before each write (src/crash-agent.ts), as a
// networked store would: a state machine that let its bytes out before the write finished
// (a persist left unawaited in the initiator's or responder's update) fails here; without
// the yield, SQLite's synchronous write would hide it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EndpointCredential, generateCredential } from '@mlstls/node';
import type { SessionRecord } from '@mlstls/storage';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { within } from '@mlstls/test-support';
import { beforeAll, describe, expect, it, type TestContext } from 'vitest';
import {
  type CrashAgent,
  type CrashAgentConfig,
  type CrashAgentHandle,
  openCrashAgent,
} from '../src/crash-agent.js';
import {
  type CrashChild,
  type CrashPlan,
  NO_CRASH,
  startCrashChild,
} from '../src/crash-process.js';

type Role = 'client' | 'server';
type Mode = CrashPlan['mode'];

/** A persist point: the stored state it writes, and whether bytes that depend on it follow. */
interface PersistPointSpec {
  readonly state: string;
  readonly epoch: bigint;
  /** The client's unconfirmed commits; whether the server holds its own pending commit. */
  readonly pending: number;
  /** Whether the state machine sends something that depends on the write right after it. */
  readonly sends: boolean;
}

/** The client's persist points in the scripted flow, in order (docs/protocol.md sections 4 to 6). */
const CLIENT_POINTS: readonly PersistPointSpec[] = [
  {
    state: 'joined from server_hello, before epoch_key_update(1)',
    epoch: 1n,
    pending: 0,
    sends: true,
  },
  {
    state: 'own update, before its connection_update (I1 -> I2)',
    epoch: 2n,
    pending: 1,
    sends: true,
  },
  {
    state: 'own update confirmed by epoch_key_update (I2 -> I1)',
    epoch: 2n,
    pending: 0,
    sends: false,
  },
  {
    state: "server's update processed, before epoch_key_update (I1 -> I3)",
    epoch: 3n,
    pending: 0,
    sends: true,
  },
  { state: 'resumption flight, before it is sent', epoch: 4n, pending: 1, sends: true },
  { state: 'resumption confirmed by epoch_key_update', epoch: 4n, pending: 0, sends: false },
];

/** The server's persist points in the scripted flow, in order. */
const SERVER_POINTS: readonly PersistPointSpec[] = [
  { state: "the client's key confirmation opened", epoch: 1n, pending: 0, sends: false },
  {
    state: "client's update processed, before epoch_key_update (R1)",
    epoch: 2n,
    pending: 0,
    sends: true,
  },
  {
    state: 'own update pending, before its connection_update (R1 -> R2)',
    epoch: 2n,
    pending: 1,
    sends: true,
  },
  {
    state: 'own update applied on epoch_key_update, before the reply (R2 -> R1)',
    epoch: 3n,
    pending: 0,
    sends: true,
  },
  {
    state: 'resumption flight applied, before epoch_key_update',
    epoch: 4n,
    pending: 0,
    sends: true,
  },
];

const POINTS: Record<Role, readonly PersistPointSpec[]> = {
  client: CLIENT_POINTS,
  server: SERVER_POINTS,
};
const MODES: readonly Mode[] = ['before', 'after', 'beforeSend'];
const SESSION_NAME = 'crash-test-server';
/** One step of a flow: a handshake or an update under load, with child processes starting. */
const STEP_MS = 30_000;

let credential: EndpointCredential;
beforeAll(async () => {
  credential = await generateCredential({ ciphersuite: 1 });
});

/** What one test started: closed or killed when it ends, pass or fail. */
class RunResources {
  readonly #children: CrashChild[] = [];
  readonly #agents: CrashAgent[] = [];
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async open(context: TestContext): Promise<RunResources> {
    const run = new RunResources(await mkdtemp(join(tmpdir(), 'mlstls-crash-')));
    context.onTestFinished(() => run.close());
    return run;
  }

  config(role: Role): CrashAgentConfig {
    return role === 'server'
      ? { role, dbPath: join(this.dir, 'server.db'), credential }
      : {
          role,
          dbPath: join(this.dir, 'client.db'),
          sessionId: SESSION_NAME,
          peerSignaturePublicKey: credential.signaturePublicKey,
        };
  }

  async child(role: Role, name: string, plan: CrashPlan): Promise<CrashChild> {
    const child = await startCrashChild({
      name,
      config: this.config(role),
      plan,
      callTimeoutMs: STEP_MS,
    });
    this.#children.push(child);
    return child;
  }

  /** The surviving role, in this process: it is never killed. */
  async inProcess(role: Role): Promise<CrashAgentHandle> {
    const agent = await openCrashAgent(this.config(role));
    this.#agents.push(agent);
    return {
      port: agent.port,
      call: (name, argument) => within(agent.call(name, argument), STEP_MS, `${role}: ${name}`),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.#children.map((child) => child.stop()));
    await Promise.all(this.#agents.map((agent) => agent.close()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The scripted flow through every persist point of both roles. Returns what the two
 * connections of the client reported, for the run without a crash.
 */
async function scriptedFlow(client: CrashAgentHandle, server: CrashAgentHandle) {
  const first = await client.call('connect', { port: server.port });
  await client.call('echo', { text: 'after the handshake' });
  await client.call('update', {});
  await client.call('echo', { text: "after the client's update" });
  await server.call('update', {});
  await client.call('echo', { text: "after the server's update" });
  await client.call('break', {});
  await server.call('settle', {});
  const second = await client.call('connect', { port: server.port });
  const last = await client.call('echo', { text: 'after the resumption' });
  return { first, second, last };
}

/** The stored session of the client, read from its file while no process uses it. */
async function storedClientSession(dbPath: string): Promise<SessionRecord | undefined> {
  const store = new SqliteStore({ path: dbPath });
  try {
    return await store.get(new TextEncoder().encode(SESSION_NAME));
  } finally {
    await store.close();
  }
}

/** A server's stored group, found by the client's session that names it. */
async function storedServerGroup(
  dbPath: string,
  clientSession: SessionRecord,
): Promise<SessionRecord | undefined> {
  const store = new SqliteStore({ path: dbPath });
  try {
    return await store.get(groupIdOf(clientSession));
  } finally {
    await store.close();
  }
}

/** The group_id of a client's session: its `pending` starts with `opaque group_id<1>`. */
function groupIdOf(session: SessionRecord): Uint8Array {
  const pending = session.pending!;
  return pending.subarray(1, 1 + pending[0]!);
}

/**
 * The client's unconfirmed commits (`opaque group_id<1>`, then `opaque commits<V4>` of
 * `opaque<V4>`), or whether the server holds its own pending commit.
 */
function pendingOf(role: Role, record: SessionRecord): number {
  if (role === 'server') return record.pending === undefined ? 0 : 1;
  const pending = record.pending!;
  const view = new DataView(pending.buffer, pending.byteOffset, pending.byteLength);
  let offset = 1 + pending[0]!;
  const end = offset + 4 + view.getUint32(offset);
  let count = 0;
  for (offset += 4; offset < end; count++) offset += 4 + view.getUint32(offset);
  return count;
}

/** What a persist point leaves in the store, to compare with the table. */
function storedState(role: Role, record: SessionRecord | undefined) {
  return record === undefined
    ? undefined
    : { epoch: record.epoch, pending: pendingOf(role, record) };
}

function expectedState(spec: PersistPointSpec | undefined) {
  return spec === undefined ? undefined : { epoch: spec.epoch, pending: spec.pending };
}

describe('persist points', () => {
  it.concurrent.for(['client', 'server'] as const)(
    'the %s passes through every persist point of its table in the scripted flow, in order',
    async (role, context) => {
      const run = await RunResources.open(context);
      const other: Role = role === 'client' ? 'server' : 'client';
      const peer = await run.inProcess(other);
      const counted = await run.child(role, `${role} (counting)`, NO_CRASH);
      const [client, server] = role === 'client' ? [counted, peer] : [peer, counted];
      const { first, second, last } = await scriptedFlow(client, server);
      expect(first).toEqual({ resumed: false, epoch: 1n });
      expect(second).toEqual({ resumed: true, epoch: 4n });
      expect(last.epoch).toBe(4n);

      const points = await counted.call('persistPoints', {});
      console.log(
        `${role}: ${points.length} persist points: ${points
          .map((point, i) => `${i + 1}. epoch ${point.record.epoch} (${POINTS[role][i]?.state})`)
          .join('; ')}`,
      );
      expect(points.every((point) => point.written)).toBe(true);
      expect(points.map((point) => storedState(role, point.record))).toEqual(
        POINTS[role].map(expectedState),
      );
    },
  );
});

interface CrashCase {
  readonly role: Role;
  readonly point: number;
  readonly mode: Mode;
}

// `beforeSend` runs only at points that send something. At the others (the server's key
// confirmation, the client's two confirmations) the next transport write is application data,
// with no other write to the store before it: the stored state and the bytes on the wire are
// those of `after`, so the run would repeat it at the cost of two child processes.
const CASES: CrashCase[] = (['client', 'server'] as const).flatMap((role) =>
  POINTS[role].flatMap((spec, i) =>
    MODES.filter((mode) => mode !== 'beforeSend' || spec.sends).map((mode) => ({
      role,
      point: i + 1,
      mode,
    })),
  ),
);

describe('a process killed at a persist point', () => {
  it.concurrent.for(CASES)(
    '$role killed $mode persist point $point: a new process resumes from what is stored',
    async ({ role, point, mode }, context) => {
      const spec = POINTS[role][point - 1]!;
      const run = await RunResources.open(context);
      const survivor = await run.inProcess(role === 'client' ? 'server' : 'client');
      const victim = await run.child(role, `${role} (killed ${mode} point ${point})`, {
        crashAt: point,
        mode,
      });
      const [client, server] = role === 'client' ? [victim, survivor] : [survivor, victim];

      // The flow until the child dies; what stops the flow is whatever noticed first.
      const stopped = await scriptedFlow(client, server).then(
        () => undefined,
        (error: unknown) => error,
      );
      if (stopped === undefined) {
        throw new Error(`the flow completed: ${role} persist point ${point} was never reached`);
      }
      const exit = await within(victim.exited, STEP_MS, `${role}: its death`);
      expect(exit.signal, `${String(stopped)}\n${victim.stderr}`).toBe('SIGKILL');
      // The survivor notices the broken connection (a truncation or a reset).
      await survivor.call('settle', {});

      // The crash landed where it was aimed: the stored state is that of the point (after
      // the write) or of the one before (before it).
      const clientDb = run.config('client').dbPath;
      const clientSession = await storedClientSession(clientDb);
      const landed = mode === 'before' ? POINTS[role][point - 2] : spec;
      const serverGroup =
        clientSession === undefined
          ? undefined
          : await storedServerGroup(run.config('server').dbPath, clientSession);
      if (role === 'client') {
        expect(storedState('client', clientSession)).toEqual(expectedState(landed));
      } else {
        expect(storedState('server', serverGroup)).toEqual(expectedState(landed));
      }
      // Key confirmation (docs/protocol.md section 4): the client stores its session before
      // its epoch_key_update(1), the server only once it has opened it. A crash between the
      // two leaves the client a session the server never completed: the server refuses it,
      // and the client's only way on is a full handshake. Every other crash resumes.
      const neverCompleted = clientSession !== undefined && serverGroup === undefined;
      if (neverCompleted) expect(point).toBe(1);

      // A new process of the killed role on the same file.
      const recovered = await run.child(role, `${role} (recovered)`, NO_CRASH);
      const [newClient, newServer] =
        role === 'client' ? [recovered, survivor] : [survivor, recovered];
      const resumed = await newClient.call('connect', {
        port: newServer.port,
        fallback: neverCompleted,
      });
      // Whatever both ends hold must resume: the connection never falls back.
      const resumable = clientSession !== undefined && !neverCompleted;
      expect(resumed.resumed).toBe(resumable);
      expect(resumed.epoch).toBe(resumable ? clientSession.epoch + 1n : 1n);
      const echoed = await newClient.call('echo', { text: 'after the crash' });
      expect(echoed.epoch).toBe(resumed.epoch);
      // The new process makes an update, confirmed by its peer.
      const updated = await recovered.call('update', {});
      expect(updated.epoch).toBe(resumed.epoch + 1n);
      const after = await newClient.call('echo', { text: "after the new process's update" });
      expect(after.epoch).toBe(updated.epoch);
    },
  );
});
