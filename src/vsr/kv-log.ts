// The replica log as the KvStore driver persists it: one key per batch of
// consecutive entries (what one Ready hands off), named by the batch's last
// op number, holding the entries' records (log-entry.ts) as one msgpack array
// of byte strings. A batch is one put however many entries it holds, and
// compaction deletes batches, not entries: measured on the 3-replica
// benchmark, a key per entry cost every replica a put, a scan step and a
// delete per op (~3 µs of the ~26 µs a backup spends per op).
//
// Invariants, kept by every writer here:
//   - batches are disjoint and in op order (key order is op order);
//   - appending entries from op f first cuts every batch back to ops < f, so
//     an entry rewritten after a view change or a repair replaces the old one,
//     as a put under the same key did when entries had a key each.
// A batch or record that does not decode (a damaged disk) ends the log that
// readLog returns; the replica treats what follows as lost and repairs it from
// its peers (a group of 1 keeps the intact prefix), as it does for an entry
// whose checksum does not match.
//
// Keys: r/b/<u64 last op>. Stores written before batches kept one entry per
// key under r/l/<u64 op>; migrateLegacyLog moves those into one batch.

import type { KvReader, KvTransaction } from '../io/kv-store.js';
import { assert } from '../stdx/assert.js';
import { prefixEnd, utf8 } from '../stdx/bytes.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { deleteEntries, opKey } from './kv-keys.js';
import { MalformedEntryError, entryFromRecord, entryRecord } from './log-entry.js';
import type { LogEntry } from './log-entry.js';

const batchPrefix = utf8('r/b/');
const legacyEntryPrefix = utf8('r/l/');

function batchKey(lastOpNumber: number): Uint8Array {
  return opKey(batchPrefix, lastOpNumber);
}

const batchRangeEnd = prefixEnd(batchPrefix)!;

/**
 * A batch's entries, in order, up to the first that does not decode; `whole`
 * is false when something did not.
 */
function decodeBatch<Op>(value: Uint8Array): { entries: LogEntry<Op>[]; whole: boolean } {
  let records: unknown;
  try {
    records = decodeRecord(value);
  } catch {
    return { entries: [], whole: false };
  }
  if (!Array.isArray(records)) return { entries: [], whole: false };
  const entries: LogEntry<Op>[] = [];
  for (const record of records) {
    try {
      entries.push(entryFromRecord<Op>(record as Uint8Array));
    } catch (error) {
      if (!(error instanceof MalformedEntryError)) throw error;
      return { entries, whole: false };
    }
  }
  return { entries, whole: true };
}

/**
 * Every persisted entry in op order, up to the first that does not decode.
 * (Whether they chain and match their checksums is the replica's to check.)
 */
export function readLog<Op>(reader: KvReader): LogEntry<Op>[] {
  const log: LogEntry<Op>[] = [];
  for (const { value } of reader.scan({ start: batchPrefix, end: batchRangeEnd })) {
    const batch = decodeBatch<Op>(value);
    log.push(...batch.entries);
    if (!batch.whole) break;
  }
  return log;
}

function putBatch<Op>(transaction: KvTransaction, entries: readonly LogEntry<Op>[]): void {
  for (let index = 1; index < entries.length; index++) {
    assert(entries[index]!.opNumber === entries[index - 1]!.opNumber + 1, `a log batch holds consecutive entries (op ${entries[index]!.opNumber})`);
  }
  transaction.put(batchKey(entries.at(-1)!.opNumber), encodeRecord(entries.map((entry) => entryRecord(entry))));
}

/** The last op of the last persisted batch (0 when there is none). */
function lastBatchOpNumber(reader: KvReader): number {
  for (const { key } of reader.scan({ start: batchPrefix, end: batchRangeEnd, reverse: true, limit: 1 })) {
    return Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(batchPrefix.length));
  }
  return 0;
}

/**
 * Writes the log of one store. It remembers an upper bound on the last
 * persisted op, so appending after it, the common case, needs no range scan
 * (a seek measured ~33 µs a turn in lmdb-js). The bound is kept through
 * writes of transactions that commit; a driver whose transaction fails stops
 * and reopens the store, and with it a new PersistedLog.
 */
export class PersistedLog {
  private lastOpNumber: number;

  constructor(reader: KvReader) {
    this.lastOpNumber = lastBatchOpNumber(reader);
  }

  /** Persists consecutive entries, replacing whatever was persisted from their first op on. */
  append<Op>(transaction: KvTransaction, entries: readonly LogEntry<Op>[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.opNumber;
    if (first <= this.lastOpNumber) this.truncate(transaction, first - 1);
    putBatch(transaction, entries);
    this.lastOpNumber = entries.at(-1)!.opNumber;
  }

  /** Drops every persisted entry with an op number above `opNumber`. */
  truncate(transaction: KvTransaction, opNumber: number): void {
    const later = [...transaction.scan({ start: batchKey(opNumber + 1), end: batchRangeEnd })];
    this.lastOpNumber = Math.min(this.lastOpNumber, opNumber);
    if (later.length === 0) return;
    // Batches are disjoint and ordered: only the first can also hold ops up to `opNumber`.
    const kept = decodeBatch(later[0]!.value).entries.filter((entry) => entry.opNumber <= opNumber);
    deleteEntries(transaction, later);
    if (kept.length > 0) putBatch(transaction, kept);
  }

  /**
   * Drops the batches that hold only entries up to `opNumber` (a durable
   * checkpoint covers them). A batch that reaches past it stays whole; a
   * restart ignores its entries the checkpoint covers.
   */
  compact(transaction: KvTransaction, opNumber: number): void {
    deleteEntries(transaction, transaction.scan({ start: batchPrefix, end: batchKey(opNumber + 1) }));
  }

  /** Drops every persisted entry (state transfer installed a checkpoint). */
  clear(transaction: KvTransaction): void {
    deleteEntries(transaction, transaction.scan({ start: batchPrefix, end: batchRangeEnd }));
    deleteEntries(transaction, transaction.scan({ start: legacyEntryPrefix, end: prefixEnd(legacyEntryPrefix)! }));
    this.lastOpNumber = 0;
  }
}

/**
 * Moves a store's entries kept one per key (r/l/, before batches) into one
 * batch, so readLog sees them. Entries that no longer decode are dropped with
 * everything after them, as readLog drops a damaged batch's tail.
 */
export function migrateLegacyLog(transaction: KvTransaction): number {
  const legacy = [...transaction.scan({ start: legacyEntryPrefix, end: prefixEnd(legacyEntryPrefix)! })];
  if (legacy.length === 0) return 0;
  const entries: LogEntry<unknown>[] = [];
  for (const { value } of legacy) {
    let entry: unknown;
    try {
      entry = decodeRecord(value);
    } catch {
      break;
    }
    const opNumber = (entry as { opNumber?: unknown } | null)?.opNumber;
    if (typeof opNumber !== 'number' || (entries.length > 0 && opNumber !== entries.at(-1)!.opNumber + 1)) break;
    entries.push(entry as LogEntry<unknown>);
  }
  deleteEntries(transaction, legacy);
  if (entries.length > 0) new PersistedLog(transaction).append(transaction, entries);
  return legacy.length;
}
