#!/usr/bin/env node
// Runs the compiled tests with node:test. Node 20's `node --test` with no
// matching files runs nothing and exits 0, so this script finds the files
// itself and fails when there are none, or when fewer tests ran than exist.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const unitOnly = process.argv.includes('--unit');
const roots = unitOnly ? ['dist/src'] : ['dist/src', 'dist/test'];

function findTests(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) findTests(full, out);
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const files = roots.flatMap((root) => findTests(root, [])).sort();
if (files.length === 0) {
  console.error('run-tests: no test files found under ' + roots.join(', ') + ' (did the build run?)');
  process.exit(1);
}
console.log(`run-tests: ${files.length} test files`);
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
