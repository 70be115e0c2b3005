// The deterministic cluster simulator: real VSR replicas, simulated network,
// disk and clients, all on one event queue and one seeded PRNG. The network
// loses, delays (so reorders), duplicates and partitions messages; replicas
// crash (losing everything not yet made durable through Ready/advance, or
// landing an in-flight write with its last entry torn) and restart from what
// they persisted (where a stored entry may read back with a bit flipped); each
// replica's clock has its own rate and offset; clients issue random KV ops and
// retry. Replicas checkpoint their state machine now and then (as the real
// driver does into LMDB) and compact their logs behind it, so lagging replicas
// exercise state transfer. A run may change the group's size (1 → 3 → 5, or
// back): an admin client submits configuration ops at set times; replicas at
// new indexes start as joiners and must get the state before they take part,
// and replicas left out retire.
// Checkers run as the world runs (agreement on every committed op, no lost
// acknowledged op) and at the end (linearizability, liveness, convergence).
// Every choice comes from the seed, so a run replays exactly; the trace hash
// proves it.

import { assert } from '../stdx/assert.js';
import type { LogEntry } from '../vsr/log-entry.js';
import type { Checkpoint, Message, ReplicaIndex, Reply } from '../vsr/messages.js';
import { Replica } from '../vsr/replica.js';
import type { DurableState, HardState, Ready, ReplicaTimeouts, UnsafeFlags } from '../vsr/replica.js';
import { SimFaultPoints } from './buggify.js';
import { EventQueue } from './event-queue.js';
import type { KvKeyOp, KvOp, KvResult } from './kv-model.js';
import { KvStateMachine, kvReconfiguration } from './kv-model.js';
import type { HistoryOp } from './linearizability.js';
import { checkLinearizable } from './linearizability.js';
import { Prng } from './prng.js';
import { TraceHash } from './trace-hash.js';

export interface NetworkFaults {
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
}

/** A configuration change the admin client submits at `atMs` (retrying until it is answered). */
export interface Reconfiguration {
  readonly atMs: number;
  readonly replicaCount: number;
}

export interface SimulationOptions {
  readonly seed: number;
  /** The group's size at the start. */
  readonly replicaCount?: number;
  /** Configuration changes; the simulation has a replica for every index any configuration uses. */
  readonly reconfigurations?: readonly Reconfiguration[];
  readonly clientCount?: number;
  readonly keys?: readonly string[];
  readonly tickMs?: number;
  readonly clientRetryMs?: number;
  readonly clientThinkMsMax?: number;
  readonly diskLatencyMsMax?: number;
  readonly network?: NetworkFaults;
  readonly timeouts?: ReplicaTimeouts;
  readonly unsafe?: UnsafeFlags;
  /**
   * Fault point: right after a replica sends a vote (PrepareOk, DoViewChange)
   * it crashes with this probability and restarts soon after, the moment that
   * tests "durable before sent" hardest.
   */
  readonly crashAfterVoteProbability?: number;
  /** Disk faults; see `DiskFaults`. Off unless given. */
  readonly disk?: DiskFaults;
  /** Clock drift between replicas; see `ClockDrift`. Off unless given. */
  readonly clockDrift?: ClockDrift;
  /** Simulation start on the wall clock (op timestamps). */
  readonly epochMs?: number;
  /** Log entries a replica keeps behind its checkpoint (small, so lagging replicas need state transfer). */
  readonly logRetainOps?: number;
  /** Compaction granularity. */
  readonly compactOpsMin?: number;
  /** Chance that a Ready which commits also persists a checkpoint of the state machine. */
  readonly checkpointProbability?: number;
  /** Fault points in the replica code (BUGGIFY); off unless set. */
  readonly buggify?: boolean;
}

/**
 * Faults of the simulated replica disk (the log a replica restarts from). At
 * most a minority of replicas hold a damaged log at once (beyond that a
 * committed op can be lost for real, and no protocol can repair it).
 */
export interface DiskFaults {
  /** A crash during a write that appends entries persists it with its last entry torn (garbled). */
  readonly tornWriteProbability: number;
  /** At restart, one stored log entry reads back with a flipped bit (latent corruption). */
  readonly bitFlipProbability: number;
  /** At restart, a run of 1–4 stored entries cannot be read at all (a latent sector error). */
  readonly latentSectorErrorProbability?: number;
  /** When a crashed replica restarts, its whole disk was lost and replaced by an empty one. */
  readonly diskLossProbability?: number;
}

/** Each replica's clock runs at its own rate, from its own offset (both chosen by the seed). */
export interface ClockDrift {
  /** Rate in [1 - rateMax, 1 + rateMax]. */
  readonly rateMax: number;
  /** Offset in [-offsetMsMax, offsetMsMax]. */
  readonly offsetMsMax: number;
}

export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
}

type Op = KvOp;
type Result = KvResult;

interface StoredCheckpoint {
  readonly checkpoint: Checkpoint<Result>;
  readonly state: Uint8Array;
}

