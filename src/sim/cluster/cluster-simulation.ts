// The whole-cluster simulation's world: the real production roles on
// simulated I/O, all on one event queue and one seeded PRNG. The seed picks
// the shape:
//   meta-G-R    MetaService replicas, 3 per metadata group, 1 or 2 groups
//               (VSR on a MemoryKvStore each; the store is the replica's
//               disk: a transaction is durable and atomic); buckets spread
//               over the groups through the cluster map's partition table
//   blob-0…6    BlobService + FragmentStore on a SimDisk each, one or two
//               drives per node, over three zones; placement is per node
//               (4+2 over 7 nodes: one shard of a part per node)
//   gw-0…1      Gateway + S3Api over a PartitionedMetaClient (one
//               RemoteMetaClient per group) and a RemoteBlobClient, erasure
//               4+2 placed over the cluster map's layout; a gateway reads the
//               map from the root group at start (the first one installs it)
//               and follows its epochs, as process/cluster-node.ts does;
//               gw-0 also runs, per group, the janitor, GC, healer and
//               rebalancer (workers/group-workers.ts, the wiring the real node
//               uses) on short timers
//   admin       changes the cluster map as `tessera cluster drive` does: a
//               drive marked draining, a dead node's drives marked failed
// wired the way process/cluster-node.ts wires a real node, with a SimClock,
// a SimTransport and a SimDisk in each node's Env instead of timers, TCP and
// files. A crash ends a node's life (its timers, replies and disk operations
// are dropped; a blob node's disk loses what was not synced); a restart
// builds the role again from what its disk (or store) kept. A blob node
// killed for good never restarts.
//
// The world runs one event at a time: `runUntil` takes the next event off
// the queue, runs it, then lets every promise it resolved run to completion
// (a setImmediate, here in the harness only) before the next one. Nothing in
// the world does real I/O, so the order of everything is the seed's.

import { BlobService } from '../../blob/blob-service.js';
import { FragmentStore } from '../../blob/fragment-store.js';
import type { BlobClient, MetaClient } from '../../gateway/clients.js';
import { Gateway } from '../../gateway/gateway.js';
import { connectPartitioned } from '../../gateway/partitioned-meta-client.js';
import type { PartitionedMetaClient } from '../../gateway/partitioned-meta-client.js';
import { RemoteBlobClient } from '../../gateway/remote-blob-client.js';
import type { SweepBlobClient } from '../../workers/cluster-orphan-sweep.js';
import { RemoteMetaClient } from '../../gateway/remote-meta-client.js';
import type { Env } from '../../io/env.js';
import { noFaults } from '../../io/env.js';
import { silentLogger } from '../../io/logger.js';
import type { Logger } from '../../io/logger.js';
import { MemoryKvStore } from '../../io/memory-kv-store.js';
import { MetaService } from '../../meta/meta-service.js';
import { balancedPartitionTable, groupOfBucket, partitionSlotsDefault } from '../../meta/partition-table.js';
import type { ClusterMapRecord, VersionRecord } from '../../meta/records.js';
import { planPlacement } from '../../placement/domain-placement.js';
import type { ClusterLayout, DriveState } from '../../placement/layout.js';
import { S3Api } from '../../s3/s3-api.js';
import { makeUser, UserDirectory } from '../../s3/users.js';
import { AssertionError, assert } from '../../stdx/assert.js';
import { startGroupWorkers, startOrphanSweep, workerHooks } from '../../workers/group-workers.js';
import type { GroupWorkers } from '../../workers/group-workers.js';
import { EventQueue } from '../event-queue.js';
import { Prng } from '../prng.js';
import { TraceHash } from '../trace-hash.js';
import { Incarnation } from './incarnation.js';
import { holdNativeCalls, settleNativeCalls, simulationLoop } from './native-erasure.js';
import { SimClock } from './sim-clock.js';
import { SimDisk } from './sim-disk.js';
import { SimNetwork } from './sim-transport.js';

