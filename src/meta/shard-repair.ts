// Shard repair in the metadata state machine: the scan that finds the parts
// the healer and rebalancer must work on, and the op that records their work.
//
// Finding work is a paged scan of the committed-version index (x/<versionId>,
// one entry per committed version in every bucket, versioned or not), not an
// index of parts needing repair kept by apply: a shard on a draining or failed
// drive needs moving because the cluster map changed, which no op of this
// group sees, so a scan is needed anyway, and one scan finds missing shards
// too. A page examines at most `limit` entries (bounded work on the primary),
// answers only the parts that need work, and names where the next page starts.
//
// move_shards is a compare-and-set: it applies only while the part is exactly
// what the healer read (drives and missing shards), so a concurrent
// overwrite, delete, GC or another move turns it into `stale_part`. Then the
// fragments the healer just wrote are nobody's: apply queues them as garbage
// in the same transaction (not the ones the part now references). On success
// the replaced fragments are queued as garbage, to be deleted after GC's grace
// period, because a gateway may still be reading them by the old record.

import type { KvReader, KvTransaction } from '../io/kv-store.js';
import { assert } from '../stdx/assert.js';
import { prefixEnd } from '../stdx/bytes.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { garbageKey, objectKey, versionIndexKey, versionKey } from './keys.js';
import type { MetaOp, MetaResult } from './ops.js';
import { fragmentOwnerOf, recordFormatVersion } from './records.js';
import type { GarbageRecord, PartRecord, VersionRecord } from './records.js';
import { readObject } from './state-machine.js';
import { readVersionAt } from './versioning.js';

/** A page of the repair scan: index entries after `after` ('' = from the start). */
export interface RepairScanOptions {
  readonly after: string;
  /** Index entries examined at most, and candidates answered at most (a page ends after the version that reaches it). */
  readonly limit: number;
  /** Drives whose shards must move (draining or failed in the cluster map). */
  readonly drives: readonly number[];
}

/** One striped part of a committed version that has missing shards or shards on one of the scan's drives. */
export interface RepairCandidate {
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string;
  readonly part: PartRecord;
  /**
   * [drive, shard] of this part's fragments that earlier moves left queued as
   * garbage: GC will delete them, so no move may write a shard there again
   * until it has (move_shards refuses such a move as stale).
   */
  readonly pendingGarbage: readonly (readonly [number, number])[];
}

export interface RepairScanPage {
  readonly candidates: RepairCandidate[];
  /** The last version id examined: the next page's `after`. */
  readonly next: string;
  /** True when the scan reached the end of the index (the next page starts over). */
  readonly done: boolean;
}

/** Drives one scan may name (a bound on the query from the network). */
export const repairScanDrivesMax = 100_000;
/** Move records of one part waiting for GC, read at most (each is one move; GC takes them in a grace period). */
export const pendingMovesMax = 10_000;

const indexPrefix = versionIndexKey('');
const indexEnd = prefixEnd(indexPrefix)!;

function isStriped(part: PartRecord): boolean {
  return part.inline === undefined && part.drives.length > 0;
}

/** The COMMITTED version `versionId` (x/ names its bucket, key and, if versioned, its sequence), or undefined. */
export function readCommittedVersion(reader: KvReader, versionId: string): VersionRecord | undefined {
  const bytes = reader.get(versionIndexKey(versionId));
  if (bytes === undefined) return undefined;
  const [bucket, key, sequence] = decodeRecord(bytes) as [string, string, number?];
  const version = sequence === undefined ? readObject(reader, bucket, key) : readVersionAt(reader, bucket, key, sequence);
  // x/ also marks the fragment owners of multipart parts; those resolve to another version and are skipped.
  if (version?.versionId !== versionId || version.state !== 'COMMITTED') return undefined;
  return version;
}

/** The garbage ids of every move record of `versionId` start with this (meta/fragment-references.ts scans them). */
export function movedGarbageIdPrefix(versionId: string): string {
  return `${versionId}/moved/`;
}

function movedGarbagePrefix(versionId: string, partNumber: number): string {
  return `${movedGarbageIdPrefix(versionId)}${partNumber}/`;
}

