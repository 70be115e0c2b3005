// The entries a replica holds in memory after its log base, in op order.
//
// Most of them are committed, applied and kept only for a peer that lags (it
// is sent entries rather than the whole state) or for a view change: a
// replica keeps `logRetainOps` of them (10,000 in MetaService). As objects
// (the entry, its checksum string, its record, its op and the op's strings:
// ~600 bytes of V8 heap) each one lived about half a second under load, long
// enough to be copied by two scavenges into the old space and die there. So
// the log packs the entries its replica says it is done with: their records
// go back to back into large buffers outside the V8 heap, with three numbers
// per entry in arrays, and an entry asked for again is decoded from its
// record (entryFromRecord: the same entry, whose record is the one
// persisted and sent).
//
// Entries are packed from the front only, and only the replica decides which:
// packed entries are never truncated (they are committed).

import { assert } from '../stdx/assert.js';
import type { LogEntry } from './log-entry.js';
import { entryChecksumBytes, entryFromRecord, entryRecord } from './log-entry.js';

/** Packed records go into buffers of this size (a bigger record gets a buffer of its own). */
const chunkBytes = 256 * 1024;

export class ReplicaLog<Op> {
  /** Buffers of packed records; `chunks[0]` has id `firstChunkId`. */
  private chunks: Buffer[] = [];
  private firstChunkId = 0;
  /** Bytes used in the last chunk. */
  private lastChunkUsed = 0;
  /** Per packed entry, in op order: the id of its chunk, and where its record starts and ends there. */
  private packedChunkIds: number[] = [];
  private packedStarts: number[] = [];
  private packedEnds: number[] = [];
  /** The op number of the first packed entry (when any is). */
  private firstPackedOpNumber = 0;
  /** The entries after the packed ones, as objects. */
  private readonly objects: LogEntry<Op>[] = [];
  /** Every entry, decoded, as all() last gave them; dropped by any change. */
  private allCached: readonly LogEntry<Op>[] | undefined;

  get length(): number {
    return this.packedChunkIds.length + this.objects.length;
  }

  /** How many leading entries are packed. */
  get packedLength(): number {
    return this.packedChunkIds.length;
  }

