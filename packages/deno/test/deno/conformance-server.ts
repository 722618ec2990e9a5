// The Deno binding's server for the binding conformance suite, run under Deno on the built
// package (started by conformance.test.ts).

import type * as Harness from '@mlstls/driver/conformance/server';
import type * as MlsTls from '../../src/index.js';

const mlstls = (await import(
  new URL('../../dist/index.js', import.meta.url).href
)) as typeof MlsTls;
const { runStreamsApp, serveConformance } = (await import(
  '@mlstls/driver/conformance/server'
)) as typeof Harness;

await serveConformance({
  async listen({ app, credential, store, idleTimeout, report }) {
    const listener = mlstls.listen({
      hostname: '127.0.0.1',
      port: 0,
      credential,
      store,
      idleTimeout,
    });
    void (async () => {
      for await (const conn of listener) {
        runStreamsApp(app, connectionOf(conn), report);
      }
    })();
    return { port: listener.addr.port };
  },
});

/** The connection as `runStreamsApp` takes it; `truncated` read when asked. */
function connectionOf(conn: MlsTls.MlsTlsConn) {
  return {
    handshake: conn.handshake(),
    readable: conn.readable,
    writable: conn.writable,
    closed: conn.closed,
    get truncated() {
      return conn.truncated;
    },
  };
}
