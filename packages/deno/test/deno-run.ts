// How the tests start the real Deno (the `deno` npm package's binary) on a script of
// test/deno/, running the built package.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const denoBin = join(packageDir, 'node_modules', '.bin', 'deno');

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
