// A Viewstamped Replication replica ("VR Revisited", Liskov and Cowling 2012)
// as a pure state machine, in etcd raft's shape: the driver feeds it messages
// (`step`) and clock ticks (`tick`), takes a `Ready` (hard state and log
// entries to make durable, messages to send, committed entries, client
// replies), makes the writes durable BEFORE sending the messages, then calls
// `advance`. No I/O, no clock, no promises; timeouts are counted in ticks and
// randomized by the injected `Random`, so a seed replays exactly.
//
// Durability replaces the paper's recovery protocol (TigerBeetle's choice):
// the view, the last normal view (`logView`) and every log entry are durable
// before any PrepareOk, StartViewChange or DoViewChange that depends on them
// leaves, so a restarted replica rejoins from what it persisted. (A primary's
// Prepare and Commit go out while it persists; a restarted primary therefore
// never resumes its view.) One whose persisted log has a torn or corrupt entry
// rejoins only after adopting a primary's whole log (status `recovering`),
// since it may have acknowledged the entries it lost. A replacement for a
// replica whose disk was lost first learns the latest view from a quorum of
// the others (the paper's recovery, for the one case a persisted view cannot
// cover).
//
// Reads: `read()` on the primary is answered in a later Ready once a quorum
// has confirmed it is still primary (read index).
//
// Reconfiguration (VR Revisited §7, with indexes for members): a request whose
// op `reconfiguration` recognizes (a target replica count) becomes a
// configuration entry; the primary prepares nothing after it. Its commit ends
// the epoch: replicas 0 … count-1 start the next epoch in view 0, the others
// retire. A joining replica (a new index) learns where the newest epoch began
// and gets the state from any replica of it before it takes part; a replica
// that missed the commit catches up the same way (EpochStarted, RequestEpoch).
//
// Checkpoints and compaction: the driver tells the replica (`checkpointed`)
// when the state machine's state through an op is durable; the replica then
// drops log entries behind it, keeping `logRetainOps` for lagging peers, and
// the next Ready says which persisted entries may go. A replica whose log ends
// before a primary's kept entries gets the primary's state machine snapshot
// instead (state transfer, the `checkpoint` message).

import type { FaultPoints } from '../io/env.js';
import { noFaults } from '../io/env.js';
import type { Random } from '../io/random.js';
import { assert } from '../stdx/assert.js';
import { ClientTable } from './client-table.js';
import type { LogEntry, LogSuffix } from './log-entry.js';
import { intactPrefixLength, logOriginChecksum, makeEntry } from './log-entry.js';
import { ReplicaLog } from './replica-log.js';
import type { Checkpoint, EpochConfig, Envelope, Message, ReplicaIndex, ReplicaMessage, Reply } from './messages.js';

/**
 * `recovering`: restarted with a corrupt entry in its log (a torn write or a
 * bit flip). It may have acknowledged, and so helped commit, the entries it
 * lost, so it takes no part in the protocol (no votes, no acks, no view
 * changes) until it adopts a whole log from a primary's StartView. A joining
 * replica is recovering too, until it has the state of an epoch that
 * includes it.
 * `retired`: a configuration change left this replica out; it only tells
 * others where the newest epoch it knows began.
 */
export type ReplicaStatus = 'normal' | 'view_change' | 'recovering' | 'retired';

/** The deterministic service being replicated. Never reads a clock: time comes from the entry. */
export interface StateMachine<Op, Result> {
  apply(op: Op, opNumber: number, timestampMs: number): Result;
  /** The whole state as bytes (state transfer sends it to a lagging replica). */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot taken by `snapshot`. */
  restore(snapshot: Uint8Array): void;
}

/** The checkpoint of an empty state machine. */
export const originCheckpoint: Checkpoint<never> = { opNumber: 0, checksum: logOriginChecksum, timestampMs: 0, clients: [] };

export interface HardState {
  readonly view: number;
  /** The last view in which this replica's status was normal (its log belongs to it). */
  readonly logView: number;
  readonly commitNumber: number;
  /**
   * Set while the replica is recovering: it may have acknowledged entries it
   * no longer holds. Persisted, because a state transfer can leave its log
   * looking whole; a restart must not turn it back into a voter before a
   * StartView hands it the primary's log.
   */
  readonly recovering?: true;
  /**
   * Set from the start of a replacement replica (its predecessor's disk was
   * lost) until a quorum of the others has told it the latest view: until
   * then it accepts no StartView, since a stale primary's would do.
   */
  readonly viewUnknown?: true;
  /** The configuration in force (absent before the first reconfiguration: epoch 0 with the configured count). */
  readonly config?: EpochConfig;
  /** A joining replica that has not yet received the state of an epoch that includes it. */
  readonly joining?: true;
}

/**
 * What a replica persisted: all a restarted replica gets back. The state
 * machine handed to the replica must hold exactly the checkpoint's state;
 * persisted entries up to the checkpoint are ignored.
 */
export interface DurableState<Op, Result> {
  readonly hardState: HardState;
  /** Absent: the state machine is empty (op 0). */
  readonly checkpoint?: Checkpoint<Result>;
  readonly log: readonly LogEntry<Op>[];
}

/**
 * The driver applies a Ready's writes in this order: `installedCheckpoint`,
 * `truncateAfterOpNumber`, `entries`, `hardState`, `compactThroughOpNumber`.
 */
export interface Ready<Op, Result> {
  /**
   * State transfer replaced the state machine's state with this checkpoint:
   * persist the state and the checkpoint, and drop every persisted entry.
   */
  readonly installedCheckpoint: Checkpoint<Result> | undefined;
  /** Write when present (before the entries are considered durable). */
  readonly hardState: HardState | undefined;
  /** Drop every persisted entry with an op number above this, before appending `entries`. */
  readonly truncateAfterOpNumber: number | undefined;
  readonly entries: readonly LogEntry<Op>[];
  /** Persisted entries up to this op number may be dropped (a durable checkpoint covers them). */
  readonly compactThroughOpNumber: number | undefined;
  /** Send only after the writes above are durable. */
  readonly messages: readonly Envelope<Op, Result>[];
  /**
   * Send at once, before the writes: a normal primary's Prepare, Commit and
   * NewState claim nothing about its own disk, so its backups persist in
   * parallel with it (a restarted primary never resumes its view; see the
   * constructor), and the primary commits only on durable copies.
   */
  readonly messagesNow: readonly Envelope<Op, Result>[];
  /**
   * True when `replies` may also go at once: with more than one replica an op
   * commits only once a quorum holds it durably. A group of 1 with
   * `atomicApply` commits in the Ready that persists: its replies wait.
   */
  readonly repliesNow: boolean;
  readonly replies: readonly Reply<Result>[];
  readonly committed: readonly { readonly entry: LogEntry<Op>; readonly result: Result }[];
  /**
   * Clients the client table dropped to make room and that are not back in it
   * by the end of this Ready (a driver persisting the table drops them too).
   */
  readonly evictedClients: readonly string[];
  /**
   * Reads asked for with `read()`: `ok` ones may be served now from the state
   * machine (linearizable: this replica was primary after they arrived and
   * has applied every op committed before); the others must be retried
   * elsewhere (this replica lost or never had the primary role).
   */
  readonly reads: readonly { readonly readId: number; readonly ok: boolean }[];
  /** Bookkeeping for `advance`. */
  readonly durableThroughOpNumber: number;
  readonly logGeneration: number;
  readonly epochChanges: number;
}

export interface ReplicaTimeouts {
  /** A primary with nothing to prepare sends Commit this often. */
  readonly heartbeatTicks: number;
  /** A primary resends unacknowledged Prepares this often. */
  readonly prepareRetryTicks: number;
  /** A backup that hears nothing from its primary for a random time in [min, max) starts a view change. */
  readonly viewChangeTicksMin: number;
  readonly viewChangeTicksMax: number;
  /** In a view change: resend StartViewChange / DoViewChange this often. */
  readonly viewChangeRetryTicks: number;
  /** A replica asks for missing state at most this often. */
  readonly repairTicks: number;
  /**
   * A primary sends its state machine (a checkpoint) to one replica at most
   * this often (default 10 × repairTicks): the replica asks every
   * repairTicks, and a big state takes longer than that to build and send.
   */
  readonly checkpointResendTicks?: number;
}

export const defaultTimeouts: ReplicaTimeouts = {
  heartbeatTicks: 5,
  prepareRetryTicks: 10,
  viewChangeTicksMin: 30,
  viewChangeTicksMax: 60,
  viewChangeRetryTicks: 8,
  repairTicks: 5,
};

/** Test-only switches that break the protocol on purpose, to prove the simulator notices. */
export interface UnsafeFlags {
  /** A primary serves reads at once, without a round proving it is still primary. */
  readonly skipReadConfirmation?: boolean;
  /** A backup sends PrepareOk one Ready before the entries are durable. */
  readonly skipPersistBeforePrepareOk?: boolean;
  /** The view number entered by a view change is not persisted until the view is normal. */
  readonly skipViewPersist?: boolean;
  /** A replica restarted with a corrupt log keeps its intact prefix and rejoins at once, without recovering. */
  readonly skipRecovery?: boolean;
  /** A primary restarted in its normal view resumes it (it may have sent Prepares it never persisted). */
  readonly resumePrimaryAfterRestart?: boolean;
  /** A replacement replica takes the first StartView it gets, without learning the latest view from a quorum. */
  readonly skipViewDiscovery?: boolean;
  /** A joining replica enters its first epoch with whatever log it has, without the epoch's state. */
  readonly skipJoinStateTransfer?: boolean;
}

