// VSR log entries: one client request at one op number, stamped by the primary
// with the time, and chained to the previous entry by checksum, so a replica
// can tell a torn or foreign entry from its own and two replicas can compare
// logs by checksum alone. SHA-256 (truncated to 128 bits) rather than CRC32C:
// the chain names entries across replicas, not only detects torn writes.

import { createHash } from 'node:crypto';
import { assert } from '../stdx/assert.js';
import { encodeRecord } from '../stdx/codec.js';

export interface LogEntry<Op> {
  readonly opNumber: number;
  /** The view in which the primary first prepared this entry. */
  readonly view: number;
  readonly clientId: string;
  readonly requestNumber: number;
  readonly timestampMs: number;
  readonly op: Op;
  readonly previousChecksum: string;
  readonly checksum: string;
}

/** The checksum "before" op 1. */
export const logOriginChecksum = '0'.repeat(32);

/**
 * Consecutive entries after a base entry known only by its op number,
 * checksum and timestamp (the entries up to the base were compacted into a
 * checkpoint). What DoViewChange and StartView carry instead of a whole log.
 */
export interface LogSuffix<Op> {
  readonly baseOpNumber: number;
  readonly baseChecksum: string;
  readonly baseTimestampMs: number;
  readonly entries: readonly LogEntry<Op>[];
}

export function entryChecksum<Op>(entry: Omit<LogEntry<Op>, 'checksum'>): string {
  const body = encodeRecord([
    entry.opNumber,
    entry.view,
    entry.clientId,
    entry.requestNumber,
    entry.timestampMs,
    entry.op,
    entry.previousChecksum,
  ]);
  return createHash('sha256').update(body).digest('hex').slice(0, 32);
}

export function makeEntry<Op>(fields: Omit<LogEntry<Op>, 'checksum'>): LogEntry<Op> {
  assert(Number.isSafeInteger(fields.opNumber) && fields.opNumber > 0, `log entry op number ${fields.opNumber}`);
  return { ...fields, checksum: entryChecksum(fields) };
}

/** True when `entry` is intact: its checksum matches its contents. */
export function entryIntact<Op>(entry: LogEntry<Op>): boolean {
  return entryChecksum(entry) === entry.checksum;
}

/**
 * How many leading entries of `log` form an intact chain after the entry
 * `baseOpNumber` whose checksum is `baseChecksum` (op 0 and the origin by
 * default): each entry intact, numbered in order, linked to its predecessor.
 * A restarted replica keeps that prefix and repairs the rest from its peers.
 */
export function intactPrefixLength<Op>(log: readonly LogEntry<Op>[], baseOpNumber = 0, baseChecksum = logOriginChecksum): number {
  let previous = baseChecksum;
  for (let index = 0; index < log.length; index++) {
    const entry = log[index]!;
    if (entry.opNumber !== baseOpNumber + index + 1 || entry.previousChecksum !== previous || !entryIntact(entry)) return index;
    previous = entry.checksum;
  }
  return log.length;
}
