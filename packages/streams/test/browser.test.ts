// @mlstls/streams in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core with that executable) opens the page of examples/browser, whose server runs
// an @mlstls/node server behind a WebSocket bridge. The page checks the server's X.509 chain
// against the run's CA, sends data both ways, makes an update and a key update, and closes
// with close_notify both ways. Without Chromium this test fails: CI installs it (.ci/run).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const EXAMPLE = fileURLToPath(new URL('../../../examples/browser/server.mjs', import.meta.url));
/** Every step of the page is a few hundred ms; the whole run takes about 3 s on 2 cores. */
const PAGE_DEADLINE = 20_000;

let example: ChildProcess | undefined;
let browser: Browser | undefined;
/** The example server's output, line by line. */
const serverLines: string[] = [];
/** What the page printed or threw. */
const pageLines: string[] = [];

/** Starts examples/browser/server.mjs on a free port; resolves with the page's URL. */
function startExample(): Promise<string> {
  const child = spawn(process.execPath, [EXAMPLE, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  example = child;
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => serverLines.push(line));
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(
      () => reject(new Error(`the example did not start in 20 s: ${stderr.join('')}`)),
      20_000,
    );
    const poll = setInterval(() => {
      const url = serverLines.map((line) => /^open (http:\S+)$/.exec(line)?.[1]).find(Boolean);
      if (url !== undefined) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(url);
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(deadline);
      reject(new Error(`the example exited (${code}): ${stderr.join('')}`));
    });
  });
}

async function openPage(url: string): Promise<Page> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`,
    );
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 20_000 });
  const page = await browser.newPage();
  page.on('console', (message) => pageLines.push(message.text()));
  page.on('pageerror', (error) => pageLines.push(`pageerror: ${error.message}`));
  await page.goto(url, { timeout: 10_000 });
  return page;
}

interface PageResult {
  readonly error?: { code?: string; message: string };
  readonly handshake: {
    epoch: string;
    ciphersuite: string;
    crypto: string;
    authorized: boolean;
    subject: string;
  };
  readonly epochs: [string, string][];
  readonly keyUpdates: [string, number][];
  readonly replies: string[];
  readonly finalEpoch: string;
}

/** Opens the page and waits for the end of its run: Chromium's start, the bundle, every step. */
async function runPage(): Promise<{ result: PageResult; elapsed: number }> {
  const started = performance.now();
  const page = await openPage(await startExample());
  await page.waitForFunction('document.body.dataset.state !== undefined', null, {
    timeout: PAGE_DEADLINE,
  });
  const result = (await page.evaluate('window.mlstlsResult')) as PageResult;
  return { result, elapsed: performance.now() - started };
}

// One run for every test, each awaiting it: without Chromium every test fails (a failed
// beforeAll would only mark them skipped).
let run: Promise<{ result: PageResult; elapsed: number }>;
beforeAll(() => {
  run = runPage();
  run.catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  example?.kill();
});

describe('@mlstls/streams in headless Chromium against a Node server, over a WebSocket', {
  timeout: 45_000,
}, () => {
  it('the page completes the handshake with the server certificate checked against the CA', async () => {
    const { result, elapsed } = await run;
    expect(result.error, pageLines.join('\n')).toBeUndefined();
    expect(result.handshake).toEqual({
      epoch: '1',
      ciphersuite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
      crypto: 'webcrypto',
      authorized: true,
      subject: 'mlstls browser example server',
    });
    // Bounded, and reported: Chromium's start, the bundle, the handshake and every step.
    expect(elapsed).toBeLessThan(30_000);
  });

  it('data goes both ways, and the server sees the update and the key update', async () => {
    const { result } = await run;
    expect(result.replies).toEqual([
      'node heard "hello from the browser" at epoch 1, keys sent 0 received 0',
      'node heard "after the update" at epoch 2, keys sent 0 received 0',
      'node heard "after the key update" at epoch 2, keys sent 1 received 1',
    ]);
  });

  it('the epochs: the handshake, then the browser update', async () => {
    const { result } = await run;
    expect(result.epochs).toEqual([
      ['1', 'handshake'],
      ['2', 'local'],
    ]);
    expect(result.finalEpoch).toBe('2');
    // The browser's send keys moved on, then the server's answer moved its receive keys.
    expect(result.keyUpdates).toEqual([
      ['send', 1],
      ['receive', 1],
    ]);
  });

  it('the server took the update from its peer and the close_notify', async () => {
    await run;
    await expect
      .poll(() => serverLines, { timeout: 5_000 })
      .toEqual(
        expect.arrayContaining([
          'server: handshake complete, epoch 1',
          'server: epoch 2 (peer)',
          'server: key update, receive keys at generation 1',
          'server: close_notify from the browser',
        ]),
      );
    expect(pageLines.filter((line) => line.startsWith('pageerror'))).toEqual([]);
  });
});