export interface ReplicaOptions<Op, Result> {
  readonly replicaIndex: ReplicaIndex;
  readonly replicaCount: number;
  readonly stateMachine: StateMachine<Op, Result>;
  readonly random: Random;
  /** What this replica persisted before a restart; absent for a fresh replica. */
  readonly durable?: DurableState<Op, Result>;
  readonly timeouts?: ReplicaTimeouts;
  /** Client requests in one Prepare. */
  readonly batchOpsMax?: number;
  /** Prepared but uncommitted ops at the primary. */
  readonly pipelineOpsMax?: number;
  /** Requests waiting at the primary for room in the pipeline. */
  readonly requestQueueMax?: number;
  /** Entries in one Prepare resend or NewState. */
  readonly repairEntriesMax?: number;
  readonly clientsMax?: number;
  /** Log entries held in memory: a hard limit (compaction keeps the log well below it). */
  readonly logOpsMax?: number;
  /** Entries kept behind the latest checkpoint, so a briefly lagging peer is repaired without state transfer. */
  readonly logRetainOps?: number;
  /** Compaction drops at least this many entries at once. */
  readonly compactOpsMin?: number;
  /**
   * The driver writes each Ready's entries in one atomic write together with
   * the state machine's applies made while the Ready was built (the KvStore
   * driver does). Then a group of 1 commits its new entries in the very
   * Ready that persists them: they become durable together, and replies
   * still leave only after that write.
   */
  readonly atomicApply?: boolean;
  /**
   * Fault points (BUGGIFY), off unless the simulator turns them on: rare but
   * legal paths taken on purpose, so every seed exercises them.
   *   vsr.primary_abdicates      a healthy primary starts a view change
   *   vsr.drop_request           the primary drops a client request (queue full)
   *   vsr.repair_one_entry       repair and resends carry a single entry
   *   vsr.checkpoint_for_repair  GetState is answered with a checkpoint
   */
  readonly faults?: FaultPoints;
  /**
   * A fresh replica taking the place of one whose disk was lost (same index,
   * empty state). Its predecessor may have acknowledged entries and voted in
   * views that nobody else remembers for it, so it recovers (no votes, no
   * acknowledgements) and first learns the latest view from a quorum of the
   * others, so that a stale primary cannot recruit it. Ignored with `durable`.
   */
  readonly replacement?: boolean;
  /**
   * Recognizes a configuration op: returns the replica count it asks for
   * (odd, at least 1), or undefined for an ordinary op. The state machine
   * applies it like any op (its result is the client's reply).
   */
  readonly reconfiguration?: (op: Op) => number | undefined;
  /**
   * A fresh replica at a new index that a configuration change will add:
   * it takes no part until it has the state of an epoch that includes it.
   * Ignored with `durable`.
   */
  readonly joining?: boolean;
  /**
   * Every index the group may ever use (`replicaCount` unless given): a
   * joiner, a replacement that does not know its epoch, and a retired
   * replica ask all of them for the newest epoch.
   */
  readonly addressCount?: number;
  readonly unsafe?: UnsafeFlags;
}

type Request<Op> = Extract<Message<Op>, { type: 'request' }>;
type DoViewChange<Op> = Extract<Message<Op>, { type: 'do_view_change' }>;
type CheckpointMessage<Op, Result> = Extract<Message<Op, Result>, { type: 'checkpoint' }>;

export class Replica<Op, Result> {
  readonly replicaIndex: ReplicaIndex;
  /** The configuration in force: its epoch, its replica count and where it began. */
  private config: EpochConfig;
  private quorum: number;
  /** Every index the group may use: joiners, replacements and retired replicas ask them all. */
  private readonly addressCount: number;
  private readonly reconfiguration: ((op: Op) => number | undefined) | undefined;
  private readonly timeouts: ReplicaTimeouts;
  private readonly batchOpsMax: number;
  private readonly pipelineOpsMax: number;
  private readonly requestQueueMax: number;
  private readonly repairEntriesMax: number;
  private readonly logOpsMax: number;
  private readonly logRetainOps: number;
  private readonly compactOpsMin: number;
  private readonly atomicApply: boolean;
  private readonly faults: FaultPoints;
  private readonly unsafe: UnsafeFlags;
  private readonly stateMachine: StateMachine<Op, Result>;
  private readonly random: Random;
  private readonly clientTable: ClientTable<Result>;

  private viewValue = 0;
  private logViewValue = 0;
  /** Joining: no epoch that includes this replica has handed it its state yet. */
  private joining = false;
  /** The op number of a configuration entry held but not committed: nothing is prepared after it. */
  private configOpNumber: number | undefined;
  private statusValue: ReplicaStatus = 'normal';
  /**
   * Entries after `logBase`; entries up to it were compacted into a
   * checkpoint. Committed entries but the one at the commit number are
   * packed (see replica-log.ts), once handed to the driver.
   */
  private readonly logValue = new ReplicaLog<Op>();
  private logBase = 0;
  private baseChecksum = logOriginChecksum;
  private baseTimestampMs = 0;
  /** The state through this op is durable (the driver said so). */
  private checkpointOpNumber = 0;
  private commitNumberValue = 0;
  private nowMs = 0;

  // Primary state.
  private readonly acks = new Map<ReplicaIndex, number>();
  private readonly requestQueue: Request<Op>[] = [];
  /**
   * Client id → the highest request number this primary holds queued or
   * prepared but not committed (so a retry is not prepared twice). Rebuilt
   * from the uncommitted log whenever the replica enters a normal view.
   */
  private readonly inFlightRequests = new Map<string, number>();
  // View change state.
  private readonly startViewChangeFrom = new Set<ReplicaIndex>();
  private readonly doViewChanges = new Map<ReplicaIndex, DoViewChange<Op>>();
  private doViewChangeSent = false;

  // Countdowns, in ticks.
  private heartbeatTimer = 0;
  private prepareRetryTimer = 0;
  private viewTimer = 0;
  private viewChangeRetryTimer = 0;
  private repairTimer = 0;
  /** Ticks seen, and the tick at which a checkpoint last went to each replica (rate limit). */
  private ticksSeen = 0;
  private readonly checkpointSentTick = new Map<ReplicaIndex, number>();
  private epochStateTimer = 0;
  /** Epochs entered by this incarnation, and how many of those entries a Ready has made durable. */
  private epochChanges = 0;
  private durableEpochChanges = 0;

  // Output not yet handed to a Ready.
  private outbox: Envelope<Op, Result>[] = [];
  private replies: Reply<Result>[] = [];
  /** A reply in `replies` was committed by a group of 1: it waits for the Ready's write. */
  private repliesWait = false;
  private committed: { entry: LogEntry<Op>; result: Result }[] = [];
  private evictedClients: string[] = [];
  private reads: { readId: number; ok: boolean }[] = [];
  // Read index: reads wait for a round of Commit answered by a quorum.
  /**
   * Rounds this incarnation began are readRoundBase+1 … readRound. The base is
   * random (52 bits): an answer to a round of an earlier incarnation of this
   * replica (delayed or duplicated by the network) must not confirm a round of
   * this one, and it falls in this one's range with negligible probability.
   * While a round is outstanding, heartbeats repeat it.
   */
  private readonly readRoundBase: number;
  private readRound: number;
  private readRoundOutstanding = false;
  private readonly readAcks = new Map<ReplicaIndex, number>();
  private pendingReads: { readId: number; round: number }[] = [];
  /** The log end when this replica became primary: reads wait until it is committed. */
  private viewStartOpNumber = 0;
  private hardStateDirty = false;
  /** Entries with op numbers up to here were handed to a Ready (or came from disk). */
  private handedOffOpNumber = 0;
  private truncateAfter: number | undefined;
  private installedCheckpoint: Checkpoint<Result> | undefined;
  private logGeneration = 0;
  private durableOpNumber = 0;
  private readyInFlight = false;
  private heldBackLastReady = false;
  /** While recovering: the intact prefix; the disk keeps the corrupt rest until StartView replaces it. */
  private recoveringIntact: number | undefined;
  /** A replacement that has not yet learned the latest view from a quorum (see `replacement`). */
  private viewUnknown = false;
  private recoveryNonce = 0;
  private readonly recoveryViews = new Map<ReplicaIndex, number>();

