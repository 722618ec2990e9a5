// The umbrella defines nothing: each subpath is exactly its layer's public API, and the root
// is exactly the Node binding plus the in-memory store.
import { readFileSync } from 'node:fs';
import * as node from '@mlstls/node';
import * as storage from '@mlstls/storage';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';

interface Manifest {
  exports: Record<string, { types: string; default: string }>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
}

const manifest = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as Manifest;
const layers = Object.keys(manifest.exports)
  .filter((subpath) => subpath !== '.')
  .map((subpath) => subpath.slice(2));

describe('the mlstls umbrella', () => {
  it('has a subpath for every @mlstls package it depends on, and for nothing else', () => {
    const packages = [
      ...Object.keys(manifest.dependencies),
      ...Object.keys(manifest.peerDependencies),
    ].map((name) => name.replace('@mlstls/', ''));
    expect([...layers].sort()).toEqual([...packages].sort());
    // Every layer of the workspace but the command line is one of them.
    expect(layers).toEqual(expect.arrayContaining(['codec', 'state-machine', 'streams', 'deno']));
  });

  it.each(layers)('mlstls/%s re-exports exactly its layer, the same objects', async (layer) => {
    const own = (await import(`../src/${layer}.ts`)) as Record<string, unknown>;
    const original = (await import(`@mlstls/${layer}`)) as Record<string, unknown>;
    expect(Object.keys(own).sort()).toEqual(Object.keys(original).sort());
    expect(Object.keys(own).length).toBeGreaterThan(0);
    for (const name of Object.keys(original)) expect(own[name], name).toBe(original[name]);
  });

  it('roots at the Node binding and the memory store, with nothing of its own', () => {
    const expected: Record<string, unknown> = { ...node, MemoryStore: storage.MemoryStore };
    expect(Object.keys(root).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, value] of Object.entries(expected)) {
      expect((root as Record<string, unknown>)[name], name).toBe(value);
    }
    expect(typeof root.connect).toBe('function');
    expect(typeof root.createServer).toBe('function');
  });
});