  /** The entry at `index` (0 is the first after the base), decoded again if packed. */
  at(index: number): LogEntry<Op> | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) return undefined;
    const packed = this.packedChunkIds.length;
    return index < packed ? this.unpack(index) : this.objects[index - packed];
  }

  /** The checksum of the entry at `index`; a packed entry's is read from its record, not decoded. */
  checksumAt(index: number): string | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) return undefined;
    const packed = this.packedChunkIds.length;
    if (index >= packed) return this.objects[index - packed]!.checksum;
    const chunk = this.chunkOf(index);
    const end = this.packedEnds[index]!;
    return chunk.toString('hex', end - entryChecksumBytes, end);
  }

  last(): LogEntry<Op> | undefined {
    return this.at(this.length - 1);
  }

  /** Entries from `start` up to `end` (exclusive), as Array.prototype.slice would give them. */
  slice(start = 0, end = this.length): LogEntry<Op>[] {
    const from = Math.max(0, Math.min(start, this.length));
    const to = Math.max(from, Math.min(end, this.length));
    const packed = this.packedChunkIds.length;
    const entries: LogEntry<Op>[] = [];
    for (let index = from; index < Math.min(to, packed); index++) entries.push(this.unpack(index));
    if (to > packed) entries.push(...this.objects.slice(Math.max(0, from - packed), to - packed));
    return entries;
  }

  /**
   * Every entry, packed ones decoded. The array is kept until the log changes:
   * a view change sends the whole log in each DoViewChange it repeats and in
   * a StartView to every backup (10,000 packed entries decode in ~20-50 ms).
   */
  all(): readonly LogEntry<Op>[] {
    this.allCached ??= this.slice();
    return this.allCached;
  }

  push(entry: LogEntry<Op>): void {
    this.allCached = undefined;
    this.objects.push(entry);
  }

  /** Keeps the first `length` entries; packed ones are committed and never truncated. */
  truncate(length: number): void {
    assert(Number.isSafeInteger(length) && length >= this.packedChunkIds.length, `truncating the log to ${length} entries, below the ${this.packedChunkIds.length} packed`);
    if (length < this.length) {
      this.allCached = undefined;
      this.objects.length = length - this.packedChunkIds.length;
    }
  }

  /** Drops the first `count` entries (compacted into a checkpoint). */
  dropFront(count: number): void {
    assert(Number.isSafeInteger(count) && count >= 0 && count <= this.length, `dropping ${count} of ${this.length} entries`);
    if (count > 0) this.allCached = undefined;
    const packed = Math.min(count, this.packedChunkIds.length);
    this.firstPackedOpNumber += packed;
    this.packedChunkIds.splice(0, packed);
    this.packedStarts.splice(0, packed);
    this.packedEnds.splice(0, packed);
    if (count > packed) this.objects.splice(0, count - packed);
    this.releaseChunks();
  }

  clear(): void {
    this.dropFront(this.length);
  }

  /** Packs the first `count` entries held as objects (the replica is done with them but for resending). */
  pack(count: number): void {
    assert(Number.isSafeInteger(count) && count >= 0 && count <= this.objects.length, `packing ${count} of ${this.objects.length} entries`);
    for (const entry of this.objects.splice(0, count)) {
      if (this.packedChunkIds.length === 0) this.firstPackedOpNumber = entry.opNumber;
      assert(entry.opNumber === this.firstPackedOpNumber + this.packedChunkIds.length, `packing op ${entry.opNumber} after op ${this.firstPackedOpNumber + this.packedChunkIds.length - 1}`);
      const record = entryRecord(entry);
      const chunk = this.room(record.length);
      chunk.set(record, this.lastChunkUsed);
      this.packedChunkIds.push(this.firstChunkId + this.chunks.length - 1);
      this.packedStarts.push(this.lastChunkUsed);
      this.lastChunkUsed += record.length;
      this.packedEnds.push(this.lastChunkUsed);
    }
  }

  /** The last chunk, with `bytes` free at `lastChunkUsed` (a new chunk if it has not). */
  private room(bytes: number): Buffer {
    const last = this.chunks.at(-1);
    if (last !== undefined && last.length - this.lastChunkUsed >= bytes) return last;
    const chunk = Buffer.allocUnsafeSlow(Math.max(chunkBytes, bytes));
    this.chunks.push(chunk);
    this.lastChunkUsed = 0;
    return chunk;
  }

  private chunkOf(index: number): Buffer {
    const chunk = this.chunks[this.packedChunkIds[index]! - this.firstChunkId];
    assert(chunk !== undefined, `packed entry ${index} has its chunk`);
    return chunk;
  }

  private unpack(index: number): LogEntry<Op> {
    const chunk = this.chunkOf(index);
    const entry = entryFromRecord<Op>(chunk.subarray(this.packedStarts[index], this.packedEnds[index]));
    assert(entry.opNumber === this.firstPackedOpNumber + index, `packed entry ${index} decodes to op ${entry.opNumber}, not ${this.firstPackedOpNumber + index}`);
    return entry;
  }

  /** Frees the chunks no packed entry is in any more (all of them when none is packed). */
  private releaseChunks(): void {
    const firstInUse = this.packedChunkIds[0];
    if (firstInUse === undefined) {
      this.firstChunkId += this.chunks.length;
      this.chunks = [];
      this.lastChunkUsed = 0;
      return;
    }
    const unused = firstInUse - this.firstChunkId;
    assert(unused >= 0 && unused < this.chunks.length, `chunk ${firstInUse} is held`);
    if (unused === 0) return;
    this.chunks.splice(0, unused);
    this.firstChunkId = firstInUse;
  }
}
