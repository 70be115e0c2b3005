// Key helpers shared by the KvStore driver's parts (kv-driver.ts, kv-log.ts,
// kv-client-table.ts): the range of a prefix, keys ordered by op number, and
// deleting what a scan found.

import type { KvEntry, KvTransaction } from '../io/kv-store.js';
import { assert } from '../stdx/assert.js';
import { prefixEnd } from '../stdx/bytes.js';

/** Every key that starts with `prefix`, as a scan range. */
export function prefixRange(prefix: Uint8Array): { start: Uint8Array; end: Uint8Array } {
  const end = prefixEnd(prefix);
  assert(end !== undefined, 'a prefix that has keys after it');
  return { start: prefix, end };
}

/** `prefix` then the op number as a big-endian u64, so key order is op order. */
export function opKey(prefix: Uint8Array, opNumber: number): Uint8Array {
  assert(Number.isSafeInteger(opNumber) && opNumber >= 0, `key for op ${opNumber}`);
  const key = new Uint8Array(prefix.length + 8);
  key.set(prefix);
  new DataView(key.buffer).setBigUint64(prefix.length, BigInt(opNumber));
  return key;
}

/** Deletes the keys of `entries` (a scan of `transaction`), collected first so the scan is not cut by its own deletes. */
export function deleteEntries(transaction: KvTransaction, entries: Iterable<KvEntry>): void {
  const keys = [...entries].map((entry) => entry.key);
  for (const key of keys) transaction.delete(key);
}
