// The metadata service: a VSR replica (vsr/kv-driver.ts) whose state machine
// is MetaStateMachine, applied into the KvStore (LMDB) in the same transaction
// that makes the replica's log and hard state durable. The embedded node runs
// a group of 1 through exactly this code; a cluster node runs one replica of a
// group of 3 or 5 with the other replicas' addresses.
//
// Callers submit ops; each goes out on a client session (a VSR client id
// with its own request numbers, one request at a time), so many ops are in
// flight at once and ride the same prepare and fsync (group commit). Reads go
// straight to the KvStore, which holds every committed op once its reply has
// been given. Remote gateways' reads arrive as MetaQuery values
// (meta-queries.ts) and run on the primary after a read-index confirmation.

import type { Env } from '../io/env.js';
import type { KvReader, KvStore } from '../io/kv-store.js';
import type { NodeAddress } from '../io/transport.js';
import { assert } from '../stdx/assert.js';
import { decodeRecord } from '../stdx/codec.js';
import { ReplicaDriver } from '../vsr/kv-driver.js';
import { ClientSessions } from './client-sessions.js';
import type { ReplicaTuning } from '../vsr/kv-driver.js';
import { bucketRange, garbageRange, objectRange, preparingRange } from './keys.js';
import { objectKeyName } from './keys.js';
import { decodeMetaQuery, runMetaQuery } from './meta-queries.js';
import type { MetaOp, MetaResult } from './ops.js';
import { groupSizeOf } from './ops.js';
import type { BucketRecord, GarbageRecord, VersionRecord } from './records.js';
import { MetaStateMachine, readBucket, readObject } from './state-machine.js';

export interface MetaServiceOptions {
  /** This replica's index in `addresses` (0 for a group of 1). */
  readonly replicaIndex?: number;
  /** Every replica's transport address (every index the group may grow to); one address is a group of 1. */
  readonly addresses?: readonly NodeAddress[];
  /** The group's size when it was created; all of `addresses` unless given. `set_group_size` changes it. */
  readonly initialReplicaCount?: number;
  /** This replica joins a group growing to include it (honoured on an empty store only). */
  readonly joining?: boolean;
  /** Ops in one prepare (one fsync). */
  readonly batchOpsMax?: number;
  /** Ops waiting for a client session; beyond this submit() refuses with `busy`. */
  readonly queueOpsMax?: number;
  /** Client sessions (ops in flight at once). */
  readonly sessionsMax?: number;
  readonly tickMs?: number;
  /** Log entries kept behind the checkpoint for lagging replicas. */
  readonly logRetainOps?: number;
  /** This replica replaces one whose disk was lost (honoured on an empty store only). */
  readonly replacement?: boolean;
  /** Serve remote clients on the transport even as a group of 1 (a cluster with one metadata replica). */
  readonly listenAlone?: boolean;
  /** A backup's turns commit on the event loop (see ReplicaDriverOptions.syncBackupTurns): for a replica with its process to itself. */
  readonly syncBackupTurns?: boolean;
}

export { MetaBusyError } from './client-sessions.js';

export class MetaService {
  private readonly sessions: ClientSessions;

  private constructor(
    env: Env,
    private readonly kv: KvStore,
    private readonly driver: ReplicaDriver<MetaOp, MetaResult>,
    options: MetaServiceOptions,
  ) {
    this.sessions = new ClientSessions(env.random, options.sessionsMax ?? 1024, options.queueOpsMax ?? 16384, (clientId, requestNumber, op) =>
      this.driver.submit(clientId, requestNumber, op),
    );
  }

  /** Opens this replica from what `kv` holds (a fresh group when empty). */
  static async open(env: Env, kv: KvStore, options: MetaServiceOptions = {}): Promise<MetaService> {
    const stateMachine = new MetaStateMachine();
    const sessionsMax = options.sessionsMax ?? 1024;
    const batchOpsMax = options.batchOpsMax ?? 1024;
    const tuning: ReplicaTuning<MetaOp, MetaResult> = {
      batchOpsMax,
      pipelineOpsMax: Math.max(4 * batchOpsMax, sessionsMax),
      requestQueueMax: Math.max(sessionsMax, batchOpsMax),
      clientsMax: 16 * sessionsMax,
      logRetainOps: options.logRetainOps ?? 10_000,
      compactOpsMin: 1024,
      logOpsMax: 1_000_000,
    };
    const driver = await ReplicaDriver.open<MetaOp, MetaResult>({
      env,
      kv,
      stateMachine: { apply: (transaction, op, opNumber, timestampMs) => stateMachine.apply(transaction, { op, opNumber, timestampMs }) },
      replicaIndex: options.replicaIndex ?? 0,
      addresses: options.addresses ?? ['meta-0'],
      // Remote gateways' reads (gateway/remote-meta-client.ts), answered once this primary confirms it leads.
      query: (reader, query) => runMetaQuery(reader, decodeMetaQuery(query)),
      ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
      ...(options.replacement === true ? { replacement: true } : {}),
      ...(options.joining === true ? { joining: true } : {}),
      ...(options.initialReplicaCount === undefined ? {} : { initialReplicaCount: options.initialReplicaCount }),
      reconfiguration: groupSizeOf,
      ...(options.listenAlone === true ? { listenAlone: true } : {}),
      ...(options.syncBackupTurns === true ? { syncBackupTurns: true } : {}),
      replica: tuning,
    });
    if (driver.replica.replicaCount === 1 && driver.replica.status !== 'retired' && options.joining !== true) {
      // A group of 1 that stopped mid view change finishes it on its first
      // ticks; take ops only once it is the primary of a normal view.
      const deadlineMs = env.clock.monotonicMs() + 10_000;
      while (driver.replica.status !== 'normal') {
        assert(env.clock.monotonicMs() < deadlineMs, 'a group of 1 did not become primary within 10 s');
        await env.clock.sleep(options.tickMs ?? 10);
      }
    }
    return new MetaService(env, kv, driver, options);
  }

  /** Replicates and applies `op`; resolves with its result once it is committed and durable. */
  submit(op: MetaOp): Promise<MetaResult> {
    const failure = this.driver.failed;
    if (failure !== undefined) return Promise.reject(failure);
    return this.sessions.submit(op);
  }

  /** Resolves when no replica turn is running (for orderly shutdown and tests). */
  async drain(): Promise<void> {
    await this.driver.drain();
  }

  async close(): Promise<void> {
    this.sessions.rejectQueued(new Error('metadata service closed'));
    await this.driver.close();
  }

  /** The op number of the last committed (and applied) op. */
  get appliedOpNumber(): number {
    return this.driver.replica.commitNumber;
  }

  /** This replica's role in its group: status, epoch and size, view, primary, commit point. */
  get replicaStatus(): ReturnType<ReplicaDriver<MetaOp, MetaResult>['status']> {
    return this.driver.status();
  }

  /** KvStore transactions run by the replica so far (each one fsync). */
  get turns(): number {
    return this.driver.turns;
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
