// Counting what a KvStore holds under a key prefix (the replica's tables in
// vsr/ tests: r/b/ log batches, r/c/ client rows, r/d/ client deltas).

import type { KvReader } from '../../src/io/kv-store.js';
import { utf8 } from '../../src/stdx/bytes.js';
import { prefixRange } from '../../src/vsr/kv-keys.js';

/** How many keys start with `prefix`. */
export function keysUnder(kv: KvReader, prefix: string): number {
  return [...kv.scan(prefixRange(utf8(prefix)))].length;
}
