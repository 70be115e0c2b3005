// Runs the whole-cluster simulation from a seed (`tessera simulate --cluster`):
// boot the cluster and create a bucket; a fault phase in which S3 clients
// run while the seed's fault schedule loses, delays and duplicates messages,
// partitions nodes, and crashes and restarts blob nodes (at most m = 2 at
// once: one shard of each stripe per node, so never more than m shards of a
// stripe), one metadata replica at a time (a minority) and gateways (their
// writes in flight are lost); then a quiet phase: heal, restart everything,
// let the clients finish, let the janitor and GC run out their timeouts —
// and check. Reads are checked as they complete (cluster-workload.ts); at
// the end every key is read back through every gateway and listed, and no
// fragment may be left that metadata does not reference (nor a temp file).
// Wall time is read only to report seeds per second.

import { versionIdOfFragment } from '../../gateway/ids.js';
import type { Logger } from '../../io/logger.js';
import { assert } from '../../stdx/assert.js';
import { Incarnation } from './incarnation.js';
import { ClusterFailure, ClusterSimulation, clusterTimings, credentials } from './cluster-simulation.js';
import type { PlantedBug } from './cluster-simulation.js';
import { CheckFailure, ClusterWorkload } from './cluster-workload.js';
import type { WorkloadCounts } from './cluster-workload.js';
import { SimClock } from './sim-clock.js';
import { SimS3Client } from './sim-s3-client.js';
import { quietConditions } from './sim-transport.js';
import type { NetworkConditions } from './sim-transport.js';

export interface ClusterRunOptions {
  /** Simulated time the clients run with faults. Default 20 s. */
  readonly faultPhaseMs?: number;
  readonly clientCount?: number;
  readonly gatewayCount?: number;
  /** Inject only the first this-many faults of the seed's schedule (replay a prefix). */
  readonly faultsMax?: number;
  readonly plantedBug?: PlantedBug;
  readonly logger?: Logger;
}

export interface ClusterSeedResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure: string | undefined;
  readonly traceHash: string;
  readonly simulatedMs: number;
  readonly events: number;
  readonly messagesDelivered: number;
  readonly counts: WorkloadCounts;
  readonly writesAcknowledged: number;
  readonly writesUnknown: number;
  readonly fragmentsChecked: number;
  /** The fault schedule, one line per fault. */
  readonly faults: readonly string[];
  readonly faultsInjected: number;
  /** On failure, the last events before it, oldest first. */
  readonly traceTail: readonly string[];
}

export interface ClusterSweepReport {
  readonly seeds: number;
  readonly elapsedMs: number;
  readonly seedsPerSecond: number;
  readonly failures: readonly ClusterSeedResult[];
  readonly writesAcknowledged: number;
  readonly readsChecked: number;
}

const blobDownMax = 2;
const faultStepMsMin = 100;
const faultStepMsMax = 1500;
const downMsMin = 200;
const downMsMax = 6000;
const clientDeadlineMs = 30_000;
const tornWriteProbability = 0.3;

function randomConditions(simulation: ClusterSimulation): NetworkConditions {
  const { prng } = simulation;
  return { lossProbability: prng.float() * 0.03, duplicateProbability: prng.float() * 0.02, delayMsMin: 1, delayMsMax: prng.between(2, 40) };
}

/** The seed's faults: one every 100–1500 ms; every crashed node restarts after 0.2–6 s. */
class FaultSchedule {
  injected = 0;
  private nextFaultMs: number;
  private readonly restarts: { readonly kind: 'meta' | 'blob' | 'gateway'; readonly index: number; readonly atMs: number }[] = [];

  constructor(
    private readonly simulation: ClusterSimulation,
    private readonly faultsMax: number,
  ) {
    this.nextFaultMs = simulation.nowMs + this.stepMs();
  }

  async runUntil(endMs: number): Promise<void> {
    const { simulation } = this;
    while (simulation.nowMs < endMs && simulation.failure === undefined) {
      const restartMs = this.restarts.reduce((earliest, restart) => Math.min(earliest, restart.atMs), Number.POSITIVE_INFINITY);
      await simulation.runUntil(Math.min(endMs, this.nextFaultMs, restartMs));
      this.restartDue();
      if (simulation.nowMs >= this.nextFaultMs) {
        if (this.injected < this.faultsMax) this.inject();
        this.nextFaultMs = simulation.nowMs + this.stepMs();
      }
    }
  }

  private stepMs(): number {
    return this.simulation.prng.between(faultStepMsMin, faultStepMsMax);
  }

  private log(text: string): void {
    this.simulation.faultLog.push(`t=${this.simulation.nowMs} ${text}`);
    this.simulation.trace.mix('fault', this.simulation.nowMs, text);
  }

  private restartDue(): void {
    const { simulation } = this;
    for (let position = this.restarts.length - 1; position >= 0; position--) {
      const restart = this.restarts[position]!;
      if (restart.atMs > simulation.nowMs) continue;
      this.restarts.splice(position, 1);
      if (restart.kind === 'meta') simulation.startMeta(restart.index);
      else if (restart.kind === 'blob') simulation.startBlob(restart.index);
      else simulation.startGateway(restart.index);
      this.log(`restart ${restart.kind}-${restart.index}`);
    }
  }

