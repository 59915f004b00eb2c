/**
 * The layout's rules (docs/architecture.md, "Packages and what may import what"): no app imports
 * another, no lib imports an app, and no circle of imports between the source files, type-only
 * imports included.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every production source file (not tests, not build output) under apps/, libs/ and cli/. */
function sources(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const top of ['apps', 'libs', 'cli']) walk(join(root, top));
  return files;
}

/** The module specifiers a file imports or re-exports, type-only ones included. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const patterns = [/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm, /^\s*import\s+['"]([^'"]+)['"]/gm, /import\(\s*['"]([^'"]+)['"]\s*\)/g];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1]!));
}

/** `apps/sink`, `libs/ledger`, `cli`: the package a file belongs to. */
const packageOf = (file: string) =>
  relative(root, file)
    .split('/')
    .slice(0, relative(root, file).startsWith('cli') ? 1 : 2)
    .join('/');
const appNames = readdirSync(join(root, 'apps'));

describe('layout', () => {
  const files = sources();

  it('no app imports another app, and no lib imports an app', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const own = packageOf(file);
      for (const spec of specifiers(file)) {
        const app = /^@jobpipe\/([^/]+)/.exec(spec)?.[1];
        if (!app || !appNames.includes(app)) continue;
        if (own.startsWith('libs/') || (own.startsWith('apps/') && own !== `apps/${app}`)) wrong.push(`${relative(root, file)} imports ${spec}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('no circle of relative imports between source files', () => {
    const edges = new Map<string, string[]>();
    for (const file of files) {
      const targets = specifiers(file)
        .filter((spec) => spec.startsWith('.'))
        .map((spec) => resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
      edges.set(file, targets);
    }
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        circles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(root, f)).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(circles).toEqual([]);
    expect(edges.size).toBeGreaterThan(50);
  });
});