  constructor(options: ReplicaOptions<Op, Result>) {
    assert(options.replicaCount >= 1 && options.replicaCount % 2 === 1, `replica count ${options.replicaCount} must be odd`);
    // A configuration may leave this replica out (it joins, or it retired).
    assert(options.replicaIndex >= 0 && options.replicaIndex < (options.addressCount ?? options.replicaCount), `replica index ${options.replicaIndex}`);
    this.replicaIndex = options.replicaIndex;
    this.addressCount = options.addressCount ?? options.replicaCount;
    assert(this.addressCount >= options.replicaCount, `${this.addressCount} addresses for ${options.replicaCount} replicas`);
    this.config = { epoch: 0, replicaCount: options.replicaCount, startOpNumber: 0, startChecksum: logOriginChecksum };
    this.quorum = quorumOf(options.replicaCount);
    this.reconfiguration = options.reconfiguration;
    this.timeouts = options.timeouts ?? defaultTimeouts;
    const resendTicks = this.timeouts.checkpointResendTicks;
    assert(resendTicks === undefined || (Number.isSafeInteger(resendTicks) && resendTicks >= 1), `checkpoint resend every ${resendTicks} ticks`);
    assert(this.timeouts.viewChangeTicksMin < this.timeouts.viewChangeTicksMax, 'view change timeout range');
    this.batchOpsMax = options.batchOpsMax ?? 64;
    this.pipelineOpsMax = options.pipelineOpsMax ?? 256;
    this.requestQueueMax = options.requestQueueMax ?? 1024;
    this.repairEntriesMax = options.repairEntriesMax ?? 128;
    this.logOpsMax = options.logOpsMax ?? 1_000_000;
    this.logRetainOps = options.logRetainOps ?? 10_000;
    this.compactOpsMin = options.compactOpsMin ?? 1024;
    this.atomicApply = options.atomicApply ?? false;
    this.faults = options.faults ?? noFaults;
    assert(this.compactOpsMin >= 1 && this.logRetainOps >= 0 && this.logRetainOps + this.compactOpsMin < this.logOpsMax, 'log retention limits');
    this.unsafe = options.unsafe ?? {};
    this.stateMachine = options.stateMachine;
    this.random = options.random;
    this.clientTable = new ClientTable(options.clientsMax ?? 4096);
    this.readRoundBase = (this.random.uint32() % 2 ** 20) * 2 ** 32 + this.random.uint32();
    this.readRound = this.readRoundBase;
    if (options.durable !== undefined) this.restore(options.durable);
    else if (options.joining === true) {
      // A joiner's epoch is unknown: it asks, and takes part only once an epoch includes it.
      this.config = { ...this.config, replicaCount: 1 };
      this.quorum = 1;
      this.statusValue = 'recovering';
      this.recoveringIntact = 0;
      this.joining = true;
      this.hardStateDirty = true;
    } else if (options.replacement === true && this.addressCount > 1) {
      this.statusValue = 'recovering';
      this.recoveringIntact = 0;
      this.viewUnknown = this.unsafe.skipViewDiscovery !== true;
      this.hardStateDirty = true; // Durable before anything is sent: a restart stays a replacement.
    }
    this.resetViewTimer();
    // A primary sends Prepares before persisting them (Ready.messagesNow), so
    // a restarted primary may lack entries its backups hold. Resuming its
    // view it would prepare different entries at those op numbers; instead
    // it starts a view change, whose logs include what the backups hold.
    const resume = this.unsafe.resumePrimaryAfterRestart === true;
    if (options.durable !== undefined && this.replicaCount > 1 && this.statusValue === 'normal' && this.isPrimary() && !resume) {
      this.startViewChange(this.viewValue + 1);
    }
  }

  // Introspection (tests, checkers, drivers).

  get view(): number {
    return this.viewValue;
  }
  /** The number of configuration changes committed. */
  get epoch(): number {
    return this.config.epoch;
  }
  /** The replica count of the configuration in force. */
  get replicaCount(): number {
    return this.config.replicaCount;
  }
  /** True while this replica waits for the state of an epoch that includes it. */
  get isJoining(): boolean {
    return this.joining;
  }
  get logView(): number {
    return this.logViewValue;
  }
  get status(): ReplicaStatus {
    return this.statusValue;
  }
  get opNumber(): number {
    return this.logBase + this.logValue.length;
  }
  get commitNumber(): number {
    return this.commitNumberValue;
  }
  /** The entries held, after `logBaseOpNumber` (packed ones decoded again: for tests and checkers). */
  get log(): readonly LogEntry<Op>[] {
    return this.logValue.all();
  }
  /** Entries up to this op number were compacted away (or installed by state transfer). */
  get logBaseOpNumber(): number {
    return this.logBase;
  }
  /** The entry at `opNumber`, if this replica still holds it. */
  entry(opNumber: number): LogEntry<Op> | undefined {
    return opNumber > this.logBase ? this.logValue.at(opNumber - this.logBase - 1) : undefined;
  }
  /** The state machine's state as of the commit number, named as a checkpoint (for the driver to persist). */
  checkpointAtCommit(): Checkpoint<Result> {
    return { ...this.commitPoint(), clients: this.clientTable.entries() };
  }

  /** The commit number's op, checksum and timestamp: a checkpoint without its client table. */
  commitPoint(): Omit<Checkpoint<Result>, 'clients'> {
    const opNumber = this.commitNumberValue;
    const entry = this.entry(opNumber);
    return { opNumber, checksum: entry?.checksum ?? this.checksumAt(opNumber)!, timestampMs: entry?.timestampMs ?? this.baseTimestampMs };
  }

  /** The wall clock as the driver sees it now; new entries are stamped with it (never going back). */
  observeTime(nowMs: number): void {
    this.nowMs = Math.max(this.nowMs, nowMs);
  }
  isPrimary(): boolean {
    return this.primaryOf(this.viewValue) === this.replicaIndex;
  }
  primaryOf(view: number): ReplicaIndex {
    return view % this.replicaCount;
  }

  // Inputs.

  step(message: Message<Op, Result>): void {
    if (message.type === 'request') {
      this.onRequest(message);
      return;
    }
    assert(message.from !== this.replicaIndex, `replica ${this.replicaIndex} got a message from itself`);
    assert(message.from >= 0, `message from replica ${message.from}`);
    switch (message.type) {
      case 'request_epoch':
        this.onRequestEpoch(message);
        return;
      case 'epoch_started':
        this.onEpochStarted(message.config, message.from);
        return;
      case 'checkpoint':
        if (message.epoch > this.config.epoch) {
          this.onEpochCheckpoint(message);
          return;
        }
        break;
      default:
        break;
    }
    if (message.epoch < this.config.epoch) {
      this.sendEpochStarted(message.from);
      return;
    }
    if (message.epoch > this.config.epoch) {
      this.requestEpoch(message.from, false);
      return;
    }
    // Within the epoch: only its members take part (a stale joiner or retired replica is ignored).
    if (this.joining || this.statusValue === 'retired' || message.from >= this.replicaCount) return;
    if (message.type === 'recovery') {
      // Any replica that knows its view says it; the sender takes the highest of a quorum.
      if (!this.viewUnknown) this.send(message.from, { type: 'recovery_response', view: this.viewValue, from: this.replicaIndex, nonce: message.nonce });
      return;
    }
    if (this.statusValue === 'recovering') {
      if (this.viewUnknown) {
        if (message.type === 'recovery_response') this.onRecoveryResponse(message);
        return;
      }
      if (message.type === 'start_view') this.onStartView(message);
      if (message.type === 'checkpoint') this.onCheckpoint(message);
      return;
    }
    if (message.type === 'recovery_response') return;
    switch (message.type) {
      case 'prepare':
      case 'new_state':
        this.onPrepare(message.view, message.from, message.entries, message.commitNumber);
        return;
      case 'prepare_ok':
        this.onPrepareOk(message);
        return;
      case 'commit':
        this.onCommit(message);
        return;
      case 'start_view_change':
        this.onStartViewChange(message);
        return;
      case 'do_view_change':
        this.onDoViewChange(message);
        return;
      case 'start_view':
        this.onStartView(message);
        return;
      case 'request_start_view':
        if (message.view === this.viewValue && this.statusValue === 'normal' && this.isPrimary()) this.sendStartView(message.from);
        return;
      case 'get_state':
        this.onGetState(message);
        return;
      case 'checkpoint':
        this.onCheckpoint(message);
        return;
    }
  }

  /**
   * A linearizable read: answered in a later Ready's `reads`, ok once this
   * replica has proven it is still the primary (a quorum answered a Commit
   * sent after the read arrived) and has committed every op of its view's
   * starting log. False at once when this replica is not a normal primary.
   */
  read(readId: number): boolean {
    if (this.statusValue !== 'normal' || !this.isPrimary()) return false;
    if (this.unsafe.skipReadConfirmation === true) {
      this.reads.push({ readId, ok: true });
      return true;
    }
    // Only a round begun after the read arrived proves anything about it.
    this.pendingReads.push({ readId, round: this.readRound + 1 });
    if (!this.readRoundOutstanding) this.beginReadRound();
    this.confirmReads(); // A group of 1 is its own quorum.
    return true;
  }

  private beginReadRound(): void {
    this.readRound++;
    this.readRoundOutstanding = true;
    this.broadcast({ type: 'commit', view: this.viewValue, from: this.replicaIndex, commitNumber: this.commitNumberValue, readRound: this.readRound });
  }

  /** Serves the pending reads a quorum has confirmed, once the view's starting log is committed. */
  private confirmReads(): void {
    if (this.pendingReads.length === 0) return;
    const rounds = [this.readRound];
    for (const [replica, round] of this.readAcks) if (replica !== this.replicaIndex) rounds.push(round);
    if (rounds.length < this.quorum) return;
    rounds.sort((a, b) => b - a);
    const confirmed = rounds[this.quorum - 1]!;
    if (confirmed >= this.readRound) this.readRoundOutstanding = false;
    if (this.commitNumberValue >= this.viewStartOpNumber) {
      const served = this.pendingReads.filter((read) => read.round <= confirmed);
      this.pendingReads = this.pendingReads.filter((read) => read.round > confirmed);
      for (const read of served) this.reads.push({ readId: read.readId, ok: true });
    }
    if (this.pendingReads.some((read) => read.round > confirmed) && !this.readRoundOutstanding) this.beginReadRound();
  }

