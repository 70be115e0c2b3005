// Runs the whole-cluster simulation from a seed (`tessera simulate --cluster`):
// boot the cluster and create its buckets (spread over the metadata groups);
// a fault phase in which S3 clients run while the seed's fault schedule
// loses, delays and duplicates messages, partitions nodes, and crashes and
// restarts blob nodes, one metadata replica of a group at a time (a
// minority of each group) and gateways (their writes in flight are lost);
// in most seeds it also marks one drive draining (a new cluster map epoch)
// and kills one blob node for good, whose drives are then marked failed.
// Blob nodes down, counting the dead one, are never more than m = 2 (one
// shard of each stripe per node, so never more than m shards of a stripe
// lost). Then a quiet phase: heal, restart everything, let the clients
// finish, let the janitor and GC run out their timeouts and the healer and
// rebalancer move every shard off draining and failed drives — and check.
// Reads are checked as they complete (cluster-workload.ts); at the end every
// key is read back through every gateway and listed; no fragment may be left
// that metadata does not reference (nor a temp file); a draining drive must
// be empty; and every part of every object must have its k+m shards on
// active drives of live nodes, no node over its cap.
// `shrinkClusterFailure` finds a short prefix of a failing seed's fault
// schedule that still fails the same way (the group simulator's search,
// run asynchronously). Wall time is read only to report seeds per second.

import { versionIdOfFragment } from '../../gateway/ids.js';
import type { Logger } from '../../io/logger.js';
import { listPartsToRepair } from '../../meta/shard-repair.js';
import type { DriveState } from '../../placement/layout.js';
import { assert } from '../../stdx/assert.js';
import { PendingRestarts } from '../pending-restarts.js';
import { Incarnation } from './incarnation.js';
import { failureKind, faultPrefixSearch } from '../run-simulation.js';
import { sweepSummary } from '../run-simulation.js';
import type { SeedOutcome, SweepSummary } from '../run-simulation.js';
import { ClusterFailure, ClusterSimulation, clusterScheme, clusterTimings, credentials } from './cluster-simulation.js';
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
  /** Metadata groups (1 or 2); the seed picks when not given. */
  readonly metaGroupCount?: number;
  /** Inject only the first this-many faults of the seed's schedule (replay a prefix). */
  readonly faultsMax?: number;
  readonly plantedBug?: PlantedBug;
  readonly logger?: Logger;
}

export interface ClusterSeedResult extends SeedOutcome {
  readonly events: number;
  readonly counts: WorkloadCounts;
  readonly writesAcknowledged: number;
  readonly writesUnknown: number;
  readonly fragmentsChecked: number;
  /** Striped parts whose placement was checked after the quiet phase. */
  readonly partsChecked: number;
  /** Metadata groups, buckets, drives per node. */
  readonly shape: string;
}

export interface ClusterSweepReport extends SweepSummary<ClusterSeedResult> {
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
const drainProbability = 0.7;
const killProbability = 0.7;
const killMarkMsMax = 3000;

function randomConditions(simulation: ClusterSimulation): NetworkConditions {
  const { prng } = simulation;
  return { lossProbability: prng.float() * 0.03, duplicateProbability: prng.float() * 0.02, delayMsMin: 1, delayMsMax: prng.between(2, 40) };
}

/**
 * The seed's faults: one every 100–1500 ms; every crashed node restarts
 * after 0.2–6 s. In most seeds, one fault (from the 1st to the 12th, or the
 * first after it that is possible) marks a drive draining, and one kills a
 * blob node for good (its drives are marked failed 0–3 s later).
 */
class FaultSchedule {
  injected = 0;
  private nextFaultMs: number;
  private readonly restarts = new PendingRestarts<{ readonly kind: 'meta' | 'blob' | 'gateway'; readonly index: number; readonly atMs: number }>();
  private drainAt: number | undefined;
  private killAt: number | undefined;

  constructor(
    private readonly simulation: ClusterSimulation,
    private readonly faultsMax: number,
  ) {
    const { prng } = simulation;
    this.drainAt = prng.chance(drainProbability) ? prng.between(1, 12) : undefined;
    this.killAt = prng.chance(killProbability) ? prng.between(1, 12) : undefined;
    this.nextFaultMs = simulation.nowMs + this.stepMs();
  }

