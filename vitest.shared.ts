// Tests import workspace packages by name; these aliases point each export at its TypeScript
// source so that `vitest` needs no build step (as trpc does).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

interface Manifest {
  name: string;
  exports?: Record<string, { default?: string }>;
}

export function sourceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  const packagesDir = join(root, 'packages');
  for (const dir of readdirSync(packagesDir)) {
    const manifest = JSON.parse(
      readFileSync(join(packagesDir, dir, 'package.json'), 'utf8'),
    ) as Manifest;
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      const built = target.default;
      if (!built?.startsWith('./dist/') || !built.endsWith('.js')) continue;
      const source = `./src/${built.slice('./dist/'.length, -'.js'.length)}.ts`;
      aliases.push({
        find: new RegExp(`^${escapeRegExp(manifest.name + subpath.slice(1))}$`),
        replacement: join(packagesDir, dir, source),
      });
    }
  }
  return aliases;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
