#!/usr/bin/env node
import { type FlagSpec, UsageError, usage } from './arguments.js';
import { listCiphersuites } from './ciphersuites.js';
import { errorLine, processTerminal, type Terminal } from './connection-console.js';
import { DECODE_FLAGS, decode } from './decode-command.js';
import { CLIENT_FLAGS, sClient } from './s-client.js';
import { SERVER_FLAGS, sServer } from './s-server.js';

const COMMANDS: Record<
  string,
  {
    synopsis: string;
    flags: readonly FlagSpec[];
    run: (args: readonly string[], terminal: Terminal) => number | Promise<number>;
  }
> = {
  s_server: { synopsis: 'mlstls s_server [options]', flags: SERVER_FLAGS, run: sServer },
  s_client: { synopsis: 'mlstls s_client [options]', flags: CLIENT_FLAGS, run: sClient },
  decode: { synopsis: 'mlstls decode -keylog FILE CAPTURE', flags: DECODE_FLAGS, run: decode },
  ciphersuites: { synopsis: 'mlstls ciphersuites', flags: [], run: ciphersuites },
  demo: { synopsis: 'mlstls demo', flags: [], run: demo },
};

const OVERVIEW = [
  'usage: mlstls <command> [options]',
  '  s_server      an mlstls server, as openssl s_server',
  '  s_client      an mlstls client, as openssl s_client',
  '  decode        decrypt a -capture file with its -keylog file',
  '  ciphersuites  list the MLS suites and whether their optional packages are installed',
  "  demo          the README's main job: handshake, updates, key update, resumption",
  'mlstls <command> -help for its options.',
].join('\n');

/** Dispatches a command line; resolves with the exit code (0 ok, 1 failed, 2 usage). */
async function main(args: readonly string[], terminal: Terminal): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '-help' || name === '--help' || name === 'help') {
    (name === undefined ? terminal.err : terminal.out)(OVERVIEW);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    terminal.err(`mlstls: unknown command ${name}\n${OVERVIEW}`);
    return 2;
  }
  if (rest.includes('-help') || rest.includes('--help')) {
    terminal.out(usage(command.synopsis, command.flags));
    return 0;
  }
  try {
    return await command.run(rest, terminal);
  } catch (error) {
    if (error instanceof UsageError) {
      terminal.err(`mlstls ${name}: ${error.message}\n${usage(command.synopsis, command.flags)}`);
      return 2;
    }
    terminal.err(errorLine(error));
    return 1;
  }
}

function ciphersuites(args: readonly string[], terminal: Terminal): Promise<number> {
  if (args.length > 0) throw new UsageError(`unexpected argument ${args[0]}`);
  return listCiphersuites(terminal);
}

/** The demo's bound: every step waits on the network, so a hang must end the command. */
const DEMO_TIMEOUT_MS = 120_000;

async function demo(args: readonly string[], terminal: Terminal): Promise<number> {
  if (args.length > 0) throw new UsageError(`unexpected argument ${args[0]}`);
  // Loaded only for this command: the other commands need none of its parts.
  const { runDemo } = await import('./demo.js');
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      terminal.err(`demo: no result within ${DEMO_TIMEOUT_MS / 1000} s`);
      resolve(1);
    }, DEMO_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      runDemo({ log: terminal.out }).then(({ ok }) => (ok ? 0 : 1)),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

main(process.argv.slice(2), processTerminal).then(
  (code) => process.exit(code),
  (error: unknown) => {
    processTerminal.err(errorLine(error));
    process.exit(1);
  },
);