/** [drive, shard] of every fragment of the part that a move left queued as garbage. */
function pendingGarbageOf(reader: KvReader, versionId: string, partNumber: number): [number, number][] {
  const start = garbageKey(movedGarbagePrefix(versionId, partNumber));
  const pairs: [number, number][] = [];
  let records = 0;
  for (const entry of reader.scan({ start, end: prefixEnd(start)!, limit: pendingMovesMax })) {
    records++;
    const record = decodeRecord(entry.value) as GarbageRecord;
    const drives = record.parts[0]!.drives;
    for (const shard of record.moved!.shards) pairs.push([drives[shard]!, shard]);
  }
  assert(records < pendingMovesMax, `${records} move records of ${versionId}/${partNumber} wait for GC`);
  return pairs;
}

function candidateOf(reader: KvReader, version: VersionRecord, part: PartRecord): RepairCandidate {
  return { bucket: version.bucket, key: version.key, versionId: version.versionId, part, pendingGarbage: pendingGarbageOf(reader, version.versionId, part.partNumber) };
}

/** The part as the healer must plan from it (with what earlier moves left for GC), if its version is COMMITTED. */
export function getPartToRepair(reader: KvReader, versionId: string, partNumber: number): RepairCandidate | undefined {
  const version = readCommittedVersion(reader, versionId);
  const part = version?.parts.find((candidate) => candidate.partNumber === partNumber && isStriped(candidate));
  return part === undefined ? undefined : candidateOf(reader, version!, part);
}

export function listPartsToRepair(reader: KvReader, options: RepairScanOptions): RepairScanPage {
  assert(Number.isSafeInteger(options.limit) && options.limit >= 0, `repair scan limit ${options.limit}`);
  assert(options.drives.length <= repairScanDrivesMax, `${options.drives.length} drives in one repair scan`);
  if (options.limit === 0) return { candidates: [], next: options.after, done: false };
  const moving = new Set(options.drives);
  const start = options.after === '' ? indexPrefix : Buffer.concat([versionIndexKey(options.after), Uint8Array.of(0)]);
  const candidates: RepairCandidate[] = [];
  let next = options.after;
  let examined = 0;
  for (const entry of reader.scan({ start, end: indexEnd, limit: options.limit })) {
    examined++;
    next = Buffer.from(entry.key.subarray(indexPrefix.length)).toString('utf8');
    const version = readCommittedVersion(reader, next);
    for (const part of version?.parts ?? []) {
      if (!isStriped(part)) continue;
      if (part.missingShards.length > 0 || part.drives.some((drive) => moving.has(drive))) {
        candidates.push(candidateOf(reader, version!, part));
      }
    }
    if (candidates.length >= options.limit) return { candidates, next, done: false };
  }
  assert(examined <= options.limit);
  return { candidates, next, done: examined < options.limit };
}

type MoveShardsOp = Extract<MetaOp, { type: 'move_shards' }>;

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Shards the healer wrote: moved to another drive, or rewritten in place where they were missing. */
function writtenShards(op: MoveShardsOp): number[] {
  const stillMissing = new Set(op.toMissingShards);
  const wasMissing = new Set(op.fromMissingShards);
  return op.toDrives.flatMap((drive, shard) => (drive !== op.fromDrives[shard] || (wasMissing.has(shard) && !stillMissing.has(shard)) ? [shard] : []));
}

function assertWellFormed(op: MoveShardsOp): void {
  const width = op.fromDrives.length;
  assert(width >= 1 && op.toDrives.length === width, `move_shards: ${op.toDrives.length} new drives for ${width} shards`);
  assert(new Set(op.toDrives).size === width && op.toDrives.every((drive) => Number.isSafeInteger(drive) && drive >= 0), 'move_shards: new drives are distinct ids');
  const inRange = (shard: number): boolean => Number.isInteger(shard) && shard >= 0 && shard < width;
  assert(op.fromMissingShards.every(inRange) && op.toMissingShards.every(inRange), 'move_shards: missing shards in range');
  const wasMissing = new Set(op.fromMissingShards);
  assert(op.toMissingShards.every((shard) => wasMissing.has(shard) && op.toDrives[shard] === op.fromDrives[shard]), 'move_shards: a move makes no shard missing');
  assert(op.garbageShards.every((shard) => inRange(shard) && op.toDrives[shard] !== op.fromDrives[shard]), 'move_shards: garbage only where a shard left its drive');
}

