/** `connect()` and `listen()` for Deno, shaped like `Deno.connectTls` and `Deno.listenTls`. */
export * from '@mlstls/deno';
