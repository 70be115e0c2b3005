// The whole-cluster simulation's world: the real production roles on
// simulated I/O, all on one event queue and one seeded PRNG.
//   meta-0…2    MetaService replicas (VSR on a MemoryKvStore each; the store
//               is the replica's disk: a transaction is durable and atomic)
//   blob-0…5    BlobService + FragmentStore on a SimDisk each, one drive per
//               node, two nodes per zone over three zones
//   gw-0…1      Gateway + S3Api with RemoteMetaClient and RemoteBlobClient,
//               erasure 4+2 placed over the layout (one shard per node);
//               gw-0 also runs the janitor and GC on short timers
// wired the way process/cluster-node.ts wires a real node, with a SimClock,
// a SimTransport and a SimDisk in each node's Env instead of timers, TCP and
// files. A crash ends a node's life (its timers, replies and disk operations
// are dropped; a blob node's disk loses what was not synced); a restart
// builds the role again from what its disk (or store) kept.
//
// The world runs one event at a time: `runUntil` takes the next event off
// the queue, runs it, then lets every promise it resolved run to completion
// (a setImmediate, here in the harness only) before the next one. Nothing in
// the world does real I/O, so the order of everything is the seed's.

import { BlobService } from '../../blob/blob-service.js';
import { FragmentStore } from '../../blob/fragment-store.js';
import type { BlobClient, MetaClient } from '../../gateway/clients.js';
import { Gateway } from '../../gateway/gateway.js';
import { RemoteBlobClient } from '../../gateway/remote-blob-client.js';
import { RemoteMetaClient } from '../../gateway/remote-meta-client.js';
import type { Env } from '../../io/env.js';
import { noFaults } from '../../io/env.js';
import { silentLogger } from '../../io/logger.js';
import type { Logger } from '../../io/logger.js';
import { MemoryKvStore } from '../../io/memory-kv-store.js';
import { MetaService } from '../../meta/meta-service.js';
import type { VersionRecord } from '../../meta/records.js';
import type { LayoutDrive } from '../../placement/layout.js';
import { S3Api } from '../../s3/s3-api.js';
import { makeUser, UserDirectory } from '../../s3/users.js';
import { assert } from '../../stdx/assert.js';
import { GarbageCollector } from '../../workers/garbage-collector.js';
import { Janitor } from '../../workers/janitor.js';
import { scheduleBackgroundPasses } from '../../workers/background-passes.js';
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
  | 'gc_never_deletes';

export interface ClusterOptions {
  readonly seed: number;
  readonly gatewayCount?: number;
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
} as const;

export const clusterScheme = { k: 4, m: 2 } as const;
export const blockSizeBytes = 16 * 1024;
export const inlineBytesMax = 4096;
export const partBytesMin = 8 * 1024;
export const bucketName = 'sim';
export const credentials = { accessKeyId: 'SIMROOTACCESSKEY0001', secretAccessKey: 'sim-root-secret-key-0000000000000000000', region: 'us-east-1' } as const;

const metaCount = 3;
const blobCount = 6;
const zones = ['a', 'b', 'c'] as const;
const eventsMax = 4_000_000;
const epochMs = 1_800_000_000_000;

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
  readonly index: number;
  readonly kv: MemoryKvStore;
  service: MetaService | undefined;
}

interface BlobNode extends NodeBase {
  readonly index: number;
  readonly disk: SimDisk;
  readonly driveId: number;
  readonly drivePath: string;
  store: FragmentStore | undefined;
  service: BlobService | undefined;
}

interface GatewayNode extends NodeBase {
  readonly index: number;
  readonly workers: boolean;
  api: S3Api | undefined;
  meta: RemoteMetaClient | undefined;
  stopWorkers: (() => void) | undefined;
}

export class ClusterSimulation {
  readonly queue = new EventQueue(eventsMax);
  readonly prng: Prng;
  readonly trace = new TraceHash();
  readonly network: SimNetwork;
  readonly metas: MetaNode[] = [];
  readonly blobs: BlobNode[] = [];
  readonly gateways: GatewayNode[] = [];
  /** The first bug seen in the code under test (an assertion, a node that failed to start); the run stops at it. */
  failure: Error | undefined;
  /** One line per fault, for the report. */
  readonly faultLog: string[] = [];
  eventsRun = 0;
  private readonly logger: Logger;
  private readonly metaAddresses: string[];
  private readonly layout: LayoutDrive[];

