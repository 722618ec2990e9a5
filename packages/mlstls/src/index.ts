/**
 * mlstls: TLS 1.3 with its handshake replaced by MLS (RFC 9420). The package's root is the
 * node:tls-shaped Node binding and the in-memory session store; every layer is also here on a
 * subpath of its name (`mlstls/streams`, `mlstls/deno`, `mlstls/state-machine`, ...). Nothing is
 * defined here: every export is a layer's own.
 */
export * from '@mlstls/node';
export { MemoryStore, type SessionRecord, type SessionStore } from '@mlstls/storage';
