// The persisted replica log (kv-log.ts) and the entry records it stores
// (log-entry.ts): one key per batch, a rewrite from an op replaces what was
// there, truncation and compaction cut at batch boundaries, and damaged bytes
// end the log instead of being trusted or crashing the reader.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { keysUnder } from '../../test/helpers/kv.js';
import { utf8 } from '../stdx/bytes.js';
import { encodeRecord } from '../stdx/codec.js';
import { PersistedLog, migrateLegacyLog, readLog } from './kv-log.js';
import { MalformedEntryError, entryFromRecord, entryIntact, entryRecord, intactPrefixLength, logOriginChecksum, makeEntry } from './log-entry.js';
import type { LogEntry } from './log-entry.js';

type Op = { readonly key: string };

/** Entries first..last chained after `previous` (made in `view`). */
function chain(first: number, last: number, view = 0, previous?: LogEntry<Op>): LogEntry<Op>[] {
  const entries: LogEntry<Op>[] = [];
  let checksum = previous?.checksum ?? logOriginChecksum;
  for (let opNumber = first; opNumber <= last; opNumber++) {
    const entry = makeEntry<Op>({ opNumber, view, clientId: `c${opNumber % 3}`, requestNumber: opNumber, timestampMs: 1000 + opNumber, op: { key: `k${opNumber}-v${view}` }, previousChecksum: checksum });
    entries.push(entry);
    checksum = entry.checksum;
  }
  return entries;
}

function opsOf(log: readonly LogEntry<Op>[]): number[] {
  return log.map((entry) => entry.opNumber);
}

describe('entry records', () => {
  it('a record decodes to the entry it was made from, and the entry is intact', () => {
    const [entry] = chain(1, 1);
    const decoded = entryFromRecord<Op>(entryRecord(entry!));
    assert.deepEqual(decoded, entry);
    assert.equal(entryIntact(decoded), true);
    assert.deepEqual(entryRecord(decoded), entryRecord(entry!), 'the same bytes, not re-encoded');
    // A simulated clock with drift stamps fractions of a millisecond.
    const drifted = makeEntry<Op>({ ...entry!, opNumber: 2, timestampMs: 1002.375, previousChecksum: entry!.checksum });
    assert.deepEqual(entryFromRecord<Op>(entryRecord(drifted)), drifted);
  });

  it('a flipped bit in the body fails the checksum; bytes that are no entry are refused', () => {
    const [entry] = chain(7, 7);
    const record = Buffer.from(entryRecord(entry!));
    record[record.length - 20]! ^= 0x01; // a hex digit of the previous checksum: still decodes
    assert.equal(entryIntact(entryFromRecord<Op>(record)), false);
    assert.throws(() => entryFromRecord(Uint8Array.of(1, 2, 3)), MalformedEntryError);
    assert.throws(() => entryFromRecord(Buffer.concat([encodeRecord({ not: 'an entry' }), Buffer.alloc(16)])), MalformedEntryError);
  });

  it('a record is copied from the buffer it arrived in', () => {
    const [entry] = chain(3, 3);
    const arrived = Buffer.concat([Buffer.from('xx'), entryRecord(entry!)]);
    const decoded = entryFromRecord<Op>(arrived.subarray(2));
    arrived.fill(0);
    assert.equal(entryIntact(decoded), true);
  });
});

