import type { AddressInfo, Socket } from 'node:net';
import { createServer, type MlsTlsSocket } from '@mlstls/node';
import { type FlagSpec, flagValue, parseArguments, parseHostPort } from './arguments.js';
import { toHex } from './capture-decoder.js';
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

export const SERVER_FLAGS: readonly FlagSpec[] = [
  {
    names: ['-accept', '-port'],
    value: '[host:]port',
    help: 'listen here (default 4433; port 0 picks one)',
  },
  { names: ['-cert'], value: 'FILE', help: 'certificate chain, PEM, leaf first' },
  { names: ['-key'], value: 'FILE', help: 'private key of the leaf (the MLS signature key), PEM' },
  { names: ['-pass'], value: 'TEXT', help: 'passphrase of an encrypted -key' },
  { names: ['-CAfile'], value: 'FILE', help: 'trust anchors for client certificates, PEM' },
  { names: ['-verify'], help: 'ask for a client certificate; go on if it fails verification' },
  { names: ['-Verify'], help: 'ask for a client certificate; refuse a client without a good one' },
  { names: ['-alpn'], value: 'a,b', help: 'ALPN protocols, most preferred first' },
  {
    names: ['-ciphersuites'],
    value: 'LIST',
    optionalValue: true,
    help:
      'MLS suites to accept, ids or names joined by ":" (default all); without -cert the ' +
      'generated key fits the first. Without LIST: list every suite and exit',
  },
  {
    names: ['-store'],
    value: 'memory|sqlite:FILE',
    help: 'where sessions are kept (default memory)',
  },
  { names: ['-keylog'], value: 'FILE', help: 'append key log lines (docs/protocol.md section 9)' },
  { names: ['-trace'], help: 'print every record and handshake message' },
  { names: ['-capture'], value: 'FILE', help: "write each connection's bytes (FILE, FILE.2, ...)" },
  { names: ['-quiet'], help: 'print no session summary' },
];

/**
 * `mlstls s_server`: accepts connections until `Q` or SIGINT/SIGTERM, prints what they send,
 * and sends stdin's lines to the latest one (`U`, `K` and `Q` as commands). Resolves with the
 * exit code.
 */
export async function sServer(args: readonly string[], terminal: Terminal): Promise<number> {
  const { flags } = parseArguments(args, SERVER_FLAGS);
  if (flags.get('-ciphersuites') === true) return listCiphersuites(terminal);
  const { host, port } = parseHostPort(flagValue(flags, '-accept') ?? '4433', '-accept');
  const options = endpointOptions(flags);
  const suites = parseCiphersuites(flags);
  const store = openStore(flagValue(flags, '-store'));
  const keyLogPath = flagValue(flags, '-keylog');
  const capturePath = flagValue(flags, '-capture');
  const trace = flags.has('-trace') ? (line: string) => terminal.out(`TRACE ${line}`) : undefined;
  const quiet = flags.has('-quiet');
  const server = createServer({
    ...options,
    store,
    // docs/protocol.md D18: the accepted list; the generated credential fits its first suite.
    ...(suites === undefined ? {} : { ciphersuites: suites.map((suite) => suite.id) }),
    ...(flags.has('-verify') || flags.has('-Verify') ? { requestCert: true } : {}),
    ...(flags.has('-verify') && !flags.has('-Verify') ? { rejectUnauthorized: false } : {}),
  });

  const live = new Set<MlsTlsSocket>();
  let current: MlsTlsSocket | undefined;
  // Taps by the client's address: the server's 'keylog' event names the mlstls socket, whose
  // transport is the tapped one.
  const taps = new Map<string, ConnectionTap>();
  let accepted = 0;
  if (capturePath !== undefined || trace !== undefined) {
    // Before the server's own listener makes the mlstls socket, so the tap sees every chunk first.
    server.prependListener('connection', (transport: Socket) => {
      const tap = new ConnectionTap({
        capturePath: capturePathOf(capturePath, ++accepted),
        trace,
      });
      const address = `${transport.remoteAddress}:${transport.remotePort}`;
      taps.set(address, tap);
      tap.attach(transport, 'S');
      transport.once('close', () => {
        tap.close();
        taps.delete(address);
      });
    });
  }
  if (keyLogPath !== undefined || trace !== undefined) {
    server.on('keylog', (line: Buffer, socket: MlsTlsSocket) => {
      if (keyLogPath !== undefined) appendKeyLog(keyLogPath, line);
      taps.get(`${socket.remoteAddress}:${socket.remotePort}`)?.keyLog(line);
    });
  }
  server.on('tlsClientError', (error: Error) => terminal.err(errorLine(error)));
  server.on('secureConnection', (socket: MlsTlsSocket) => {
    live.add(socket);
    current = socket;
    terminal.out(`ACCEPTED ${socket.remoteAddress}:${socket.remotePort}`);
    if (!quiet) for (const line of describeConnection(socket)) terminal.out(line);
    printEpochs(socket, terminal);
    socket.on('data', (chunk: Buffer) => terminal.data(chunk));
    socket.on('error', (error: Error) => terminal.err(errorLine(error)));
    socket.on('close', () => {
      live.delete(socket);
      if (current === socket) current = undefined;
      terminal.out('CLOSED');
    });
  });

  const listening = new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  if (host === undefined) server.listen(port);
  else server.listen(port, host);
  try {
    await listening;
  } catch (error) {
    terminal.err(errorLine(error));
    await store.close();
    return 1;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  terminal.out(`ACCEPT ${shownHost}:${address.port}`);
  if (options.cert === undefined) {
    terminal.out(`PIN ${toHex(server.credential!.signaturePublicKey)}`);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      commands.close();
      server.close();
      await Promise.all([...live].map((socket) => closeGracefully(socket)));
      await store.close();
      resolve(0);
    };
    const commands = readCommands(terminal, (command) => {
      if (command.type === 'quit') {
        void stop();
      } else if (current === undefined) {
        terminal.err('ERROR no connection');
      } else {
        runCommand(current, command, terminal);
      }
    });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
