// How the tests start the real Deno (the `deno` npm package's binary) on a script of
// test/deno/, running the built package.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The Deno executable itself, not `node_modules/.bin/deno`: that is a Node script that runs
 * Deno as its child, so killing it (a test's cleanup) would leave Deno running.
 */
export const denoBin: string = (
  createRequire(import.meta.url)('deno/install_api.cjs') as { runInstall(): string }
).runInstall();

/** `deno` arguments that run `script` (relative to the package) with every permission. */
export function denoRunArgs(script: string, v8Flags: readonly string[] = []): string[] {
  return [
    'run',
    '-A',
    '--no-lock',
    '--no-check',
    '--sloppy-imports',
    ...(v8Flags.length === 0 ? [] : [`--v8-flags=${v8Flags.join(',')}`]),
    script,
  ];
}
