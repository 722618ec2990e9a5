import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { MlsTlsError, type MlsTlsSocket } from '@mlstls/node';
import { toHex } from './capture-decoder.js';
import { describeError } from './record-format.js';

/** Where the commands print: stdout for the session, stderr for errors. */
export interface Terminal {
  out(line: string): void;
  err(line: string): void;
  /** Received application data, as it came. */
  data(chunk: Buffer): void;
  /** Where s_client and s_server read their lines and commands (default stdin). */
  readonly input?: Readable;
}

export const processTerminal: Terminal = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  data: (chunk) => process.stdout.write(chunk),
};

/**
 * What s_client and s_server print once a handshake completes, as openssl's session summary:
 * `New` or `Reused`, the suite, the epoch, the peer, ALPN and the verification result.
 */
export function describeConnection(socket: MlsTlsSocket): string[] {
  const cipher = socket.getCipher();
  const certificate = socket.getPeerCertificate();
  const peer = socket.getPeerCredential();
  let peerLine: string;
  if (certificate !== null && 'subject' in certificate) {
    const subject = Object.entries(certificate.subject)
      .map(([name, value]) => `${name}=${Array.isArray(value) ? value.join('+') : value}`)
      .join(', ');
    peerLine = `Peer certificate: subject=${subject}`;
  } else {
    peerLine =
      peer === undefined
        ? 'Peer: none'
        : `Peer: basic credential, signature key ${toHex(peer.signaturePublicKey)}`;
  }
  const error = socket.authorizationError;
  return [
    '---',
    `${socket.isSessionReused() ? 'Reused' : 'New'}, TLSv1.3, Cipher is ${cipher?.standardName}`,
    `MLS ciphersuite: ${cipher?.name}`,
    `Epoch: ${socket.epoch}`,
    peerLine,
    socket.alpnProtocol ? `ALPN protocol: ${socket.alpnProtocol}` : 'No ALPN negotiated',
    socket.authorized || error === undefined
      ? 'Verify return code: 0 (ok)'
      : `Verify return code: ${error.code} (${error.message})`,
    '---',
  ];
}

/** `EPOCH 2 (peer)` on every epoch the connection enters, from the handshake's on. */
export function printEpochs(socket: MlsTlsSocket, terminal: Terminal): void {
  socket.on('epoch', (epoch: bigint, cause: string) => terminal.out(`EPOCH ${epoch} (${cause})`));
}

/** `ERROR <code> <alert>: <message>` for an `MlsTlsError`; `ERROR <code>` for others. */
export function errorLine(error: unknown): string {
  if (error instanceof MlsTlsError) return `ERROR ${describeError(error)}`;
  const code = (error as { code?: unknown } | undefined)?.code;
  return `ERROR ${typeof code === 'string' ? code : 'ERR'}: ${(error as Error)?.message ?? String(error)}`;
}

/** What a line of stdin asks for. */
export type Command =
  | { readonly type: 'update' }
  | { readonly type: 'keyUpdate' }
  | { readonly type: 'quit' }
  | { readonly type: 'data'; readonly text: string };

/**
 * Reads the terminal's input (stdin) line by line: `U` is a post-compromise-security update,
 * `K` a key update, `Q` quits; any other line is sent with its newline. `onEnd` is called at
 * the end of the input.
 */
export function readCommands(
  terminal: Terminal,
  onCommand: (command: Command) => void,
  onEnd?: () => void,
): { close(): void } {
  const input = terminal.input ?? process.stdin;
  const lines = createInterface({ input, terminal: false });
  lines.on('line', (line) => {
    const command = line.trimEnd();
    if (command === 'U') onCommand({ type: 'update' });
    else if (command === 'K') onCommand({ type: 'keyUpdate' });
    else if (command === 'Q') onCommand({ type: 'quit' });
    else onCommand({ type: 'data', text: `${line}\n` });
  });
  if (onEnd !== undefined) lines.on('close', onEnd);
  return {
    close: () => {
      lines.removeAllListeners('close');
      lines.close();
      input.destroy();
    },
  };
}

/** Runs `U`, `K` or a data line on `socket`, printing `UPDATE: epoch N` or `KEYUPDATE`. */
export function runCommand(
  socket: MlsTlsSocket,
  command: Exclude<Command, { type: 'quit' }>,
  terminal: Terminal,
): void {
  switch (command.type) {
    case 'update':
      socket.update().then(
        () => terminal.out(`UPDATE: epoch ${socket.epoch}`),
        (error: unknown) => terminal.err(errorLine(error)),
      );
      break;
    case 'keyUpdate':
      socket.keyUpdate().then(
        () => terminal.out('KEYUPDATE'),
        (error: unknown) => terminal.err(errorLine(error)),
      );
      break;
    case 'data':
      socket.write(command.text);
      break;
  }
}

/**
 * close_notify, then waits for the socket to close (the peer answers with its own); after
 * `ms` it is destroyed.
 */
export async function closeGracefully(socket: MlsTlsSocket, ms = 5000): Promise<void> {
  if (socket.destroyed) return;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.resume();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), ms);
  await closed;
  clearTimeout(timer);
}