  /** The primary role is gone (or never was): every pending read must go elsewhere. */
  private failReads(): void {
    for (const read of this.pendingReads) this.reads.push({ readId: read.readId, ok: false });
    this.pendingReads = [];
    this.readAcks.clear();
    this.readRoundOutstanding = false;
  }

  /**
   * A replacement learns the latest view: the highest a quorum of the others
   * reports (with n = 2f + 1, any f + 1 of the other 2f replicas meet every
   * quorum that could have formed a later view, even one its predecessor was
   * in). From then on it recovers like any replica with a damaged log.
   */
  private onRecoveryResponse(message: Extract<Message<Op>, { type: 'recovery_response' }>): void {
    if (message.nonce !== this.recoveryNonce || message.from === this.replicaIndex) return;
    this.recoveryViews.set(message.from, message.view);
    if (this.recoveryViews.size < this.quorum) return;
    this.viewValue = Math.max(this.viewValue, ...this.recoveryViews.values());
    this.viewUnknown = false;
    this.recoveryViews.clear();
    this.hardStateDirty = true;
    this.repairTimer = 0;
  }

  // Epochs.

  /** Tells a replica of an older epoch where this one began (a joiner has nothing to tell). */
  private sendEpochStarted(replica: ReplicaIndex): void {
    if (this.joining) return;
    this.send(replica, { type: 'epoch_started', from: this.replicaIndex, config: this.config });
  }

  /** Asks a replica of a newer epoch where it began (or, with `state`, for its state). Rate limited. */
  private requestEpoch(replica: ReplicaIndex, state: boolean): void {
    if (state ? this.epochStateTimer > 0 : this.repairTimer > 0) return;
    if (state) this.epochStateTimer = this.timeouts.repairTicks;
    else this.repairTimer = this.timeouts.repairTicks;
    this.send(replica, { type: 'request_epoch', from: this.replicaIndex, state });
  }

  private onRequestEpoch(message: Extract<Message<Op>, { type: 'request_epoch' }>): void {
    if (message.epoch >= this.config.epoch || this.joining) return;
    if (!message.state) {
      this.sendEpochStarted(message.from);
      return;
    }
    // Committed state is the same on every replica: any replica that holds it
    // intact may hand it over (a recovering one may not: its log is damaged;
    // nor one that retired without committing its epoch's start).
    if (this.statusValue === 'recovering' || this.commitNumberValue < this.config.startOpNumber) return;
    const checkpoint = this.checkpointAtCommit();
    const state = this.stateMachine.snapshot();
    this.send(message.from, { type: 'checkpoint', view: this.viewValue, from: this.replicaIndex, checkpoint, state, config: this.config });
  }

  /**
   * A replica of a newer epoch says where that epoch began. A member of it
   * whose log holds the configuration entry that began it commits up to that
   * entry (the commits end each epoch on the way); one whose log cannot reach
   * it asks for the state. A replica the epoch leaves out retires.
   */
  private onEpochStarted(config: EpochConfig, from: ReplicaIndex): void {
    if (config.epoch <= this.config.epoch) return;
    if (this.replicaIndex >= config.replicaCount) {
      if (!this.joining) this.retire(config);
      return;
    }
    if (!this.joining && config.startOpNumber > this.commitNumberValue && this.checksumAt(config.startOpNumber) === config.startChecksum) {
      this.commitUpTo(config.startOpNumber);
      assert(this.config.epoch === config.epoch, `replica ${this.replicaIndex}: committing through op ${config.startOpNumber} reached epoch ${this.config.epoch}, not ${config.epoch}`);
      return;
    }
    if (this.joining && this.unsafe.skipJoinStateTransfer === true) {
      this.enterEpoch(config);
      return;
    }
    this.requestEpoch(from, true);
  }

  /** The state of a newer epoch (asked for with RequestEpoch): install it and enter that epoch. */
  private onEpochCheckpoint(message: CheckpointMessage<Op, Result>): void {
    const { config } = message;
    if (this.replicaIndex >= config.replicaCount) {
      if (!this.joining) this.retire(config);
      return;
    }
    assert(message.checkpoint.opNumber >= config.startOpNumber, 'an epoch checkpoint covers the epoch start');
    if (message.checkpoint.opNumber <= this.commitNumberValue) return;
    this.installCheckpoint(message.checkpoint, message.state);
    this.enterEpoch(config, message.view);
  }

  /**
   * Enters epoch `config` (its configuration entry is committed here): a
   * member starts in view 0, whose log is the committed log through that
   * entry, which this replica holds; the primary of view 0 leads at once,
   * but prepares only once the new epoch is durable (a primary's Prepares go
   * out before it persists them: after a crash that lost the epoch change it
   * might lead view 0 again with other entries).
   * A replica that took a newer epoch's state from a replica already in view
   * `view` > 0 joins that view change instead: its log is committed state,
   * not view 0's log, so it waits for the view's StartView (or helps elect
   * a primary if the view has none). A replacement that has not learned its
   * view keeps recovering.
   */
  private enterEpoch(config: EpochConfig, view = 0): void {
    assert(config.epoch > this.config.epoch, `epoch ${config.epoch} after ${this.config.epoch}`);
    this.setConfig(config);
    this.epochChanges++;
    if (this.replicaIndex >= config.replicaCount) {
      this.statusValue = 'retired';
      return;
    }
    this.joining = false;
    this.viewValue = 0;
    this.logViewValue = 0;
    this.viewStartOpNumber = this.opNumber;
    this.resetViewTimer();
    this.heartbeatTimer = 0;
    this.prepareRetryTimer = this.timeouts.prepareRetryTicks;
    // In a group of 1 no other replica can have formed a view: nothing to learn.
    if (config.replicaCount === 1) this.viewUnknown = false;
    if (this.viewUnknown) {
      this.statusValue = 'recovering';
      this.recoveringIntact ??= this.opNumber;
      return;
    }
    if (this.recoveringIntact !== undefined) {
      // Corrupt entries still on disk leave with this write.
      this.truncateAfter = Math.min(this.truncateAfter ?? this.recoveringIntact, this.recoveringIntact);
      this.recoveringIntact = undefined;
    }
    if (view > 0) {
      this.viewValue = view;
      this.statusValue = 'view_change';
      this.viewChangeRetryTimer = 0;
      return;
    }
    this.statusValue = 'normal';
    this.rebuildInFlight();
  }

  /** A newer epoch leaves this replica out. */
  private retire(config: EpochConfig): void {
    this.setConfig(config);
    this.statusValue = 'retired';
  }

  private setConfig(config: EpochConfig): void {
    assert(config.replicaCount >= 1 && config.replicaCount % 2 === 1, `epoch ${config.epoch}: replica count ${config.replicaCount}`);
    this.config = config;
    this.quorum = quorumOf(config.replicaCount);
    this.hardStateDirty = true;
    this.failReads();
    this.acks.clear();
    this.requestQueue.length = 0;
    this.inFlightRequests.clear();
    this.startViewChangeFrom.clear();
    this.doViewChanges.clear();
    this.doViewChangeSent = false;
    this.recoveryViews.clear();
    this.configOpNumber = undefined;
  }

  /**
   * The driver made the state machine's state through `opNumber` durable (a
   * checkpoint): log entries behind it may be compacted.
   */
  checkpointed(opNumber: number): void {
    assert(opNumber <= this.commitNumberValue, `checkpoint at ${opNumber} beyond commit ${this.commitNumberValue}`);
    this.checkpointOpNumber = Math.max(this.checkpointOpNumber, opNumber);
  }

  /** One tick of the driver's clock; `nowMs` is the wall clock, used only to timestamp new entries. */
  tick(nowMs: number): void {
    this.ticksSeen++;
    this.nowMs = Math.max(this.nowMs, nowMs);
    this.repairTimer = Math.max(0, this.repairTimer - 1);
    this.epochStateTimer = Math.max(0, this.epochStateTimer - 1);
    if (this.joining || this.statusValue === 'retired') {
      // Waiting for an epoch that includes it: ask the replicas it knows where the newest began.
      if (this.repairTimer === 0) {
        this.repairTimer = this.timeouts.repairTicks * (this.joining ? 1 : 4);
        const count = this.joining ? this.addressCount : this.replicaCount;
        for (let replica = 0; replica < count; replica++) {
          if (replica !== this.replicaIndex) this.send(replica, { type: 'request_epoch', from: this.replicaIndex, state: false });
        }
      }
      return;
    }
    if (this.statusValue === 'recovering') {
      if (this.viewUnknown) {
        // A fresh round each time: only answers to this round's nonce count.
        if (this.repairTimer === 0) {
          this.repairTimer = this.timeouts.repairTicks;
          this.recoveryNonce = this.random.uint32();
          this.recoveryViews.clear();
          // Every address: a replica of a newer epoch answers with where it began.
          const message = { type: 'recovery', epoch: this.config.epoch, view: this.viewValue, from: this.replicaIndex, nonce: this.recoveryNonce } as const;
          for (let replica = 0; replica < this.addressCount; replica++) if (replica !== this.replicaIndex) this.sendStamped(replica, message);
        }
        return;
      }
      // StartViewChange for its own view: a primary of that view or a newer one
      // answers with StartView; replicas still in an older view move on to it.
      if (this.repairTimer === 0) {
        this.repairTimer = this.timeouts.repairTicks;
        this.broadcast({ type: 'start_view_change', view: this.viewValue, from: this.replicaIndex });
      }
      return;
    }
    if (this.statusValue === 'normal' && this.isPrimary()) {
      if (this.replicaCount > 1 && this.faults.fire('vsr.primary_abdicates')) {
        this.startViewChange(this.viewValue + 1);
        return;
      }
      this.tickPrimary();
      return;
    }
    this.viewTimer--;
    if (this.statusValue === 'view_change' && --this.viewChangeRetryTimer <= 0) {
      this.viewChangeRetryTimer = this.timeouts.viewChangeRetryTicks;
      this.broadcast({ type: 'start_view_change', view: this.viewValue, from: this.replicaIndex });
      if (this.doViewChangeSent) this.sendDoViewChange();
    }
    if (this.viewTimer <= 0) this.startViewChange(this.viewValue + 1);
  }