describe('the persisted log', () => {
  it('keeps one key per batch and reads back every entry in order', async () => {
    const kv = new MemoryKvStore();
    const log = new PersistedLog(kv);
    const entries = chain(1, 250);
    await kv.transact((transaction) => {
      log.append(transaction, entries.slice(0, 100));
      log.append(transaction, entries.slice(100, 101));
      log.append(transaction, entries.slice(101));
    });
    assert.equal(keysUnder(kv, 'r/b/'), 3);
    const read = readLog<Op>(kv);
    assert.deepEqual(opsOf(read), opsOf(entries));
    assert.equal(intactPrefixLength(read), 250);
  });

  it('appending from an op inside a batch replaces that batch from the op on (a rewrite after a view change)', async () => {
    const kv = new MemoryKvStore();
    const log = new PersistedLog(kv);
    const old = chain(1, 50);
    await kv.transact((transaction) => {
      log.append(transaction, old.slice(0, 20));
      log.append(transaction, old.slice(20));
    });
    const rewritten = chain(31, 40, 1, old[29]);
    await kv.transact((transaction) => {
      log.append(transaction, rewritten);
    });
    const read = readLog<Op>(kv);
    assert.deepEqual(opsOf(read), opsOf(chain(1, 40)));
    assert.equal(read[35]!.view, 1);
    assert.equal(read[29]!.view, 0);
    assert.equal(intactPrefixLength(read), 40);
  });

  it('truncation cuts the batch that straddles the op and drops the later ones', async () => {
    const kv = new MemoryKvStore();
    const log = new PersistedLog(kv);
    const entries = chain(1, 30);
    await kv.transact((transaction) => {
      for (let first = 0; first < 30; first += 10) log.append(transaction, entries.slice(first, first + 10));
      log.truncate(transaction, 14);
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(0, 14)));
    await kv.transact((transaction) => {
      log.truncate(transaction, 10);
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(0, 10)));
    assert.equal(keysUnder(kv, 'r/b/'), 1);
  });

  it('compaction drops whole batches covered by the checkpoint and keeps the one that reaches past it', async () => {
    const kv = new MemoryKvStore();
    const log = new PersistedLog(kv);
    const entries = chain(1, 30);
    await kv.transact((transaction) => {
      for (let first = 0; first < 30; first += 10) log.append(transaction, entries.slice(first, first + 10));
      log.compact(transaction, 15);
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(10)));
    await kv.transact((transaction) => {
      log.compact(transaction, 20);
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(20)));
    await kv.transact((transaction) => {
      log.clear(transaction);
    });
    assert.deepEqual(readLog(kv), []);
  });

  it('a damaged batch ends the log; a damaged record ends it at that record', async () => {
    const kv = new MemoryKvStore();
    const log = new PersistedLog(kv);
    const entries = chain(1, 30);
    await kv.transact((transaction) => {
      for (let first = 0; first < 30; first += 10) log.append(transaction, entries.slice(first, first + 10));
    });
    const keys = [...kv.scan({ start: utf8('r/b/'), end: utf8('r/b0') })].map((entry) => entry.key);
    // The second batch: its fourth record (op 14) is cut short, the rest intact.
    const records = entries.slice(10, 20).map((entry) => entryRecord(entry));
    records[3] = records[3]!.subarray(0, 10);
    await kv.transact((transaction) => {
      transaction.put(keys[1]!, encodeRecord(records));
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(0, 13)));
    // A batch that is not msgpack at all.
    await kv.transact((transaction) => {
      transaction.put(keys[1]!, Uint8Array.of(0xc1, 0xc1));
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(0, 10)));
    // A store opened afresh (a restart) rewriting from op 11 replaces the
    // damaged batch and the one after it, though it reads only ops 1..10.
    const reopened = new PersistedLog(kv);
    await kv.transact((transaction) => {
      reopened.append(transaction, entries.slice(10, 12));
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(0, 12)));
    await kv.transact((transaction) => {
      reopened.append(transaction, entries.slice(12, 14));
    });
    assert.deepEqual(opsOf(readLog(kv)), opsOf(entries.slice(0, 14)));
  });

  it('a store that kept one entry per key is moved into one batch', async () => {
    const kv = new MemoryKvStore();
    const entries = chain(1, 5);
    await kv.transact((transaction) => {
      for (const entry of entries) {
        const key = new Uint8Array(12);
        key.set(utf8('r/l/'));
        new DataView(key.buffer).setBigUint64(4, BigInt(entry.opNumber));
        transaction.put(key, encodeRecord(entry));
      }
    });
    assert.equal(await kv.transact((transaction) => migrateLegacyLog(transaction)), 5);
    assert.equal(keysUnder(kv, 'r/l/'), 0);
    const read = readLog<Op>(kv);
    assert.deepEqual(read, entries);
    assert.equal(intactPrefixLength(read), 5);
    assert.equal(await kv.transact((transaction) => migrateLegacyLog(transaction)), 0);
  });
});