/** Bugs planted on purpose, to show the checkers catch them (tests only). */
export type PlantedBug =
  /** The gateway caches object lookups and never invalidates them: reads go stale. */
  | 'stale_read_cache'
  /** GC never deletes: every overwritten or deleted object's fragments leak. */
  | 'gc_never_deletes'
  /** The rebalancer never runs: a draining drive keeps its shards, a failed node's shards are never rebuilt. */
  | 'no_rebalancer';

export interface ClusterOptions {
  readonly seed: number;
  readonly gatewayCount?: number;
  /** Metadata groups (1 or 2); the seed picks when not given. */
  readonly metaGroupCount?: number;
  readonly plantedBug?: PlantedBug;
  /** Where production code logs (silent unless given: for debugging one seed). */
  readonly logger?: Logger;
}

/** Tunings that keep simulated runs short: production defaults scaled down, with the same ratios. */
export const clusterTimings = {
  metaTickMs: 10,
  metaDeadlineMs: 10_000,
  metaAttemptTimeoutMs: 1000,
  blobRequestTimeoutMs: 2000,
  blobWriterIdleTimeoutMs: 10_000,
  transportTimeoutMs: 5000,
  /** Longer than any write of a live gateway can take (its meta and blob deadlines bound it). */
  janitorPreparingTimeoutMs: 60_000,
  janitorUploadTimeoutMs: 60_000,
  gcGraceMs: 5000,
  workerIntervalMs: 1000,
  /** The orphan sweep: its own schedule, a grace no shorter than GC's (as the node config requires). */
  orphanSweepIntervalMs: 3000,
  orphanGraceMs: 8000,
  /** How often a gateway reads the cluster map for a new epoch (cluster-node.ts: 2 s). */
  followMapMs: 2000,
  /** A start-up or admin step that found the root group unreachable tries again after this. */
  retryMs: 500,
} as const;

export const clusterScheme = { k: 4, m: 2 } as const;
export const blockSizeBytes = 16 * 1024;
export const inlineBytesMax = 4096;
export const partBytesMin = 8 * 1024;
export const credentials = { accessKeyId: 'SIMROOTACCESSKEY0001', secretAccessKey: 'sim-root-secret-key-0000000000000000000', region: 'us-east-1' } as const;

const replicasPerGroup = 3;
const blobCount = 7;
const zones = ['a', 'b', 'c'] as const;
const eventsMax = 4_000_000;
const epochMs = 1_800_000_000_000;
/** Buckets the clients use, spread over the metadata groups (each group holds at least one). */
const bucketCount = 2;

export class ClusterFailure extends Error {
  override readonly name = 'ClusterFailure';
}

interface NodeBase {
  readonly name: string;
  life: Incarnation;
  /** Up: started and not crashed since (a node starting is not up yet). */
  up: boolean;
  starting: boolean;
}

interface MetaNode extends NodeBase {
  /** Position in `metas`. */
  readonly index: number;
  readonly group: number;
  readonly replicaIndex: number;
  readonly kv: MemoryKvStore;
  service: MetaService | undefined;
}

interface BlobNode extends NodeBase {
  readonly index: number;
  readonly disk: SimDisk;
  readonly drives: readonly { readonly id: number; readonly path: string }[];
  /** Killed for good: never restarts (its drives are marked failed in the map). */
  dead: boolean;
  store: FragmentStore | undefined;
  service: BlobService | undefined;
}

interface GatewayNode extends NodeBase {
  readonly index: number;
  readonly workers: boolean;
  api: S3Api | undefined;
  meta: PartitionedMetaClient<RemoteMetaClient> | undefined;
  /** The epoch of the cluster map this gateway follows. */
  mapEpoch: number;
  groupWorkers: GroupWorkers[];
}

/** The layout a cluster map describes (as process/cluster-config.ts's layoutDrives reads it). */
export function layoutOfMap(map: ClusterMapRecord): ClusterLayout {
  return { level: map.level, drives: map.nodes.flatMap((node) => node.drives.map((drive) => ({ ...drive, zone: node.zone, rack: node.rack, node: node.name }))) };
}

