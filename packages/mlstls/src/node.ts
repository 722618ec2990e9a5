/** The node:tls-shaped binding: `connect()`, `createServer()`, `MlsTlsSocket`. */
export * from '@mlstls/node';
