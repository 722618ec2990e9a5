// The workspace as a release sees it: where the repository is, its public packages, and how
// to run a command in it.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root directory. */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface PublicPackage {
  readonly name: string;
  readonly version: string;
  /** Its directory, absolute. */
  readonly dir: string;
}

/** Every package under `packages/` that is published (not `private`), by directory name. */
export function publicPackages(): PublicPackage[] {
  const found: PublicPackage[] = [];
  for (const entry of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', entry);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      private?: boolean;
    };
    if (manifest.private !== true)
      found.push({ name: manifest.name, version: manifest.version, dir });
  }
  return found;
}

/** Runs `file` with `args` in `cwd`; resolves with its stdout, rejects with its output. */
export function run(file: string, args: readonly string[], cwd = root): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${file} ${args.join(' ')} failed:\n${stdout}${stderr}`.trimEnd()));
    });
  });
}

/** A binary of the root's node_modules (changeset, turbo), or of this package's (attw). */
export function bin(name: string, of: 'root' | 'release' = 'root'): string {
  return join(of === 'root' ? root : join(root, 'tools', 'release'), 'node_modules', '.bin', name);
}

/** Runs `task` over `items`, `limit` at a time, in order of completion. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
