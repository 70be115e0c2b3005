// Runs simulations from seeds: a random fault schedule per seed (crashes,
// restarts, partitions, loss, duplication, delay, torn writes and bit flips on
// the replicas' disks, clocks drifting apart, and crashes aimed at replicas in
// the middle of a view change; in some seeds the group changes size: 1 → 3,
// 1 → 3 → 5, 3 → 5, 3 → 5 → 3, 5 → 3, 3 → 1 → 3), then a quiet period in
// which every client request must complete (liveness) and replicas must
// converge, then the history must be linearizable. `runSeed` is what
// `tessera simulate --seed N` prints; `runSeeds` what `--seeds A..B` sweeps.
// A failing seed carries the last events before the violation, and
// `shrinkFailure` finds the shortest prefix of its fault schedule that still
// fails the same way (replayable with `faultsMax`).
// Wall time is read only to report seeds per second, never to decide anything.

import { assert } from '../stdx/assert.js';
import type { ReplicaIndex } from '../vsr/messages.js';
import type { ReplicaTimeouts, UnsafeFlags } from '../vsr/replica.js';
import { Prng } from './prng.js';
import type { ClockDrift, DiskFaults, NetworkFaults, Reconfiguration } from './simulation.js';
import { Simulation, SimulationFailure, quietNetwork } from './simulation.js';
import { PendingRestarts } from './pending-restarts.js';

export interface RunOptions {
  /** Faults are injected during this much simulated time. */
  readonly faultPhaseMs?: number;
  /** After faults stop, every pending request must complete within this. */
  readonly livenessBoundMs?: number;
  /** The group's size; given, no seed changes it. */
  readonly replicaCount?: number;
  /** The share of seeds whose group changes size during the fault phase (0.2 unless given; ignored with `replicaCount`). */
  readonly reconfigurationProbability?: number;
  readonly clientCount?: number;
  readonly unsafe?: UnsafeFlags;
  readonly timeouts?: ReplicaTimeouts;
  readonly diskLatencyMsMax?: number;
  readonly crashAfterVoteProbability?: number;
  readonly disk?: DiskFaults;
  readonly clockDrift?: ClockDrift;
  /** Chance that a committing Ready also checkpoints (see SimulationOptions); rare checkpoints keep more log to damage. */
  readonly checkpointProbability?: number;
  /** Fault points in the replica (BUGGIFY) during the fault phase; on unless false. */
  readonly buggify?: boolean;
  /**
   * Injects only the first this-many faults of the schedule (crash, restart,
   * partition, heal, network; a crash mid view change and its quick restart
   * count one each), then lets the fault phase run on without new ones. The
   * first `faultsMax` faults are exactly those of the full run.
   */
  readonly faultsMax?: number;
}

export const defaultDiskFaults: DiskFaults = { tornWriteProbability: 0.2, bitFlipProbability: 0.05, latentSectorErrorProbability: 0.03, diskLossProbability: 0.1 };
export const defaultClockDrift: ClockDrift = { rateMax: 0.05, offsetMsMax: 200 };

/** What every simulated seed reports (a metadata group's or a whole cluster's). */
export interface SeedOutcome {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure: string | undefined;
  readonly traceHash: string;
  readonly simulatedMs: number;
  readonly messagesDelivered: number;
  /** The fault schedule, one line per fault, for replaying by eye. */
  readonly faults: readonly string[];
  /** Faults the schedule injected (disk faults and the simulation's own crashes right after a vote come on top). */
  readonly faultsInjected: number;
  /** On failure, the last events before the violation, oldest first; empty when the seed passed. */
  readonly traceTail: readonly string[];
}

export interface SeedResult extends SeedOutcome {
  readonly committedOps: number;
  readonly completedRequests: number;
}

/** The shortest fault prefix found that still fails the way a seed did. */
export interface ShrinkReport {
  /** Replays with `runSeed(seed, { ...options, faultsMax })`. */
  readonly faultsMax: number;
  readonly result: SeedResult;
  /** Seeds run to find it (the failing run given is not counted). */
  readonly runs: number;
}

/** What every sweep reports (a group's and the cluster's): seeds run, how fast, and the ones that failed. */
export interface SweepSummary<Failure extends SeedOutcome> {
  readonly seeds: number;
  readonly elapsedMs: number;
  readonly seedsPerSecond: number;
  readonly failures: readonly Failure[];
}

/** The summary of `seeds` run since `startedMs` (performance.now()). */
export function sweepSummary<Failure extends SeedOutcome>(seeds: number, startedMs: number, failures: readonly Failure[]): SweepSummary<Failure> {
  const elapsedMs = performance.now() - startedMs;
  return { seeds, elapsedMs, seedsPerSecond: seeds / (elapsedMs / 1000), failures };
}

