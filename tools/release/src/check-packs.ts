// `pnpm check-packs`: every public package packed as `pnpm publish` packs it (its `workspace:`
// ranges rewritten, only its `files`), then checked as npm users get it: publint (strict, every
// suggestion) and are-the-types-wrong (ESM only: the packages ship no CommonJS, so the node10
// and CommonJS-require resolutions are out of scope). Any message fails the run. What the
// tarballs hold and how they install is tools/packed's test.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { bin, eachLimited, type PublicPackage, publicPackages, run } from './workspace.js';

/** The tarball `pnpm pack` writes for `pkg`. */
function tarballName(pkg: PublicPackage): string {
  return `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`;
}

/** The problems with `pkg` as packed: none when it is fit to publish. */
async function check(pkg: PublicPackage, into: string): Promise<string[]> {
  await run('pnpm', ['pack', '--pack-destination', into], pkg.dir);
  const tarball = join(into, tarballName(pkg));
  const problems: string[] = [];
  const data = readFileSync(tarball);
  const linted = await publint({
    pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) },
    strict: true,
    level: 'suggestion',
  });
  for (const message of linted.messages) {
    problems.push(
      `publint: ${formatMessage(message, linted.pkg, { color: false }) ?? message.code}`,
    );
  }
  try {
    await run(bin('attw', 'release'), [tarball, '--profile', 'esm-only', '--format', 'ascii']);
  } catch (error) {
    problems.push(`are-the-types-wrong: ${(error as Error).message}`);
  }
  return problems;
}

const packages = publicPackages();
// Turbo builds a package before this check only when it is a dependency of this workspace.
const ours = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  devDependencies: Record<string, string>;
};
const unbuilt = packages.filter((pkg) => ours.devDependencies[pkg.name] === undefined);
if (unbuilt.length > 0) {
  console.error(
    `add ${unbuilt.map((pkg) => pkg.name).join(', ')} to tools/release's devDependencies`,
  );
  process.exit(1);
}
const into = mkdtempSync(join(tmpdir(), 'mlstls-packs-'));
let failed = 0;
try {
  await eachLimited(packages, 4, async (pkg) => {
    const problems = await check(pkg, into);
    if (problems.length === 0) {
      console.log(`ok   ${pkg.name}@${pkg.version}`);
    } else {
      failed++;
      console.log(`FAIL ${pkg.name}@${pkg.version}\n  ${problems.join('\n  ')}`);
    }
  });
} finally {
  rmSync(into, { recursive: true, force: true });
}
console.log(`${packages.length - failed} of ${packages.length} packages fit to publish`);
if (failed > 0) process.exitCode = 1;
