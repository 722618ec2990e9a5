// A line protocol over an mlstls connection by which one side drives the other in the tests:
// `echo <text>`, `update` (the server updates), `keyupdate` (the server key-updates, asking for
// one back), `epoch`, `export` (16 bytes of RFC 8446 7.5 material, hex), one answer line each.
// Runtime-neutral (Web Streams only): the Deno peer runs it, the Node side has its own.

/** What the protocol needs of a connection. */
export interface Commanded {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  epoch(): bigint;
  update(): Promise<void>;
  keyUpdate(): Promise<void>;
  /** `exportKeyingMaterial(16, 'mlstls test')` as hex. */
  exported(): string;
}

/** Lines from a byte stream. */
async function* lines(readable: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of readable) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      yield buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
    }
  }
}

/** Answers commands until the peer's close_notify, then closes with its own. */
export async function serveCommands(conn: Commanded): Promise<void> {
  const writer = conn.writable.getWriter();
  const say = (line: string) => writer.write(new TextEncoder().encode(`${line}\n`));
  for await (const line of lines(conn.readable)) {
    const [command, ...rest] = line.split(' ');
    if (command === 'echo') await say(`echo ${rest.join(' ')}`);
    else if (command === 'update') {
      await conn.update();
      await say(`updated ${conn.epoch()}`);
    } else if (command === 'keyupdate') {
      await conn.keyUpdate();
      await say('keyupdated');
    } else if (command === 'epoch') await say(`epoch ${conn.epoch()}`);
    else if (command === 'export') await say(`export ${conn.exported()}`);
    else await say(`unknown ${command}`);
  }
  await writer.close();
}

/** What the client script saw: each side's epoch after each step, and whether they agree. */
export interface ScriptResult {
  readonly epochs: { readonly client: number; readonly server: number }[];
  readonly exportedAgree: boolean;
  readonly echoed: boolean;
}

/**
 * The client's script: echo; its own update; the server's update; a key update each way;
 * the epochs and exported keys compared after each; then close_notify both ways.
 */
export async function runClientScript(conn: Commanded): Promise<ScriptResult> {
  const writer = conn.writable.getWriter();
  const answers = lines(conn.readable);
  const ask = async (line: string): Promise<string> => {
    await writer.write(new TextEncoder().encode(`${line}\n`));
    const answer = await answers.next();
    if (answer.done) throw new Error(`no answer to ${line}`);
    return answer.value;
  };
  const epochs: { client: number; server: number }[] = [];
  const compare = async () => {
    const answer = await ask('epoch');
    epochs.push({ client: Number(conn.epoch()), server: Number(answer.split(' ')[1]) });
  };
  const echoed = (await ask('echo hello from the client')) === 'echo hello from the client';
  await compare();
  await conn.update();
  await compare();
  await ask('update');
  await compare();
  await conn.keyUpdate();
  await ask('keyupdate');
  await compare();
  const exportedAgree = (await ask('export')) === `export ${conn.exported()}`;
  await writer.close();
  const rest = await answers.next();
  if (!rest.done) throw new Error(`unexpected ${rest.value}`);
  return { epochs, exportedAgree, echoed };
}