  hasReady(): boolean {
    return (
      this.outbox.length > 0 ||
      this.replies.length > 0 ||
      this.committed.length > 0 ||
      this.reads.length > 0 ||
      this.hardStateDirty ||
      this.truncateAfter !== undefined ||
      this.installedCheckpoint !== undefined ||
      this.opNumber > this.handedOffOpNumber ||
      this.canPrepareQueued()
    );
  }

  ready(): Ready<Op, Result> {
    assert(!this.readyInFlight, `replica ${this.replicaIndex}: ready() before advance() of the previous Ready`);
    this.prepareQueued();
    if (this.atomicApply && this.replicaCount === 1 && this.statusValue === 'normal') {
      this.durableOpNumber = this.opNumber;
      this.commitAcknowledged();
    }
    if (this.statusValue === 'normal' && this.isPrimary()) this.confirmReads();
    let entries = this.entriesFrom(this.handedOffOpNumber + 1);
    const holdBack = this.unsafe.skipPersistBeforePrepareOk === true && !this.isPrimary() && entries.length > 0 && !this.heldBackLastReady;
    this.heldBackLastReady = holdBack;
    if (holdBack) entries = [];
    if (!holdBack) this.handedOffOpNumber = this.opNumber;
    const ready: Ready<Op, Result> = {
      installedCheckpoint: this.installedCheckpoint,
      hardState: this.hardStateDirty ? this.hardStateToPersist() : undefined,
      truncateAfterOpNumber: this.truncateAfter,
      entries,
      compactThroughOpNumber: this.compact(),
      messages: this.outbox.filter((envelope) => !sentBeforePersist(envelope.message.type)),
      messagesNow: this.outbox.filter((envelope) => sentBeforePersist(envelope.message.type)),
      repliesNow: this.replicaCount > 1 && !this.repliesWait,
      replies: this.replies,
      committed: this.committed,
      evictedClients: this.evictedClients,
      reads: this.reads,
      durableThroughOpNumber: holdBack ? this.handedOffOpNumber : this.opNumber,
      logGeneration: this.logGeneration,
      epochChanges: this.hardStateDirty ? this.epochChanges : this.durableEpochChanges,
    };
    this.outbox = [];
    this.replies = [];
    this.repliesWait = false;
    this.committed = [];
    this.evictedClients = [];
    this.reads = [];
    this.hardStateDirty = false;
    this.truncateAfter = undefined;
    this.installedCheckpoint = undefined;
    this.readyInFlight = true;
    this.packCommitted();
    return ready;
  }

  /**
   * Packs the entries this replica needs again only to resend them: committed
   * (so applied), handed to the driver, and before the commit number's own
   * entry (commitPoint() reads it every turn that commits).
   */
  private packCommitted(): void {
    const through = Math.min(this.commitNumberValue - 1, this.handedOffOpNumber);
    const count = through - this.logBase - this.logValue.packedLength;
    if (count > 0) this.logValue.pack(count);
  }

  /** Drops entries behind the durable checkpoint, keeping `logRetainOps`; returns the new base if it moved. */
  private compact(): number | undefined {
    const target = Math.min(this.checkpointOpNumber, this.handedOffOpNumber) - this.logRetainOps;
    if (target - this.logBase < this.compactOpsMin) return undefined;
    assert(target <= this.commitNumberValue, `compacting uncommitted op ${target}`);
    const base = this.entryAt(target);
    this.logValue.dropFront(target - this.logBase);
    this.logBase = target;
    this.baseChecksum = base.checksum;
    this.baseTimestampMs = base.timestampMs;
    return target;
  }

  /** The Ready's writes are durable and its messages sent. */
  advance(ready: Ready<Op, Result>): void {
    assert(this.readyInFlight, 'advance() without ready()');
    this.readyInFlight = false;
    if (ready.logGeneration === this.logGeneration) {
      this.durableOpNumber = Math.max(this.durableOpNumber, Math.min(ready.durableThroughOpNumber, this.opNumber));
    }
    this.durableEpochChanges = Math.max(this.durableEpochChanges, ready.epochChanges);
    if (this.statusValue === 'normal' && this.isPrimary()) this.commitAcknowledged();
  }

  // Restart.

  private restore(durable: DurableState<Op, Result>): void {
    const { hardState } = durable;
    assert(hardState.logView <= hardState.view, `restored logView ${hardState.logView} > view ${hardState.view}`);
    if (hardState.config !== undefined) {
      this.config = hardState.config;
      this.quorum = quorumOf(hardState.config.replicaCount);
    }
    if (hardState.joining === true) {
      this.config = { ...this.config, replicaCount: 1 };
      this.quorum = 1;
      this.joining = true;
    }
    const checkpoint = durable.checkpoint ?? originCheckpoint;
    this.logBase = checkpoint.opNumber;
    this.baseChecksum = checkpoint.checksum;
    this.baseTimestampMs = checkpoint.timestampMs;
    this.checkpointOpNumber = checkpoint.opNumber;
    this.commitNumberValue = checkpoint.opNumber;
    this.clientTable.load(checkpoint.clients);
    // Entries the checkpoint covers are not needed (nor trusted). A torn or
    // corrupt entry and everything after it are dropped, never trusted; peers
    // resend them. With peers, the replica recovers first: it may have
    // acknowledged what it lost, so it must not vote on a log that lacks it. A
    // group of 1 has no one to ask and keeps the intact prefix.
    const stored = durable.log.filter((entry) => entry.opNumber > checkpoint.opNumber);
    const intactCount = intactPrefixLength(stored, checkpoint.opNumber, checkpoint.checksum);
    for (const entry of stored.slice(0, intactCount)) this.logValue.push(entry);
    const intact = this.opNumber;
    const corrupt = intactCount < stored.length;
    if (corrupt) this.logGeneration++;
    // A log that no longer reaches the start of its epoch lost what the epoch began from.
    const beforeEpoch = intact < this.config.startOpNumber;
    // A replacement recovers even where its first configuration was a group
    // of 1: the group may have grown since, and it does not know its epoch.
    const damaged = corrupt || beforeEpoch || hardState.recovering === true;
    const recover = ((damaged && this.replicaCount > 1) || (hardState.viewUnknown === true && this.addressCount > 1)) && this.unsafe.skipRecovery !== true;
    this.viewUnknown = recover && hardState.viewUnknown === true && this.unsafe.skipViewDiscovery !== true;
    if (corrupt && !recover) this.truncateAfter = intact;
    if (recover) this.hardStateDirty = true; // Recovering is durable before anything is sent.
    this.viewValue = hardState.view;
    this.logViewValue = hardState.logView;
    this.statusValue = hardState.view > hardState.logView ? 'view_change' : 'normal';
    this.checkpointOpNumber = checkpoint.opNumber;
    if (recover) {
      this.statusValue = 'recovering';
      this.recoveringIntact = intact;
    }
    if (this.joining) {
      this.statusValue = 'recovering';
      this.recoveringIntact = intact;
    } else if (this.replicaIndex >= this.replicaCount) {
      this.statusValue = 'retired';
    }
    this.handedOffOpNumber = intact;
    this.durableOpNumber = intact;
    this.viewStartOpNumber = intact;
    this.commitUpTo(Math.min(hardState.commitNumber, intact));
    this.configOpNumber = this.uncommittedConfigOp();
    // A group of 1 commits what it holds durably: the crash came between
    // persisting entries and recording their commit (a configuration entry
    // among them, last, would otherwise wait forever).
    if (this.replicaCount === 1 && this.statusValue === 'normal') this.commitUpTo(intact);
    this.rebuildInFlight();
    this.committed = [];
    this.evictedClients = [];
    this.replies = [];
  }

  // Normal operation: primary.

  private onRequest(request: Request<Op>): void {
    if (this.statusValue !== 'normal' || !this.isPrimary()) return;
    const record = this.clientTable.get(request.clientId);
    if (record !== undefined && request.requestNumber < record.requestNumber) return;
    if (record !== undefined && request.requestNumber === record.requestNumber) {
      this.replies.push({ ...request, view: this.viewValue, opNumber: record.opNumber, result: record.result });
      return;
    }
    if ((this.inFlightRequests.get(request.clientId) ?? -1) >= request.requestNumber) return;
    const replicaCount = this.reconfiguration?.(request.op);
    // A configuration the replica cannot run is dropped (drivers refuse it with a reason first).
    if (replicaCount !== undefined && !(Number.isSafeInteger(replicaCount) && replicaCount >= 1 && replicaCount % 2 === 1)) return;
    // Backpressure: the client retries.
    if (this.requestQueue.length >= this.requestQueueMax || this.faults.fire('vsr.drop_request')) return;
    this.requestQueue.push(request);
    this.inFlightRequests.set(request.clientId, request.requestNumber);
  }

