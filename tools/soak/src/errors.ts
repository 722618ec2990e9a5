// Which errors the soak's own abrupt closes legitimately cause, on which side. Everything else
// is UNEXPECTED, and so is any expected code seen more often than the run's abrupt closes can
// explain (the budgets below).
//
// Errors are counted by key: the code, and the code of the error's `cause` when it has one
// (src/protocol.ts `errorKey`): `ERR_MLSTLS_ABORTED (ECONNRESET)` is a binding that wraps the
// transport's reset in its own error. Both forms are accepted below, and so is a binding that
// reports a transport ending without close_notify as `socket.truncated === true` and 'end'
// (node:tls's way) instead of an ERR_MLSTLS_TRUNCATED 'error'.
//
// The run closes a connection abruptly in three ways, always after its handshake completed on
// the client (so after the server's: the server's handshake ends first):
//
// - `destroy`: the client calls `destroy()` on its MlsTlsSocket, in the middle of a write or of
//   an update, or between operations. The client socket emits no 'error' (destroy() without an
//   error).
// - `tcp-destroy`: the client destroys the TCP socket under its MlsTlsSocket (a transport it
//   passed as `socket`). The client's transport closes without the server's close_notify:
//   ERR_MLSTLS_TRUNCATED (or `truncated`). Not a reset: the client destroyed it itself.
// - `relay-cut`: the in-process relay destroys both TCP sockets of a connection. The client's
//   TCP connection ends (FIN: ERR_MLSTLS_TRUNCATED, or `truncated`) or is reset (ECONNRESET,
//   when the relay had unread bytes from the server; EPIPE when the client was writing), raw or
//   wrapped in ERR_MLSTLS_ABORTED.
//
// In each case an update() the client had started and not seen confirmed rejects (it can never
// be confirmed): ERR_MLSTLS_INVALID_STATE (the state machine's rejection of waiters when the
// connection ends), ERR_MLSTLS_ABORTED, or the error the connection ended with.
//
// On the server each abrupt close ends one server socket, with at most one 'error': FIN without
// close_notify (ERR_MLSTLS_TRUNCATED, or `truncated` and no error), a reset (ECONNRESET: the
// client's kernel resets a connection closed with unread data in it), a write to a reset
// connection while it echoes (EPIPE, ECONNRESET), raw or wrapped in ERR_MLSTLS_ABORTED; or
// ERR_MLSTLS_SESSION_SUPERSEDED: the slot's next connection resumed the session before this
// socket saw its transport end, and its next persist lost the compare-and-set. A server that
// lags may not yet have read the last handshake record of a connection when its reset
// arrives: then the same codes come as 'tlsClientError'. Budget: these server codes together,
// 'error' and 'tlsClientError', at most one per abrupt close (and per connection the client
// destroyed after an unexpected failure, already counted as such).
//
// A resumption right after an abrupt close races the old server socket for the stored session
// (packages/node/README.md: "Of two resumptions of one session exactly one wins"): the server
// may refuse it with unknown_psk_identity ('tlsClientError' ERR_MLSTLS_UNKNOWN_PSK_IDENTITY on
// the server). The client then makes a full handshake on a new connection (the binding's
// fallback), or, on a transport of its own (no fallback possible), fails with the same code.
// Expected on the client only when the slot's previous stored-session connection ended
// abruptly; budget on the server: the client's refusals that followed an abrupt close. After
// a graceful close the server has nothing to race with: a refusal then is unexpected.

export type AbruptKind = 'destroy' | 'tcp-destroy' | 'relay-cut';

const RESETS = [
  'ECONNRESET',
  'EPIPE',
  'ERR_MLSTLS_ABORTED (ECONNRESET)',
  'ERR_MLSTLS_ABORTED (EPIPE)',
] as const;

/** 'error' keys a client socket may emit after the run closed it abruptly, by how. */
export const CLIENT_ERRORS_AFTER: Record<AbruptKind, readonly string[]> = {
  destroy: [],
  'tcp-destroy': ['ERR_MLSTLS_TRUNCATED'],
  'relay-cut': ['ERR_MLSTLS_TRUNCATED', ...RESETS],
};

/** How an update() abandoned by an abrupt close may reject. */
export const ABANDONED_UPDATE: readonly string[] = [
  'ERR_MLSTLS_INVALID_STATE',
  'ERR_MLSTLS_ABORTED',
  'ERR_MLSTLS_TRUNCATED',
  ...RESETS,
];

/** A refused resumption (expected only right after an abrupt close, see above). */
export const REFUSED_RESUMPTION = 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY';

/** Server keys ('error' or 'tlsClientError') an abrupt close may cause, one per close. */
export const SERVER_ERRORS_AFTER_ABRUPT: readonly string[] = [
  'ERR_MLSTLS_TRUNCATED',
  ...RESETS,
  'ERR_MLSTLS_SESSION_SUPERSEDED',
];
