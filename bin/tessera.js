#!/usr/bin/env node
// The `tessera` command: runs the compiled CLI (npm ci builds it via `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('tessera: not built yet; run `npm ci` (or `npm run build`) first');
  process.exit(1);
}
await import(main);
