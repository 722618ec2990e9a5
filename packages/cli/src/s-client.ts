import { connect as connectTcp } from 'node:net';
import { connect, MlsTlsError, type MlsTlsSocket } from '@mlstls/node';
import type { SuiteParameters } from '@mlstls/state-machine';
import type { SessionStore } from '@mlstls/storage';
import {
  type FlagSpec,
  type Flags,
  flagValue,
  parseArguments,
  parseHex,
  parseHostPort,
} from './arguments.js';
import { listCiphersuites, parseCiphersuites } from './ciphersuites.js';
import {
  closeGracefully,
  describeConnection,
  errorLine,
  printEpochs,
  readCommands,
  runCommand,
  type Terminal,
} from './connection-console.js';
import { ConnectionTap, capturePathOf } from './connection-tap.js';
import { endpointOptions, openStore } from './endpoint-options.js';
import { appendKeyLog } from './key-log-file.js';

export const CLIENT_FLAGS: readonly FlagSpec[] = [
  { names: ['-connect'], value: 'host:port', help: 'the server (default localhost:4433)' },
  { names: ['-servername'], value: 'NAME', help: 'name to send and check (default the host)' },
  {
    names: ['-CAfile'],
    value: 'FILE',
    help: "trust anchors for the server, PEM (default the system's)",
  },
  { names: ['-cert'], value: 'FILE', help: 'client certificate chain, PEM, leaf first' },
  { names: ['-key'], value: 'FILE', help: 'private key of the leaf, PEM' },
  { names: ['-pass'], value: 'TEXT', help: 'passphrase of an encrypted -key' },
  {
    names: ['-pin'],
    value: 'HEX',
    help: "the server's signature public key (s_server prints PIN)",
  },
  { names: ['-verify_return_error'], help: 'fail when the server is not authenticated' },
  { names: ['-alpn'], value: 'a,b', help: 'ALPN protocols to offer' },
  {
    names: ['-ciphersuites'],
    value: 'LIST',
    optionalValue: true,
    help:
      'MLS suite to offer, an id or name (default 1); of an a:b list only the first is offered ' +
      '(one suite per client_hello). Without LIST: list every suite and exit',
  },
  { names: ['-reconnect'], help: 'reconnect 5 times, resuming, then stay on the last' },
  {
    names: ['-store'],
    value: 'memory|sqlite:FILE',
    help: 'where the session is kept (default memory)',
  },
  { names: ['-keylog'], value: 'FILE', help: 'append key log lines (docs/protocol.md section 9)' },
  { names: ['-trace'], help: 'print every record and handshake message' },
  { names: ['-capture'], value: 'FILE', help: "write each connection's bytes (FILE, FILE.2, ...)" },
  { names: ['-quiet'], help: 'print no session summary or epochs' },
];

/** openssl's `-reconnect`: the first connection and five more that resume it. */
const RECONNECTS = 5;

/**
 * `mlstls s_client`: connects, prints the session summary, then sends stdin's lines (`U`, `K`
 * and `Q` as commands) and prints what the server sends. Resolves with the exit code: 0 after
 * `Q`, the end of stdin or the server's close_notify, 1 after an error.
 */
export async function sClient(args: readonly string[], terminal: Terminal): Promise<number> {
  const { flags } = parseArguments(args, CLIENT_FLAGS);
  if (flags.get('-ciphersuites') === true) return listCiphersuites(terminal);
  const { host = 'localhost', port } = parseHostPort(
    flagValue(flags, '-connect') ?? 'localhost:4433',
    '-connect',
  );
  // One suite per client_hello (docs/protocol.md D18): the first of the list.
  const suite = parseCiphersuites(flags)?.[0];
  const store = openStore(flagValue(flags, '-store'));
  const dial = dialer(flags, suite, host, port, store, terminal);
  try {
    const connections = flags.has('-reconnect') ? 1 + RECONNECTS : 1;
    let socket: MlsTlsSocket | undefined;
    for (let n = 1; n <= connections; n++) {
      if (socket !== undefined) {
        terminal.out('drop connection and then reconnect');
        await closeGracefully(socket);
      }
      socket = await dial(n);
    }
    return await interact(socket!, terminal);
  } catch (error) {
    terminal.err(errorLine(error));
    return 1;
  } finally {
    await store.close();
  }
}

