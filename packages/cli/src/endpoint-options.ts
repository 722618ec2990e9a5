import { readFileSync } from 'node:fs';
import type { SharedOptions } from '@mlstls/node';
import { MemoryStore, type SessionStore } from '@mlstls/storage';
import { SqliteStore } from '@mlstls/storage-sqlite';
import { type Flags, flagValue, UsageError } from './arguments.js';

/**
 * `-cert FILE -key FILE [-pass TEXT] [-CAfile FILE] [-alpn a,b]` as the Node binding's options
 * (`cert`, `key`, `passphrase`, `ca`, `ALPNProtocols`); PEM files, read once.
 */
export function endpointOptions(flags: Flags): SharedOptions {
  const cert = flagValue(flags, '-cert');
  const key = flagValue(flags, '-key');
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('-cert and -key go together');
  }
  const ca = flagValue(flags, '-CAfile');
  const passphrase = flagValue(flags, '-pass');
  const alpn = flagValue(flags, '-alpn');
  return {
    ...(cert === undefined ? {} : { cert: readText(cert), key: readText(key!) }),
    ...(passphrase === undefined ? {} : { passphrase }),
    ...(ca === undefined ? {} : { ca: readText(ca) }),
    ...(alpn === undefined ? {} : { ALPNProtocols: alpn.split(',').filter((name) => name !== '') }),
  };
}

/** `-store memory` (the default) or `-store sqlite:FILE`. */
export function openStore(spec: string | undefined): SessionStore {
  if (spec === undefined || spec === 'memory') return new MemoryStore();
  if (spec.startsWith('sqlite:') && spec.length > 'sqlite:'.length) {
    return new SqliteStore({ path: spec.slice('sqlite:'.length) });
  }
  throw new UsageError(`-store: expected memory or sqlite:FILE, got ${JSON.stringify(spec)}`);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
}