export class ClusterSimulation {
  readonly queue = new EventQueue(eventsMax);
  readonly prng: Prng;
  readonly trace = new TraceHash();
  readonly network: SimNetwork;
  readonly metas: MetaNode[] = [];
  readonly blobs: BlobNode[] = [];
  readonly gateways: GatewayNode[] = [];
  readonly groupCount: number;
  /** The buckets the clients use, by name; every group holds at least one. */
  readonly buckets: readonly string[];
  /** The map as installed at first boot (epoch 1). */
  readonly initialMap: ClusterMapRecord;
  /** Drive states the admin has set (and had committed): what the newest map says. */
  readonly driveStates = new Map<number, DriveState>();
  /** Drive states with the admin's changes not yet committed too: what the next maps will say. */
  private readonly plannedStates = new Map<number, DriveState>();
  /** The newest map epoch the admin committed. */
  mapEpoch = 1;
  /** Map changes the admin has yet to commit. */
  adminBusy = 0;
  /** The first bug seen in the code under test (an assertion, a node that failed to start); the run stops at it. */
  failure: Error | undefined;
  /** One line per fault, for the report. */
  readonly faultLog: string[] = [];
  eventsRun = 0;
  private readonly logger: Logger;
  private readonly groupAddresses: string[][];
  private readonly adminLife = new Incarnation('admin', 1);
  private readonly adminMeta: RemoteMetaClient;
  private readonly adminEnv: Env;

  constructor(readonly options: ClusterOptions) {
    holdNativeCalls();
    this.prng = new Prng(options.seed);
    this.logger = options.logger ?? silentLogger;
    this.trace.stampWith(() => this.queue.nowMs);
    this.network = new SimNetwork(this.queue, this.prng.fork(), this.trace, clusterTimings.transportTimeoutMs);
    this.groupCount = options.metaGroupCount ?? (this.prng.chance(0.5) ? 2 : 1);
    assert(this.groupCount >= 1 && this.groupCount <= 2, `${this.groupCount} metadata groups`);
    this.groupAddresses = Array.from({ length: this.groupCount }, (_, group) => Array.from({ length: replicasPerGroup }, (_, replica) => `meta-${group}-${replica}`));
    for (const [group, addresses] of this.groupAddresses.entries()) {
      for (const [replicaIndex, name] of addresses.entries()) {
        this.metas.push({ name, index: this.metas.length, group, replicaIndex, life: new Incarnation(name, 0), up: false, starting: false, kv: new MemoryKvStore(), service: undefined });
      }
    }
    let nextDriveId = 1;
    for (let index = 0; index < blobCount; index++) {
      const name = `blob-${index}`;
      const disk = new SimDisk(this.queue, this.prng.fork(), { latencyMsMax: 2, capacityBytes: 1 << 40, epochMs });
      const driveCount = this.prng.chance(0.4) ? 2 : 1;
      const drives = Array.from({ length: driveCount }, () => {
        const id = nextDriveId++;
        return { id, path: `/drives/drive-${id}` };
      });
      for (const drive of drives) {
        disk.makeDurableDirectory(drive.path);
        this.driveStates.set(drive.id, 'active');
        this.plannedStates.set(drive.id, 'active');
      }
      this.blobs.push({ name, index, life: new Incarnation(name, 0), up: false, starting: false, disk, drives, dead: false, store: undefined, service: undefined });
    }
    const partitions = balancedPartitionTable(partitionSlotsDefault, this.groupCount);
    this.buckets = pickBuckets(this.groupCount, (bucket) => groupOfBucket(partitions, bucket));
    this.initialMap = {
      epoch: 1,
      scheme: clusterScheme,
      level: 'node',
      nodes: this.blobs.map((blob) => ({
        name: blob.name,
        zone: zones[blob.index % zones.length]!,
        rack: `r${blob.index}`,
        blob: blob.name,
        drives: blob.drives.map((drive) => ({ id: drive.id, weight: 1, state: 'active' as const })),
      })),
      metaGroups: this.groupAddresses.map((replicas, group) => ({ group, replicas })),
      partitions,
    };
    const gatewayCount = options.gatewayCount ?? 2;
    assert(gatewayCount >= 1 && gatewayCount <= 4, `${gatewayCount} gateways`);
    for (let index = 0; index < gatewayCount; index++) {
      const name = `gw-${index}`;
      this.gateways.push({ name, index, workers: index === 0, life: new Incarnation(name, 0), up: false, starting: false, api: undefined, meta: undefined, mapEpoch: 0, groupWorkers: [] });
    }
    this.adminEnv = this.envFor(this.adminLife, undefined);
    this.adminMeta = new RemoteMetaClient(this.adminEnv, {
      localAddress: 'admin',
      replicas: this.groupAddresses[0]!,
      deadlineMs: clusterTimings.metaDeadlineMs,
      attemptTimeoutMs: clusterTimings.metaAttemptTimeoutMs,
    });
  }

