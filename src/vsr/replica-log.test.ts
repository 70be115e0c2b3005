// The replica's in-memory log (replica-log.ts): packed entries decode to the
// entries that were packed, with their records and checksums; packed entries
// are never truncated; dropping the front frees whole chunks; all() is
// decoded once and never stale. Checked by hand
// and against a plain array under random pushes, packs, truncations and drops.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LogEntry } from './log-entry.js';
import { entryIntact, entryRecord, logOriginChecksum, makeEntry } from './log-entry.js';
import { ReplicaLog } from './replica-log.js';

type Op = { readonly key: string; readonly value: string };

/** Entries `first`..`first + count - 1`, chained from `previousChecksum`. */
function chain(first: number, count: number, previousChecksum = logOriginChecksum, valueBytes = 20): LogEntry<Op>[] {
  const entries: LogEntry<Op>[] = [];
  let previous = previousChecksum;
  for (let opNumber = first; opNumber < first + count; opNumber++) {
    const entry = makeEntry<Op>({
      opNumber,
      view: 1,
      clientId: `c${opNumber % 3}`,
      requestNumber: opNumber,
      timestampMs: 1_700_000_000_000 + opNumber,
      op: { key: `k${opNumber}`, value: 'v'.repeat(valueBytes) },
      previousChecksum: previous,
    });
    entries.push(entry);
    previous = entry.checksum;
  }
  return entries;
}

function checksums(entries: readonly LogEntry<Op>[]): string[] {
  return entries.map((entry) => entry.checksum);
}

describe('ReplicaLog', () => {
  it('packed entries decode to the same entries, records and checksums', () => {
    const entries = chain(1, 10);
    const log = new ReplicaLog<Op>();
    for (const entry of entries) log.push(entry);
    log.pack(6);
    assert.equal(log.packedLength, 6);
    assert.equal(log.length, 10);
    assert.deepEqual(log.slice(), entries);
    for (let index = 0; index < 10; index++) {
      const entry = log.at(index)!;
      assert.ok(entryIntact(entry));
      assert.deepEqual(Buffer.from(entryRecord(entry)), Buffer.from(entryRecord(entries[index]!)));
      assert.equal(log.checksumAt(index), entries[index]!.checksum);
    }
    assert.equal(log.at(10), undefined);
    assert.equal(log.at(-1), undefined);
    assert.equal(log.checksumAt(10), undefined);
    assert.equal(log.last()?.opNumber, 10);
    assert.deepEqual(checksums(log.slice(4, 8)), checksums(entries.slice(4, 8)));
  });

  it('all() decodes once and gives the same array until the log changes; packing does not change it', () => {
    const entries = chain(1, 6);
    const log = new ReplicaLog<Op>();
    for (const entry of entries.slice(0, 5)) log.push(entry);
    log.pack(3);
    const all = log.all();
    assert.equal(log.all(), all);
    log.pack(1);
    assert.equal(log.all(), all, 'packing changes no entry');
    log.push(entries[5]!);
    assert.notEqual(log.all(), all);
    assert.deepEqual(checksums(log.all()), checksums(entries));
  });

  it('truncates only entries that are not packed', () => {
    const log = new ReplicaLog<Op>();
    for (const entry of chain(1, 8)) log.push(entry);
    log.pack(5);
    log.truncate(6);
    assert.equal(log.length, 6);
    log.truncate(5);
    assert.equal(log.length, 5);
    assert.throws(() => {
      log.truncate(4);
    }, /below the 5 packed/);
  });

  it('packs only consecutive entries, in op order', () => {
    const log = new ReplicaLog<Op>();
    const [first, , third] = chain(1, 3);
    log.push(first!);
    log.push(third!);
    assert.throws(() => {
      log.pack(2);
    }, /packing op 3 after op 1/);
  });

  it('spreads records over chunks, gives a big record a chunk of its own, and frees chunks as the front drops', () => {
    // ~100 KiB values: two or three records fill a 256 KiB chunk; one of 300 KiB needs its own.
    const small = chain(1, 6, logOriginChecksum, 100 * 1024);
    const [big] = chain(7, 1, small.at(-1)!.checksum, 300 * 1024);
    const after = chain(8, 3, big!.checksum, 100 * 1024);
    const entries = [...small, big!, ...after];
    const log = new ReplicaLog<Op>();
    for (const entry of entries) log.push(entry);
    log.pack(entries.length - 1);
    const chunksOf = (): number => (log as unknown as { chunks: Buffer[] }).chunks.length;
    assert.ok(chunksOf() >= 4, `${chunksOf()} chunks for ~1.2 MiB of records`);
    assert.deepEqual(checksums(log.slice()), checksums(entries));
    const held = chunksOf();
    log.dropFront(7);
    assert.ok(chunksOf() < held, 'chunks behind the front are freed');
    assert.deepEqual(checksums(log.slice()), checksums(entries.slice(7)));
    assert.equal(log.at(0)!.opNumber, 8);
    log.dropFront(3);
    assert.equal(log.length, 0);
    assert.equal(chunksOf(), 0, 'no chunk is held once nothing is packed');
    // Packing again after the log emptied starts from the next entry.
    const next = chain(11, 4, after.at(-1)!.checksum);
    for (const entry of next) log.push(entry);
    log.pack(3);
    assert.deepEqual(checksums(log.slice()), checksums(next));
  });

  it('agrees with a plain array under random pushes, packs, truncations and front drops', () => {
    type Step = { kind: 'push'; count: number } | { kind: 'pack'; fraction: number } | { kind: 'truncate'; fraction: number } | { kind: 'drop'; fraction: number };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), count: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('pack' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({ kind: fc.constant('truncate' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({ kind: fc.constant('drop' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps: Step[]) => {
        const log = new ReplicaLog<Op>();
        let model: LogEntry<Op>[] = [];
        let packed = 0;
        // The op and checksum before model[0] (dropped entries move it on).
        let baseOp = 0;
        let baseChecksum = logOriginChecksum;
        for (const action of steps) {
          if (action.kind === 'push') {
            const entries = chain(baseOp + model.length + 1, action.count, model.at(-1)?.checksum ?? baseChecksum, 50);
            for (const entry of entries) log.push(entry);
            model.push(...entries);
          } else if (action.kind === 'pack') {
            const count = Math.floor(action.fraction * (model.length - packed));
            log.pack(count);
            packed += count;
          } else if (action.kind === 'truncate') {
            const length = packed + Math.floor(action.fraction * (model.length - packed));
            log.truncate(length);
            model = model.slice(0, length);
          } else {
            const count = Math.floor(action.fraction * model.length);
            log.dropFront(count);
            if (count > 0) {
              baseOp += count;
              baseChecksum = model[count - 1]!.checksum;
            }
            model = model.slice(count);
            packed = Math.max(0, packed - count);
          }
          assert.equal(log.length, model.length);
          assert.equal(log.packedLength, packed);
          assert.deepEqual(checksums(log.all()), checksums(model), 'all() is never stale');
        }
        assert.deepEqual(checksums(log.slice()), checksums(model));
        for (let index = 0; index < model.length; index++) assert.equal(log.checksumAt(index), model[index]!.checksum);
        if (model.length > 0) assert.deepEqual(log.at(model.length - 1), model.at(-1));
      }),
      { numRuns: 200 },
    );
  });
});
