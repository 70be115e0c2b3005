// The metadata service of a single-replica group (the embedded node): sequences
// ops, journals them durably with group commit (every op queued while one
// batch is being made durable shares the next fsync), applies each batch in one
// KvStore transaction together with the applied position, then answers. Reads
// go straight to the KvStore, which already holds every acknowledged op.
//
// The VSR replica (issue 4) replaces the sequencing and journal here and keeps
// MetaStateMachine as is.

import type { Env } from '../io/env.js';
import type { KvReader, KvStore, KvTransaction } from '../io/kv-store.js';
import { assert } from '../stdx/assert.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { Journal, journalOrigin } from './journal.js';
import type { JournalPosition } from './journal.js';
import { appliedKey, bucketRange, garbageRange, objectRange, preparingRange } from './keys.js';
import { objectKeyName } from './keys.js';
import type { MetaOp, MetaResult, SequencedOp } from './ops.js';
import type { BucketRecord, GarbageRecord, VersionRecord } from './records.js';
import { MetaStateMachine, readBucket, readObject } from './state-machine.js';

export interface MetaServiceOptions {
  readonly journalPath: string;
  /** Ops in one journal write + fsync + apply transaction. */
  readonly batchOpsMax?: number;
  /** Ops waiting for a batch; beyond this submit() refuses with `busy`. */
  readonly queueOpsMax?: number;
  /** Journal size at which it is truncated (everything in it is applied). */
  readonly journalBytesMax?: number;
}

export class MetaBusyError extends Error {
  override readonly name = 'MetaBusyError';
}

type Pending = { op: MetaOp; resolve: (result: MetaResult) => void; reject: (error: Error) => void };

export class MetaService {
  private readonly queue: Pending[] = [];
  private flushing = false;
  private failure: Error | undefined;
  private lastTimestampMs = 0;
  private idle: (() => void)[] = [];
  private readonly batchOpsMax: number;
  private readonly queueOpsMax: number;
  private readonly journalBytesMax: number;
  private readonly stateMachine = new MetaStateMachine();

  private constructor(
    private readonly env: Env,
    private readonly kv: KvStore,
    private readonly journal: Journal,
    options: MetaServiceOptions,
  ) {
    this.batchOpsMax = options.batchOpsMax ?? 1024;
    this.queueOpsMax = options.queueOpsMax ?? 16384;
    this.journalBytesMax = options.journalBytesMax ?? 64 * 1024 * 1024;
    assert(this.batchOpsMax > 0 && this.queueOpsMax >= this.batchOpsMax, 'meta service limits');
  }

  /** Opens the service, replaying journaled ops that were not yet applied. */
  static async open(env: Env, kv: KvStore, options: MetaServiceOptions): Promise<MetaService> {
    const applied = readApplied(kv);
    const { journal, replay } = await Journal.open(env.disk, options.journalPath, applied, env.logger);
    const service = new MetaService(env, kv, journal, options);
    if (replay.length > 0) {
      env.logger.log('info', 'meta: replaying journal', { ops: replay.length, from: replay[0]!.opNumber });
      await service.applyBatch(replay);
    }
    // Timestamps never go back, even if the wall clock did across a restart.
    service.lastTimestampMs = Math.max(replay.at(-1)?.timestampMs ?? 0, readAppliedTimestampMs(kv));
    return service;
  }