  async runUntil(endMs: number): Promise<void> {
    const { simulation } = this;
    while (simulation.nowMs < endMs && simulation.failure === undefined) {
      await simulation.runUntil(Math.min(endMs, this.nextFaultMs, this.restarts.nextMs()));
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
    for (const restart of this.restarts.takeDue(simulation.nowMs)) {
      if (restart.kind === 'blob' && simulation.blobs[restart.index]!.dead) continue;
      if (restart.kind === 'meta') simulation.startMeta(restart.index);
      else if (restart.kind === 'blob') simulation.startBlob(restart.index);
      else simulation.startGateway(restart.index);
      this.log(`restart ${restart.kind}-${restart.index}`);
    }
  }

  private scheduleRestart(kind: 'meta' | 'blob' | 'gateway', index: number): void {
    this.restarts.add({ kind, index, atMs: this.simulation.nowMs + this.simulation.prng.between(downMsMin, downMsMax) });
  }

  private inject(): void {
    const { simulation } = this;
    const { prng } = simulation;
    this.injected++;
    if (this.drainAt !== undefined && this.injected >= this.drainAt && this.drain()) {
      this.drainAt = undefined;
      return;
    }
    if (this.killAt !== undefined && this.injected >= this.killAt && this.kill()) {
      this.killAt = undefined;
      return;
    }
    const roll = prng.float();
    const blobsUp = simulation.blobs.filter((node) => node.up);
    const blobsDown = simulation.blobs.length - blobsUp.length;
    const groupsUp = Array.from({ length: simulation.groupCount }, (_, group) => group).filter((group) =>
      simulation.metas.every((node) => node.group !== group || node.up),
    );
    if (roll < 0.25 && blobsDown < blobDownMax && blobsUp.length > 0) {
      const node = prng.pick(blobsUp);
      simulation.crashBlob(node.index, tornWriteProbability);
      this.scheduleRestart('blob', node.index);
      this.log(`crash blob-${node.index}`);
    } else if (roll < 0.4 && groupsUp.length > 0) {
      // At most one replica of each group down at a time: every group keeps a majority.
      const group = prng.pick(groupsUp);
      const node = prng.pick(simulation.metas.filter((meta) => meta.group === group));
      simulation.crashMeta(node.index);
      this.scheduleRestart('meta', node.index);
      this.log(`crash ${node.name}`);
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

  /** Marks one active drive draining (one on a two-drive node if placement allows); false when none can be. */
  private drain(): boolean {
    const { simulation } = this;
    const change = (id: number): Map<number, DriveState> => new Map([[id, 'draining' as const]]);
    const candidates = simulation.blobs
      .filter((node) => !node.dead)
      .flatMap((node) => node.drives.map((drive) => ({ node, id: drive.id })))
      .filter((entry) => simulation.plannedState(entry.id) === 'active' && simulation.placeableWith(change(entry.id)));
    if (candidates.length === 0) return false;
    const preferred = candidates.filter((entry) => entry.node.drives.length > 1);
    const chosen = simulation.prng.pick(preferred.length > 0 ? preferred : candidates);
    simulation.changeDriveStates(change(chosen.id), 0);
    this.log(`drain drive ${chosen.id} of ${chosen.node.name}`);
    return true;
  }

  /** Kills a blob node that is up for good, if one more node down keeps at most m down and placement allows its drives failed. */
  private kill(): boolean {
    const { simulation } = this;
    const down = simulation.blobs.filter((node) => !node.up).length;
    if (down >= blobDownMax) return false;
    const candidates = simulation.blobs.filter((node) => node.up && simulation.placeableWith(new Map(node.drives.map((drive) => [drive.id, 'failed' as const]))));
    if (candidates.length === 0) return false;
    const node = simulation.prng.pick(candidates);
    const markAfterMs = simulation.prng.between(0, killMarkMsMax);
    simulation.killBlob(node.index, tornWriteProbability, markAfterMs);
    this.log(`kill ${node.name} for good (drives ${node.drives.map((drive) => drive.id).join(',')} marked failed after ${markAfterMs} ms)`);
    return true;
  }

  /** Every node still down comes back now. */
  restartAll(): void {
    const { simulation } = this;
    this.restarts.clear();
    for (const node of simulation.metas) if (!node.up && !node.starting) simulation.startMeta(node.index);
    for (const node of simulation.blobs) if (!node.up && !node.starting && !node.dead) simulation.startBlob(node.index);
    for (const node of simulation.gateways) if (!node.up && !node.starting) simulation.startGateway(node.index);
  }
}

/** After faults: heal, restart all, let clients finish and the map settle, let janitor, GC, healer and rebalancer empty their queues, then check everything. */
async function quietPhase(simulation: ClusterSimulation, workload: ClusterWorkload, schedule: FaultSchedule): Promise<{ fragmentsChecked: number; partsChecked: number }> {
  simulation.network.heal();
  simulation.network.conditions = quietConditions;
  schedule.restartAll();
  workload.issuing = false;
  simulation.faultLog.push(`t=${simulation.nowMs} faults stop`);
  const settledUp = (): boolean => simulation.allUp() && workload.clientsBusy === 0 && simulation.mapSettled();
  if (!(await simulation.runUntilCondition(settledUp, clientDeadlineMs + 30_000))) {
    throw new ClusterFailure(
      `liveness: ${workload.clientsBusy} clients still busy, cluster ${simulation.allUp() ? 'up' : 'not up'}, ` +
        `map ${simulation.mapSettled() ? 'followed' : `epoch ${simulation.mapEpoch} not followed by every gateway (${simulation.adminBusy} changes pending)`}, 60 s after faults stopped`,
    );
  }
  // PREPARING versions of crashed gateways age past the janitor's timeout; then GC's grace passes.
  await simulation.runUntil(simulation.nowMs + clusterTimings.janitorPreparingTimeoutMs + clusterTimings.gcGraceMs + 5 * clusterTimings.workerIntervalMs);
  const moving = simulation.currentLayout().drives.filter((drive) => drive.state !== 'active').map((drive) => drive.id);
  const left = (group: number): { preparing: number; garbage: number; repairs: number } | undefined => {
    const meta = simulation.newestMeta(group);
    if (meta === undefined) return undefined;
    const repairs = listPartsToRepair(meta.reader, { after: '', limit: 100, drives: moving }).candidates.length;
    return { preparing: meta.listPreparing().length, garbage: meta.listGarbage(1).length, repairs };
  };
  const groups = Array.from({ length: simulation.groupCount }, (_, group) => group);
  const quiet = (): boolean => groups.every((group) => {
    const work = left(group);
    return work !== undefined && work.preparing === 0 && work.garbage === 0 && work.repairs === 0;
  });
  if (!(await simulation.runUntilCondition(quiet, 60_000))) {
    const described = groups.map((group) => {
      const work = left(group);
      return work === undefined ? `group ${group}: no replica up` : `group ${group}: ${work.preparing} PREPARING versions, ${work.garbage > 0 ? 'garbage records' : 'no garbage'}, ${work.repairs} parts to repair`;
    });
    throw new CheckFailure(`janitor, GC, healer and rebalancer did not finish within 60 s of quiet: ${described.join('; ')}`);
  }
  // The orphan sweep takes what a crashed healer wrote and never recorded: two passes a grace apart.
  await simulation.runUntil(simulation.nowMs + clusterTimings.orphanGraceMs + 3 * clusterTimings.orphanSweepIntervalMs);
  checkDrained(simulation);
  const partsChecked = checkPlacement(simulation);
  await settled(simulation, workload.finalCheck(30), 'the final reads', 300_000);
  const fragmentsChecked = await settled(simulation, checkNoLeaks(simulation), 'the leak check', 300_000);
  return { fragmentsChecked, partsChecked };
}

/** A drive marked draining holds no fragment (the rebalancer moved every shard, GC deleted the old fragments) and no temp file. */
function checkDrained(simulation: ClusterSimulation): void {
  const draining = new Set(simulation.currentLayout().drives.filter((drive) => drive.state === 'draining').map((drive) => drive.id));
  for (const drive of simulation.driveFiles()) {
    if (!draining.has(drive.driveId)) continue;
    const files = [...drive.fragments, ...drive.temporary];
    if (files.length > 0) throw new CheckFailure(`draining drive ${drive.driveId} of ${drive.node} still holds ${files.length} files after quiet: ${files.slice(0, 4).join(', ')}`);
  }
}

/**
 * Every striped part of every object in every group (read off the group's
 * newest replica) has all k+m shards, each on an active drive of a live
 * node, and no node holds more shards of it than its cap: with one drive or
 * more on every active node, the cap is ceil((k+m) / active nodes) (what
 * placement/domain-caps.ts gives at the node level when it fits). Returns the
 * parts checked.
 */
function checkPlacement(simulation: ClusterSimulation): number {
  const layout = simulation.currentLayout();
  const driveOf = new Map(layout.drives.map((drive) => [drive.id, drive]));
  const activeNodes = new Set(layout.drives.filter((drive) => drive.state === 'active').map((drive) => drive.node));
  const width = clusterScheme.k + clusterScheme.m;
  const capPerNode = Math.ceil(width / activeNodes.size);
  const gateway = simulation.gateways[0]!.meta;
  assert(gateway !== undefined, 'gateway 0 is up for the placement check');
  let checked = 0;
  for (const bucket of simulation.buckets) {
    const meta = simulation.newestMeta(gateway.groupOf(bucket));
    assert(meta !== undefined, `a replica of the group of ${bucket} is up`);
    for (const version of meta.scanObjects(bucket, { prefix: '' })) {
      for (const part of version.parts) {
        if (part.drives.length === 0) continue;
        checked++;
        const where = `${bucket}/${version.key} part ${part.partNumber} (version ${version.versionId}, drives ${part.drives.join(',')})`;
        if (part.missingShards.length > 0) throw new CheckFailure(`${where}: shards ${part.missingShards.join(',')} still missing after quiet`);
        if (part.drives.length !== width) throw new CheckFailure(`${where}: ${part.drives.length} shards, the scheme has ${width}`);
        const perNode = new Map<string, number>();
        for (const id of part.drives) {
          const drive = driveOf.get(id);
          if (drive === undefined || drive.state !== 'active') throw new CheckFailure(`${where}: a shard is on drive ${id}, which is ${drive?.state ?? 'not in the map'}`);
          const node = simulation.blobs.find((blob) => blob.name === drive.node);
          if (node === undefined || node.dead) throw new CheckFailure(`${where}: a shard is on drive ${id} of ${drive.node}, which is dead`);
          perNode.set(drive.node, (perNode.get(drive.node) ?? 0) + 1);
        }
        for (const [node, count] of perNode) {
          if (count > capPerNode) throw new CheckFailure(`${where}: ${node} holds ${count} shards, its cap is ${capPerNode}`);
        }
      }
    }
  }
  return checked;
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
    ...(options.metaGroupCount === undefined ? {} : { metaGroupCount: options.metaGroupCount }),
    ...(options.plantedBug === undefined ? {} : { plantedBug: options.plantedBug }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const clientLife = new Incarnation('clients', 1);
  const clock = new SimClock(simulation.queue, clientLife, 1_800_000_000_000);
  const fail = (error: unknown): void => { simulation.fail(error); };
  const client = new SimS3Client(clock, credentials, (index) => simulation.api(index), clientDeadlineMs, fail);
  const workload = new ClusterWorkload(client, clock, simulation.prng.fork(), simulation.trace, simulation.gateways.length, simulation.buckets, fail);
  const schedule = new FaultSchedule(simulation, options.faultsMax ?? Number.POSITIVE_INFINITY);
  let failure: string | undefined;
  let checked = { fragmentsChecked: 0, partsChecked: 0 };
  try {
    await simulation.boot();
    const created = await settled(simulation, workload.createBuckets(), 'creating the buckets', 120_000);
    if (!created) throw new ClusterFailure('the buckets could not be created');
    workload.start(options.clientCount ?? 4);
    simulation.network.conditions = randomConditions(simulation);
    await schedule.runUntil(simulation.nowMs + (options.faultPhaseMs ?? 20_000));
    throwIfFailed(simulation);
    checked = await quietPhase(simulation, workload, schedule);
    throwIfFailed(simulation);
  } catch (error) {
    const first = simulation.firstFailure() ?? error;
    failure = first instanceof CheckFailure || first instanceof ClusterFailure ? first.message : first instanceof Error ? (first.stack ?? first.message) : String(first);
  }
  workload.issuing = false;
  clientLife.end();
  simulation.endAdmin();
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
    ...checked,
    shape: simulation.describeShape(),
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
  return { ...sweepSummary(range.to - range.from + 1, started, failures), writesAcknowledged, readsChecked };
}

/** A short prefix of a failing cluster seed's fault schedule that still fails the same way. */
export interface ClusterShrinkReport {
  /** Replays with `runClusterSeed(seed, { ...options, faultsMax })`. */
  readonly faultsMax: number;
  readonly result: ClusterSeedResult;
  /** Seeds run to find it (the failing run given is not counted). */
  readonly runs: number;
}

/**
 * Binary-searches the number of injected faults for the fewest that still
 * fail with the same kind of failure (run-simulation.ts's search and failure
 * kinds, over cluster runs). Every candidate it returns was run and failed.
 */
export async function shrinkClusterFailure(failed: ClusterSeedResult, options: ClusterRunOptions = {}): Promise<ClusterShrinkReport> {
  assert(!failed.ok && failed.failure !== undefined, `cluster seed ${failed.seed} passed: nothing to shrink`);
  const kind = failureKind(failed.failure);
  let best = failed;
  let runs = 0;
  const search = faultPrefixSearch(failed.faultsInjected);
  let step = search.next();
  while (step.done !== true) {
    const candidate = await runClusterSeed(failed.seed, { ...options, faultsMax: step.value });
    runs++;
    const same = candidate.failure !== undefined && failureKind(candidate.failure) === kind;
    if (same) best = candidate;
    step = search.next(same);
  }
  return { faultsMax: step.value, result: best, runs };
}