export interface SweepReport extends SweepSummary<SeedResult> {
  readonly from: number;
  readonly to: number;
  readonly committedOps: number;
  /** Torn writes and bit flips injected over the sweep. */
  readonly diskFaults: number;
}

const faultStepMsMin = 10;
const faultStepMsMax = 300;

function networkFor(simulation: Simulation): NetworkFaults {
  const { prng } = simulation;
  return {
    lossProbability: prng.float() * 0.2,
    duplicateProbability: prng.float() * 0.1,
    delayMsMin: 1,
    delayMsMax: prng.between(5, 60),
  };
}

/** Between regular faults the schedule looks at the replicas this often. */
const watchStepMs = 10;
/**
 * At each look, a replica in a view change is crashed with this chance (a
 * view change spans a few to a few dozen looks), and restarted within
 * `quickRestartMsMax`, while the view change is still going on.
 */
const viewChangeCrashProbability = 0.1;
const quickRestartMsMax = 100;
/** A partition that cuts off one replica cuts off the primary with this chance (forcing a view change). */
const isolatePrimaryProbability = 0.5;

/**
 * The seed's fault schedule. Regular faults come every 10–300 ms; between
 * them it watches for a replica in a view change and now and then crashes it
 * there, restarting it soon after. A replica that voted for a view and
 * restarts must still know it did (the view it persisted), or it can rejoin
 * its old view and commit there behind the new one's back; a view change
 * lasts a few dozen ms, too short for the regular steps to land in often
 * (a planted bug that forgets the view was caught by 1–5 seeds of 300
 * before, 13 now; seeds 1..1000: 11 before, 44 now).
 */
class FaultSchedule {
  injected = 0;
  private nextFaultMs: number;
  /** Replicas crashed mid view change, to restart at `atMs` (at most one per replica). */
  private readonly restarts = new PendingRestarts<{ readonly index: ReplicaIndex; readonly atMs: number }>();

  constructor(
    private readonly simulation: Simulation,
    private readonly faultsMax: number,
  ) {
    this.nextFaultMs = simulation.nowMs + this.stepMs();
  }

  /** Runs the world until `endMs`, injecting faults on the way. */
  runUntil(endMs: number): void {
    const { simulation } = this;
    while (simulation.nowMs < endMs) {
      simulation.runUntil(Math.min(endMs, this.nextFaultMs, this.restarts.nextMs(), simulation.nowMs + watchStepMs));
      if (simulation.nowMs >= endMs) return;
      this.restartDue();
      this.crashMidViewChange();
      if (simulation.nowMs >= this.nextFaultMs) {
        if (this.mayInject()) this.injectFault();
        this.nextFaultMs = simulation.nowMs + this.stepMs();
      }
    }
  }

  private stepMs(): number {
    return this.simulation.prng.between(faultStepMsMin, faultStepMsMax);
  }

  private mayInject(): boolean {
    if (this.injected >= this.faultsMax) return false;
    this.injected++;
    return true;
  }

  private log(text: string): void {
    this.simulation.faultLog.push(`t=${this.simulation.nowMs} ${text}`);
  }

  private restartDue(): void {
    const { simulation } = this;
    for (const restart of this.restarts.takeDue(simulation.nowMs)) {
      if (simulation.isUp(restart.index) || !this.mayInject()) continue;
      simulation.restart(restart.index);
      this.log(`restart ${restart.index} (quick)`);
    }
  }

  private crashMidViewChange(): void {
    const { simulation } = this;
    for (let index = 0; index < simulation.replicaCount; index++) {
      if (simulation.replica(index)?.status !== 'view_change') continue;
      if (!simulation.prng.chance(viewChangeCrashProbability) || !this.mayInject()) continue;
      const view = simulation.replica(index)!.view;
      simulation.crash(index);
      this.log(`crash ${index} (in view change to ${view})`);
      // The simulation's own crash-after-vote may have restarted it since an earlier quick crash: that restart is moot.
      this.restarts.removeFirst((restart) => restart.index === index);
      assert(this.restarts.size < simulation.replicaCount, `quick restarts pending for ${this.restarts.size} replicas of ${simulation.replicaCount}`);
      this.restarts.add({ index, atMs: simulation.nowMs + simulation.prng.between(1, quickRestartMsMax) });
    }
  }

