// Partition table tests: the slot of a bucket is pinned (an accidental change
// of the hash would move every bucket of a running cluster to a group that
// does not hold it), every slot has a group, groups are balanced, and a bad
// table is described rather than used.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  balancedPartitionTable,
  bucketSlot,
  groupOfBucket,
  partitionSlotsDefault,
  partitionTableOf,
  partitionTableProblem,
  samePartitions,
  slotsPerGroup,
} from './partition-table.js';

describe('partition table', () => {
  it('a bucket name maps to a fixed slot: the first 32 bits of SHA-256 of its UTF-8 bytes, scaled', () => {
    // Computed independently: `printf %s photos | sha256sum` starts 84a6dae4 = 2225527524; 2225527524 · 64 / 2^32 = 33.16.
    assert.equal(bucketSlot('photos', 64), 33);
    assert.equal(bucketSlot('docs', 64), 17); // 46b42b42
    assert.equal(bucketSlot('a', 64), 50); // ca978112
    assert.equal(bucketSlot('é', 64), 18); // 4a99557e: the UTF-8 bytes, not UTF-16 code units
    assert.equal(bucketSlot('photos', 4096), 2122);
    assert.equal(bucketSlot('photos', 1), 0);
    assert.equal(groupOfBucket(balancedPartitionTable(64, 2), 'photos'), 1);
    assert.equal(groupOfBucket(balancedPartitionTable(64, 2), 'docs'), 1);
    assert.equal(groupOfBucket(balancedPartitionTable(64, 2), 'a'), 0);
  });

  it('a slot is a range of the hash space: more slots refine fewer (slot at 2n is 2·slot at n or one more)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 63 }), fc.integer({ min: 1, max: 2048 }), (name, slots) => {
        const coarse = bucketSlot(name, slots);
        const fine = bucketSlot(name, 2 * slots);
        assert.ok(fine === 2 * coarse || fine === 2 * coarse + 1, `${name}: ${coarse}/${slots} → ${fine}/${2 * slots}`);
      }),
    );
  });

  it('every slot has a group and groups hold the same number of slots, give or take one', () => {
    for (const [slots, groups] of [
      [64, 1],
      [64, 2],
      [64, 3],
      [64, 64],
      [7, 3],
      [4096, 5],
    ] as const) {
      const table = balancedPartitionTable(slots, groups);
      assert.equal(table.slots.length, slots);
      assert.equal(partitionTableProblem(table, groups), undefined);
      const counts = slotsPerGroup(table, groups);
      assert.equal(counts.reduce((sum, count) => sum + count, 0), slots);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${slots} slots over ${groups} groups: ${counts.join(', ')}`);
    }
    assert.equal(partitionSlotsDefault, 64);
  });

  it('buckets spread over the slots: 20 000 names over 64 slots stay within ±25% of the mean', () => {
    const counts = Array.from({ length: 64 }, () => 0);
    for (let index = 0; index < 20_000; index++) counts[bucketSlot(`bucket-${index}`, 64)]! += 1;
    const mean = 20_000 / 64;
    assert.ok(Math.min(...counts) > 0.75 * mean && Math.max(...counts) < 1.25 * mean, `slot counts ${Math.min(...counts)}..${Math.max(...counts)}`);
  });

  it('describes a table that cannot route', () => {
    assert.match(partitionTableProblem({ hash: 'sha256-prefix32', slots: [0, 2] }, 2) ?? '', /slot 1 names group 2, the cluster has groups 0\.\.1/);
    assert.match(partitionTableProblem({ hash: 'sha256-prefix32', slots: [0, 0, 0] }, 3) ?? '', /groups 1, 2 hold no slot/);
    assert.match(partitionTableProblem({ hash: 'sha256-prefix32', slots: [] }, 1) ?? '', /0 slots/);
    assert.match(partitionTableProblem({ hash: 'md5' as 'sha256-prefix32', slots: [0] }, 1) ?? '', /unknown slot hash "md5"/);
    assert.throws(() => balancedPartitionTable(2, 3), /3 groups over 2 slots/);
  });

  it('a map without a table is one group; tables compare by where they route', () => {
    assert.deepEqual(partitionTableOf({}), { hash: 'sha256-prefix32', slots: [0] });
    assert.ok(samePartitions(partitionTableOf({}), balancedPartitionTable(64, 1)));
    assert.ok(samePartitions(balancedPartitionTable(64, 2), balancedPartitionTable(64, 2)));
    assert.ok(!samePartitions(balancedPartitionTable(64, 2), balancedPartitionTable(32, 2)));
    assert.ok(!samePartitions(balancedPartitionTable(4, 2), { hash: 'sha256-prefix32', slots: [1, 0, 1, 0] }));
  });
});
