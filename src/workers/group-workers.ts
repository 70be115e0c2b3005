// The background workers of a cluster gateway, once per metadata group: the
// janitor, GC, healer and rebalancer of one group run over that group's
// client (each finds its work in that group's metadata only), on one
// schedule. A gateway with `workers` starts one set per group
// (process/cluster-node.ts); the whole-cluster simulation starts the same
// sets over simulated I/O, so both run this one wiring. `workerHooks` routes
// the gateway's events to them: garbage and ended reads to every group's GC
// (the hook does not say which group), a failed shard read to the healer of
// the bucket's group. `startOrphanSweep` runs the one orphan sweep of a
// gateway with workers, over every drive and every group.

import type { BlobClient } from '../gateway/clients.js';
import type { Gateway, GatewayHooks } from '../gateway/gateway.js';
import type { QueryMetaClient } from '../gateway/query-meta-client.js';
import type { Env } from '../io/env.js';
import type { Logger } from '../io/logger.js';
import type { ClusterLayout } from '../placement/layout.js';
import { GarbageCollector } from './garbage-collector.js';
import { Healer } from './healer.js';
import { Janitor } from './janitor.js';
import { Rebalancer } from './rebalancer.js';
import { scheduleBackgroundPasses, schedulePass } from './background-passes.js';
import { ClusterOrphanSweep } from './cluster-orphan-sweep.js';
import type { ReferenceMetaClient, SweepBlobClient } from './cluster-orphan-sweep.js';

/** The background workers of one metadata group. */
export interface GroupWorkers {
  readonly gc: GarbageCollector;
  readonly healer: Healer;
  readonly rebalancer: Rebalancer;
  /** Stops the group's schedule. */
  stop(): void;
}

export interface GroupWorkerOptions {
  readonly workerIntervalMs: number;
  readonly gcGraceMs: number;
  /** The layout of the newest cluster map the gateway follows. */
  readonly layout: () => ClusterLayout;
  /** PREPARING versions older than this are aborted. Default 1 h. */
  readonly janitorPreparingTimeoutMs?: number;
  /** Multipart uploads older than this are aborted. Default: the janitor's (7 days). */
  readonly janitorUploadTimeoutMs?: number;
}

const janitorPreparingTimeoutMsDefault = 60 * 60 * 1000;

/** The janitor, GC, healer and rebalancer of one metadata group, over that group's client, on one schedule. */
export function startGroupWorkers(env: Env, meta: QueryMetaClient, blob: BlobClient, gateway: Gateway, options: GroupWorkerOptions): GroupWorkers {
  const gc = new GarbageCollector(env, meta, blob, {
    graceMs: options.gcGraceMs,
    batchMax: 256,
    isBeingRead: (versionId) => gateway.isBeingRead(versionId),
    isDriveFailed: (driveId) => options.layout().drives.some((drive) => drive.id === driveId && drive.state === 'failed'),
  });
  const healer = new Healer(env, meta, blob, {
    layout: options.layout,
    onGarbage: () => {
      gc.kick();
    },
  });
  const rebalancer = new Rebalancer(env, meta, healer, { layout: options.layout });
  const janitor = new Janitor(env, meta, options.janitorPreparingTimeoutMs ?? janitorPreparingTimeoutMsDefault, options.janitorUploadTimeoutMs);
  const stop = scheduleBackgroundPasses(env, janitor, gc, options.workerIntervalMs, rebalancer);
  return { gc, healer, rebalancer, stop };
}

/** The gateway hooks that feed the per-group workers (`workers[g]` is group g's; empty on a gateway without workers). */
export function workerHooks(workers: readonly GroupWorkers[], groupOf: (bucket: string) => number, logger: Logger): GatewayHooks {
  return {
    onGarbage: () => {
      for (const group of workers) group.gc.kick();
    },
    onReadEnded: (versionId) => {
      for (const group of workers) group.gc.readEnded(versionId);
    },
    onShardFailure: (failure) => {
      logger.log('warn', 'shard read failed (reported for healing)', { ...failure, error: String(failure.error) });
      workers[groupOf(failure.bucket)]?.healer.report(failure);
    },
  };
}

/**
 * The orphan sweep of a gateway with workers: every drive the newest map does
 * not mark failed (a failed node may be gone for good), every group asked,
 * this gateway's healers' repairs left alone. Returns the function that
 * stops its schedule.
 */
export function startOrphanSweep(
  env: Env,
  groups: readonly ReferenceMetaClient[],
  blob: SweepBlobClient,
  workers: readonly GroupWorkers[],
  options: { readonly intervalMs: number; readonly graceMs: number; readonly layout: () => ClusterLayout },
): () => void {
  const sweep = new ClusterOrphanSweep(env, groups, blob, {
    graceMs: options.graceMs,
    drives: () => options.layout().drives.filter((drive) => drive.state !== 'failed').map((drive) => drive.id),
    isRepairing: (versionId, partNumber) => workers.some((group) => group.healer.isRepairing(versionId, partNumber)),
  });
  return schedulePass(env, 'orphan sweep', options.intervalMs, () => sweep.runPass());
}