  /** One regular fault, chosen by the seed. */
  private injectFault(): void {
    const { simulation } = this;
    const { prng } = simulation;
    const replicas = Array.from({ length: simulation.replicaCount }, (_, index) => index);
    const up = replicas.filter((index) => simulation.isUp(index));
    const down = replicas.filter((index) => !simulation.isUp(index) && !this.restarts.some((restart) => restart.index === index));
    const roll = prng.float();
    if (roll < 0.3 && up.length > 0) {
      // Biased toward the crashes that hurt: the primary, and a replica mid-write.
      const writing = simulation.writing();
      const which = prng.float();
      const index = which < 0.4 ? (simulation.primary() ?? prng.pick(up)) : which < 0.7 && writing.length > 0 ? prng.pick(writing) : prng.pick(up);
      simulation.crash(index);
      this.log(`crash ${index}`);
    } else if (roll < 0.55 && down.length > 0) {
      const index = prng.pick(down);
      // Now and then the disk is gone for good: the replica comes back empty.
      if (simulation.disk.diskLossProbability !== undefined && prng.chance(simulation.disk.diskLossProbability) && simulation.canDamageDisk(index)) {
        simulation.replaceDisk(index);
      }
      simulation.restart(index);
      this.log(`restart ${index}`);
    } else if (roll < 0.75) {
      const primary = simulation.primary();
      const isolate = prng.chance(0.6);
      const group = isolate ? [primary !== undefined && prng.chance(isolatePrimaryProbability) ? primary : prng.pick(replicas)] : replicas.filter(() => prng.chance(0.5));
      simulation.partition(group);
      this.log(`partition [${group.join(',')}] | rest`);
    } else if (roll < 0.9) {
      simulation.heal();
      this.log('heal');
    } else {
      simulation.network = networkFor(simulation);
      this.log(`network ${JSON.stringify(simulation.network)}`);
    }
  }
}

const reconfigurationPlans: readonly { readonly from: number; readonly to: readonly number[] }[] = [
  { from: 1, to: [3] },
  { from: 1, to: [3, 5] },
  { from: 3, to: [5] },
  { from: 3, to: [5, 3] },
  { from: 5, to: [3] },
  { from: 3, to: [1, 3] },
];

/**
 * Whether and how a seed's group changes size, drawn from a generator of its
 * own (so seeds that keep their size run exactly as before the plans existed).
 */
function reconfigurationPlan(seed: number, probability: number, faultPhaseMs: number): { replicaCount: number; reconfigurations: Reconfiguration[] } | undefined {
  const prng = new Prng(seed * 31 + 7);
  if (!prng.chance(probability)) return undefined;
  const plan = prng.pick(reconfigurationPlans);
  let atMs = 0;
  const reconfigurations = plan.to.map((replicaCount) => {
    atMs += prng.between(300, Math.floor(faultPhaseMs / (plan.to.length + 1)));
    return { atMs, replicaCount };
  });
  return { replicaCount: plan.from, reconfigurations };
}

export function runSeed(seed: number, options: RunOptions = {}): SeedResult {
  const faultPhaseMs = options.faultPhaseMs ?? 6000;
  const livenessBoundMs = options.livenessBoundMs ?? 15_000;
  const plan = options.replicaCount === undefined ? reconfigurationPlan(seed, options.reconfigurationProbability ?? 0.2, faultPhaseMs) : undefined;
  const simulation = new Simulation({
    seed,
    ...(options.replicaCount === undefined ? {} : { replicaCount: options.replicaCount }),
    ...(plan ?? {}),
    ...(options.clientCount === undefined ? {} : { clientCount: options.clientCount }),
    ...(options.unsafe === undefined ? {} : { unsafe: options.unsafe }),
    ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
    diskLatencyMsMax: options.diskLatencyMsMax ?? 12,
    crashAfterVoteProbability: options.crashAfterVoteProbability ?? 0.01,
    disk: options.disk ?? defaultDiskFaults,
    clockDrift: options.clockDrift ?? defaultClockDrift,
    ...(options.checkpointProbability === undefined ? {} : { checkpointProbability: options.checkpointProbability }),
    buggify: options.buggify ?? true,
  });
  const faults: string[] = [];
  simulation.faultLog = faults;
  simulation.trace.stampWith(() => simulation.nowMs);
  faults.push(`t=0 clocks ${simulation.clocks().join(' ')}`);
  if (plan !== undefined) faults.push(`t=0 group of ${plan.replicaCount}, then ${plan.reconfigurations.map((change) => `${change.replicaCount} at t=${change.atMs}`).join(', ')}`);
  const schedule = new FaultSchedule(simulation, options.faultsMax ?? Number.POSITIVE_INFINITY);
  let failure: string | undefined;
  try {
    simulation.network = networkFor(simulation);
    simulation.setClientsIssuing(true);
    schedule.runUntil(faultPhaseMs);
    // Faults stop: heal, restart everything, quiet network; clients finish what they started.
    simulation.heal();
    simulation.disk = { tornWriteProbability: 0, bitFlipProbability: 0 };
    for (let index = 0; index < simulation.replicaCount; index++) simulation.restart(index);
    simulation.network = quietNetwork;
    simulation.crashAfterVoteProbability = 0;
    simulation.faultPoints.enabled = false;
    simulation.setClientsIssuing(false);
    faults.push(`t=${simulation.nowMs} faults stop`);
    const deadlineMs = simulation.nowMs + livenessBoundMs;
    while (simulation.pendingRequests() > 0 && simulation.nowMs < deadlineMs) simulation.runUntil(simulation.nowMs + 100);
    if (simulation.pendingRequests() > 0) {
      throw new SimulationFailure(`liveness: ${simulation.pendingRequests()} requests still pending ${livenessBoundMs} ms after faults stopped`);
    }
    simulation.runUntil(simulation.nowMs + 2000);
    simulation.checkConverged();
    simulation.checkLinearizable();
  } catch (error) {
    if (!(error instanceof SimulationFailure)) throw error;
    failure = error.message;
  }
  return {
    seed,
    ok: failure === undefined,
    failure,
    traceHash: simulation.trace.digest(),
    simulatedMs: simulation.nowMs,
    committedOps: simulation.committedOps,
    completedRequests: simulation.completedRequests(),
    messagesDelivered: simulation.messagesDelivered,
    faults,
    faultsInjected: schedule.injected,
    traceTail: failure === undefined ? [] : simulation.trace.tailLines(),
  };
}

