// The binding conformance suite of @mlstls/driver against the Web Streams binding's server (on
// Node's TCP), run in its own process so that its memory is measured alone.
import { fileURLToPath } from 'node:url';
import { describeBindingConformance, spawnConformanceServer } from '@mlstls/driver/conformance';

const script = fileURLToPath(new URL('conformance-server.ts', import.meta.url));

describeBindingConformance('@mlstls/streams', (config) =>
  spawnConformanceServer(
    process.execPath,
    ['--expose-gc', '--import', import.meta.resolve('tsx'), script],
    config,
  ),
);
