// What the cluster simulation's S3 clients know about each key: every write
// they issued (a PUT, a completed multipart upload, a DELETE), when it
// started, and when it was acknowledged — or that its outcome is unknown (an
// error, a timeout, a crashed gateway: it may still take effect, so it stays
// concurrent with everything after it). From that, the values a read may
// return: a write is a candidate for a read when it started before the read
// ended and no acknowledged write both started after it was acknowledged and
// was acknowledged before the read started (read-after-write for a register,
// as a linearizability checker sees one key). "Absent" (never written, or
// deleted) is a candidate the same way.

import { assert } from '../../stdx/assert.js';

export interface WriteRecord {
  /** Unique over the run; names the write in failure messages. */
  readonly id: number;
  readonly key: string;
  readonly kind: 'put' | 'multipart' | 'delete';
  /** The object's bytes; undefined for a delete. */
  readonly bytes: Uint8Array | undefined;
  readonly startMs: number;
  /** When it was acknowledged; +∞ while pending or when its outcome is unknown. */
  endMs: number;
  outcome: 'pending' | 'acknowledged' | 'unknown';
}

/** What a candidate looks like to a reader: present with bytes, or absent. */
export interface Candidate {
  /** 0 for the initial absence of the key. */
  readonly writeId: number;
  readonly bytes: Uint8Array | undefined;
}

/** Writes remembered per key (a run issues a few hundred). */
const writesPerKeyMax = 100_000;

export class ObjectModel {
  private readonly writes = new Map<string, WriteRecord[]>();
  private nextWriteId = 1;
  acknowledged = 0;
  unknown = 0;

  get keys(): string[] {
    return [...this.writes.keys()].sort();
  }

  begin(key: string, kind: WriteRecord['kind'], bytes: Uint8Array | undefined, nowMs: number): WriteRecord {
    assert((kind === 'delete') === (bytes === undefined), `a ${kind} ${bytes === undefined ? 'without' : 'with'} bytes`);
    const record: WriteRecord = { id: this.nextWriteId++, key, kind, bytes, startMs: nowMs, endMs: Number.POSITIVE_INFINITY, outcome: 'pending' };
    let list = this.writes.get(key);
    if (list === undefined) {
      list = [];
      this.writes.set(key, list);
    }
    list.push(record);
    assert(list.length <= writesPerKeyMax, `more than ${writesPerKeyMax} writes to "${key}"`);
    return record;
  }

  acknowledge(record: WriteRecord, nowMs: number): void {
    assert(record.outcome === 'pending', `write ${record.id} settled twice`);
    record.outcome = 'acknowledged';
    record.endMs = nowMs;
    this.acknowledged++;
  }

  /** The write failed or timed out: it may or may not take effect, at any time. */
  giveUp(record: WriteRecord): void {
    assert(record.outcome === 'pending', `write ${record.id} settled twice`);
    record.outcome = 'unknown';
    this.unknown++;
  }

  /** The values a read of `key` that ran from `startMs` to `endMs` may return. */
  candidates(key: string, startMs: number, endMs: number): Candidate[] {
    const writes = this.writes.get(key) ?? [];
    const acknowledgedBefore = writes.filter((write) => write.outcome === 'acknowledged' && write.endMs < startMs);
    const superseded = (afterMs: number): boolean => acknowledgedBefore.some((write) => write.startMs > afterMs);
    const result: Candidate[] = [];
    if (acknowledgedBefore.length === 0) result.push({ writeId: 0, bytes: undefined });
    for (const write of writes) {
      if (write.startMs > endMs || superseded(write.endMs)) continue;
      result.push({ writeId: write.id, bytes: write.bytes });
    }
    return result;
  }

  /** The writes to `key`, for a failure message. */
  describe(key: string): string {
    const writes = this.writes.get(key) ?? [];
    return writes
      .map((write) => {
        const size = write.bytes === undefined ? '' : ` ${write.bytes.length} B`;
        const end = write.outcome === 'acknowledged' ? `acked t=${write.endMs}` : write.outcome;
        return `#${write.id} ${write.kind}${size} t=${write.startMs} ${end}`;
      })
      .join('; ');
  }
}
