/**
 * The browser part of `bench:deno`: bundles streams-page.ts with the built `@mlstls/streams`
 * (esbuild, in memory), opens it in headless Chromium (Debian's, driven by playwright-core as
 * the streams browser test does) on http://localhost (a secure context, for WebCrypto; the
 * page is served by request interception, no server) and returns what the page measured.
 *
 * esbuild and playwright-core are borrowed from @mlstls/streams's devDependencies, as
 * examples/browser does: the bundle resolves `@mlstls/*` from there too.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PageConfig, PageRow } from './streams-page.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const streamsDir = join(root, 'packages', 'streams');
const borrow = createRequire(join(streamsDir, 'package.json'));

/** What is used of esbuild's API. */
interface Esbuild {
  build(options: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
}

/** What is used of playwright-core's API. */
interface Chromium {
  launch(options: { executablePath: string; timeout: number }): Promise<Browser>;
}

interface Browser {
  version(): string;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

interface Route {
  fulfill(response: { contentType: string; body: string }): Promise<void>;
}

interface Page {
  route(url: string, handler: (route: Route) => Promise<void>): Promise<void>;
  on(event: 'console' | 'pageerror', listener: (value: { toString(): string }) => void): void;
  goto(url: string): Promise<unknown>;
  waitForFunction(expression: string): Promise<unknown>;
  evaluate(expression: string): Promise<unknown>;
}

const ORIGIN = 'http://localhost';

/** streams-page.ts and the built packages it is given, as one ES module. */
async function bundle(): Promise<string> {
  const esbuild = borrow('esbuild') as Esbuild;
  const page = join(dirname(fileURLToPath(import.meta.url)), 'streams-page.ts');
  const result = await esbuild.build({
    stdin: {
      contents: [
        "import * as streams from './dist/index.js';",
        "import { loadX509Credential } from '@mlstls/x509';",
        `import ${JSON.stringify(page)};`,
        'globalThis.mlstlsStreams = { ...streams, loadX509Credential };',
      ].join('\n'),
      resolveDir: streamsDir,
      sourcefile: 'bench-entry.js',
      loader: 'js',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

export interface ChromiumRun {
  readonly version: string;
  readonly rows: PageRow[];
}

/** Runs the page in the Chromium at `executablePath` with `config`. */
export async function runInChromium(
  executablePath: string,
  config: PageConfig,
): Promise<ChromiumRun> {
  const script = await bundle();
  const { chromium } = borrow('playwright-core') as { chromium: Chromium };
  const browser = await chromium.launch({ executablePath, timeout: 30_000 });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.route(`${ORIGIN}/`, (route) =>
      route.fulfill({
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><title>bench:deno</title><script type="module" src="/bench.js"></script>',
      }),
    );
    await page.route(`${ORIGIN}/bench.js`, (route) =>
      route.fulfill({ contentType: 'text/javascript; charset=utf-8', body: script }),
    );
    await page.goto(`${ORIGIN}/`);
    await page.waitForFunction('globalThis.mlstlsBench !== undefined');
    try {
      const rows = (await page.evaluate(
        `globalThis.mlstlsBench(${JSON.stringify(config)})`,
      )) as PageRow[];
      return { version: browser.version(), rows };
    } catch (error) {
      throw new Error(`the page failed: ${String(error)}\n${errors.join('\n')}`);
    }
  } finally {
    await browser.close();
  }
}