  /** After a view change the primary's uncommitted entries are its in-flight requests. */
  private rebuildInFlight(): void {
    this.inFlightRequests.clear();
    for (let opNumber = this.commitNumberValue + 1; opNumber <= this.opNumber; opNumber++) {
      const entry = this.entryAt(opNumber);
      this.inFlightRequests.set(entry.clientId, Math.max(this.inFlightRequests.get(entry.clientId) ?? -1, entry.requestNumber));
    }
  }

  private canPrepareQueued(): boolean {
    return (
      this.requestQueue.length > 0 &&
      this.statusValue === 'normal' &&
      this.isPrimary() &&
      this.configOpNumber === undefined &&
      this.durableEpochChanges === this.epochChanges &&
      this.opNumber - this.commitNumberValue < this.pipelineOpsMax
    );
  }

  /** Turns queued requests into one batch of entries and one Prepare (batching). */
  private prepareQueued(): void {
    if (!this.canPrepareQueued()) return;
    const room = this.pipelineOpsMax - (this.opNumber - this.commitNumberValue);
    let take = Math.min(room, this.batchOpsMax, this.requestQueue.length);
    if (this.reconfiguration !== undefined) {
      // A configuration entry ends its batch, and its epoch: nothing is prepared after it.
      for (let index = 0; index < take; index++) {
        if (this.reconfiguration(this.requestQueue[index]!.op) !== undefined) take = index + 1;
      }
    }
    const batch = this.requestQueue.splice(0, take);
    const first = this.opNumber + 1;
    for (const request of batch) {
      const previous = this.logValue.last();
      const timestampMs = Math.max(this.nowMs, previous?.timestampMs ?? this.baseTimestampMs);
      this.appendEntry(
        makeEntry({
          opNumber: this.opNumber + 1,
          view: this.viewValue,
          clientId: request.clientId,
          requestNumber: request.requestNumber,
          timestampMs,
          op: request.op,
          previousChecksum: previous?.checksum ?? this.baseChecksum,
        }),
      );
    }
    const entries = this.entriesFrom(first);
    this.broadcast({ type: 'prepare', view: this.viewValue, from: this.replicaIndex, entries, commitNumber: this.commitNumberValue });
    this.heartbeatTimer = this.timeouts.heartbeatTicks;
    if (this.replicaCount === 1) this.commitAcknowledged();
  }

  private onPrepareOk(message: Extract<Message<Op>, { type: 'prepare_ok' }>): void {
    if (message.view < this.viewValue) {
      this.helpStaleReplica(message.from);
      return;
    }
    if (message.view !== this.viewValue || this.statusValue !== 'normal' || !this.isPrimary()) return;
    assert(message.opNumber <= this.opNumber, `prepare_ok for op ${message.opNumber} beyond the primary's log`);
    if (message.readRound !== undefined && message.readRound > this.readRoundBase && message.readRound <= this.readRound) {
      this.readAcks.set(message.from, Math.max(this.readAcks.get(message.from) ?? 0, message.readRound));
      this.confirmReads();
    }
    this.acks.set(message.from, Math.max(this.acks.get(message.from) ?? 0, message.opNumber));
    this.commitAcknowledged();
  }

  /** Commits up to the highest op a quorum (the primary counted once durable) holds. */
  private commitAcknowledged(): void {
    const held = [this.durableOpNumber];
    for (const [replica, opNumber] of this.acks) if (replica !== this.replicaIndex) held.push(opNumber);
    if (held.length < this.quorum) return;
    held.sort((a, b) => b - a);
    const quorumOpNumber = Math.min(held[this.quorum - 1]!, this.opNumber);
    if (quorumOpNumber > this.commitNumberValue) this.commitUpTo(quorumOpNumber);
    this.confirmReads();
  }

  private tickPrimary(): void {
    if (--this.heartbeatTimer <= 0) {
      this.heartbeatTimer = this.timeouts.heartbeatTicks;
      const readRound = this.readRoundOutstanding ? { readRound: this.readRound } : {};
      this.broadcast({ type: 'commit', view: this.viewValue, from: this.replicaIndex, commitNumber: this.commitNumberValue, ...readRound });
    }
    if (--this.prepareRetryTimer <= 0) {
      this.prepareRetryTimer = this.timeouts.prepareRetryTicks;
      this.resendPrepares();
    }
  }

  /** Resends uncommitted (or unacknowledged) entries to each backup that lacks them. */
  private resendPrepares(): void {
    for (let replica = 0; replica < this.replicaCount; replica++) {
      if (replica === this.replicaIndex) continue;
      const from = Math.max(this.acks.get(replica) ?? 0, this.commitNumberValue) + 1;
      // Behind the kept entries, the backup asks (GetState) and gets a checkpoint.
      if (from > this.opNumber || from <= this.logBase) continue;
      const entries = this.entriesFrom(from, this.repairLimit());
      this.send(replica, { type: 'prepare', view: this.viewValue, from: this.replicaIndex, entries, commitNumber: this.commitNumberValue });
    }
  }

  private onGetState(message: Extract<Message<Op>, { type: 'get_state' }>): void {
    if (message.view !== this.viewValue || this.statusValue !== 'normal' || !this.isPrimary()) return;
    const compacted = message.opNumber < this.logBase;
    if (compacted || (message.opNumber < this.commitNumberValue && this.faults.fire('vsr.checkpoint_for_repair'))) {
      const sentTick = this.checkpointSentTick.get(message.from);
      const resendTicks = this.timeouts.checkpointResendTicks ?? 10 * this.timeouts.repairTicks;
      if (sentTick === undefined || this.ticksSeen - sentTick >= resendTicks) {
        // The entries it needs were compacted: send the state machine instead.
        this.checkpointSentTick.set(message.from, this.ticksSeen);
        const checkpoint = this.checkpointAtCommit();
        const state = this.stateMachine.snapshot();
        this.send(message.from, { type: 'checkpoint', view: this.viewValue, from: this.replicaIndex, checkpoint, state, config: this.config });
        return;
      }
      // One is on its way (or was lost, and goes again once resendTicks have passed).
      if (compacted) return;
    }
    const entries = this.entriesFrom(message.opNumber + 1, this.repairLimit());
    this.send(message.from, { type: 'new_state', view: this.viewValue, from: this.replicaIndex, entries, commitNumber: this.commitNumberValue });
  }

  /**
   * State transfer from the primary of this view or a newer one: its state as
   * of its commit number N, which holds only committed ops. Entries after N
   * that chain from the checkpoint are kept (this replica may have
   * acknowledged them; they go back to disk with the checkpoint). Entries
   * that do not chain descend from an entry that differs from the committed
   * one at or before N, so they were never committed and never can be:
   * dropping them loses nothing. A recovering replica stays recovering until
   * a StartView hands it the primary's whole log.
   */
  private onCheckpoint(message: CheckpointMessage<Op, Result>): void {
    const { checkpoint } = message;
    if (message.view < this.viewValue || message.from !== this.primaryOf(message.view) || message.from === this.replicaIndex) return;
    if (checkpoint.opNumber <= this.commitNumberValue) return;
    this.installCheckpoint(checkpoint, message.state);
    if (this.statusValue === 'normal' && this.isPrimary()) this.rebuildInFlight();
    // Carry on from the checkpoint: the rest of the log, or the view it missed.
    if (this.statusValue === 'normal' && message.view === this.viewValue) this.requestRepair(message.from);
    else this.send(message.from, { type: 'request_start_view', view: message.view, from: this.replicaIndex });
  }

  /** Replaces the state machine and the log with a committed checkpoint, keeping own entries that chain from it. */
  private installCheckpoint(checkpoint: Checkpoint<Result>, state: Uint8Array): void {
    const chains = this.checksumAt(checkpoint.opNumber) === checkpoint.checksum;
    const kept = chains ? this.logValue.slice(checkpoint.opNumber - this.logBase) : [];
    assert(kept.length === 0 || kept[0]!.previousChecksum === checkpoint.checksum, 'kept entries chain from the checkpoint');
    this.stateMachine.restore(state);
    this.clientTable.load(checkpoint.clients);
    this.logValue.clear();
    for (const entry of kept) this.logValue.push(entry);
    this.logBase = checkpoint.opNumber;
    this.baseChecksum = checkpoint.checksum;
    this.baseTimestampMs = checkpoint.timestampMs;
    this.commitNumberValue = checkpoint.opNumber;
    // The whole persisted log is replaced: the kept entries are written again.
    this.handedOffOpNumber = checkpoint.opNumber;
    this.durableOpNumber = Math.min(this.durableOpNumber, checkpoint.opNumber);
    this.truncateAfter = undefined;
    this.recoveringIntact = undefined;
    this.installedCheckpoint = checkpoint;
    this.logGeneration++;
    this.hardStateDirty = true;
    this.repairTimer = 0;
    this.configOpNumber = this.uncommittedConfigOp();
  }

