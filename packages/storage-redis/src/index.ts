/**
 * A `SessionStore` on Redis, through node-redis: one hash per session, written only by one Lua
 * compare-and-set, so that any number of responder processes can share a store.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { MlsTlsError } from '@mlstls/codec';
import {
  checkTtl,
  type SessionRecord,
  type SessionStore,
  type SessionVersion,
  type StoreOptions,
} from '@mlstls/storage';
import {
  ClientOfflineError,
  ConnectionTimeoutError,
  createClient,
  ErrorReply,
  RESP_TYPES,
  type RedisArgument,
  type RedisClientType,
  TimeoutError,
} from '@redis/client';

/** What the store needs of a node-redis client: any `createClient()` result has it. */
export type RedisStoreClient = Pick<RedisClientType, 'sendCommand'>;

export interface RedisStoreOptions extends StoreOptions {
  /** `redis[s]://...` of a server to connect to; the store owns that connection. */
  readonly url?: string;
  /**
   * A connected node-redis client instead of `url`. The caller keeps owning it: `close()`
   * leaves it open, and its `'error'` events are the caller's to handle.
   */
  readonly client?: RedisStoreClient;
  /** Prepended to the hex of each session id to make its key (default `'mlstls:session:'`). */
  readonly prefix?: string;
  /**
   * The store's deadline, in milliseconds (default 1000): how long one call (a compare-and-set
   * that has to send its script in full included), or `connect()`, may wait for Redis before it
   * rejects with `ERR_MLSTLS_STORAGE_TIMEOUT`. It replaces `commandTimeout`.
   */
  readonly deadline?: number;
}

const DEFAULT_PREFIX = 'mlstls:session:';
const DEFAULT_DEADLINE = 1_000;
/** The longest wait between two reconnection attempts of an owned client. */
const MAX_RECONNECT_DELAY = 2_000;
const MAX_EPOCH = 2n ** 64n - 1n;

/**
 * The compare-and-set. ARGV: the expectation (`absent`, `epoch`: at that epoch with no pending
 * commit, `pending`: at that epoch with exactly that pending commit), the expected epoch and
 * pending commit, the ttl in ms (`0`: none), then the hash's fields as name, value pairs.
 * Epochs are compared as decimal strings: Lua's numbers are doubles and would round a u64.
 * The DEL removes a pending field the new record lacks, and with it any old expiry.
 */
const COMPARE_AND_SET = `
local key = KEYS[1]
if ARGV[1] == 'absent' then
  if redis.call('EXISTS', key) == 1 then return 0 end
else
  local stored = redis.call('HMGET', key, 'epoch', 'pending')
  if stored[1] ~= ARGV[2] then return 0 end
  if ARGV[1] == 'epoch' then
    if stored[2] then return 0 end
  elseif stored[2] ~= ARGV[3] then
    return 0
  end
end
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 5))
if ARGV[4] ~= '0' then redis.call('PEXPIRE', key, ARGV[4]) end
return 1
`;
const COMPARE_AND_SET_SHA1 = createHash('sha1').update(COMPARE_AND_SET).digest('hex');

/**
 * Replies as raw bytes, whatever the client's own type mapping and RESP version: every bulk
 * string a Buffer, a RESP3 map a flat [name, value, ...] array as in RESP2.
 */
const TYPE_MAPPING = { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.MAP]: Array };

/**
 * A session store on a Redis server. Each session is a hash under `prefix + hex(id)` with the
 * fields `format`, `epoch` (decimal), `state`, `pending` (absent when none) and `peer`; the
 * `ttl` (7 days unless given) becomes the key's expiry, restarted by every write.
 */
export class RedisStore implements SessionStore {
  readonly #client: RedisStoreClient;
  /** The client this store created, which `close()` ends; undefined for a caller's. */
  readonly #owned: RedisClientType | undefined;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #deadline: number;
  #closed = false;
  /** The owned client's last connection error, the reason a command finds it offline. */
  #lastError: unknown;

  private constructor(
    client: RedisStoreClient,
    owned: RedisClientType | undefined,
    prefix: string,
    ttl: number,
    deadline: number,
  ) {
    this.#client = client;
    this.#owned = owned;
    this.#prefix = prefix;
    this.#ttl = ttl;
    this.#deadline = deadline;
    owned?.on('error', (error: unknown) => {
      this.#lastError = error;
    });
    owned?.on('ready', () => {
      this.#lastError = undefined;
    });
  }

