// Tidy checks that lint cannot express well: the determinism bans of DESIGN.md
// §9 as a plain text scan of core folders (a second net under the lint rule),
// a leading comment in every file, kebab-case names, no stray console output.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { sourceFiles } from './source-files.js';

const srcRoot = resolve('src');
const shellFolders = ['io/node/', 'process/', 'cli/', 'sim/'];

const bans: readonly { pattern: RegExp; use: string }[] = [
  { pattern: /\bDate\.now\(/, use: 'env.clock.nowMs()' },
  { pattern: /\bnew Date\(\)/, use: 'env.clock.nowMs()' },
  { pattern: /\bMath\.random\(/, use: 'env.random' },
  { pattern: /(?<![.\w])set(Timeout|Interval|Immediate)\(/, use: 'env.clock.setTimer' },
  { pattern: /\bperformance\.now\(/, use: 'env.clock.monotonicMs()' },
  { pattern: /from ['"]node:(fs|fs\/promises|net|http|https|timers)['"]/, use: 'env.disk / env.transport / env.clock' },
  { pattern: /from ['"]lmdb['"]/, use: 'a KvStore from Env' },
  { pattern: /\b(randomBytes|randomUUID|randomInt|getRandomValues)\b/, use: 'env.random' },
  { pattern: /\bprocess\.(env|exit|argv|hrtime|stdout|stderr)\b/, use: 'configuration and I/O passed in through Env' },
];

function isCore(file: string): boolean {
  const path = relative(srcRoot, file);
  return !shellFolders.some((folder) => path.startsWith(folder));
}

test('core folders do not reach the outside world directly (DESIGN.md §9)', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(srcRoot).filter(isCore)) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, index) => {
        if (/^\s*(\/\/|\*)/.test(line)) return;
        for (const ban of bans) {
          if (ban.pattern.test(line)) violations.push(`${relative(srcRoot, file)}:${index + 1}: ${line.trim()}  (use ${ban.use})`);
        }
      });
  }
  assert.deepEqual(violations, []);
});

test('every source file opens with a comment saying what it is', () => {
  const missing = sourceFiles(srcRoot).filter((file) => !readFileSync(file, 'utf8').startsWith('//'));
  assert.deepEqual(missing.map((file) => relative(srcRoot, file)), []);
});

test('file names are kebab-case', () => {
  const bad = sourceFiles(srcRoot).filter((file) => !/^[a-z0-9]+(-[a-z0-9]+)*\.ts$/.test(basename(file)));
  assert.deepEqual(bad.map((file) => relative(srcRoot, file)), []);
});

test('no console output outside the CLI', () => {
  const bad = sourceFiles(srcRoot)
    .filter((file) => !relative(srcRoot, file).startsWith('cli/'))
    .filter((file) => /\bconsole\.(log|error|warn|info)\(/.test(readFileSync(file, 'utf8')));
  assert.deepEqual(bad.map((file) => relative(srcRoot, file)), []);
});

test('the tidy scan catches a planted violation (the checker can fail)', () => {
  const planted = 'const now = Date.now();';
  assert.ok(bans.some((ban) => ban.pattern.test(planted)));
  assert.ok(!bans.some((ban) => ban.pattern.test('const now = env.clock.nowMs();')));
});