  private scheduleRestart(kind: 'meta' | 'blob' | 'gateway', index: number): void {
    this.restarts.push({ kind, index, atMs: this.simulation.nowMs + this.simulation.prng.between(downMsMin, downMsMax) });
  }

  private inject(): void {
    const { simulation } = this;
    const { prng } = simulation;
    this.injected++;
    const roll = prng.float();
    const blobsUp = simulation.blobs.filter((node) => node.up);
    const blobsDown = simulation.blobs.length - blobsUp.length;
    if (roll < 0.25 && blobsDown < blobDownMax && blobsUp.length > 0) {
      const node = prng.pick(blobsUp);
      simulation.crashBlob(node.index, tornWriteProbability);
      this.scheduleRestart('blob', node.index);
      this.log(`crash blob-${node.index}`);
    } else if (roll < 0.4 && simulation.metas.every((node) => node.up)) {
      const node = prng.pick(simulation.metas);
      simulation.crashMeta(node.index);
      this.scheduleRestart('meta', node.index);
      this.log(`crash meta-${node.index}`);
    } else if (roll < 0.5 && simulation.gateways.every((node) => node.up)) {
      const node = prng.pick(simulation.gateways);
      simulation.crashGateway(node.index);
      this.scheduleRestart('gateway', node.index);
      this.log(`crash gw-${node.index}`);
    } else if (roll < 0.65) {
      const names = [...simulation.metas, ...simulation.blobs, ...simulation.gateways].map((node) => node.name);
      const group = prng.chance(0.6) ? [prng.pick(names)] : names.filter(() => prng.chance(0.3));
      simulation.network.partition([group]);
      this.log(`partition [${group.join(',')}] | rest`);
    } else if (roll < 0.85) {
      simulation.network.heal();
      this.log('heal');
    } else {
      simulation.network.conditions = randomConditions(simulation);
      this.log(`network ${JSON.stringify(simulation.network.conditions)}`);
    }
  }

  /** Every node still down comes back now. */
  restartAll(): void {
    const { simulation } = this;
    this.restarts.length = 0;
    for (const node of simulation.metas) if (!node.up && !node.starting) simulation.startMeta(node.index);
    for (const node of simulation.blobs) if (!node.up && !node.starting) simulation.startBlob(node.index);
    for (const node of simulation.gateways) if (!node.up && !node.starting) simulation.startGateway(node.index);
  }
}

/** After faults: heal, restart all, let clients finish, let janitor and GC empty the queues, then check everything. */
async function quietPhase(simulation: ClusterSimulation, workload: ClusterWorkload, schedule: FaultSchedule): Promise<number> {
  simulation.network.heal();
  simulation.network.conditions = quietConditions;
  schedule.restartAll();
  workload.issuing = false;
  simulation.faultLog.push(`t=${simulation.nowMs} faults stop`);
  if (!(await simulation.runUntilCondition(() => simulation.allUp() && workload.clientsBusy === 0, clientDeadlineMs + 30_000))) {
    throw new ClusterFailure(`liveness: ${workload.clientsBusy} clients still busy, cluster ${simulation.allUp() ? 'up' : 'not up'}, 60 s after faults stopped`);
  }
  // PREPARING versions of crashed gateways age past the janitor's timeout; then GC's grace passes.
  await simulation.runUntil(simulation.nowMs + clusterTimings.janitorPreparingTimeoutMs + clusterTimings.gcGraceMs + 5 * clusterTimings.workerIntervalMs);
  const quiet = (): boolean => {
    const meta = simulation.newestMeta();
    return meta !== undefined && meta.listPreparing().length === 0 && meta.listGarbage(1).length === 0;
  };
  if (!(await simulation.runUntilCondition(quiet, 60_000))) {
    const meta = simulation.newestMeta();
    throw new CheckFailure(`janitor and GC did not finish: ${meta?.listPreparing().length ?? '?'} PREPARING versions, ${meta?.listGarbage(1000).length ?? '?'} garbage records left`);
  }
  await settled(simulation, workload.finalCheck(30), 'the final reads', 300_000);
  return settled(simulation, checkNoLeaks(simulation), 'the leak check', 300_000);
}

