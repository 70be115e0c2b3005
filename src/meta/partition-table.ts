// The partition table: which metadata group holds a bucket. A bucket's slot is
// a pure function of its name, the first 32 bits of SHA-256 of its UTF-8 bytes
// scaled to the slot count (never a JS string hash: every process, version and
// platform must agree); the table, kept in the cluster map, says which group
// holds each slot. So slot i is the i-th equal range of the hash space, and a
// later version can split or move a range (or turn slots into key ranges)
// by changing explicit table entries, without rehashing every bucket.
//
// Because bucket → group needs nothing but the name and the table, a group
// decides alone whether a name is taken (create_bucket is applied in the
// bucket's group): that rule plus the table is the bucket registry.

import { createHash } from 'node:crypto';
import { assert } from '../stdx/assert.js';
import type { ClusterMapRecord, PartitionTable } from './records.js';

/** Slots of a new cluster unless told otherwise: room for 64 groups, an even share for 1, 2, 4, 8, … */
export const partitionSlotsDefault = 64;
/** At most this many slots (and so groups). */
export const partitionSlotsMax = 4096;

/** The slot of `bucket` in a table of `slotCount` slots. */
export function bucketSlot(bucket: string, slotCount: number): number {
  assert(Number.isSafeInteger(slotCount) && slotCount >= 1 && slotCount <= partitionSlotsMax, `slot count ${slotCount}`);
  assert(bucket.length > 0, 'a bucket has a name');
  const prefix = createHash('sha256').update(bucket, 'utf8').digest().readUInt32BE(0);
  // prefix · slotCount < 2^44 and the division is by a power of two: exact.
  const slot = Math.floor((prefix * slotCount) / 2 ** 32);
  assert(slot >= 0 && slot < slotCount, `slot ${slot} of ${slotCount}`);
  return slot;
}

/** The group that holds `bucket`. */
export function groupOfBucket(table: PartitionTable, bucket: string): number {
  const group = table.slots[bucketSlot(bucket, table.slots.length)];
  assert(group !== undefined, 'every slot has a group');
  return group;
}

/** `slotCount` slots dealt round-robin over `groupCount` groups: group sizes differ by at most one slot. */
export function balancedPartitionTable(slotCount: number, groupCount: number): PartitionTable {
  assert(Number.isSafeInteger(groupCount) && groupCount >= 1 && groupCount <= slotCount, `${groupCount} groups over ${slotCount} slots`);
  assert(slotCount <= partitionSlotsMax, `slot count ${slotCount}`);
  return { hash: 'sha256-prefix32', slots: Array.from({ length: slotCount }, (_, slot) => slot % groupCount) };
}

/** Why `table` cannot route buckets over groups 0 … groupCount-1, or undefined when it can. */
export function partitionTableProblem(table: PartitionTable, groupCount: number): string | undefined {
  // The table came off the network or a disk: its fields are checked, not trusted.
  if ((table.hash as string) !== 'sha256-prefix32') return `unknown slot hash "${table.hash}"`;
  const { slots } = table;
  if (slots.length < 1 || slots.length > partitionSlotsMax) return `${slots.length} slots (1..${partitionSlotsMax})`;
  const bad = slots.findIndex((group) => !Number.isSafeInteger(group) || group < 0 || group >= groupCount);
  if (bad >= 0) return `slot ${bad} names group ${String(slots[bad])}, the cluster has groups 0..${groupCount - 1}`;
  const empty = Array.from({ length: groupCount }, (_, group) => group).filter((group) => !slots.includes(group));
  if (empty.length > 0) return `group${empty.length === 1 ? '' : 's'} ${empty.join(', ')} hold${empty.length === 1 ? 's' : ''} no slot`;
  return undefined;
}

/** The table of a map; a map from before partitioning has one group, which holds every bucket. */
export function partitionTableOf(map: Pick<ClusterMapRecord, 'partitions'>): PartitionTable {
  return map.partitions ?? { hash: 'sha256-prefix32', slots: [0] };
}

/** Whether two tables route every bucket to the same group (equal entries, or both wholly one group). */
export function samePartitions(a: PartitionTable, b: PartitionTable): boolean {
  if ((a.hash as string) !== b.hash) return false;
  if (a.slots.length === b.slots.length) return a.slots.every((group, slot) => b.slots[slot] === group);
  const only = a.slots[0];
  return a.slots.every((group) => group === only) && b.slots.every((group) => group === only);
}

/** Slots held by each group 0 … groupCount-1. */
export function slotsPerGroup(table: PartitionTable, groupCount: number): number[] {
  const counts = Array.from({ length: groupCount }, () => 0);
  for (const group of table.slots) {
    assert(group >= 0 && group < groupCount, `slot names group ${group} of ${groupCount}`);
    counts[group]! += 1;
  }
  return counts;
}