  constructor(readonly options: ClusterOptions) {
    holdNativeCalls();
    this.prng = new Prng(options.seed);
    this.logger = options.logger ?? silentLogger;
    this.trace.stampWith(() => this.queue.nowMs);
    this.network = new SimNetwork(this.queue, this.prng.fork(), this.trace, clusterTimings.transportTimeoutMs);
    this.metaAddresses = Array.from({ length: metaCount }, (_, index) => `meta-${index}`);
    this.layout = Array.from({ length: blobCount }, (_, index) => ({
      id: index + 1,
      weight: 1,
      state: 'active' as const,
      zone: zones[index % zones.length]!,
      rack: `r${index}`,
      node: `blob-${index}`,
    }));
    for (let index = 0; index < metaCount; index++) {
      const name = `meta-${index}`;
      this.metas.push({ name, index, life: new Incarnation(name, 0), up: false, starting: false, kv: new MemoryKvStore(), service: undefined });
    }
    for (let index = 0; index < blobCount; index++) {
      const name = `blob-${index}`;
      const disk = new SimDisk(this.queue, this.prng.fork(), { latencyMsMax: 2, capacityBytes: 1 << 40 });
      const driveId = this.layout[index]!.id;
      const drivePath = `/drives/drive-${driveId}`;
      disk.makeDurableDirectory(drivePath);
      this.blobs.push({ name, index, life: new Incarnation(name, 0), up: false, starting: false, disk, driveId, drivePath, store: undefined, service: undefined });
    }
    const gatewayCount = options.gatewayCount ?? 2;
    assert(gatewayCount >= 1 && gatewayCount <= 4, `${gatewayCount} gateways`);
    for (let index = 0; index < gatewayCount; index++) {
      const name = `gw-${index}`;
      this.gateways.push({ name, index, workers: index === 0, life: new Incarnation(name, 0), up: false, starting: false, api: undefined, meta: undefined, stopWorkers: undefined });
    }
  }

  get nowMs(): number {
    return this.queue.nowMs;
  }

  /** The first failure recorded (a method: it changes while the world runs). */
  firstFailure(): Error | undefined {
    return this.failure;
  }

  /** Records the first bug; the run loop stops at it. */
  fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
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

  // -------------------------------------------------------------------------
  // Roles.

  startMeta(index: number): void {
    const node = this.metas[index]!;
    this.launch(node, async () => {
      const env = this.envFor(node.life, undefined);
      node.service = await MetaService.open(env, node.kv, { replicaIndex: index, addresses: this.metaAddresses, tickMs: clusterTimings.metaTickMs });
    });
  }

  crashMeta(index: number): void {
    const node = this.metas[index]!;
    this.crashNode(node);
    node.service = undefined;
  }

