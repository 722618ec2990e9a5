// KeyPackages made ahead of time, off a handshake's critical path (docs/protocol.md section 4,
// steps 1 and 2). Each is still used once: `take` removes what it gives.
import type { Extension, KeyPackage, PrivateKeyPackage } from 'ts-mls';
import { encodeExtension } from 'ts-mls/extension.js';
import { generateCredential } from './credential.js';
import { createKeyPackage } from './group.js';
import { type EndpointCredential, sharedCiphersuite } from './mls.js';
import type { SuiteParameters } from './suites.js';

/** A KeyPackage with its private keys and the credential it was made for. */
export interface PreparedKeyPackage {
  readonly credential: EndpointCredential;
  readonly publicPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
}

/** What an endpoint asks a `KeyPackageSupply` for. */
export interface KeyPackageRequest {
  readonly suite: SuiteParameters;
  /** The credential the KeyPackage must carry; none: an ephemeral basic credential. */
  readonly credential: EndpointCredential | undefined;
  /** The KeyPackage extensions (section 7), exactly. */
  readonly extensions: readonly Extension[];
  /** The endpoint's clock, in milliseconds. */
  readonly now: number;
}

/**
 * Where an endpoint takes a KeyPackage made ahead of time. `undefined` makes the endpoint make
 * one itself, as without a supply. An implementation gives each KeyPackage once.
 */
export interface KeyPackageSupply {
  take(request: KeyPackageRequest): PreparedKeyPackage | undefined;
}

export interface KeyPackagePoolOptions {
  /** KeyPackages kept ready for each kind asked for (default 2). */
  readonly size?: number;
  /**
   * Milliseconds a KeyPackage is kept before it is dropped unused (default 60000). Its
   * lifetime (section 4) is a day either side of when it was made, so this is well within.
   */
  readonly maxAge?: number;
  /** Kinds of KeyPackage (suite, credential, extensions) kept at once (default 16). */
  readonly kinds?: number;
  /** The clock, in milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Milliseconds without a handshake starting (a `take`) before the pool makes KeyPackages
   * (default 10): it fills while the process is idle, never between a handshake's steps.
   */
  readonly quiet?: number;
}

interface Ready {
  readonly prepared: PreparedKeyPackage;
  readonly made: number;
}

interface Kind {
  readonly ready: Ready[];
  refilling: boolean;
}

const credentialIds = new WeakMap<EndpointCredential, number>();
let nextCredentialId = 1;

/** The kind of a request: what a KeyPackage must match to answer it. */
function kindOf(request: KeyPackageRequest): string {
  let credential = 'ephemeral';
  if (request.credential !== undefined) {
    let id = credentialIds.get(request.credential);
    if (id === undefined) {
      id = nextCredentialId++;
      credentialIds.set(request.credential, id);
    }
    credential = String(id);
  }
  let extensions = '';
  for (const extension of request.extensions) {
    for (const byte of encodeExtension(extension)) extensions += byte.toString(16).padStart(2, '0');
    extensions += ' ';
  }
  return `${request.suite.id} ${credential} ${extensions}`;
}

/**
 * KeyPackages (and, for initiators without a credential, their ephemeral credentials) made
 * ahead of time on node:crypto's MLS implementation and the platform's randomness, so that a
 * handshake finds its own ready. The first request of a kind finds none and starts the pool on
 * that kind; after every `take` the pool refills once no handshake has started for `quiet`
 * milliseconds, so the work runs while the process is idle rather than on a handshake's
 * critical path (under a steady stream of handshakes it never fills, and costs nothing). A
 * KeyPackage is given once and dropped after `maxAge`; the pool holds at most `size` of each
 * of at most `kinds` kinds, the least recently asked kind going first.
 */
export class KeyPackagePool implements KeyPackageSupply {
  readonly #size: number;
  readonly #maxAge: number;
  readonly #kinds: number;
  readonly #now: () => number;
  readonly #byKind = new Map<string, Kind>();
  readonly #quiet: number;
  /** When `take` was last called (`performance.now()`). */
  #lastTake = Number.NEGATIVE_INFINITY;

  constructor(options: KeyPackagePoolOptions = {}) {
    this.#size = options.size ?? 2;
    this.#maxAge = options.maxAge ?? 60_000;
    this.#kinds = options.kinds ?? 16;
    this.#now = options.now ?? Date.now;
    this.#quiet = options.quiet ?? 10;
  }

  /** KeyPackages ready now, of every kind. */
  get ready(): number {
    let count = 0;
    for (const kind of this.#byKind.values()) count += kind.ready.length;
    return count;
  }

  take(request: KeyPackageRequest): PreparedKeyPackage | undefined {
    this.#lastTake = performance.now();
    const key = kindOf(request);
    let kind = this.#byKind.get(key);
    if (kind === undefined) {
      kind = { ready: [], refilling: false };
      if (this.#byKind.size >= this.#kinds) {
        const oldest = this.#byKind.keys().next().value as string;
        this.#byKind.delete(oldest);
      }
    }
    // Most recently asked last: the first key is the one to evict.
    this.#byKind.delete(key);
    this.#byKind.set(key, kind);
    const oldest = this.#now() - this.#maxAge;
    let ready = kind.ready.shift();
    while (ready !== undefined && ready.made < oldest) ready = kind.ready.shift();
    this.#refill(kind, request);
    return ready?.prepared;
  }

  #refill(kind: Kind, request: KeyPackageRequest): void {
    if (kind.refilling || kind.ready.length >= this.#size) return;
    kind.refilling = true;
    this.#whenQuiet(() => {
      void this.#fill(kind, request).finally(() => {
        kind.refilling = false;
      });
    });
  }

  /**
   * Runs `task` once `quiet` milliseconds have passed without a `take`: a refill started at
   * once would run between the steps of the handshake that took the KeyPackage, on its
   * critical path. Under a steady stream of handshakes it waits, and each handshake makes its
   * own KeyPackage as it would without a pool.
   */
  #whenQuiet(task: () => void): void {
    const wait = this.#lastTake + this.#quiet - performance.now();
    if (wait <= 0) {
      task();
      return;
    }
    const timer = setTimeout(() => this.#whenQuiet(task), wait);
    (timer as { unref?: () => void }).unref?.();
  }

  async #fill(kind: Kind, request: KeyPackageRequest): Promise<void> {
    const { suite, extensions } = request;
    try {
      const cs = await sharedCiphersuite(suite.name, 'node');
      while (kind.ready.length < this.#size) {
        const made = this.#now();
        const credential =
          request.credential ?? (await generateCredential({ ciphersuite: suite.id }));
        const own = await createKeyPackage(credential, suite, made, cs, [...extensions]);
        kind.ready.push({ prepared: { credential, ...own }, made });
        // One at a time, each after a quiet spell: a handshake may have begun meanwhile.
        if (kind.ready.length < this.#size) {
          await new Promise<void>((resolve) => this.#whenQuiet(resolve));
        }
      }
    } catch {
      // A failure here costs nothing but speed: the endpoint makes its own KeyPackage.
    }
  }
}