/** Opens the `n`th connection; resolves once its handshake is complete. */
function dialer(
  flags: Flags,
  suite: SuiteParameters | undefined,
  host: string,
  port: number,
  store: SessionStore,
  terminal: Terminal,
): (n: number) => Promise<MlsTlsSocket> {
  const pin = flagValue(flags, '-pin');
  const servername = flagValue(flags, '-servername');
  const keyLogPath = flagValue(flags, '-keylog');
  const capturePath = flagValue(flags, '-capture');
  const trace = flags.has('-trace') ? (line: string) => terminal.out(`TRACE ${line}`) : undefined;
  const quiet = flags.has('-quiet');
  const options = {
    ...endpointOptions(flags),
    host,
    ...(suite === undefined ? {} : { ciphersuite: suite.id }),
    ...(servername === undefined ? {} : { servername }),
    ...(pin === undefined ? {} : { peerSignaturePublicKey: parseHex(pin, '-pin') }),
    // openssl s_client goes on after a failed verification and says so; -verify_return_error
    // makes it fatal.
    rejectUnauthorized: flags.has('-verify_return_error'),
    store,
    sessionId: `${host}:${port}`,
  };
  const attempt = (n: number) =>
    new Promise<MlsTlsSocket>((resolve, reject) => {
      // The transport is made here, not by connect(), so that -capture and -trace can tap it.
      const transport = connectTcp({ host, port, allowHalfOpen: true });
      transport.once('connect', () =>
        terminal.out(`CONNECTED ${transport.remoteAddress}:${transport.remotePort}`),
      );
      let tap: ConnectionTap | undefined;
      if (capturePath !== undefined || trace !== undefined) {
        tap = new ConnectionTap({ capturePath: capturePathOf(capturePath, n), trace });
        tap.attach(transport, 'C');
        transport.once('close', () => tap!.close());
      }
      const socket = connect({ ...options, socket: transport });
      if (keyLogPath !== undefined || tap !== undefined) {
        socket.on('keylog', (line: Buffer) => {
          if (keyLogPath !== undefined) appendKeyLog(keyLogPath, line);
          tap?.keyLog(line);
        });
      }
      if (!quiet) printEpochs(socket, terminal);
      let secure = false;
      // After the handshake, errors are interact()'s to print (or of no interest once a
      // -reconnect has dropped the connection).
      socket.on('error', (error) => {
        if (!secure) reject(error);
      });
      socket.once('secureConnect', () => {
        secure = true;
        if (!quiet) for (const line of describeConnection(socket)) terminal.out(line);
        resolve(socket);
      });
    });
  return async (n) => {
    try {
      return await attempt(n);
    } catch (error) {
      // A refused resumption: the initiator has deleted the stored session, so a new
      // connection makes a full handshake (connect() cannot redial a transport it was given).
      if (!(error instanceof MlsTlsError) || error.code !== 'ERR_MLSTLS_UNKNOWN_PSK_IDENTITY') {
        throw error;
      }
      terminal.err(`${errorLine(error)} (making a full handshake)`);
      return attempt(n);
    }
  };
}

/** stdin to the connection, the connection to stdout, until either ends. */
function interact(socket: MlsTlsSocket, terminal: Terminal): Promise<number> {
  return new Promise<number>((resolve) => {
    let failed = false;
    socket.on('data', (chunk: Buffer) => terminal.data(chunk));
    socket.on('error', (error: Error) => {
      failed = true;
      terminal.err(errorLine(error));
    });
    const quit = () => void closeGracefully(socket);
    const commands = readCommands(
      terminal,
      (command) => {
        if (command.type === 'quit') quit();
        else runCommand(socket, command, terminal);
      },
      quit,
    );
    socket.once('close', () => {
      commands.close();
      terminal.out('DONE');
      resolve(failed ? 1 : 0);
    });
  });
}