  /** Sequences, journals and applies `op`; resolves with its result once durable. */
  submit(op: MetaOp): Promise<MetaResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.queue.length >= this.queueOpsMax) {
      return Promise.reject(new MetaBusyError(`metadata queue full (${this.queueOpsMax} ops)`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    assert(!this.flushing, 'one flush at a time');
    this.flushing = true;
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        const batch = this.queue.splice(0, this.batchOpsMax);
        await this.runBatch(batch);
      }
    } finally {
      this.flushing = false;
      for (const wake of this.idle.splice(0)) wake();
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const now = Math.max(this.env.clock.nowMs(), this.lastTimestampMs);
    this.lastTimestampMs = now;
    const first = this.journal.position.opNumber + 1;
    const entries: SequencedOp[] = batch.map((pending, index) => ({
      opNumber: first + index,
      timestampMs: now,
      op: pending.op,
    }));
    let results: MetaResult[];
    try {
      await this.journal.append(entries);
      results = await this.applyBatch(entries);
      if (this.journal.sizeBytes > this.journalBytesMax) await this.journal.truncate();
    } catch (error) {
      // The journal and the state may now disagree: stop taking ops. A restart
      // replays the journal and brings them back in line.
      this.failure = new Error('metadata service failed; restart to recover', { cause: error });
      this.env.logger.log('error', 'meta: batch failed', { error: String(error) });
      for (const pending of [...batch, ...this.queue.splice(0)]) pending.reject(this.failure);
      return;
    }
    assert(results.length === batch.length, 'one result per op');
    batch.forEach((pending, index) => {
      pending.resolve(results[index]!);
    });
  }

  private applyBatch(entries: readonly SequencedOp[]): Promise<MetaResult[]> {
    const position = this.journal.position;
    const last = entries.at(-1)!;
    assert(position.opNumber === last.opNumber, `journal at ${position.opNumber}, applying up to ${last.opNumber}`);
    return this.kv.transact((transaction: KvTransaction) => {
      const results = entries.map((entry) => this.stateMachine.apply(transaction, entry));
      transaction.put(appliedKey, encodeRecord({ ...position, timestampMs: last.timestampMs }));
      return results;
    });
  }

  /** Resolves when no batch is in flight (for orderly shutdown and tests). */
  async drain(): Promise<void> {
    while (this.flushing) {
      await new Promise<void>((resolve) => this.idle.push(resolve));
    }
  }

  async close(): Promise<void> {
    await this.drain();
    await this.journal.close();
  }

  get appliedOpNumber(): number {
    return readApplied(this.kv).opNumber;
  }

  // Reads: the KvStore already holds every acknowledged op.

  getBucket(bucket: string): BucketRecord | undefined {
    return readBucket(this.kv, bucket);
  }

  listBuckets(): BucketRecord[] {
    return [...this.kv.scan(bucketRange)].map((entry) => decodeRecord(entry.value) as BucketRecord);
  }

  getObject(bucket: string, key: string): VersionRecord | undefined {
    return readObject(this.kv, bucket, key);
  }

  /** Objects of `bucket` under `prefix` with key > `after` (or ≥ `from`), in key order. */
  *scanObjects(bucket: string, options: { prefix: string; after?: string; from?: string }): Iterable<VersionRecord> {
    const range = objectRange(bucket, options.prefix);
    let start = range.start;
    const seek = options.after !== undefined ? options.after + '\u0000' : options.from;
    if (seek !== undefined) {
      const seekRange = objectRange(bucket, seek);
      if (Buffer.compare(seekRange.start, start) > 0) start = seekRange.start;
    }
    if (Buffer.compare(start, range.end) >= 0) return;
    for (const entry of this.kv.scan({ start, end: range.end })) {
      const version = decodeRecord(entry.value) as VersionRecord;
      assert(version.key === objectKeyName(bucket, entry.key), 'object key matches its record');
      yield version;
    }
  }

  listPreparing(): VersionRecord[] {
    return [...this.kv.scan(preparingRange)].map((entry) => decodeRecord(entry.value) as VersionRecord);
  }

  listGarbage(limit: number): GarbageRecord[] {
    return [...this.kv.scan({ ...garbageRange, limit })].map((entry) => decodeRecord(entry.value) as GarbageRecord);
  }

  /** The reader, for workers that need ad-hoc lookups (e.g. the orphan sweep). */
  get reader(): KvReader {
    return this.kv;
  }
}

function readAppliedTimestampMs(kv: KvReader): number {
  const bytes = kv.get(appliedKey);
  return bytes === undefined ? 0 : ((decodeRecord(bytes) as { timestampMs?: number }).timestampMs ?? 0);
}

function readApplied(kv: KvReader): JournalPosition {
  const bytes = kv.get(appliedKey);
  if (bytes === undefined) return journalOrigin;
  const { opNumber, checksum } = decodeRecord(bytes) as JournalPosition;
  return { opNumber, checksum };
}
