// The binding conformance suite of @mlstls/driver against the Deno binding's server, on the
// real Deno that the `deno` npm package brings, running the built package.
import { describeBindingConformance, spawnConformanceServer } from '@mlstls/driver/conformance';
import { denoBin, denoRunArgs, packageDir } from './deno-run.js';

describeBindingConformance('@mlstls/deno', (config) =>
  spawnConformanceServer(
    denoBin,
    denoRunArgs('test/deno/conformance-server.ts', ['--expose-gc']),
    config,
    { cwd: packageDir },
  ),
);
