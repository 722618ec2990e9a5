// The binding conformance suite of @mlstls/driver against the Deno binding's server, on the
// real Deno that the `deno` npm package brings, running the built package.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBindingConformance, spawnConformanceServer } from '@mlstls/driver/conformance';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const denoBin = join(packageDir, 'node_modules', '.bin', 'deno');

describeBindingConformance('@mlstls/deno', (config) =>
  spawnConformanceServer(
    denoBin,
    [
      'run',
      '-A',
      '--no-lock',
      '--no-check',
      '--sloppy-imports',
      '--v8-flags=--expose-gc',
      'test/deno/conformance-server.ts',
    ],
    config,
    { cwd: packageDir },
  ),
);
