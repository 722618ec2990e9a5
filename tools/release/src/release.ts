// `pnpm release`: versions every package from its changesets (`changeset version`), builds
// them, publishes those not yet on the registry (`pnpm publish -r`) and tags them
// (`changeset tag`). It starts from a clean checkout and commits the versioning before it
// publishes, so that what is published is what the repository holds.
//
// `pnpm release --dry-run` runs the same steps on the same checkout with `pnpm publish
// --dry-run`, no commit and no tag, then puts back every file the versioning changed: it
// shows the versions and the tarballs a release would publish, and fails where the release
// would (a changeset that does not parse, a build that breaks, a package npm would refuse).
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin, publicPackages, root, run } from './workspace.js';

const dryRun = process.argv.includes('--dry-run');
const unknown = process.argv.slice(2).filter((arg) => arg !== '--dry-run');
if (unknown.length > 0) {
  console.error(`usage: pnpm release [--dry-run]  (unknown: ${unknown.join(' ')})`);
  process.exit(2);
}

/** Each step is printed as it starts, as a release log reads. */
async function step(what: string, file: string, args: readonly string[]): Promise<string> {
  console.log(`> ${what}`);
  return await run(file, args);
}

/** The files `changeset version` rewrites, as they are now (undefined: absent). */
function snapshot(): Map<string, string | undefined> {
  const files = new Map<string, string | undefined>();
  const changesets = join(root, '.changeset');
  for (const name of readdirSync(changesets)) {
    files.set(join(changesets, name), readFileSync(join(changesets, name), 'utf8'));
  }
  for (const pkg of readdirSync(join(root, 'packages'))) {
    for (const name of ['package.json', 'CHANGELOG.md']) {
      const path = join(root, 'packages', pkg, name);
      files.set(path, existsSync(path) ? readFileSync(path, 'utf8') : undefined);
    }
  }
  return files;
}

function restore(files: Map<string, string | undefined>): void {
  for (const [path, text] of files) {
    if (text === undefined) rmSync(path, { force: true });
    else writeFileSync(path, text);
  }
}

const dirty = (await run('git', ['status', '--porcelain', '--', '.changeset', 'packages'])).trim();
if (dirty !== '') {
  console.error(`release: commit or stash these first, the release rewrites them:\n${dirty}`);
  process.exit(1);
}
const before = snapshot();
const back = () => restore(before);
if (dryRun) {
  process.once('SIGINT', () => {
    back();
    process.exit(130);
  });
}
try {
  console.log(await step('changeset status', bin('changeset'), ['status']));
  await step('changeset version', bin('changeset'), ['version']);
  const packages = publicPackages();
  console.log(packages.map((pkg) => `  ${pkg.name}@${pkg.version}`).join('\n'));
  if (!dryRun) {
    await step('git commit', 'git', ['commit', '-am', 'release: version packages']);
  }
  await step('build', bin('turbo'), [
    'run',
    'build',
    '--filter=./packages/*',
    '--output-logs=errors-only',
  ]);
  const published = await step(`pnpm publish -r${dryRun ? ' --dry-run' : ''}`, 'pnpm', [
    'publish',
    '--recursive',
    '--access',
    'public',
    ...(dryRun ? ['--dry-run', '--no-git-checks'] : []),
  ]);
  console.log(published.trim());
  if (!dryRun) await step('changeset tag', bin('changeset'), ['tag']);
  console.log(dryRun ? 'dry run: nothing published, the checkout is as it was' : 'released');
} finally {
  if (dryRun) back();
}