  private onPrepare(view: number, from: ReplicaIndex, entries: readonly LogEntry<Op>[], commitNumber: number): void {
    if (!this.acceptFromPrimary(view, from)) return;
    let gap = false;
    for (const entry of entries) {
      if (entry.opNumber <= this.opNumber) {
        const held = this.entry(entry.opNumber);
        assert(held === undefined || held.checksum === entry.checksum, `replica ${this.replicaIndex}: op ${entry.opNumber} differs from the primary's in view ${view}`);
        continue;
      }
      if (entry.opNumber > this.opNumber + 1) {
        gap = true;
        break;
      }
      assert(entry.previousChecksum === this.lastChecksum(), `replica ${this.replicaIndex}: op ${entry.opNumber} does not chain`);
      this.appendEntry(entry);
    }
    if (gap || commitNumber > this.opNumber) this.requestRepair(from);
    this.send(from, { type: 'prepare_ok', view, from: this.replicaIndex, opNumber: this.opNumber });
    this.commitUpTo(Math.min(commitNumber, this.opNumber));
  }

  private onCommit(message: Extract<Message<Op>, { type: 'commit' }>): void {
    if (!this.acceptFromPrimary(message.view, message.from)) return;
    if (message.readRound !== undefined) {
      this.send(message.from, { type: 'prepare_ok', view: message.view, from: this.replicaIndex, opNumber: this.opNumber, readRound: message.readRound });
    }
    if (message.commitNumber > this.opNumber) this.requestRepair(message.from);
    this.commitUpTo(Math.min(message.commitNumber, this.opNumber));
  }

  /**
   * True when `view`/`from` is this backup's primary in a normal view. A
   * message from the primary of a newer view (or of this view while this
   * replica is still in its view change) means StartView was missed: ask for it.
   */
  private acceptFromPrimary(view: number, from: ReplicaIndex): boolean {
    if (view < this.viewValue) {
      this.helpStaleReplica(from);
      return false;
    }
    if (from !== this.primaryOf(view) || from === this.replicaIndex) return false;
    if (view > this.viewValue || this.statusValue !== 'normal') {
      this.resetViewTimer();
      if (this.repairTimer === 0) {
        this.repairTimer = this.timeouts.repairTicks;
        this.send(from, { type: 'request_start_view', view, from: this.replicaIndex });
      }
      return false;
    }
    this.resetViewTimer();
    return true;
  }

  private requestRepair(primary: ReplicaIndex): void {
    if (this.repairTimer > 0) return;
    this.repairTimer = this.timeouts.repairTicks;
    this.send(primary, { type: 'get_state', view: this.viewValue, from: this.replicaIndex, opNumber: this.opNumber });
  }

  /** A primary tells a replica stuck in an older view where the cluster is. */
  private helpStaleReplica(replica: ReplicaIndex): void {
    if (this.statusValue === 'normal' && this.isPrimary()) this.sendStartView(replica);
  }

  // View change.

  private startViewChange(view: number): void {
    assert(view > this.viewValue || (view === this.viewValue && this.statusValue === 'normal'), `view change to ${view} from ${this.viewValue}`);
    this.viewValue = view;
    this.statusValue = 'view_change';
    this.hardStateDirty = true;
    this.failReads();
    this.startViewChangeFrom.clear();
    this.doViewChanges.clear();
    this.doViewChangeSent = false;
    this.acks.clear();
    this.requestQueue.length = 0;
    this.inFlightRequests.clear();
    this.resetViewTimer();
    this.viewChangeRetryTimer = this.timeouts.viewChangeRetryTicks;
    this.broadcast({ type: 'start_view_change', view, from: this.replicaIndex });
    if (this.replicaCount === 1) this.sendDoViewChange();
  }

  private onStartViewChange(message: Extract<Message<Op>, { type: 'start_view_change' }>): void {
    if (message.view < this.viewValue || (message.view === this.viewValue && this.statusValue === 'normal')) {
      this.helpStaleReplica(message.from);
      return;
    }
    if (message.view > this.viewValue) this.startViewChange(message.view);
    this.startViewChangeFrom.add(message.from);
    if (!this.doViewChangeSent && this.startViewChangeFrom.size >= this.quorum - 1) this.sendDoViewChange();
  }

  private sendDoViewChange(): void {
    this.doViewChangeSent = true;
    const message: DoViewChange<Op> = {
      type: 'do_view_change',
      epoch: this.config.epoch,
      view: this.viewValue,
      from: this.replicaIndex,
      logView: this.logViewValue,
      log: this.logSuffix(),
      commitNumber: this.commitNumberValue,
    };
    const primary = this.primaryOf(this.viewValue);
    if (primary === this.replicaIndex) this.collectDoViewChange(message);
    else this.send(primary, message);
  }

  private onDoViewChange(message: DoViewChange<Op>): void {
    if (message.view < this.viewValue || (message.view === this.viewValue && this.statusValue === 'normal')) {
      this.helpStaleReplica(message.from);
      return;
    }
    if (message.view > this.viewValue) this.startViewChange(message.view);
    if (this.primaryOf(message.view) !== this.replicaIndex) return;
    if (!this.doViewChangeSent) this.sendDoViewChange();
    if (this.statusValue === 'view_change') this.collectDoViewChange(message);
  }

  private collectDoViewChange(message: DoViewChange<Op>): void {
    assert(message.view === this.viewValue && this.statusValue === 'view_change', 'do_view_change for this view change');
    this.doViewChanges.set(message.from, message);
    if (this.doViewChanges.size < this.quorum || !this.doViewChanges.has(this.replicaIndex)) return;
    // The log of the latest normal view wins; within it, the longest (all are prefixes of one log).
    let best: DoViewChange<Op> | undefined;
    let commitNumber = 0;
    for (const candidate of [...this.doViewChanges.values()].sort((a, b) => a.from - b.from)) {
      commitNumber = Math.max(commitNumber, candidate.commitNumber);
      if (best === undefined || candidate.logView > best.logView || (candidate.logView === best.logView && suffixEnd(candidate.log) > suffixEnd(best.log))) {
        best = candidate;
      }
    }
    assert(best !== undefined);
    assert(commitNumber <= suffixEnd(best.log), `view ${this.viewValue}: committed op ${commitNumber} beyond the chosen log (${suffixEnd(best.log)})`);
    // A new primary whose log ends before the chosen log's kept entries cannot
    // lead this view: it stays in view change until the next view's primary
    // takes over (and a normal primary sends it a checkpoint).
    if (!this.installLog(best.log)) return;
    this.enterNormal(this.viewValue);
    for (let replica = 0; replica < this.replicaCount; replica++) if (replica !== this.replicaIndex) this.sendStartView(replica);
    this.commitUpTo(commitNumber);
    this.heartbeatTimer = this.timeouts.heartbeatTicks;
    this.prepareRetryTimer = this.timeouts.prepareRetryTicks;
  }

  private sendStartView(replica: ReplicaIndex): void {
    this.send(replica, { type: 'start_view', view: this.viewValue, from: this.replicaIndex, log: this.logSuffix(), commitNumber: this.commitNumberValue });
  }

  private onStartView(message: Extract<Message<Op>, { type: 'start_view' }>): void {
    if (message.view < this.viewValue) return;
    if (message.view === this.viewValue && this.statusValue === 'normal') return;
    if (message.from !== this.primaryOf(message.view)) return;
    if (message.log.baseOpNumber + message.log.entries.length < this.commitNumberValue) {
      // A StartView of this view sent before ops this replica already holds as
      // committed (a state transfer got here first): ask for a fresh one.
      this.send(message.from, { type: 'request_start_view', view: message.view, from: this.replicaIndex });
      return;
    }
    const recoveringIntact = this.recoveringIntact;
    if (!this.installLog(message.log)) {
      // The primary's kept entries start beyond what this replica can chain
      // to: ask for its state from the last op this replica knows committed.
      // (StartView comes only when asked for, so this is rate limited already.)
      this.send(message.from, { type: 'get_state', view: message.view, from: this.replicaIndex, opNumber: this.commitNumberValue });
      return;
    }
    if (recoveringIntact !== undefined) {
      // The corrupt entries leave the disk with the same write that adopts the primary's log.
      this.truncateAfter = Math.min(this.truncateAfter ?? recoveringIntact, recoveringIntact);
      this.recoveringIntact = undefined;
    }
    this.enterNormal(message.view);
    this.resetViewTimer();
    if (this.opNumber > message.commitNumber) {
      this.send(message.from, { type: 'prepare_ok', view: message.view, from: this.replicaIndex, opNumber: this.opNumber });
    }
    this.commitUpTo(Math.min(message.commitNumber, this.opNumber));
  }

  private enterNormal(view: number): void {
    this.viewValue = view;
    this.logViewValue = view;
    this.statusValue = 'normal';
    this.hardStateDirty = true;
    this.failReads();
    this.viewStartOpNumber = this.opNumber;
    this.acks.clear();
    this.requestQueue.length = 0;
    this.rebuildInFlight();
    this.startViewChangeFrom.clear();
    this.doViewChanges.clear();
    this.doViewChangeSent = false;
  }