interface ReplicaNode {
  readonly index: ReplicaIndex;
  replica: Replica<Op, Result> | undefined;
  stateMachine: KvStateMachine;
  /** What survives a crash: hard state, checkpoint, and the log after `logBase`. */
  readonly hardState: { value: HardState };
  checkpoint: StoredCheckpoint | undefined;
  logBase: number;
  readonly log: LogEntry<Op>[];
  incarnation: number;
  /** The Ready being written, if any (a crash may tear it), and the checkpoint riding with it. */
  writing: Ready<Op, Result> | undefined;
  writingCheckpoint: StoredCheckpoint | undefined;
  /** The lowest op number whose stored entry is corrupt, until a truncation drops it. */
  corruptFrom: number | undefined;
  /** This replica's clock: local = epoch + offsetMs + nowMs * rate. */
  readonly clockRate: number;
  readonly clockOffsetMs: number;
}

interface ClientState {
  readonly id: string;
  requestNumber: number;
  /**
   * `read`: a get sent as a linearizable read (read index), not through the
   * log. `historyIndex` -1: an admin op, outside the checked history.
   */
  pending: { readonly op: Op; readonly invokeMs: number; readonly historyIndex: number; readonly read: boolean } | undefined;
  viewGuess: number;
  issuing: boolean;
  completed: number;
}

interface CommittedRecord {
  readonly checksum: string;
  readonly clientId: string;
  readonly requestNumber: number;
  readonly replica: ReplicaIndex;
  readonly timeMs: number;
}

export const quietNetwork: NetworkFaults = { lossProbability: 0, duplicateProbability: 0, delayMsMin: 1, delayMsMax: 5 };

const eventsMax = 1_000_000;
const historyOpsMax = 20_000;

export class Simulation {
  readonly prng: Prng;
  readonly queue = new EventQueue(eventsMax);
  readonly trace = new TraceHash();
  /** Replicas simulated: every index any configuration of the run uses. */
  readonly replicaCount: number;
  private readonly initialReplicaCount: number;
  /** The sizes the run's configuration changes ask for, in order. */
  private readonly plannedCounts: readonly number[];
  /** The replica count of each epoch, as configuration ops commit (epoch 0: the initial count). */
  private readonly epochCounts: number[] = [];
  private readonly admin: ClientState = { id: 'admin', requestNumber: 0, pending: undefined, viewGuess: 0, issuing: false, completed: 0 };
  /** Configuration changes answered, as "count@t". */
  readonly reconfigurationsDone: string[] = [];
  private readonly nodes: ReplicaNode[] = [];
  private readonly clients: ClientState[] = [];
  private readonly keys: readonly string[];
  private readonly tickMs: number;
  private readonly clientRetryMs: number;
  private readonly clientThinkMsMax: number;
  private readonly diskLatencyMsMax: number;
  private readonly epochMs: number;
  private readonly timeouts: ReplicaTimeouts | undefined;
  private readonly unsafe: UnsafeFlags;
  private readonly logRetainOps: number;
  private readonly compactOpsMin: number;
  private readonly checkpointProbability: number;
  /** Checkpoints installed by state transfer, over the run. */
  stateTransfers = 0;
  /** The replicas' fault points (BUGGIFY); `enabled` switches them on and off mid-run. */
  readonly faultPoints: SimFaultPoints;
  crashAfterVoteProbability: number;
  disk: DiskFaults;
  /** Disk faults as they happen, one line each (the caller's fault schedule). */
  faultLog: string[] = [];
  network: NetworkFaults;
  /** Replica pairs that cannot talk, as "a,b" with a < b. */
  private readonly cut = new Set<string>();
  readonly history: HistoryOp[] = [];
  private readonly committedByOp = new Map<number, CommittedRecord>();
  private readonly acknowledged: { clientId: string; requestNumber: number; opNumber: number }[] = [];
  messagesDelivered = 0;
  /** Reads served without going through the log (read index), over the run. */
  readsServed = 0;
  private readonly openReads = new Map<number, { readonly clientId: string; readonly requestNumber: number; readonly key: string }>();
  private nextReadId = 1;
  private failure: SimulationFailure | undefined;