  get nowMs(): number {
    return this.queue.nowMs;
  }

  /** The seed's shape, for the report. */
  describeShape(): string {
    const drives = this.blobs.map((blob) => blob.drives.length).join('');
    return `${this.groupCount} metadata group${this.groupCount === 1 ? '' : 's'}, buckets ${this.buckets.join(',')}, drives per blob node ${drives}`;
  }

  /** The first failure recorded (a method: it changes while the world runs). */
  firstFailure(): Error | undefined {
    return this.failure;
  }

  /** Records the first bug; the run loop stops at it. */
  fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
  }

  /** Ends the admin's life (after the run: nothing it waits on runs again). */
  endAdmin(): void {
    this.adminLife.end();
  }

  // -------------------------------------------------------------------------
  // The loop.

  /** Runs events until simulated time `endMs` (or a failure), draining the microtasks each one starts. */
  async runUntil(endMs: number): Promise<void> {
    await this.runUntilCondition(() => false, Math.max(0, endMs - this.nowMs));
    if (this.failure === undefined) this.queue.runUntil(endMs);
  }

  /** Runs until `condition` holds (checked after every event) or `timeoutMs` passes; returns whether it held. */
  async runUntilCondition(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const endMs = this.nowMs + timeoutMs;
    simulationLoop(true);
    try {
      while (!condition()) {
        if (this.failure !== undefined) return false;
        const next = this.queue.nextEventMs;
        if (next === undefined || next > endMs) {
          this.queue.runUntil(endMs);
          return condition();
        }
        this.queue.runNext();
        this.eventsRun++;
        await drainMicrotasks();
        await settleNativeCalls(drainMicrotasks);
      }
      return true;
    } finally {
      simulationLoop(false);
    }
  }

  /** An Env for one life of a node. */
  private envFor(life: Incarnation, disk: SimDisk | undefined): Env {
    return {
      clock: new SimClock(this.queue, life, epochMs),
      random: this.prng.fork(),
      disk: (disk ?? new SimDisk(this.queue, this.prng.fork(), { latencyMsMax: 0, capacityBytes: 0 })).view(life),
      transport: this.network.endpoint(life),
      faults: noFaults,
      logger: this.logger,
    };
  }

  /** A node's start-up runs on the queue; its failure is a bug (nothing in the sim should stop a node from starting). */
  private launch(node: NodeBase, start: () => Promise<void>): void {
    assert(!node.up && !node.starting, `${node.name} started while up or starting`);
    node.life = new Incarnation(node.name, node.life.number + 1);
    node.starting = true;
    const life = node.life;
    this.trace.mix('start', this.nowMs, node.name, life.number);
    start().then(
      () => {
        if (!life.alive) return;
        node.starting = false;
        node.up = true;
      },
      (error: unknown) => {
        if (life.alive) this.fail(new ClusterFailure(`${node.name} failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
      },
    );
  }

  private crashNode(node: NodeBase): void {
    this.trace.mix('crash', this.nowMs, node.name, node.life.number);
    node.life.end();
    this.network.dropListeners(node.life);
    node.up = false;
    node.starting = false;
  }

  /**
   * Runs `attempt` until it answers, every `retryMs` on `env`'s clock: a
   * metadata group that cannot answer now (a partition, a view change) is
   * not a bug; an AssertionError is, and is thrown.
   */
  private async untilAnswered<T>(env: Env, attempt: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof AssertionError) throw error;
        await env.clock.sleep(clusterTimings.retryMs);
      }
    }
  }

  // -------------------------------------------------------------------------
  // Roles.

  startMeta(index: number): void {
    const node = this.metas[index]!;
    this.launch(node, async () => {
      const env = this.envFor(node.life, undefined);
      node.service = await MetaService.open(env, node.kv, {
        replicaIndex: node.replicaIndex,
        addresses: this.groupAddresses[node.group]!,
        tickMs: clusterTimings.metaTickMs,
        // Both ways of committing a backup's turn run in every seed, on different replicas (no draw from the PRNG).
        syncBackupTurns: (this.options.seed + node.replicaIndex) % 2 === 1,
      });
    });
  }

  crashMeta(index: number): void {
    const node = this.metas[index]!;
    this.crashNode(node);
    node.service = undefined;
  }

  startBlob(index: number): void {
    const node = this.blobs[index]!;
    assert(!node.dead, `${node.name} was killed for good`);
    this.launch(node, async () => {
      const env = this.envFor(node.life, node.disk);
      const store = new FragmentStore({ disk: env.disk, drives: node.drives, logger: this.logger });
      await store.init();
      const service = new BlobService(env, store, { address: node.name, writerIdleTimeoutMs: clusterTimings.blobWriterIdleTimeoutMs });
      service.start();
      node.store = store;
      node.service = service;
    });
  }

  crashBlob(index: number, tornWriteProbability: number): void {
    const node = this.blobs[index]!;
    this.crashNode(node);
    node.disk.crash(tornWriteProbability);
    node.store = undefined;
    node.service = undefined;
  }

  /** Kills a blob node for good (it never restarts) and has the admin mark its drives failed after `markAfterMs`. */
  killBlob(index: number, tornWriteProbability: number, markAfterMs: number): void {
    const node = this.blobs[index]!;
    this.crashBlob(index, tornWriteProbability);
    node.dead = true;
    this.changeDriveStates(new Map(node.drives.map((drive) => [drive.id, 'failed' as const])), markAfterMs);
  }

  /** Whether the layout with `changes` applied can still place the scheme (`tessera cluster drive` refuses otherwise). */
  placeableWith(changes: ReadonlyMap<number, DriveState>): boolean {
    const states = new Map([...this.plannedStates, ...changes]);
    return planPlacement(this.layoutWith(states), clusterScheme).status === 'ok';
  }

  /** A drive's state once the admin's changes asked for so far are committed. */
  plannedState(driveId: number): DriveState {
    const state = this.plannedStates.get(driveId);
    assert(state !== undefined, `drive ${driveId} is in the map`);
    return state;
  }

  private layoutWith(states: ReadonlyMap<number, DriveState>): ClusterLayout {
    return layoutOfMap({
      ...this.initialMap,
      nodes: this.initialMap.nodes.map((node) => ({ ...node, drives: node.drives.map((drive) => ({ ...drive, state: states.get(drive.id) ?? drive.state })) })),
    });
  }

  /**
   * The admin's map change, as `tessera cluster drive` makes it: read the
   * map from the root group, set the drives' states in the next epoch, check
   * the scheme can still be placed, submit `set_cluster_map`; retried until
   * the root group answers.
   */
  changeDriveStates(changes: ReadonlyMap<number, DriveState>, afterMs: number): void {
    assert(this.placeableWith(changes), 'the sim only asks for map changes placement allows');
    for (const [drive, state] of changes) this.plannedStates.set(drive, state);
    this.adminBusy++;
    const env = this.adminEnv;
    const change = async (): Promise<void> => {
      await env.clock.sleep(afterMs);
      for (;;) {
        const current = await this.untilAnswered(env, () => this.adminMeta.getClusterMap());
        if (current === undefined) {
          await env.clock.sleep(clusterTimings.retryMs);
          continue;
        }
        const nodes = current.nodes.map((node) => ({ ...node, drives: node.drives.map((drive) => ({ ...drive, state: changes.get(drive.id) ?? drive.state })) }));
        const next: ClusterMapRecord = { ...current, epoch: current.epoch + 1, nodes };
        assert(planPlacement(layoutOfMap(next), current.scheme).status === 'ok', 'the map change leaves the scheme placeable');
        const result = await this.untilAnswered(env, () => this.adminMeta.submit({ type: 'set_cluster_map', map: next }));
        // stale_cluster_map: an earlier attempt whose answer was lost committed it (the next read shows the change), or another change did (try again).
        const installed = await this.untilAnswered(env, () => this.adminMeta.getClusterMap());
        assert(installed !== undefined && installed.epoch >= next.epoch, `the map of epoch ${next.epoch} or a newer one is installed (${result.status})`);
        if (!installed.nodes.every((node) => node.drives.every((drive) => drive.state === (changes.get(drive.id) ?? drive.state)))) continue;
        for (const node of installed.nodes) for (const drive of node.drives) this.driveStates.set(drive.id, drive.state);
        this.mapEpoch = installed.epoch;
        this.trace.mix('map', this.nowMs, installed.epoch);
        this.faultLog.push(`t=${this.nowMs} cluster map epoch ${installed.epoch}: ${[...changes].map(([drive, state]) => `drive ${drive} ${state}`).join(', ')}`);
        return;
      }
    };
    change().then(
      () => {
        this.adminBusy--;
      },
      (error: unknown) => {
        if (this.adminLife.alive) this.fail(error);
      },
    );
  }

  startGateway(index: number): void {
    const node = this.gateways[index]!;
    this.launch(node, () => this.buildGateway(node));
  }

  crashGateway(index: number): void {
    const node = this.gateways[index]!;
    this.crashNode(node);
    node.api = undefined;
    node.meta = undefined;
    node.groupWorkers = [];
  }

  /** As process/cluster-node.ts builds a gateway: the map from the root group (installed by the first), then partitioned metadata, workers per group, and a follower of map epochs. */
  private async buildGateway(node: GatewayNode): Promise<void> {
    const env = this.envFor(node.life, undefined);
    const localAddress = node.name;
    const metaOptions = { localAddress, deadlineMs: clusterTimings.metaDeadlineMs, attemptTimeoutMs: clusterTimings.metaAttemptTimeoutMs };
    const root = new RemoteMetaClient(env, { ...metaOptions, replicas: this.groupAddresses[0]! });
    let map = await this.untilAnswered(env, () => root.getClusterMap());
    if (map === undefined) {
      await this.untilAnswered(env, () => root.submit({ type: 'set_cluster_map', map: this.initialMap }));
      map = await this.untilAnswered(env, () => root.getClusterMap());
      assert(map !== undefined, 'the cluster map was installed');
    }
    const partitioned = connectPartitioned(env, map, root, metaOptions);
    const meta: MetaClient = this.options.plantedBug === 'stale_read_cache' ? staleReadCache(partitioned) : partitioned;
    const addressesOf = (current: ClusterMapRecord): Map<number, string> =>
      new Map(current.nodes.flatMap((entry) => (entry.blob === undefined ? [] : entry.drives.map((drive) => [drive.id, entry.blob!] as const))));
    let blobAddress = addressesOf(map);
    const blob = new RemoteBlobClient(env, {
      localAddress,
      requestTimeoutMs: clusterTimings.blobRequestTimeoutMs,
      addressOf: (driveId) => {
        const address = blobAddress.get(driveId);
        if (address === undefined) throw new Error(`drive ${driveId} is not in the cluster map`);
        return address;
      },
    });
    const groupWorkers: GroupWorkers[] = [];
    let currentLayout = layoutOfMap(map);
    const gateway = new Gateway(
      env,
      meta,
      blob,
      {
        scheme: clusterScheme,
        blockSizeBytes,
        inlineBytesMax,
        objectBytesMax: 64 * 1024 * 1024,
        drives: currentLayout.drives.map((drive) => ({ id: drive.id, weight: drive.weight, state: 'active' as const })),
        layout: currentLayout,
        hedgeAfterMs: 250,
      },
      workerHooks(groupWorkers, (bucket) => partitioned.groupOf(bucket), this.logger),
    );
    if (node.workers) {
      const collectorBlob: BlobClient & SweepBlobClient = this.options.plantedBug === 'gc_never_deletes' ? gcNeverDeletes(blob) : blob;
      for (let group = 0; group < partitioned.groupCount; group++) {
        const workers = startGroupWorkers(env, partitioned.group(group), collectorBlob, gateway, {
          workerIntervalMs: clusterTimings.workerIntervalMs,
          gcGraceMs: clusterTimings.gcGraceMs,
          layout: () => currentLayout,
          janitorPreparingTimeoutMs: clusterTimings.janitorPreparingTimeoutMs,
          janitorUploadTimeoutMs: clusterTimings.janitorUploadTimeoutMs,
        });
        if (this.options.plantedBug === 'no_rebalancer') workers.rebalancer.runPass = () => Promise.resolve({ pages: 0, candidates: 0, repaired: 0, stale: 0, failed: 0, pending: 0, cycleDone: true, reportsRepaired: 0 });
        groupWorkers.push(workers);
      }
      // Runs during the faults too: it must never take a fragment that is still being recorded.
      const groups = Array.from({ length: partitioned.groupCount }, (_, group) => partitioned.group(group));
      startOrphanSweep(env, groups, collectorBlob, groupWorkers, {
        intervalMs: clusterTimings.orphanSweepIntervalMs,
        graceMs: clusterTimings.orphanGraceMs,
        layout: () => currentLayout,
      });
    }
    node.mapEpoch = map.epoch;
    // Follows the map's epochs as cluster-node.ts does (its timers die with this life).
    const followMap = (): void => {
      env.clock.setTimer(clusterTimings.followMapMs, () => {
        void partitioned
          .getClusterMap()
          .then((next) => {
            if (next === undefined || next.epoch <= node.mapEpoch) return;
            const nextLayout = layoutOfMap(next);
            gateway.useLayout(nextLayout);
            currentLayout = nextLayout;
            blobAddress = addressesOf(next);
            node.mapEpoch = next.epoch;
            this.trace.mix('follow', this.nowMs, node.name, next.epoch);
          })
          .catch((error: unknown) => {
            if (error instanceof AssertionError) this.fail(error);
          })
          .finally(followMap);
      });
    };
    followMap();
    const users = new UserDirectory([makeUser(credentials.accessKeyId, credentials.secretAccessKey, 'root')]);
    node.meta = partitioned;
    node.groupWorkers = groupWorkers;
    node.api = new S3Api(
      { env, meta, gateway, users, region: credentials.region, objectBytesMax: 64 * 1024 * 1024, partBytesMin, rootAccessKeyId: credentials.accessKeyId },
      { virtualHostSuffixes: [] },
    );
  }

  /** Starts every node (the first boot); resolves once all are up. */
  async boot(): Promise<void> {
    for (let index = 0; index < this.metas.length; index++) this.startMeta(index);
    for (let index = 0; index < this.blobs.length; index++) this.startBlob(index);
    for (let index = 0; index < this.gateways.length; index++) this.startGateway(index);
    const up = await this.runUntilCondition(() => this.allUp(), 20_000);
    if (!up && this.failure === undefined) this.fail(new ClusterFailure('the cluster did not boot within 20 s'));
  }

  /** Every node up, except blob nodes killed for good. */
  allUp(): boolean {
    return [...this.metas, ...this.blobs.filter((node) => !node.dead), ...this.gateways].every((node) => node.up);
  }

  /** Every gateway follows the newest map the admin committed, and the admin has nothing left to do. */
  mapSettled(): boolean {
    return this.adminBusy === 0 && this.gateways.every((node) => node.up && node.mapEpoch === this.mapEpoch);
  }

  /** The S3 entry point of a gateway that is up. */
  api(index: number): S3Api | undefined {
    const node = this.gateways[index];
    return node?.up === true ? node.api : undefined;
  }

  // -------------------------------------------------------------------------
  // What checkers read directly.

  /** The replica of `group` that has applied the most ops (what the group has committed, once it is quiet). */
  newestMeta(group: number): MetaService | undefined {
    let best: MetaService | undefined;
    for (const node of this.metas) {
      const service = node.up && node.group === group ? node.service : undefined;
      if (service !== undefined && (best === undefined || service.appliedOpNumber > best.appliedOpNumber)) best = service;
    }
    return best;
  }

  /** The layout of the newest map the admin committed. */
  currentLayout(): ClusterLayout {
    return this.layoutWith(this.driveStates);
  }

  /** Every fragment file and temp file on every drive of every blob node not killed, as paths. */
  driveFiles(): { node: string; driveId: number; fragments: string[]; temporary: string[] }[] {
    return this.blobs
      .filter((blob) => !blob.dead)
      .flatMap((blob) =>
        blob.drives.map((drive) => ({
          node: blob.name,
          driveId: drive.id,
          fragments: blob.disk.filesUnder(`${drive.path}/fragments`),
          temporary: blob.disk.filesUnder(`${drive.path}/tmp`),
        })),
      );
  }
}

/** `bucketCount` bucket names such that every group holds at least one (the partition table decides, not the sim). */
function pickBuckets(groupCount: number, groupOf: (bucket: string) => number): string[] {
  const chosen: string[] = [];
  for (let candidate = 0; chosen.length < bucketCount; candidate++) {
    assert(candidate < 1000, 'bucket names cover every group');
    const name = `sim-${candidate}`;
    const group = groupOf(name);
    const groupsLeft = new Set(Array.from({ length: groupCount }, (_, index) => index).filter((index) => !chosen.some((bucket) => groupOf(bucket) === index)));
    if (groupsLeft.has(group) || bucketCount - chosen.length > groupsLeft.size) chosen.push(name);
  }
  return chosen;
}

function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Planted bug: object lookups are cached per key and never invalidated, as a
 * gateway read cache without invalidation would be. Everything else passes
 * through.
 */
function staleReadCache(meta: MetaClient): MetaClient {
  const cache = new Map<string, Promise<VersionRecord | undefined>>();
  const getObject = (bucket: string, key: string): Promise<VersionRecord | undefined> => {
    const name = `${bucket}/${key}`;
    let found = cache.get(name);
    if (found === undefined) {
      found = meta.getObject(bucket, key);
      cache.set(name, found);
      found.catch(() => cache.delete(name));
    }
    return found;
  };
  return new Proxy(meta, {
    get(target, property, receiver) {
      if (property === 'getObject') return getObject;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Planted bug: deletes report success and delete nothing (GC then drops its
 * records, and the orphan sweep believes it took what it found: the fragments leak).
 */
function gcNeverDeletes(blob: RemoteBlobClient): BlobClient & SweepBlobClient {
  return {
    createWriter: (driveId, fragmentId, blockSizeBytes) => blob.createWriter(driveId, fragmentId, blockSizeBytes),
    readBlocks: (driveId, fragmentId, firstBlock, blockCount) => blob.readBlocks(driveId, fragmentId, firstBlock, blockCount),
    delete: () => Promise.resolve(true),
    list: (driveId) => blob.list(driveId),
    listPage: (driveId, after, limit) => blob.listPage(driveId, after, limit),
    statFragment: (driveId, fragmentId) => blob.statFragment(driveId, fragmentId),
  };
}