/** The failure with numbers taken out, so "op 30 lost on replica 2" and "op 12 lost on replica 0" are one kind. */
export function failureKind(failure: string): string {
  const firstLine = failure.split('\n', 1)[0]!;
  return firstLine.replace(/\(t=\d+ ms\)$/, '').replace(/^t=\d+ ms: /, '').replace(/\d+/g, 'N');
}

/**
 * The binary search of a shrinker over fault prefixes, apart from how a
 * candidate runs (this simulator runs seeds synchronously, the cluster
 * simulator asynchronously): yields the number of faults to try next, is
 * told whether that prefix failed the same way, and returns the fewest found
 * to fail. At most ceil(log2(faultsInjected + 1)) + 1 candidates.
 */
export function* faultPrefixSearch(faultsInjected: number): Generator<number, number, boolean> {
  let low = 0;
  let high = faultsInjected;
  let runs = 0;
  const runsMax = Math.ceil(Math.log2(faultsInjected + 1)) + 1;
  while (low < high) {
    assert(runs < runsMax, `shrinking took more than ${runsMax} runs`);
    const middle = Math.floor((low + high) / 2);
    const failedSameWay = yield middle;
    runs++;
    if (failedSameWay) high = middle;
    else low = middle + 1;
  }
  return high;
}

/**
 * Binary-searches the number of injected faults for the fewest that still
 * fail with the same kind of failure: a shorter schedule to read, and a
 * trace that ends closer to its cause. Failure need not be monotonic in the
 * prefix length, so the answer is a short failing prefix, not always the
 * shortest; every candidate it returns was run and failed.
 */
export function shrinkFailure(failed: SeedResult, options: RunOptions = {}): ShrinkReport {
  assert(!failed.ok && failed.failure !== undefined, `seed ${failed.seed} passed: nothing to shrink`);
  const kind = failureKind(failed.failure);
  let best = failed;
  let runs = 0;
  const search = faultPrefixSearch(failed.faultsInjected);
  let step = search.next();
  while (step.done !== true) {
    const candidate = runSeed(failed.seed, { ...options, faultsMax: step.value });
    runs++;
    const same = candidate.failure !== undefined && failureKind(candidate.failure) === kind;
    if (same) best = candidate;
    step = search.next(same);
  }
  return { faultsMax: step.value, result: best, runs };
}

/** Runs seeds `from` … `to` (both included). */
export function runSeeds(range: { readonly from: number; readonly to: number }, options: RunOptions = {}): SweepReport {
  const started = performance.now();
  const failures: SeedResult[] = [];
  let committedOps = 0;
  let diskFaults = 0;
  for (let seed = range.from; seed <= range.to; seed++) {
    const result = runSeed(seed, options);
    committedOps += result.committedOps;
    diskFaults += result.faults.filter((line) => line.includes(' disk ')).length;
    if (!result.ok) failures.push(result);
  }
  return { ...sweepSummary(range.to - range.from + 1, started, failures), from: range.from, to: range.to, committedOps, diskFaults };
}