  /**
   * A store on `options.client`, or on a new connection to `options.url`. A connection that
   * fails rejects with `ERR_MLSTLS_STORAGE`, one that gets no answer within the deadline with
   * `ERR_MLSTLS_STORAGE_TIMEOUT`; once connected, the store reconnects by itself after an
   * outage, and calls made while the server is unreachable reject at once.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    if ('commandTimeout' in options) {
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        'commandTimeout is now deadline, the ms a call may wait for redis',
      );
    }
    const prefix = checkPrefix(options.prefix);
    const ttl = checkTtl(options.ttl);
    const deadline = checkDeadline(options.deadline);
    const { url, client: given } = options;
    if (given !== undefined) {
      if (url !== undefined) throw eitherUrlOrClient();
      return new RedisStore(given, undefined, prefix, ttl, deadline);
    }
    if (url === undefined) throw eitherUrlOrClient();

    let connected = false;
    let client: RedisClientType;
    try {
      client = createClient({
        url,
        // A command during an outage fails now instead of waiting in a queue for a server
        // that may never come back.
        disableOfflineQueue: true,
        socket: {
          connectTimeout: deadline,
          // The first connection is tried once; a later outage is retried forever, with a
          // growing pause, so the store recovers when the server returns.
          reconnectStrategy: (retries) =>
            connected ? Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY) : false,
        },
      });
    } catch {
      // Without the parser's error as cause: it may quote the url, and a url holds passwords.
      throw new MlsTlsError(
        'ERR_MLSTLS_INVALID_ARGUMENT',
        'a RedisStore url must be redis[s]://[[user][:password]@]host[:port][/db]',
      );
    }
    const store = new RedisStore(client, client, prefix, ttl, deadline);
    // connectTimeout bounds the TCP connection only: a hung server accepts it (the kernel
    // does) and then never answers the client's HELLO, so the whole connection is bounded here.
    const timedOut = expiry(performance.now(), deadline);
    const connecting = client.connect();
    connecting.catch(() => {});
    try {
      await Promise.race([connecting, timedOut.promise]);
    } catch (error) {
      client.destroy();
      const late = error instanceof TimeoutError || error instanceof ConnectionTimeoutError;
      throw new MlsTlsError(
        late ? 'ERR_MLSTLS_STORAGE_TIMEOUT' : 'ERR_MLSTLS_STORAGE',
        late
          ? `redis did not answer the connection within ${deadline} ms`
          : 'could not connect to redis',
        { cause: error },
      );
    } finally {
      timedOut.cancel();
    }
    connected = true;
    return store;
  }

  async get(id: Uint8Array): Promise<SessionRecord | undefined> {
    const reply = await this.#send(['HGETALL', this.#key(id)], 'HGETALL', performance.now());
    return readHash(reply);
  }

  async compareAndSet(
    id: Uint8Array,
    expected: SessionVersion | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const args: RedisArgument[] = [
      '1',
      this.#key(id),
      expected === null ? 'absent' : expected.pending === undefined ? 'epoch' : 'pending',
      expected === null ? '' : expected.epoch.toString(),
      expected?.pending === undefined ? '' : bytes(expected.pending),
      Number.isFinite(this.#ttl) ? String(this.#ttl) : '0',
      ...fieldsOf(next),
    ];
    const started = performance.now();
    let reply: unknown;
    try {
      reply = await this.#send(
        ['EVALSHA', COMPARE_AND_SET_SHA1, ...args],
        'compare-and-set',
        started,
      );
    } catch (error) {
      // A server that has not seen the script yet (or restarted since) is sent it in full,
      // within what is left of the call's deadline.
      if (!(error instanceof MlsTlsError && isNoScript(error.cause))) throw error;
      reply = await this.#send(['EVAL', COMPARE_AND_SET, ...args], 'compare-and-set', started);
    }
    if (reply !== 1 && reply !== 0) {
      throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'an unexpected reply to the compare-and-set');
    }
    return reply === 1;
  }

  async delete(id: Uint8Array): Promise<void> {
    await this.#send(['DEL', this.#key(id)], 'DEL', performance.now());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#owned;
    if (client === undefined) return;
    // Let commands in flight finish, but never wait longer than one of them may take.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      client.close().catch(() => {}),
      new Promise((resolve) => {
        timer = setTimeout(resolve, this.#deadline);
      }),
    ]);
    clearTimeout(timer);
    client.destroy();
  }

  /** Sends one command, and gives up on it once the call that `started` reaches the deadline. */
  async #send(args: RedisArgument[], what: string, started: number): Promise<unknown> {
    if (this.#closed) throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'the store is closed');
    const left = Math.max(1, Math.ceil(this.#deadline - (performance.now() - started)));
    // node-redis times a command out only while it waits to be written; one a hung server
    // never answers would wait forever, so the store bounds the whole call itself. A reply
    // given up on may still settle later, and is ignored then.
    const reply = this.#client.sendCommand(args, { typeMapping: TYPE_MAPPING, timeout: left });
    reply.catch(() => {});
    const timedOut = expiry(started, this.#deadline);
    try {
      return await Promise.race([reply, timedOut.promise]);
    } catch (error) {
      if (this.#closed) {
        throw new MlsTlsError('ERR_MLSTLS_STORAGE', 'the store is closed', { cause: error });
      }
      if (error instanceof TimeoutError) {
        throw new MlsTlsError(
          'ERR_MLSTLS_STORAGE_TIMEOUT',
          `redis did not answer ${what} within ${this.#deadline} ms`,
          { cause: error },
        );
      }
      const offline = error instanceof ClientOfflineError && this.#lastError !== undefined;
      throw new MlsTlsError(
        'ERR_MLSTLS_STORAGE',
        offline ? `redis is unreachable (${what})` : `redis ${what} failed`,
        { cause: offline ? this.#lastError : error },
      );
    } finally {
      timedOut.cancel();
    }
  }

  #key(id: Uint8Array): string {
    let hex = '';
    for (const byte of id) hex += byte.toString(16).padStart(2, '0');
    return this.#prefix + hex;
  }
}

/**
 * A promise that rejects with `TimeoutError` once `deadline` ms have passed since `started` (a
 * `performance.now()`), never before: a Node timer may fire a few milliseconds early by that
 * clock (libuv's loop time lags it after a long tick; 2.7 ms measured under CI load), so an
 * early one is armed again for what is left.
 */
function expiry(started: number, deadline: number): { promise: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    const check = (): void => {
      const left = deadline - (performance.now() - started);
      if (left <= 0) reject(new TimeoutError());
      else timer = setTimeout(check, Math.ceil(left));
    };
    check();
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** The hash of `record`, as HSET's name, value pairs. */
function fieldsOf(record: SessionRecord): RedisArgument[] {
  const fields: RedisArgument[] = [
    'format',
    String(record.format),
    'epoch',
    record.epoch.toString(),
    'state',
    bytes(record.state),
    'peer',
    bytes(record.peer),
  ];
  if (record.pending !== undefined) fields.push('pending', bytes(record.pending));
  return fields;
}

/**
 * A copy of `array` to hand to the socket: the caller may reuse its array as soon as a call
 * returns, while node-redis may still hold the argument in a write buffer.
 */
function bytes(array: Uint8Array): Buffer {
  return Buffer.from(array);
}

/** The record an HGETALL reply holds; an empty reply is no record. */
function readHash(reply: unknown): SessionRecord | undefined {
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw malformed('not a hash');
  if (reply.length === 0) return undefined;
  const fields = new Map<string, Uint8Array>();
  for (let i = 0; i < reply.length; i += 2) {
    const name: unknown = reply[i];
    const value: unknown = reply[i + 1];
    if (!(name instanceof Uint8Array) || !(value instanceof Uint8Array)) {
      throw malformed('not a hash of strings');
    }
    fields.set(new TextDecoder().decode(name), value);
  }
  // Any uint16, in canonical decimal: the state machine decides what it can read.
  const formatText = text(fields.get('format'));
  if (formatText === undefined || !/^(0|[1-9][0-9]{0,4})$/.test(formatText)) {
    throw malformed('no format');
  }
  const format = Number(formatText);
  if (format > 0xffff) throw malformed('a format beyond 65535');
  const epochText = text(fields.get('epoch'));
  if (epochText === undefined || !/^(0|[1-9][0-9]{0,19})$/.test(epochText)) {
    throw malformed('no epoch');
  }
  const epoch = BigInt(epochText);
  if (epoch > MAX_EPOCH) throw malformed('an epoch beyond 2^64 - 1');
  const state = fields.get('state');
  const peer = fields.get('peer');
  if (state === undefined || peer === undefined) throw malformed('a field missing');
  const pending = fields.get('pending');
  const known = pending === undefined ? 4 : 5;
  if (fields.size !== known) throw malformed('an unknown field');
  // Copies: the replies are views into node-redis's read buffers.
  const record = { format, epoch, state: new Uint8Array(state) };
  return pending === undefined
    ? { ...record, peer: new Uint8Array(peer) }
    : { ...record, pending: new Uint8Array(pending), peer: new Uint8Array(peer) };
}

function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : new TextDecoder().decode(value);
}

function malformed(what: string): MlsTlsError {
  return new MlsTlsError('ERR_MLSTLS_STORAGE', `a stored session that is malformed: ${what}`);
}

function isNoScript(error: unknown): boolean {
  return error instanceof ErrorReply && error.message.startsWith('NOSCRIPT');
}

function eitherUrlOrClient(): MlsTlsError {
  return new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'give a RedisStore either url or client');
}

function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_PREFIX;
  if (typeof prefix !== 'string') {
    throw new MlsTlsError('ERR_MLSTLS_INVALID_ARGUMENT', 'prefix must be a string');
  }
  return prefix;
}

function checkDeadline(deadline: number | undefined): number {
  if (deadline === undefined) return DEFAULT_DEADLINE;
  if (!Number.isSafeInteger(deadline) || deadline <= 0 || deadline > 0x7fffffff) {
    throw new MlsTlsError(
      'ERR_MLSTLS_INVALID_ARGUMENT',
      'deadline must be an integer from 1 to 2147483647 (ms)',
    );
  }
  return deadline;
}
