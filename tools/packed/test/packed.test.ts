// What an npm user gets (issue 16, "Packed-package tests"). Inside the workspace, packages
// resolve to each other through workspace links and vitest's source aliases, which hide a
// missing file in `files`, a wrong `exports` entry or an undeclared dependency. Here every
// public package under packages/ is packed with `pnpm pack` (from the dists turbo built before
// this task), the tarballs are installed with npm into an empty project in the OS temp dir,
// outside the workspace, and there the examples/ folders run with node as a user would copy
// them, and so does `npx mlstls demo`. Third-party dependencies come from the npm registry;
// better-sqlite3 and @mlstls/crypto-native compile from source during the install.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** pnpm pack of one package. */
const PACK_TIMEOUT_MS = 60_000;
/** npm install of every tarball and its registry dependencies, two native builds included. */
const INSTALL_TIMEOUT_MS = 420_000;
/** One example, or the demo. */
const RUN_TIMEOUT_MS = 90_000;

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  files?: string[];
  bin?: string | Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

interface Packed {
  /** The workspace package's folder. */
  dir: string;
  manifest: Manifest;
  /** Where the tarball is. */
  tarball: string;
  /** The paths in the tarball, as `pnpm pack --json` lists them. */
  files: string[];
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Paths that do not belong in a tarball: tests, fixtures, test and build configuration. */
const NOT_FOR_USERS =
  /(^|\/)(test|tests|__tests__|fixtures)\/|\.(test|spec|bench)\.[cm]?[jt]s$|(^|\/)(vitest\.config\.[cm]?[jt]s|tsconfig[^/]*\.json|turbo\.json)$|\.tsbuildinfo$/;

/** What each example must print, besides exiting 0. Every folder of examples/ has an entry. */
const EXPECTED: Readonly<Record<string, readonly RegExp[]>> = {
  'node-server-client': [
    /^connected: TLS_AES_128_GCM_SHA256, epoch 1$/m,
    /^updated: epoch 2$/m,
    /^echoed: hello$/m,
  ],
  codec: [
    /^decoded: record type 22, \{"msgType":24,"requestUpdate":1\}$/m,
    /^alert: level 2 bad_record_mac$/m,
    /^truncated message: ERR_MLSTLS_DECODE -> alert decode_error$/m,
    /^codec: OK$/m,
  ],
  record: [
    /^opened key_update: now at generation 1$/m,
    /^opened application_data "after the key update"$/m,
    /^tampered record: ERR_MLSTLS_BAD_RECORD_MAC -> alert bad_record_mac$/m,
    /^record: OK$/m,
  ],
  'state-machine': [
    /^responder: handshake complete, MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519$/m,
    /^initiator: epoch 3 \(peer\)$/m,
    /^both at epoch 3, exporters equal$/m,
    /^responder: received "after the key update"$/m,
    /^state-machine: OK$/m,
  ],
  'storage-swap': [
    /^memory: reconnected, isSessionReused\(\) === true \(server: true\), epoch 2$/m,
    /^sqlite: reconnected, isSessionReused\(\) === true \(server: true\), epoch 2$/m,
    /^redis: reconnected, isSessionReused\(\) === true \(server: true\), epoch 2$/m,
    /^storage-swap: OK$/m,
  ],
};
/** Examples that are not run here: the browser page has its own test. */
const NOT_RUN_HERE = new Set(['browser']);
/** Every folder of examples/ but those. */
const EXAMPLES = readdirSync(join(root, 'examples'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !NOT_RUN_HERE.has(entry.name))
  .map((entry) => entry.name)
  .sort();

/**
 * The environment of a user's shell: this process's, without what pnpm, turbo and vitest add
 * (npm_* settings of the workspace, NODE_OPTIONS, NODE_ENV=test), which would change what npm
 * and node do. A registry or proxy given through npm_config_* is kept.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const npmSetting = /^npm_/i.test(key);
    const kept = /^npm_config_(registry|https?_proxy|proxy|noproxy|cafile|strict_ssl)$/i.test(key);
    if (npmSetting && !kept) continue;
    if (/^(NODE_OPTIONS|NODE_ENV|VITEST.*|TEST|INIT_CWD|PNPM_.*)$/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Runs a command to its end and resolves with what it printed. After `timeout` its process
 * group (it runs in its own, so `npx` and what it starts go together) gets SIGKILL.
 */
async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeout: number; env?: NodeJS.ProcessEnv },
): Promise<Run> {
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => {
    stderr += `\n[killed after ${options.timeout} ms]`;
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, options.timeout);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** A run's output, for assertion messages. */
function describeRun(what: string, result: Run): string {
  return `${what}: exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** `items` through `task`, at most `limit` at once. */
async function inBatches<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += limit) {
    results.push(...(await Promise.all(items.slice(start, start + limit).map(task))));
  }
  return results;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The public packages under packages/: what `pnpm publish -r` publishes. */
async function publicPackages(): Promise<{ dir: string; manifest: Manifest }[]> {
  const found: { dir: string; manifest: Manifest }[] = [];
  for (const name of (await readdir(join(root, 'packages'))).sort()) {
    const dir = join(root, 'packages', name);
    if (!(await exists(join(dir, 'package.json')))) continue;
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;
    if (manifest.private !== true) found.push({ dir, manifest });
  }
  return found;
}

/** Packs one package with pnpm (which rewrites `workspace:` ranges) into `destination`. */
async function pack(
  { dir, manifest }: { dir: string; manifest: Manifest },
  destination: string,
): Promise<Packed> {
  if (manifest.files?.includes('dist')) {
    expect(
      await exists(join(dir, 'dist')),
      `${manifest.name} has no dist/: build first (turbo runs ^build before this test)`,
    ).toBe(true);
  }
  const result = await run('pnpm', ['pack', '--json', '--pack-destination', destination], {
    cwd: dir,
    timeout: PACK_TIMEOUT_MS,
  });
  expect(result.code, describeRun(`pnpm pack of ${manifest.name}`, result)).toBe(0);
  // The JSON report follows whatever lifecycle scripts printed.
  const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as {
    filename: string;
    files: { path: string }[];
  };
  return { dir, manifest, tarball: report.filename, files: report.files.map((file) => file.path) };
}

/** The package.json inside a tarball, as npm will read it. */
async function packedManifest(tarball: string, cwd: string): Promise<Manifest> {
  const result = await run('tar', ['-xzOf', tarball, 'package/package.json'], {
    cwd,
    timeout: PACK_TIMEOUT_MS,
  });
  expect(result.code, describeRun(`tar of ${tarball}`, result)).toBe(0);
  return JSON.parse(result.stdout) as Manifest;
}

/** Every file path an `exports` map or `bin` points at. */
function targets(manifest: Manifest): string[] {
  const paths: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === 'string') paths.push(value);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(collect);
  };
  collect(manifest.exports);
  collect(manifest.bin);
  return paths.map((path) => path.replace(/^\.\//, ''));
}

/** The JavaScript files of an installed package, without its node_modules and native build. */
async function scripts(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (/\/(node_modules|build)\//.test(`/${relative(dir, path)}`)) continue;
    if (entry.isFile() && /\.[cm]?js$/.test(entry.name)) found.push(path);
  }
  return found;
}

/** The packages that `code` imports or requires by name (not relative, not built in). */
function importedPackages(code: string): Set<string> {
  const names = new Set<string>();
  const specifiers =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;
  for (const [, specifier] of code.matchAll(specifiers)) {
    if (specifier!.startsWith('.') || specifier!.startsWith('node:')) continue;
    if (builtinModules.includes(specifier!)) continue;
    const parts = specifier!.split('/');
    names.add(specifier!.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
  }
  return names;
}

/** The first fenced ```js block of a Markdown file. */
function firstJsBlock(markdown: string): string {
  const match = /^```js\n([\s\S]*?)^```$/m.exec(markdown);
  if (match === null) throw new Error('no ```js block');
  return match[1]!;
}

describe('the packed packages, installed with npm outside the workspace', () => {
  let work: string;
  let project: string;
  let packed: Packed[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mlstls-packed-'));
    project = join(work, 'project');
    const tarballs = join(project, 'tarballs');
    await mkdir(tarballs, { recursive: true });
    packed = await inBatches(await publicPackages(), 4, (entry) => pack(entry, tarballs));

    // An empty npm project whose dependencies are the tarballs. The packages depend on each
    // other at 0.0.0, which the registry does not have: `overrides` make every such
    // dependency, at any depth, resolve to its tarball too.
    const local = Object.fromEntries(
      packed.map(({ manifest, tarball }) => [
        manifest.name,
        `file:./tarballs/${tarball.slice(tarball.lastIndexOf('/') + 1)}`,
      ]),
    );
    const projectManifest = {
      name: 'mlstls-packed-project',
      version: '1.0.0',
      private: true,
      type: 'module',
      dependencies: local,
      overrides: local,
    };
    await writeFile(join(project, 'package.json'), `${JSON.stringify(projectManifest, null, 2)}\n`);
    const install = await run('npm', ['install', '--no-audit', '--no-fund'], {
      cwd: project,
      timeout: INSTALL_TIMEOUT_MS,
      env: userEnv(),
    });
    expect(install.code, describeRun('npm install', install)).toBe(0);
  }, INSTALL_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('packs every public package under packages/', async () => {
    const names = (await publicPackages()).map(({ manifest }) => manifest.name);
    expect(packed.map(({ manifest }) => manifest.name)).toEqual(names);
    expect(names).toContain('mlstls');
    expect(names).toContain('@mlstls/cli');
  });

  it('tarballs hold no tests, test configs or build leftovers', () => {
    const leftovers = packed.flatMap(({ manifest, files }) =>
      files.filter((path) => NOT_FOR_USERS.test(path)).map((path) => `${manifest.name}: ${path}`),
    );
    expect(leftovers).toEqual([]);
  });

  it('tarballs hold every file their exports and bin point at', () => {
    const missing = packed.flatMap(({ manifest, files }) =>
      targets(manifest)
        .filter((path) => !files.includes(path))
        .map((path) => `${manifest.name}: ${path}`),
    );
    expect(missing).toEqual([]);
  });

  it('pnpm pack rewrote every workspace: range to the version it packed', async () => {
    const versions = new Map(packed.map(({ manifest }) => [manifest.name, manifest.version]));
    for (const { tarball, manifest } of packed) {
      const inside = await packedManifest(tarball, work);
      expect(JSON.stringify(inside), manifest.name).not.toMatch(/workspace:|link:|file:/);
      const ranges = {
        ...inside.dependencies,
        ...inside.optionalDependencies,
        ...inside.peerDependencies,
      };
      for (const [name, range] of Object.entries(ranges)) {
        const version = versions.get(name);
        if (version !== undefined) expect(range, `${manifest.name} -> ${name}`).toBe(`^${version}`);
      }
    }
  });

  it('npm resolved every mlstls package to its tarball, once, with nothing missing', async () => {
    const ls = await run('npm', ['ls', '--all'], {
      cwd: project,
      timeout: RUN_TIMEOUT_MS,
      env: userEnv(),
    });
    expect(ls.code, describeRun('npm ls --all', ls)).toBe(0);
    expect(ls.stdout).not.toMatch(/invalid|missing|extraneous|UNMET DEPENDENCY/i);

    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved?: string; version?: string }>;
    };
    const installed = Object.entries(lock.packages)
      .map(([path, entry]) => ({ path, name: path.replace(/^.*node_modules\//, ''), entry }))
      .filter(({ name }) => name === 'mlstls' || name.startsWith('@mlstls/'));
    expect(installed.map(({ path }) => path).sort()).toEqual(
      packed.map(({ manifest }) => `node_modules/${manifest.name}`).sort(),
    );
    for (const { name, entry } of installed) {
      expect(entry.resolved, name).toMatch(/^file:tarballs\/.+\.tgz$/);
    }
  });

  it('imports nothing it does not declare (npm hoisting would hide it)', async () => {
    const undeclared: string[] = [];
    for (const { manifest } of packed) {
      const dir = join(project, 'node_modules', manifest.name);
      const declared = new Set([
        manifest.name,
        ...Object.keys(manifest.dependencies ?? {}),
        ...Object.keys(manifest.optionalDependencies ?? {}),
        ...Object.keys(manifest.peerDependencies ?? {}),
      ]);
      const files = await scripts(dir);
      expect(files.length, `${manifest.name} has JavaScript`).toBeGreaterThan(0);
      for (const file of files) {
        for (const name of importedPackages(await readFile(file, 'utf8'))) {
          if (!declared.has(name))
            undeclared.push(`${manifest.name}: ${name} in ${relative(dir, file)}`);
        }
      }
    }
    expect(undeclared).toEqual([]);
  });

  it("examples/node-server-client is the umbrella README's code, as written there", async () => {
    const readme = await readFile(join(root, 'packages/mlstls/README.md'), 'utf8');
    const example = await readFile(join(root, 'examples/node-server-client/main.mjs'), 'utf8');
    expect(example).toContain(firstJsBlock(readme));
  });

  describe('each example, copied into the project and run with node', () => {
    it('every example is run here', () => {
      expect(EXAMPLES).toEqual(Object.keys(EXPECTED).sort());
    });

    it.each(EXAMPLES)('examples/%s', async (name) => {
      const source = join(root, 'examples', name);
      const manifest = JSON.parse(await readFile(join(source, 'package.json'), 'utf8')) as {
        private?: boolean;
        dependencies?: Record<string, string>;
      };
      // Its package.json names the packages it imports, all of them packed here.
      expect(manifest.private).toBe(true);
      const code = await readFile(join(source, 'main.mjs'), 'utf8');
      const imported = new Set(
        [...code.matchAll(/from '(@mlstls\/[^'/]+|mlstls)(?:\/[^']*)?'/g)].map(
          (match) => match[1]!,
        ),
      );
      expect([...imported].sort()).toEqual(Object.keys(manifest.dependencies ?? {}).sort());
      for (const dependency of imported) {
        expect(packed.map(({ manifest: m }) => m.name)).toContain(dependency);
      }

      const copy = join(project, 'examples', name);
      await cp(source, copy, { recursive: true });
      const result = await run(process.execPath, ['main.mjs'], {
        cwd: copy,
        timeout: RUN_TIMEOUT_MS,
        env: userEnv({ REDIS_URL: inject('redisUrl') }),
      });
      expect(result.code, describeRun(`examples/${name}`, result)).toBe(0);
      for (const line of EXPECTED[name] ?? []) {
        expect(result.stdout, describeRun(`examples/${name}`, result)).toMatch(line);
      }
    });
  });

  it('installs no post-quantum code unless asked, and names the package a suite lacks', async () => {
    for (const optional of ['@hpke/ml-kem', '@hpke/hybridkem-x-wing', '@noble/post-quantum']) {
      expect(await exists(join(project, 'node_modules', optional)), optional).toBe(false);
    }
    const script = [
      "import { createServer, generateCredential } from 'mlstls';",
      'try {',
      '  await generateCredential({ ciphersuite: 83 });',
      "  console.log('no error');",
      '} catch (error) {',
      "  console.log(error.code + ': ' + error.message);",
      '}',
      // A server that makes its own credential for the suite: listen() fails, nothing crashes.
      'const server = createServer({ ciphersuites: [83] });',
      'await new Promise((resolve) => setTimeout(resolve, 200));',
      "server.on('error', (error) => console.log('server error ' + error.code));",
      "server.listen(0, '127.0.0.1');",
    ].join('\n');
    const asked = await run('node', ['--input-type=module', '-e', script], {
      cwd: project,
      timeout: RUN_TIMEOUT_MS,
      env: userEnv(),
    });
    const report = describeRun('suite 83 without its package', asked);
    expect(asked.code, report).toBe(0);
    expect(asked.stdout, report).toMatch(
      /^ERR_MLSTLS_UNSUPPORTED: MLS_256_XWING_AES256GCM_SHA512_Ed25519 needs @hpke\/hybridkem-x-wing@0\.7\.0 installed/m,
    );
    expect(asked.stdout, report).toMatch(/^server error ERR_MLSTLS_UNSUPPORTED$/m);
  });

  it('npx mlstls demo runs and resumes', async () => {
    expect(await exists(join(project, 'node_modules/.bin/mlstls'))).toBe(true);
    const demo = await run('npx', ['mlstls', 'demo'], {
      cwd: project,
      timeout: RUN_TIMEOUT_MS,
      env: userEnv(),
    });
    const report = describeRun('npx mlstls demo', demo);
    expect(demo.code, report).toBe(0);
    expect(demo.stdout, report).toMatch(/handshake complete: MLS_128_DHKEMX25519_AES128GCM_SHA256/);
    expect(demo.stdout, report).toMatch(/reconnected: isSessionReused\(\) === true/);
    expect(demo.stdout, report).toMatch(/^ *[\d.]+ ms {2}OK: /m);
  });
});