  constructor(options: SimulationOptions) {
    this.prng = new Prng(options.seed);
    this.initialReplicaCount = options.replicaCount ?? 3;
    this.epochCounts.push(this.initialReplicaCount);
    const reconfigurations = options.reconfigurations ?? [];
    this.plannedCounts = reconfigurations.map((change) => change.replicaCount);
    this.replicaCount = Math.max(this.initialReplicaCount, ...reconfigurations.map((change) => change.replicaCount));
    this.keys = options.keys ?? ['a', 'b', 'c'];
    this.tickMs = options.tickMs ?? 10;
    this.clientRetryMs = options.clientRetryMs ?? 300;
    this.clientThinkMsMax = options.clientThinkMsMax ?? 40;
    this.diskLatencyMsMax = options.diskLatencyMsMax ?? 4;
    this.network = options.network ?? quietNetwork;
    this.epochMs = options.epochMs ?? 1_700_000_000_000;
    this.timeouts = options.timeouts;
    this.unsafe = options.unsafe ?? {};
    this.logRetainOps = options.logRetainOps ?? 24;
    this.compactOpsMin = options.compactOpsMin ?? 8;
    this.checkpointProbability = options.checkpointProbability ?? 0.3;
    this.crashAfterVoteProbability = options.crashAfterVoteProbability ?? 0;
    this.disk = options.disk ?? { tornWriteProbability: 0, bitFlipProbability: 0 };
    this.faultPoints = new SimFaultPoints(this.prng, this.trace);
    this.faultPoints.enabled = options.buggify ?? false;
    const drift = options.clockDrift ?? { rateMax: 0, offsetMsMax: 0 };
    for (let index = 0; index < this.replicaCount; index++) {
      const clockRate = 1 + (this.prng.float() * 2 - 1) * drift.rateMax;
      const clockOffsetMs = Math.round((this.prng.float() * 2 - 1) * drift.offsetMsMax);
      const node: ReplicaNode = {
        index,
        replica: undefined,
        stateMachine: new KvStateMachine(),
        hardState: { value: index < this.initialReplicaCount ? { view: 0, logView: 0, commitNumber: 0 } : { view: 0, logView: 0, commitNumber: 0, joining: true } },
        checkpoint: undefined,
        logBase: 0,
        log: [],
        incarnation: 0,
        writing: undefined,
        writingCheckpoint: undefined,
        corruptFrom: undefined,
        clockRate,
        clockOffsetMs,
      };
      this.nodes.push(node);
      this.startReplica(node, undefined);
      this.scheduleTick(node);
    }
    for (let index = 0; index < (options.clientCount ?? 4); index++) {
      this.clients.push({ id: `c${index}`, requestNumber: 0, pending: undefined, viewGuess: 0, issuing: false, completed: 0 });
    }
    this.clients.push(this.admin);
    for (const change of reconfigurations) {
      this.queue.schedule(change.atMs, () => {
        this.guard(() => {
          this.reconfigure(change.replicaCount);
        });
      });
    }
  }

  /** The admin client asks for a group of `replicaCount` (after its previous change is answered). */
  private reconfigure(replicaCount: number): void {
    if (this.admin.pending !== undefined) {
      this.queue.schedule(this.clientRetryMs, () => {
        this.guard(() => {
          this.reconfigure(replicaCount);
        });
      });
      return;
    }
    this.admin.requestNumber++;
    this.admin.pending = { op: { type: 'reconfigure', replicaCount }, invokeMs: this.nowMs, historyIndex: -1, read: false };
    this.trace.mix('reconfigure', this.nowMs, replicaCount);
    this.sendRequest(this.admin, this.allReplicas());
    this.scheduleRetry(this.admin, this.admin.requestNumber);
  }

  private allReplicas(): ReplicaIndex[] {
    return Array.from({ length: this.replicaCount }, (_, index) => index);
  }

  /** The epoch and replica count of the newest configuration committed so far. */
  get configuration(): { readonly epoch: number; readonly replicaCount: number } {
    return { epoch: this.epochCounts.length - 1, replicaCount: this.epochCounts.at(-1)! };
  }

  get nowMs(): number {
    return this.queue.nowMs;
  }

  // Driving.