/** Queues `shards` of `part` (on `drives`) as the garbage of one move; the record's key is unique per op. */
function queueMovedGarbage(
  transaction: KvTransaction,
  op: MoveShardsOp,
  part: PartRecord,
  drives: readonly number[],
  shards: readonly number[],
  timestampMs: number,
  opNumber: number,
): void {
  if (shards.length === 0) return;
  const recordId = `${movedGarbagePrefix(op.versionId, op.partNumber)}${opNumber}`;
  assert(transaction.get(garbageKey(recordId)) === undefined, `garbage ${recordId} queued twice`);
  const record: GarbageRecord = {
    format: recordFormatVersion,
    versionId: recordId,
    parts: [{ ...part, drives, fragmentOwnerId: op.fragmentOwnerId }],
    queuedMs: timestampMs,
    moved: { versionId: op.versionId, shards: sorted(shards) },
  };
  transaction.put(garbageKey(recordId), encodeRecord(record));
}

function writeVersion(transaction: KvTransaction, version: VersionRecord): void {
  if (version.sequence === undefined) {
    transaction.put(objectKey(version.bucket, version.key), encodeRecord(version));
    return;
  }
  transaction.put(versionKey(version.bucket, version.key, version.sequence), encodeRecord(version));
  // o/ mirrors the newest version of a versioned key: keep the mirror equal.
  if (readObject(transaction, version.bucket, version.key)?.versionId === version.versionId) {
    transaction.put(objectKey(version.bucket, version.key), encodeRecord(version));
  }
}

export function moveShards(transaction: KvTransaction, op: MoveShardsOp, timestampMs: number, opNumber: number): MetaResult {
  assertWellFormed(op);
  const version = readCommittedVersion(transaction, op.versionId);
  const found = version !== undefined && version.bucket === op.bucket && version.key === op.key;
  const index = found ? version.parts.findIndex((part) => part.partNumber === op.partNumber && isStriped(part)) : -1;
  const part = index >= 0 ? version!.parts[index]! : undefined;
  // A shard written where an earlier move's garbage waits for GC would be deleted under the new record.
  const pending = new Set(pendingGarbageOf(transaction, op.versionId, op.partNumber).map(([drive, shard]) => `${drive}/${shard}`));
  const doomed = (shard: number): boolean => pending.has(`${op.toDrives[shard]!}/${shard}`);
  const changed = part === undefined || !sameNumbers(part.drives, op.fromDrives) || !sameNumbers(sorted(part.missingShards), sorted(op.fromMissingShards));
  if (changed || writtenShards(op).some(doomed)) {
    // Stale: what the healer wrote is garbage, except where the part (as it is now) references the same
    // fragment, or where it is queued already.
    const referenced = (shard: number): boolean => part !== undefined && part.drives[shard] === op.toDrives[shard] && !part.missingShards.includes(shard);
    const orphans = writtenShards(op).filter((shard) => !referenced(shard) && !doomed(shard));
    // With the part gone, GC needs only its number, drives and owner (fragment ids); the rest is a placeholder.
    const template: PartRecord = part ?? { partNumber: op.partNumber, sizeBytes: 0, etag: '', scheme: { k: op.toDrives.length, m: 0 }, blockSizeBytes: 8, drives: [], missingShards: [] };
    queueMovedGarbage(transaction, op, template, op.toDrives, orphans, timestampMs, opNumber);
    return { status: 'stale_part' };
  }
  assert(part.drives.length === part.scheme.k + part.scheme.m, 'a striped part has k+m drives');
  assert(fragmentOwnerOf(op.versionId, part) === op.fragmentOwnerId, `move_shards names owner ${op.fragmentOwnerId} for a part stored under ${fragmentOwnerOf(op.versionId, part)}`);
  const moved: PartRecord = { ...part, drives: [...op.toDrives], missingShards: sorted(op.toMissingShards) };
  const parts = version!.parts.map((candidate, position) => (position === index ? moved : candidate));
  writeVersion(transaction, { ...version!, parts });
  queueMovedGarbage(transaction, op, part, op.fromDrives, op.garbageShards, timestampMs, opNumber);
  return { status: 'shards_moved' };
}
