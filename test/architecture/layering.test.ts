// Keeps the architecture visible in `ls src/` true (STYLE.md "Layout"):
// imports point one way, only the composition root and the CLI touch real I/O
// implementations, and nothing in production imports the simulator.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { sourceFiles } from './source-files.js';

const srcRoot = resolve('src');

/** Lower ranks are lower layers; a folder may import only from lower ranks or itself. */
const rank: Record<string, number> = {
  stdx: 0,
  io: 1,
  erasure: 2,
  placement: 2,
  meta: 3,
  blob: 3,
  root: 4,
  vsr: 2,
  gateway: 5,
  workers: 6,
  control: 6,
  bootstrap: 6,
  s3: 6,
  sim: 7,
  process: 8,
  cli: 9,
};

function folderOf(file: string): string {
  return relative(srcRoot, file).split('/')[0]!;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)].map((match) => resolve(dirname(file), match[1]!));
}

test('every src folder has a rank', () => {
  for (const name of readdirSync(srcRoot)) {
    if (statSync(join(srcRoot, name)).isDirectory()) assert.ok(name in rank, `src/${name} needs a rank in layering.test.ts`);
  }
});

test('imports point one way (stdx → io → pure cores → meta → gateway → s3 → process → cli)', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(srcRoot)) {
    const from = folderOf(file);
    for (const target of imports(file)) {
      const to = folderOf(target);
      if (to === from) continue;
      if ((rank[to] ?? 99) >= (rank[from] ?? -1)) violations.push(`${relative(srcRoot, file)} → ${relative(srcRoot, target)}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('only process/, cli/ (and tests) import the real io/node implementations', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(srcRoot)) {
    const from = relative(srcRoot, file);
    if (from.startsWith('process/') || from.startsWith('cli/') || from.startsWith('io/node/')) continue;
    for (const target of imports(file)) {
      if (relative(srcRoot, target).startsWith('io/node/')) violations.push(`${from} → ${relative(srcRoot, target)}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('production code never imports the simulator', () => {
  const violations = sourceFiles(srcRoot)
    .filter((file) => !relative(srcRoot, file).startsWith('sim/') && !relative(srcRoot, file).startsWith('cli/'))
    .filter((file) => imports(file).some((target) => relative(srcRoot, target).startsWith('sim/')))
    .map((file) => relative(srcRoot, file));
  assert.deepEqual(violations, []);
});