/** Every fragment on every drive belongs to a version metadata references; no temp file is left. Returns fragments checked. */
async function checkNoLeaks(simulation: ClusterSimulation): Promise<number> {
  const meta = simulation.gateways[0]!.meta;
  assert(meta !== undefined, 'gateway 0 is up for the leak check');
  let checked = 0;
  const referenced = new Map<string, boolean>();
  for (const drive of simulation.driveFiles()) {
    if (drive.temporary.length > 0) throw new CheckFailure(`${drive.node} drive ${drive.driveId}: temp files left after quiet: ${drive.temporary.join(', ')}`);
    for (const path of drive.fragments) {
      checked++;
      const fragment = path.slice(path.lastIndexOf('/') + 1);
      const versionId = versionIdOfFragment(fragment);
      if (versionId === undefined) throw new CheckFailure(`${drive.node} drive ${drive.driveId}: a file that is no fragment: ${path}`);
      let isReferenced = referenced.get(versionId);
      if (isReferenced === undefined) {
        isReferenced = await meta.isVersionReferenced(versionId);
        referenced.set(versionId, isReferenced);
      }
      if (!isReferenced) throw new CheckFailure(`leaked fragment ${fragment} on ${drive.node} drive ${drive.driveId}: no metadata references version ${versionId}`);
    }
  }
  return checked;
}

/** Awaits a promise of the world while the world runs; a check's own failure comes out as it is. */
async function settled<T>(simulation: ClusterSimulation, promise: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  let outcome: { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'failed'; readonly error: unknown } | undefined;
  const current = (): typeof outcome => outcome;
  promise.then(
    (value) => {
      outcome = { kind: 'ok', value };
    },
    (error: unknown) => {
      outcome = { kind: 'failed', error };
    },
  );
  await simulation.runUntilCondition(() => current() !== undefined, timeoutMs);
  const settledOutcome = current();
  if (settledOutcome === undefined) throw new CheckFailure(`${what}: no answer within ${timeoutMs} ms`);
  if (settledOutcome.kind === 'ok') return settledOutcome.value;
  const { error } = settledOutcome;
  if (error instanceof CheckFailure || error instanceof ClusterFailure) throw error;
  throw new CheckFailure(`${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}

function throwIfFailed(simulation: ClusterSimulation): void {
  const failure = simulation.firstFailure();
  if (failure !== undefined) throw failure;
}

/** Runs one seed; the world and its checks are deterministic in the seed (and the options). */
export async function runClusterSeed(seed: number, options: ClusterRunOptions = {}): Promise<ClusterSeedResult> {
  const simulation = new ClusterSimulation({
    seed,
    gatewayCount: options.gatewayCount ?? 2,
    ...(options.plantedBug === undefined ? {} : { plantedBug: options.plantedBug }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const clientLife = new Incarnation('clients', 1);
  const clock = new SimClock(simulation.queue, clientLife, 1_800_000_000_000);
  const fail = (error: unknown): void => { simulation.fail(error); };
  const client = new SimS3Client(clock, credentials, (index) => simulation.api(index), clientDeadlineMs, fail);
  const workload = new ClusterWorkload(client, clock, simulation.prng.fork(), simulation.trace, simulation.gateways.length, fail);
  const schedule = new FaultSchedule(simulation, options.faultsMax ?? Number.POSITIVE_INFINITY);
  let failure: string | undefined;
  let fragmentsChecked = 0;
  try {
    await simulation.boot();
    const bucket = workload.createBucket();
    const created = await settled(simulation, bucket, 'creating the bucket', 60_000);
    if (!created) throw new ClusterFailure('the bucket could not be created');
    workload.start(options.clientCount ?? 4);
    simulation.network.conditions = randomConditions(simulation);
    await schedule.runUntil(simulation.nowMs + (options.faultPhaseMs ?? 20_000));
    throwIfFailed(simulation);
    fragmentsChecked = await quietPhase(simulation, workload, schedule);
    throwIfFailed(simulation);
  } catch (error) {
    const first = simulation.firstFailure() ?? error;
    failure = first instanceof CheckFailure || first instanceof ClusterFailure ? first.message : first instanceof Error ? (first.stack ?? first.message) : String(first);
  }
  workload.issuing = false;
  clientLife.end();
  return {
    seed,
    ok: failure === undefined,
    failure,
    traceHash: simulation.trace.digest(),
    simulatedMs: simulation.nowMs,
    events: simulation.eventsRun,
    messagesDelivered: simulation.network.messagesDelivered,
    counts: { ...workload.counts },
    writesAcknowledged: workload.model.acknowledged,
    writesUnknown: workload.model.unknown,
    fragmentsChecked,
    faults: simulation.faultLog,
    faultsInjected: schedule.injected,
    traceTail: failure === undefined ? [] : simulation.trace.tailLines(),
  };
}

/** Runs seeds `from` … `to` (both included), one after another. */
export async function runClusterSeeds(range: { readonly from: number; readonly to: number }, options: ClusterRunOptions = {}): Promise<ClusterSweepReport> {
  const started = performance.now();
  const failures: ClusterSeedResult[] = [];
  let writesAcknowledged = 0;
  let readsChecked = 0;
  for (let seed = range.from; seed <= range.to; seed++) {
    const result = await runClusterSeed(seed, options);
    writesAcknowledged += result.writesAcknowledged;
    readsChecked += result.counts.readsChecked;
    if (!result.ok) failures.push(result);
  }
  const elapsedMs = performance.now() - started;
  const seeds = range.to - range.from + 1;
  return { seeds, elapsedMs, seedsPerSecond: seeds / (elapsedMs / 1000), failures, writesAcknowledged, readsChecked };
}