  /**
   * Replaces the log with `log`, keeping the common prefix; committed entries
   * must not change. False (and nothing changed) when this replica cannot
   * chain to the suffix: its log ends before the suffix's base, or differs at
   * that base (its entries there were never committed). Then it needs a
   * checkpoint.
   */
  private installLog(log: LogSuffix<Op>): boolean {
    const end = suffixEnd(log);
    assert(end >= this.commitNumberValue, `replica ${this.replicaIndex}: new log (${end}) drops committed op ${this.commitNumberValue}`);
    assert(log.entries.length <= this.logOpsMax, `log of ${log.entries.length} ops exceeds ${this.logOpsMax}`);
    let previous = log.baseChecksum;
    log.entries.forEach((entry, index) => {
      assert(entry.previousChecksum === previous && entry.opNumber === log.baseOpNumber + index + 1, 'adopted log does not chain');
      previous = entry.checksum;
    });
    // Find a point both logs name; from there on, the longest common prefix.
    const start = Math.max(log.baseOpNumber, this.logBase);
    if (start > this.opNumber) return false;
    assert(start <= end, `replica ${this.replicaIndex}: kept entries (after ${this.logBase}) beyond the new log (${end})`);
    const theirs = (opNumber: number): string => (opNumber === log.baseOpNumber ? log.baseChecksum : log.entries[opNumber - log.baseOpNumber - 1]!.checksum);
    if (this.checksumAt(start) !== theirs(start)) {
      assert(start > this.commitNumberValue, `replica ${this.replicaIndex}: new log differs at committed op ${start}`);
      return false;
    }
    let common = start;
    const shorter = Math.min(end, this.opNumber);
    while (common < shorter && theirs(common + 1) === this.checksumAt(common + 1)) common++;
    assert(common >= this.commitNumberValue, `replica ${this.replicaIndex}: new log differs at committed op ${common + 1}`);
    if (common < this.opNumber) this.truncateLog(common);
    for (const entry of log.entries.slice(common - log.baseOpNumber)) this.appendEntry(entry);
    return true;
  }

  // Log and commit.

  private appendEntry(entry: LogEntry<Op>): void {
    assert(entry.opNumber === this.opNumber + 1, `append op ${entry.opNumber} after ${this.opNumber}`);
    assert(this.logValue.length < this.logOpsMax, `log full (${this.logOpsMax} ops held; is the driver checkpointing?)`);
    assert(this.configOpNumber === undefined, `replica ${this.replicaIndex}: op ${entry.opNumber} after the configuration entry ${this.configOpNumber} of epoch ${this.config.epoch}`);
    this.logValue.push(entry);
    // (The entry that began this epoch is committed; a replica repairing its log may append it again.)
    if (entry.opNumber > this.config.startOpNumber && this.reconfiguration?.(entry.op) !== undefined) this.configOpNumber = entry.opNumber;
  }

  /** The configuration entry among the held entries not yet committed, if any (the last entry of its epoch). */
  private uncommittedConfigOp(): number | undefined {
    if (this.reconfiguration === undefined) return undefined;
    for (let opNumber = this.opNumber; opNumber > Math.max(this.commitNumberValue, this.config.startOpNumber); opNumber--) {
      if (this.reconfiguration(this.entryAt(opNumber).op) !== undefined) return opNumber;
    }
    return undefined;
  }

  private truncateLog(opNumber: number): void {
    assert(opNumber >= this.commitNumberValue, `truncating committed op ${this.commitNumberValue}`);
    assert(opNumber >= this.logBase, `truncating compacted op ${opNumber}`);
    this.logValue.truncate(opNumber - this.logBase);
    if (this.configOpNumber !== undefined && this.configOpNumber > opNumber) this.configOpNumber = undefined;
    this.logGeneration++;
    this.durableOpNumber = Math.min(this.durableOpNumber, opNumber);
    if (opNumber < this.handedOffOpNumber) {
      this.truncateAfter = Math.min(this.truncateAfter ?? opNumber, opNumber);
      this.handedOffOpNumber = opNumber;
    }
  }

  private commitUpTo(opNumber: number): void {
    assert(opNumber <= this.opNumber, `commit ${opNumber} beyond log ${this.opNumber}`);
    while (this.commitNumberValue < opNumber) {
      const entry = this.entryAt(this.commitNumberValue + 1);
      const result = this.stateMachine.apply(entry.op, entry.opNumber, entry.timestampMs);
      const evicted = this.clientTable.record(entry.clientId, { requestNumber: entry.requestNumber, opNumber: entry.opNumber, result });
      if ((this.inFlightRequests.get(entry.clientId) ?? Number.POSITIVE_INFINITY) <= entry.requestNumber) this.inFlightRequests.delete(entry.clientId);
      if (this.evictedClients.length > 0) {
        // A client dropped earlier in this Ready and back now is not dropped: its new row is persisted, and a delete after it would lose it.
        const back = this.evictedClients.indexOf(entry.clientId);
        if (back !== -1) this.evictedClients.splice(back, 1);
      }
      if (evicted !== undefined) this.evictedClients.push(evicted);
      this.commitNumberValue = entry.opNumber;
      this.committed.push({ entry, result });
      if (this.statusValue === 'normal' && this.isPrimary()) {
        this.replies.push({ clientId: entry.clientId, requestNumber: entry.requestNumber, view: this.viewValue, opNumber: entry.opNumber, result });
        if (this.replicaCount === 1) this.repliesWait = true;
      }
      this.hardStateDirty = true;
      const replicaCount = entry.opNumber > this.config.startOpNumber ? this.reconfiguration?.(entry.op) : undefined;
      if (replicaCount !== undefined) {
        // The configuration entry is the last of its epoch: nothing was prepared after it.
        assert(entry.opNumber === this.opNumber, `replica ${this.replicaIndex}: op ${this.opNumber} follows the configuration entry ${entry.opNumber}`);
        this.enterEpoch({ epoch: this.config.epoch + 1, replicaCount, startOpNumber: entry.opNumber, startChecksum: entry.checksum });
        return;
      }
    }
  }

  private entryAt(opNumber: number): LogEntry<Op> {
    const entry = this.entry(opNumber);
    assert(entry?.opNumber === opNumber, `no entry for op ${opNumber} (log holds ${this.logBase + 1}..${this.opNumber})`);
    return entry;
  }

  /** The checksum of op `opNumber` if this replica can name it (the base or a held entry). */
  private checksumAt(opNumber: number): string | undefined {
    if (opNumber === this.logBase) return this.baseChecksum;
    return opNumber > this.logBase ? this.logValue.checksumAt(opNumber - this.logBase - 1) : undefined;
  }

  private lastChecksum(): string {
    return this.logValue.checksumAt(this.logValue.length - 1) ?? this.baseChecksum;
  }

  /** Held entries from `opNumber` on (at most `limit`). */
  private entriesFrom(opNumber: number, limit = Number.POSITIVE_INFINITY): LogEntry<Op>[] {
    assert(opNumber > this.logBase, `entries from compacted op ${opNumber}`);
    const start = opNumber - this.logBase - 1;
    return this.logValue.slice(start, start + limit);
  }

  private repairLimit(): number {
    return this.faults.fire('vsr.repair_one_entry') ? 1 : this.repairEntriesMax;
  }

  private logSuffix(): LogSuffix<Op> {
    return { baseOpNumber: this.logBase, baseChecksum: this.baseChecksum, baseTimestampMs: this.baseTimestampMs, entries: this.logValue.all() };
  }

  private hardStateToPersist(): HardState {
    const view = this.unsafe.skipViewPersist === true && this.statusValue === 'view_change' ? this.logViewValue : this.viewValue;
    const recovering = this.statusValue === 'recovering' ? { recovering: true as const } : {};
    const viewUnknown = this.viewUnknown ? { viewUnknown: true as const } : {};
    const joining = this.joining ? { joining: true as const } : {};
    const config = this.config.epoch > 0 ? { config: this.config } : {};
    return { view, logView: this.logViewValue, commitNumber: this.commitNumberValue, ...recovering, ...viewUnknown, ...joining, ...config };
  }

  // Sending and timers.

  /** Sends `message` stamped with this replica's epoch. */
  private send(to: ReplicaIndex, message: Unstamped<ReplicaMessage<Op, Result>>): void {
    this.sendStamped(to, { ...message, epoch: this.config.epoch });
  }

  private sendStamped(to: ReplicaIndex, message: ReplicaMessage<Op, Result>): void {
    assert(to !== this.replicaIndex, 'a replica does not message itself');
    this.outbox.push({ to, message });
  }

  private broadcast(message: Unstamped<ReplicaMessage<Op, Result>>): void {
    const stamped = { ...message, epoch: this.config.epoch } as ReplicaMessage<Op, Result>;
    for (let replica = 0; replica < this.replicaCount; replica++) if (replica !== this.replicaIndex) this.sendStamped(replica, stamped);
  }

  private resetViewTimer(): void {
    const { viewChangeTicksMin, viewChangeTicksMax } = this.timeouts;
    this.viewTimer = viewChangeTicksMin + (this.random.uint32() % (viewChangeTicksMax - viewChangeTicksMin));
  }
}

/** A message as built, before `send` stamps the epoch on it. */
type Unstamped<M> = M extends unknown ? Omit<M, 'epoch'> : never;

function quorumOf(replicaCount: number): number {
  return Math.floor(replicaCount / 2) + 1;
}

function suffixEnd<Op>(log: LogSuffix<Op>): number {
  return log.baseOpNumber + log.entries.length;
}

/** Messages a normal primary may send before its Ready's writes are durable. */
function sentBeforePersist(type: ReplicaMessage<unknown>['type']): boolean {
  return type === 'prepare' || type === 'commit' || type === 'new_state';
}
