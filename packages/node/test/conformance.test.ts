// The binding conformance suite of @mlstls/driver against the Node binding's server, run in its
// own process so that its memory is measured alone and a crash shows as one.
import { fileURLToPath } from 'node:url';
import { describeBindingConformance, spawnConformanceServer } from '@mlstls/driver/conformance';

const script = fileURLToPath(new URL('conformance-server.ts', import.meta.url));

describeBindingConformance('@mlstls/node', (config) =>
  spawnConformanceServer(
    process.execPath,
    ['--expose-gc', '--import', import.meta.resolve('tsx'), script],
    config,
  ),
);