  startBlob(index: number): void {
    const node = this.blobs[index]!;
    this.launch(node, async () => {
      const env = this.envFor(node.life, node.disk);
      const store = new FragmentStore({ disk: env.disk, drives: [{ id: node.driveId, path: node.drivePath }], logger: this.logger });
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

  startGateway(index: number): void {
    const node = this.gateways[index]!;
    this.launch(node, () => {
      this.buildGateway(node);
      return Promise.resolve();
    });
  }

  crashGateway(index: number): void {
    const node = this.gateways[index]!;
    this.crashNode(node);
    node.api = undefined;
    node.meta = undefined;
    node.stopWorkers = undefined;
  }

  private buildGateway(node: GatewayNode): void {
    const env = this.envFor(node.life, undefined);
    const localAddress = node.name;
    const remoteMeta = new RemoteMetaClient(env, {
      localAddress,
      replicas: this.metaAddresses,
      deadlineMs: clusterTimings.metaDeadlineMs,
      attemptTimeoutMs: clusterTimings.metaAttemptTimeoutMs,
    });
    const meta = this.options.plantedBug === 'stale_read_cache' ? staleReadCache(remoteMeta) : remoteMeta;
    const blobAddress = new Map(this.blobs.map((blob) => [blob.driveId, blob.name]));
    const blob = new RemoteBlobClient(env, {
      localAddress,
      requestTimeoutMs: clusterTimings.blobRequestTimeoutMs,
      addressOf: (driveId) => {
        const address = blobAddress.get(driveId);
        assert(address !== undefined, `drive ${driveId} is in the layout`);
        return address;
      },
    });
    let gc: GarbageCollector | undefined;
    const gateway = new Gateway(
      env,
      meta,
      blob,
      {
        scheme: clusterScheme,
        blockSizeBytes,
        inlineBytesMax,
        objectBytesMax: 64 * 1024 * 1024,
        drives: this.layout.map((drive) => ({ id: drive.id, weight: drive.weight, state: 'active' as const })),
        layout: { level: 'node', drives: this.layout },
        hedgeAfterMs: 250,
      },
      {
        onGarbage: () => gc?.kick(),
        onReadEnded: (versionId) => gc?.readEnded(versionId),
        onShardFailure: (failure) => {
          this.logger.log('warn', 'shard read failed', { ...failure, error: String(failure.error) });
        },
      },
    );
    if (node.workers) {
      const collectorBlob: BlobClient = this.options.plantedBug === 'gc_never_deletes' ? gcNeverDeletes(blob) : blob;
      gc = new GarbageCollector(env, meta, collectorBlob, { graceMs: clusterTimings.gcGraceMs, batchMax: 256, isBeingRead: (versionId) => gateway.isBeingRead(versionId) });
      const janitor = new Janitor(env, meta, clusterTimings.janitorPreparingTimeoutMs, clusterTimings.janitorUploadTimeoutMs);
      node.stopWorkers = scheduleBackgroundPasses(env, janitor, gc, clusterTimings.workerIntervalMs);
    }
    const users = new UserDirectory([makeUser(credentials.accessKeyId, credentials.secretAccessKey, 'root')]);
    node.meta = remoteMeta;
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
    const up = await this.runUntilCondition(() => this.allUp(), 10_000);
    if (!up && this.failure === undefined) this.fail(new ClusterFailure('the cluster did not boot within 10 s'));
  }

  allUp(): boolean {
    return [...this.metas, ...this.blobs, ...this.gateways].every((node) => node.up);
  }

  /** The S3 entry point of a gateway that is up. */
  api(index: number): S3Api | undefined {
    const node = this.gateways[index];
    return node?.up === true ? node.api : undefined;
  }

  // -------------------------------------------------------------------------
  // What checkers read directly.

  /** The metadata replica that has applied the most ops (what the group has committed, once it is quiet). */
  newestMeta(): MetaService | undefined {
    let best: MetaService | undefined;
    for (const node of this.metas) {
      const service = node.up ? node.service : undefined;
      if (service !== undefined && (best === undefined || service.appliedOpNumber > best.appliedOpNumber)) best = service;
    }
    return best;
  }

  /** Every fragment file and temp file on every blob node's drive, as paths. */
  driveFiles(): { node: string; driveId: number; fragments: string[]; temporary: string[] }[] {
    return this.blobs.map((blob) => ({
      node: blob.name,
      driveId: blob.driveId,
      fragments: blob.disk.filesUnder(`${blob.drivePath}/fragments`),
      temporary: blob.disk.filesUnder(`${blob.drivePath}/tmp`),
    }));
  }
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

/** Planted bug: deletes report success and delete nothing (GC then drops its records: the fragments leak). */
function gcNeverDeletes(blob: BlobClient): BlobClient {
  return {
    createWriter: (driveId, fragmentId, blockSizeBytes) => blob.createWriter(driveId, fragmentId, blockSizeBytes),
    readBlocks: (driveId, fragmentId, firstBlock, blockCount) => blob.readBlocks(driveId, fragmentId, firstBlock, blockCount),
    delete: () => Promise.resolve(true),
    list: (driveId) => blob.list(driveId),
  };
}