  /** Runs the world until `timeMs`; throws SimulationFailure on the first violation. */
  runUntil(timeMs: number): void {
    this.queue.runUntil(timeMs);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Clients start (or stop) issuing new ops; pending ones are still retried. */
  setClientsIssuing(issuing: boolean): void {
    for (const client of this.clients) {
      if (client === this.admin) continue;
      const wasIssuing = client.issuing;
      client.issuing = issuing;
      if (issuing && !wasIssuing && client.pending === undefined) this.scheduleNextOp(client);
    }
  }

  // Faults.

  /**
   * Crashes a replica. An in-flight write is lost, or (by the seed, or when
   * `tornWrite` is set) lands with its last entry torn.
   */
  crash(index: ReplicaIndex, options: { readonly tornWrite?: boolean } = {}): void {
    const node = this.nodes[index]!;
    if (node.replica === undefined) return;
    this.trace.mix('crash', this.nowMs, index);
    const write = node.writing;
    const writeCheckpoint = node.writingCheckpoint;
    node.replica = undefined;
    node.incarnation++;
    node.writing = undefined;
    node.writingCheckpoint = undefined;
    if (write === undefined || write.entries.length === 0) return;
    const seeded = this.disk.tornWriteProbability > 0 && this.mayDamageDisk(node) && this.prng.chance(this.disk.tornWriteProbability);
    if (options.tornWrite !== true && !seeded) return;
    this.persist(node, write, writeCheckpoint);
    const torn = write.entries.at(-1)!;
    if (this.storedEntry(node, torn.opNumber) !== undefined) this.corruptStoredEntry(node, torn.opNumber, 'torn write of');
  }

  /** Restarts a crashed replica from its disk; by the seed, one stored entry reads back with a flipped bit. */
  restart(index: ReplicaIndex): void {
    const node = this.nodes[index]!;
    if (node.replica !== undefined) return;
    this.trace.mix('restart', this.nowMs, index);
    if (node.log.length > 0 && this.disk.bitFlipProbability > 0 && this.mayDamageDisk(node) && this.prng.chance(this.disk.bitFlipProbability)) {
      this.corruptStoredEntry(node, this.prng.pick(node.log).opNumber, 'bit flip in');
    }
    const latent = this.disk.latentSectorErrorProbability ?? 0;
    if (node.log.length > 0 && latent > 0 && this.mayDamageDisk(node) && this.prng.chance(latent)) {
      // The driver reads an unreadable sector as a corrupt entry: the replica must never see a silent hole.
      const first = this.prng.between(0, node.log.length - 1);
      const last = Math.min(node.log.length - 1, first + this.prng.between(0, 3));
      for (let position = first; position <= last; position++) this.corruptStoredEntry(node, node.log[position]!.opNumber, 'latent sector error at');
    }
    node.stateMachine = new KvStateMachine();
    if (node.checkpoint !== undefined) node.stateMachine.restore(node.checkpoint.state);
    this.startReplica(node, {
      hardState: node.hardState.value,
      ...(node.checkpoint === undefined ? {} : { checkpoint: node.checkpoint.checkpoint }),
      log: node.log.slice(),
    });
  }

  private storedEntry(node: ReplicaNode, opNumber: number): LogEntry<Op> | undefined {
    return opNumber > node.logBase ? node.log[opNumber - node.logBase - 1] : undefined;
  }

  /**
   * Flips one bit of a stored entry on a crashed replica's disk (its checksum
   * no longer matches). Not limited like the seeded faults: a scenario chooses.
   */
  corruptStoredEntry(index: ReplicaIndex | ReplicaNode, opNumber: number, what = 'bit flip in'): void {
    const node = typeof index === 'number' ? this.nodes[index]! : index;
    assert(node.replica === undefined, `replica ${node.index} is up: corrupt its disk while it is down`);
    const entry = this.storedEntry(node, opNumber);
    assert(entry?.opNumber === opNumber, `replica ${node.index} has no stored op ${opNumber}`);
    const bit = this.prng.between(0, 30);
    node.log[opNumber - node.logBase - 1] = { ...entry, requestNumber: entry.requestNumber ^ (1 << bit) };
    node.corruptFrom = Math.min(node.corruptFrom ?? opNumber, opNumber);
    const committed = this.committedByOp.get(opNumber)?.checksum === entry.checksum ? ' (committed)' : '';
    this.trace.mix('corrupt', this.nowMs, node.index, opNumber, bit);
    this.faultLog.push(`t=${this.nowMs} disk ${node.index}: ${what} op ${opNumber}${committed}`);
  }

  /**
   * A crashed replica's disk is lost and replaced by an empty one (log, hard
   * state and checkpoint gone). It restarts as a replacement: it must learn
   * the latest view from a quorum before it may adopt a StartView.
   */
  replaceDisk(index: ReplicaIndex): void {
    const node = this.nodes[index]!;
    assert(node.replica === undefined, `replica ${index} is up: replace its disk while it is down`);
    this.trace.mix('replace_disk', this.nowMs, index);
    node.log.length = 0;
    node.logBase = 0;
    node.checkpoint = undefined;
    node.corruptFrom = undefined;
    // What a replacement persists first (ReplicaOptions.replacement); outside
    // the newest configuration, the node joins afresh instead.
    node.hardState.value =
      index < this.configuration.replicaCount
        ? { view: 0, logView: 0, commitNumber: 0, recovering: true, viewUnknown: true }
        : { view: 0, logView: 0, commitNumber: 0, joining: true };
    this.faultLog.push(`t=${this.nowMs} disk ${index}: lost, replaced by an empty one`);
  }

  /** True when a seeded disk fault (or a disk replacement) may hit replica `index` now. */
  canDamageDisk(index: ReplicaIndex): boolean {
    return this.mayDamageDisk(this.nodes[index]!);
  }

  /**
   * A seeded disk fault may hit `node` only while fewer than a minority of
   * replicas are damaged: a corrupt entry on disk, or still recovering from
   * one (it may have lost entries it acknowledged, even once its disk is clean).
   */
  private mayDamageDisk(node: ReplicaNode): boolean {
    // While a configuration change is under way (a member not yet in the
    // newest epoch, or a replica left out not yet retired), fewer replicas
    // may hold the state than either configuration's size: no damage then.
    const { epoch, replicaCount } = this.configuration;
    const settled = this.nodes.every((other) => {
      const hard = other.hardState.value;
      return (hard.config?.epoch ?? 0) === epoch && hard.joining !== true;
    });
    if (!settled) return false;
    // At most a minority of the configuration's members damaged, this one
    // counted (a damaged replica may take more damage); a group of 1 never
    // (it has no one to repair from). Replicas outside it are left alone. The
    // same must hold for every configuration still to come: a shrink keeps
    // the lowest indexes, and a damaged majority of those could not recover.
    const damaged = (other: ReplicaNode): boolean => other.corruptFrom !== undefined || other.hardState.value.recovering === true;
    const withinBudget = (count: number): boolean => {
      const budget = Math.floor((count - 1) / 2);
      if (node.index >= count) return true; // Not a member of that configuration.
      const members = this.nodes.filter((other) => other.index < count);
      return members.filter(damaged).length + (damaged(node) ? 0 : 1) <= budget;
    };
    if (node.index >= replicaCount) return false;
    return [replicaCount, ...this.plannedCounts.slice(epoch)].every(withinBudget);
  }

  /** Replicas with a Ready being written: crashing one now loses (or tears) that write. */
  writing(): ReplicaIndex[] {
    return this.nodes.filter((node) => node.replica !== undefined && node.writing !== undefined).map((node) => node.index);
  }

  /** Replicas writing a Ready that appends entries: a torn write can hit one now. */
  writingEntries(): ReplicaIndex[] {
    return this.nodes.filter((node) => node.replica !== undefined && (node.writing?.entries.length ?? 0) > 0).map((node) => node.index);
  }

  /** Each replica's clock, as "index:rate@offset". */
  clocks(): string[] {
    return this.nodes.map((node) => `${node.index}:${node.clockRate.toFixed(4)}@${node.clockOffsetMs}ms`);
  }

  /** True while a replica's stored log holds a corrupt entry. */
  diskDamaged(index: ReplicaIndex): boolean {
    return this.nodes[index]!.corruptFrom !== undefined;
  }

  isUp(index: ReplicaIndex): boolean {
    return this.nodes[index]!.replica !== undefined;
  }

  /** Splits replicas into `group` and the rest. */
  partition(group: readonly ReplicaIndex[]): void {
    this.trace.mix('partition', this.nowMs, ...group);
    this.cut.clear();
    for (let a = 0; a < this.replicaCount; a++) {
      for (let b = a + 1; b < this.replicaCount; b++) {
        if (group.includes(a) !== group.includes(b)) this.cut.add(`${a},${b}`);
      }
    }
  }

  heal(): void {
    this.trace.mix('heal', this.nowMs);
    this.cut.clear();
  }

  // Introspection.

  replica(index: ReplicaIndex): Replica<Op, Result> | undefined {
    return this.nodes[index]!.replica;
  }

  /** The replica that is primary in normal status in the highest epoch and view, if any. */
  primary(): ReplicaIndex | undefined {
    let best: Replica<Op, Result> | undefined;
    for (const node of this.nodes) {
      const replica = node.replica;
      if (replica?.status !== 'normal' || !replica.isPrimary()) continue;
      if (best === undefined || replica.epoch > best.epoch || (replica.epoch === best.epoch && replica.view > best.view)) best = replica;
    }
    return best?.replicaIndex;
  }

  pendingRequests(): number {
    return this.clients.filter((client) => client.pending !== undefined).length;
  }

  completedRequests(): number {
    return this.clients.reduce((total, client) => total + client.completed, 0);
  }

  get committedOps(): number {
    return this.committedByOp.size;
  }

  // Checkers.

  /**
   * The newest configuration is in force everywhere (members in its epoch,
   * replicas left out retired); every acknowledged op is in every up
   * member's committed log; members converged.
   */
  checkConverged(): void {
    const { epoch, replicaCount } = this.configuration;
    for (const node of this.nodes) {
      const replica = node.replica;
      if (replica === undefined) continue;
      if (node.index < replicaCount) {
        this.require(replica.epoch === epoch && !replica.isJoining, `replica ${node.index} is in epoch ${replica.epoch}${replica.isJoining ? ' (joining)' : ''}, not ${epoch}`);
      } else {
        this.require(replica.status === 'retired' || replica.isJoining, `replica ${node.index}, outside the configuration of ${replicaCount}, is ${replica.status}`);
      }
    }
    const up = this.nodes.filter((node) => node.replica !== undefined && node.index < replicaCount);
    const commitNumbers = up.map((node) => node.replica!.commitNumber);
    const commitMax = Math.max(...commitNumbers);
    this.require(commitNumbers.every((value) => value === commitMax), `replicas did not converge: commit numbers ${commitNumbers.join(', ')}`);
    const digests = new Set(up.map((node) => node.stateMachine.digest()));
    this.require(digests.size === 1, `replica states differ after convergence (${digests.size} distinct)`);
    for (const node of up) {
      const replica = node.replica!;
      for (const ack of this.acknowledged) {
        // Compacted entries live on in the state (whose digest agrees above).
        if (ack.opNumber <= replica.logBaseOpNumber) continue;
        const entry = replica.entry(ack.opNumber);
        this.require(
          entry !== undefined && entry.clientId === ack.clientId && entry.requestNumber === ack.requestNumber && ack.opNumber <= commitMax,
          `acknowledged op ${ack.opNumber} (${ack.clientId}#${ack.requestNumber}) lost on replica ${node.index}`,
        );
      }
    }
  }

  checkLinearizable(): void {
    const verdict = checkLinearizable(this.history);
    if (verdict.status === 'violation') {
      const ops = verdict.ops.map((op) => `${op.clientId} ${op.op.type}(${op.op.type === 'put' ? op.op.value : ''})=${op.result} [${op.invokeMs},${op.returnMs}]`);
      this.require(false, `history not linearizable on key ${verdict.key}:\n  ${ops.join('\n  ')}`);
    }
  }

  private require(condition: boolean, message: string): void {
    if (condition) return;
    this.failure ??= new SimulationFailure(`${message} (t=${this.nowMs} ms)`);
    throw this.failure;
  }

  // Replicas.

  private startReplica(node: ReplicaNode, durable: DurableState<Op, Result> | undefined): void {
    // The count a replica starts from: the first configuration's (a
    // persisted configuration overrides it), or the newest for a replacement,
    // as its operator would configure it (it does not know its epoch: it asks).
    const hard = durable?.hardState;
    const joining = durable === undefined ? node.index >= this.initialReplicaCount : hard?.joining === true;
    const replicaCount = hard?.viewUnknown === true ? this.configuration.replicaCount : this.initialReplicaCount;
    node.replica = new Replica<Op, Result>({
      replicaIndex: node.index,
      replicaCount,
      addressCount: this.replicaCount,
      joining,
      reconfiguration: kvReconfiguration,
      stateMachine: node.stateMachine,
      random: this.prng.fork(),
      logRetainOps: this.logRetainOps,
      compactOpsMin: this.compactOpsMin,
      faults: this.faultPoints,
      ...(durable === undefined ? {} : { durable }),
      ...(this.timeouts === undefined ? {} : { timeouts: this.timeouts }),
      unsafe: this.unsafe,
    });
    this.pump(node);
  }

  private scheduleTick(node: ReplicaNode): void {
    // A tick is tickMs on the replica's own clock.
    this.queue.schedule(Math.max(1, Math.round(this.tickMs / node.clockRate)), () => {
      this.guard(() => {
        if (node.replica !== undefined) {
          node.replica.tick(this.epochMs + node.clockOffsetMs + Math.floor(this.nowMs * node.clockRate));
          this.pump(node);
        }
      });
      this.scheduleTick(node);
    });
  }

  /** Hands Ready after Ready to the simulated disk and network, one in flight at a time. */
  private pump(node: ReplicaNode): void {
    while (node.replica !== undefined && node.writing === undefined && node.replica.hasReady()) {
      const replica = node.replica;
      const ready = replica.ready();
      for (const { entry } of ready.committed) this.recordCommitted(node.index, entry);
      this.answerReads(node, ready);
      if (ready.installedCheckpoint !== undefined) {
        this.stateTransfers++;
        this.trace.mix('state_transfer', this.nowMs, node.index, ready.installedCheckpoint.opNumber);
      }
      // Checkpoint the state machine as of this Ready's commit number, now
      // and then (and always after a state transfer: the log no longer holds it).
      const checkpointDue =
        ready.installedCheckpoint !== undefined ||
        (ready.hardState !== undefined && replica.commitNumber > (node.checkpoint?.checkpoint.opNumber ?? 0) && this.prng.chance(this.checkpointProbability));
      const checkpoint = checkpointDue ? { checkpoint: replica.checkpointAtCommit(), state: node.stateMachine.snapshot() } : undefined;
      // What needs nothing durable leaves now, in parallel with the write.
      for (const envelope of ready.messagesNow) this.sendToReplica(node.index, envelope.to, envelope.message);
      if (ready.repliesNow) for (const reply of ready.replies) this.sendToClient(node.index, reply);
      const writes =
        ready.hardState !== undefined ||
        ready.truncateAfterOpNumber !== undefined ||
        ready.entries.length > 0 ||
        ready.installedCheckpoint !== undefined ||
        ready.compactThroughOpNumber !== undefined;
      if (!writes) {
        this.emit(node, ready);
        if (node.replica === replica) replica.advance(ready);
        continue;
      }
      node.writing = ready;
      node.writingCheckpoint = checkpoint;
      const incarnation = node.incarnation;
      this.queue.schedule(this.prng.between(1, this.diskLatencyMsMax), () => {
        this.guard(() => {
          if (node.incarnation !== incarnation) return; // Crashed while writing: the write is lost.
          this.persist(node, ready, checkpoint);
          node.writing = undefined;
          node.writingCheckpoint = undefined;
          this.emit(node, ready);
          if (node.replica !== replica) return; // Crashed right after sending.
          replica.advance(ready);
          if (checkpoint !== undefined) replica.checkpointed(checkpoint.checkpoint.opNumber);
          this.pump(node);
        });
      });
      return;
    }
  }

  /** Applies a Ready's writes in the order the Ready documents, with the checkpoint taken for it. */
  private persist(node: ReplicaNode, ready: Ready<Op, Result>, checkpoint: StoredCheckpoint | undefined): void {
    if (ready.installedCheckpoint !== undefined) {
      assert(checkpoint !== undefined && checkpoint.checkpoint.opNumber >= ready.installedCheckpoint.opNumber, 'a state transfer is checkpointed');
      node.log.length = 0;
      node.logBase = ready.installedCheckpoint.opNumber;
      node.corruptFrom = undefined;
    }
    if (checkpoint !== undefined) node.checkpoint = checkpoint;
    if (ready.truncateAfterOpNumber !== undefined) {
      const keep = ready.truncateAfterOpNumber;
      assert(keep >= node.logBase, `replica ${node.index} truncates after ${keep}, below its stored base ${node.logBase}`);
      node.log.length = Math.min(node.log.length, keep - node.logBase);
      if (node.corruptFrom !== undefined && node.corruptFrom > keep) node.corruptFrom = undefined;
    }
    for (const entry of ready.entries) {
      const last = node.logBase + node.log.length;
      assert(entry.opNumber === last + 1, `replica ${node.index} persists op ${entry.opNumber} after ${last}`);
      node.log.push(entry);
    }
    if (ready.hardState !== undefined) node.hardState.value = ready.hardState;
    const compactThrough = ready.compactThroughOpNumber;
    if (compactThrough !== undefined && compactThrough > node.logBase) {
      assert(compactThrough <= (node.checkpoint?.checkpoint.opNumber ?? 0), `replica ${node.index} compacts past its checkpoint`);
      node.log.splice(0, Math.min(node.log.length, compactThrough - node.logBase));
      node.logBase = compactThrough;
      if (node.corruptFrom !== undefined && node.corruptFrom <= compactThrough) node.corruptFrom = undefined;
    }
  }

  private emit(node: ReplicaNode, ready: Ready<Op, Result>): void {
    for (const envelope of ready.messages) this.sendToReplica(node.index, envelope.to, envelope.message);
    if (!ready.repliesNow) for (const reply of ready.replies) this.sendToClient(node.index, reply);
    const voted = ready.messages.some(({ message }) => message.type === 'prepare_ok' || message.type === 'do_view_change');
    if (voted && this.crashAfterVoteProbability > 0 && this.prng.chance(this.crashAfterVoteProbability)) {
      this.crash(node.index);
      this.queue.schedule(this.prng.between(1, 200), () => {
        this.guard(() => {
          this.restart(node.index);
        });
      });
    }
  }

  private recordCommitted(replica: ReplicaIndex, entry: LogEntry<Op>): void {
    this.trace.mix('commit', replica, entry.opNumber, entry.checksum);
    const known = this.committedByOp.get(entry.opNumber);
    if (known === undefined) {
      this.committedByOp.set(entry.opNumber, { checksum: entry.checksum, clientId: entry.clientId, requestNumber: entry.requestNumber, replica, timeMs: this.nowMs });
      // Ops are first committed in op order, so configuration ops arrive in epoch order.
      const replicaCount = kvReconfiguration(entry.op);
      if (replicaCount !== undefined) this.epochCounts.push(replicaCount);
      return;
    }
    this.require(
      known.checksum === entry.checksum,
      `replicas disagree on committed op ${entry.opNumber}: replica ${known.replica} committed ${known.clientId}#${known.requestNumber} at t=${known.timeMs}, replica ${replica} committed ${entry.clientId}#${entry.requestNumber}`,
    );
  }

  // Network.

  private linkOpen(from: ReplicaIndex, to: ReplicaIndex): boolean {
    return !this.cut.has(from < to ? `${from},${to}` : `${to},${from}`);
  }

  private deliveryDelays(): number[] {
    const { lossProbability, duplicateProbability, delayMsMin, delayMsMax } = this.network;
    if (this.prng.chance(lossProbability)) return [];
    const delays = [this.prng.between(delayMsMin, delayMsMax)];
    if (this.prng.chance(duplicateProbability)) delays.push(this.prng.between(delayMsMin, delayMsMax * 2));
    return delays;
  }

  private sendToReplica(from: ReplicaIndex, to: ReplicaIndex, message: Message<Op, Result>): void {
    if (from >= 0 && !this.linkOpen(from, to)) return;
    for (const delayMs of this.deliveryDelays()) {
      this.queue.schedule(delayMs, () => {
        this.guard(() => {
          const node = this.nodes[to]!;
          if (node.replica === undefined || (from >= 0 && !this.linkOpen(from, to))) return;
          this.messagesDelivered++;
          this.trace.mix(message.type, this.nowMs, from, to, 'view' in message ? message.view : -1);
          node.replica.step(message);
          this.pump(node);
        });
      });
    }
  }

  // Clients.

  private sendToClient(from: ReplicaIndex, reply: Reply<Result>): void {
    for (const delayMs of this.deliveryDelays()) {
      this.queue.schedule(delayMs, () => {
        this.guard(() => {
          this.onReply(from, reply);
        });
      });
    }
  }

  private scheduleNextOp(client: ClientState): void {
    this.queue.schedule(this.prng.between(0, this.clientThinkMsMax), () => {
      this.guard(() => {
        if (client.issuing && client.pending === undefined) this.issue(client);
      });
    });
  }

  /** Confirmed reads are answered from the state as it is now; refused ones are left to the client's retry. */
  private answerReads(node: ReplicaNode, ready: Ready<Op, Result>): void {
    for (const { readId, ok } of ready.reads) {
      const read = this.openReads.get(readId);
      this.openReads.delete(readId);
      if (read === undefined || !ok) continue;
      const value = node.stateMachine.valueOf(read.key);
      const view = node.replica!.view;
      this.readsServed++;
      this.trace.mix('read', this.nowMs, node.index, read.clientId, read.requestNumber);
      for (const delayMs of this.deliveryDelays()) {
        this.queue.schedule(delayMs, () => {
          this.guard(() => {
            this.onReadReply(node.index, read.clientId, read.requestNumber, view, value);
          });
        });
      }
    }
  }

  private sendRead(client: ClientState, targets: readonly ReplicaIndex[]): void {
    const pending = client.pending;
    if (pending?.op.type !== 'get') return;
    const { key } = pending.op;
    const requestNumber = client.requestNumber;
    for (const target of targets) {
      for (const delayMs of this.deliveryDelays()) {
        this.queue.schedule(delayMs, () => {
          this.guard(() => {
            const node = this.nodes[target]!;
            if (node.replica === undefined) return;
            const readId = this.nextReadId++;
            if (!node.replica.read(readId)) return;
            this.openReads.set(readId, { clientId: client.id, requestNumber, key });
            this.pump(node);
          });
        });
      }
    }
  }

  private onReadReply(from: ReplicaIndex, clientId: string, requestNumber: number, view: number, value: Result): void {
    const client = this.clients.find((candidate) => candidate.id === clientId)!;
    const pending = client.pending;
    if (pending === undefined || client.requestNumber !== requestNumber) return;
    this.trace.mix('read_reply', this.nowMs, from, clientId, requestNumber);
    this.history[pending.historyIndex] = { ...this.history[pending.historyIndex]!, returnMs: this.nowMs, result: value };
    client.pending = undefined;
    client.completed++;
    client.viewGuess = Math.max(client.viewGuess, view);
    if (client.issuing) this.scheduleNextOp(client);
  }

  private issue(client: ClientState): void {
    assert(this.history.length < historyOpsMax, `client history past ${historyOpsMax} ops`);
    client.requestNumber++;
    const key = this.prng.pick(this.keys);
    const op: KvKeyOp = this.prng.chance(0.5) ? { type: 'put', key, value: `${client.id}.${client.requestNumber}` } : { type: 'get', key };
    this.history.push({ clientId: client.id, op, invokeMs: this.nowMs, returnMs: Number.POSITIVE_INFINITY, result: undefined });
    client.pending = { op, invokeMs: this.nowMs, historyIndex: this.history.length - 1, read: op.type === 'get' && this.prng.chance(0.5) };
    this.trace.mix('issue', this.nowMs, client.id, client.requestNumber);
    this.sendRequest(client, [client.viewGuess % this.replicaCount]);
    this.scheduleRetry(client, client.requestNumber);
  }

  private sendRequest(client: ClientState, targets: readonly ReplicaIndex[]): void {
    const pending = client.pending;
    if (pending === undefined) return;
    if (pending.read) {
      this.sendRead(client, targets);
      return;
    }
    for (const target of targets) {
      this.sendToReplica(-1, target, { type: 'request', clientId: client.id, requestNumber: client.requestNumber, op: pending.op });
    }
  }

  private scheduleRetry(client: ClientState, requestNumber: number): void {
    this.queue.schedule(this.clientRetryMs, () => {
      this.guard(() => {
        if (client.pending === undefined || client.requestNumber !== requestNumber) return;
        this.sendRequest(client, Array.from({ length: this.replicaCount }, (_, index) => index));
        this.scheduleRetry(client, requestNumber);
      });
    });
  }

  private onReply(from: ReplicaIndex, reply: Reply<Result>): void {
    const client = this.clients.find((candidate) => candidate.id === reply.clientId);
    assert(client !== undefined, `reply for unknown client ${reply.clientId}`);
    const pending = client.pending;
    if (pending === undefined || reply.requestNumber !== client.requestNumber) return;
    this.trace.mix('reply', this.nowMs, from, reply.clientId, reply.requestNumber, reply.opNumber);
    const committed = this.committedByOp.get(reply.opNumber);
    this.require(
      committed?.clientId === reply.clientId && committed.requestNumber === reply.requestNumber,
      `client ${reply.clientId}#${reply.requestNumber} answered for op ${reply.opNumber}, which committed ${committed?.clientId}#${committed?.requestNumber}`,
    );
    this.acknowledged.push({ clientId: reply.clientId, requestNumber: reply.requestNumber, opNumber: reply.opNumber });
    if (pending.historyIndex >= 0) this.history[pending.historyIndex] = { ...this.history[pending.historyIndex]!, returnMs: this.nowMs, result: reply.result };
    else this.reconfigurationsDone.push(`${(pending.op as { replicaCount: number }).replicaCount}@${this.nowMs}`);
    client.pending = undefined;
    client.completed++;
    client.viewGuess = Math.max(client.viewGuess, reply.view);
    if (client.issuing) this.scheduleNextOp(client);
  }

  /** Turns an exception inside the world (a replica's assertion) into the run's failure. */
  private guard(body: () => void): void {
    if (this.failure !== undefined) return;
    try {
      body();
    } catch (error) {
      this.failure ??=
        error instanceof SimulationFailure ? error : new SimulationFailure(`t=${this.nowMs} ms: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}
