// Binds a pure VSR Replica to a real world: a KvStore (LMDB in production)
// that holds the replica's log, hard state, client table and checkpoint next
// to the replicated state itself, a Transport to the other replicas, and the
// Clock for ticks.
//
// One driver turn is one KvStore write transaction: advance the previous
// Ready, feed the queued messages and ticks to the replica, take its Ready,
// and write everything it asks for, in the same transaction as the state
// machine's applies. So the state through the commit number, the client table
// and the hard state are always durable together: every turn is a checkpoint,
// and a restart never replays anything. Only once the transaction is durable
// are the Ready's messages sent and its replies answered (persist before
// send). Messages that arrive during a turn wait for the next: that is the
// group commit, one fsync for everything that arrived meanwhile. A backup's
// turn may commit on the event loop instead of the store's write thread
// (syncBackupTurns): it has nothing to send before the fsync anyway.
//
// Keys (all under "r/", so the state machine must not use that prefix):
//   r/h              hard state (view, log view, commit number)
//   r/k              commit point: op number, checksum, timestamp
//   r/c/<client id>  client table row, and r/d/<u64 op> the rows committed
//                    since the last fold, one delta per turn (kv-client-table.ts)
//   r/b/<u64 op>     a batch of log entries, by its last op (kv-log.ts; only
//                    batches not yet compacted)

import type { TimerHandle } from '../io/clock.js';
import type { Env } from '../io/env.js';
import type { KvReader, KvStore, KvTransaction } from '../io/kv-store.js';
import { TransportError } from '../io/transport.js';
import type { NodeAddress } from '../io/transport.js';
import { AssertionError, assert } from '../stdx/assert.js';
import { utf8 } from '../stdx/bytes.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import type { ClientEntry } from './client-table.js';
import { PersistedClientTable, readClientRows } from './kv-client-table.js';
import { deleteEntries, prefixRange } from './kv-keys.js';
import { PersistedLog, migrateLegacyLog, readLog } from './kv-log.js';
import { replicaMessageFromWire, encodeReplicaMessage } from './message-codec.js';
import type { Checkpoint, Message } from './messages.js';
import { Replica } from './replica.js';
import type { DurableState, HardState, Ready, ReplicaOptions, StateMachine } from './replica.js';

/** A state machine whose state lives in the KvStore, applied inside the driver's transaction. */
export interface TransactionalStateMachine<Op, Result> {
  apply(transaction: KvTransaction, op: Op, opNumber: number, timestampMs: number): Result;
}

export type ReplicaTuning<Op, Result> = Partial<
  Pick<
    ReplicaOptions<Op, Result>,
    'timeouts' | 'batchOpsMax' | 'pipelineOpsMax' | 'requestQueueMax' | 'repairEntriesMax' | 'clientsMax' | 'logRetainOps' | 'compactOpsMin' | 'logOpsMax'
  >
>;

export interface ReplicaDriverOptions<Op, Result> {
  readonly env: Env;
  readonly kv: KvStore;
  readonly stateMachine: TransactionalStateMachine<Op, Result>;
  readonly replicaIndex: number;
  /**
   * Every replica's transport address, by replica index (this one's
   * included): every index the group may grow to.
   */
  readonly addresses: readonly NodeAddress[];
  /** The group's size when it was created (epoch 0); all of `addresses` unless given. */
  readonly initialReplicaCount?: number;
  /**
   * Recognizes a configuration op (the replica count it asks for); see
   * ReplicaOptions.reconfiguration. Without it the group never changes size.
   */
  readonly reconfiguration?: (op: Op) => number | undefined;
  /**
   * This replica joins a group that is growing to include its index (see
   * ReplicaOptions.joining). Honoured only on an empty store.
   */
  readonly joining?: boolean;
  /** One replica tick every this many milliseconds. */
  readonly tickMs?: number;
  /** A local request unanswered this long is handed to the replica again. */
  readonly retryMs?: number;
  /** A read not confirmed within this long fails (a primary cut off from its backups). */
  readonly readTimeoutMs?: number;
  /**
   * This replica replaces one whose disk was lost (see ReplicaOptions.replacement).
   * Honoured only on an empty store; a store that holds a replica's state opens as that replica.
   */
  readonly replacement?: boolean;
  /**
   * Listen on the transport even as a group of 1, so clients on other nodes
   * (a cluster's gateways) reach it. A group of more replicas always listens.
   */
  readonly listenAlone?: boolean;
  /**
   * Answers remote `{type: 'query', query}` messages: runs on the KvStore
   * through read() (linearizable) and replies `{ok: true, result}`; a query
   * that throws replies `{ok: false, error}`. Without it queries are refused.
   */
  readonly query?: (reader: KvReader, query: unknown) => unknown;
  /**
   * A turn that starts with this replica not the primary of a normal view
   * commits on the event loop (KvStore.transactSync) rather than on the
   * store's write thread. Such a turn sends nothing before its writes are
   * durable (a backup's PrepareOk waits for its fsync either way), so its
   * latency is the same; what it saves is the thread hand-offs (measured on
   * LMDB: ~130 µs of CPU a commit, about a sixth of a backup's CPU in the group
   * bench). The event loop is blocked for each commit (~0.3-1 ms), so only
   * where the replica has its process to itself. A primary's turns stay
   * asynchronous: its Prepares and replies leave before its own fsync.
   */
  readonly syncBackupTurns?: boolean;
  readonly replica?: ReplicaTuning<Op, Result>;
}

/** This replica is not the primary of a normal view: ask `primaryIndex` (a guess during a view change). */
export class NotPrimaryError extends Error {
  override readonly name = 'NotPrimaryError';
  constructor(
    readonly view: number,
    readonly primaryIndex: number,
  ) {
    super(`not the primary (view ${view}; try replica ${primaryIndex})`);
  }
}

/** A configuration op asked for a group size this group cannot have. */
export class ReconfigurationError extends Error {
  override readonly name = 'ReconfigurationError';
}

/** What a turn hands to the next: its Ready, to advance once durable, and the commit number its transaction made durable. */
interface TurnOutcome<Op, Result> {
  readonly ready: Ready<Op, Result>;
  readonly checkpointOpNumber: number;
}

/** Stands in for a promise's settle functions until the executor has run (it runs at once). */
function noSettle(): void {
  // Replaced before the waiter is stored.
}

/** A client request waits here for its reply. */
interface Waiter<Op, Result> {
  readonly requestNumber: number;
  readonly message: Message<Op, Result>;
  resolve(result: Result): void;
  reject(error: Error): void;
  sentMs: number;
  /** What submit() returned: a remote client's retry of the same request joins it. */
  readonly promise: Promise<Result>;
}

/** A remote client's read (not a VSR message: it never reaches the replica). */
interface QueryMessage {
  readonly type: 'query';
  readonly query: unknown;
}

const hardStateKey = utf8('r/h');
const commitPointKey = utf8('r/k');
/** Every key the driver owns; the rest of the keyspace is the state machine's. */
export const replicaKeyPrefix = utf8('r/');

/** The state machine's whole keyspace (everything outside r/) as one snapshot. */
export function snapshotState(reader: KvReader): Uint8Array {
  const pairs: [Uint8Array, Uint8Array][] = [];
  const own = prefixRange(replicaKeyPrefix);
  for (const entry of reader.scan({ end: own.start })) pairs.push([entry.key, entry.value]);
  for (const entry of reader.scan({ start: own.end })) pairs.push([entry.key, entry.value]);
  return encodeRecord(pairs);
}

function restoreState(transaction: KvTransaction, snapshot: Uint8Array): void {
  const own = prefixRange(replicaKeyPrefix);
  deleteEntries(transaction, transaction.scan({ end: own.start }));
  deleteEntries(transaction, transaction.scan({ start: own.end }));
  for (const [key, value] of decodeRecord(snapshot) as [Uint8Array, Uint8Array][]) {
    assert(!(key.length >= 2 && key[0] === replicaKeyPrefix[0] && key[1] === replicaKeyPrefix[1]), 'a snapshot holds no replica keys');
    transaction.put(key, value);
  }
}

/** What a replica persisted in `reader`: the durable state a restart begins from. */
export function readDurableState<Op, Result>(reader: KvReader): DurableState<Op, Result> {
  const hardBytes = reader.get(hardStateKey);
  const hardState: HardState = hardBytes === undefined ? { view: 0, logView: 0, commitNumber: 0 } : (decodeRecord(hardBytes) as HardState);
  const pointBytes = reader.get(commitPointKey);
  const log = readLog<Op>(reader);
  if (pointBytes === undefined) return { hardState, log };
  const point = decodeRecord(pointBytes) as Omit<Checkpoint<Result>, 'clients'>;
  return { hardState, checkpoint: { ...point, clients: readClientRows<Result>(reader) }, log };
}

export class ReplicaDriver<Op, Result> {
  private replicaValue: Replica<Op, Result> | undefined;
  private logValue: PersistedLog | undefined;
  private clientsValue: PersistedClientTable<Result> | undefined;
  private readonly address: NodeAddress;
  private readonly tickMs: number;
  private readonly retryMs: number;
  private readonly inbox: Message<Op, Result>[] = [];
  private ticksDue = 0;
  private pending: TurnOutcome<Op, Result> | undefined;
  private running = false;
  private closed = false;
  private failure: Error | undefined;
  private transaction: KvTransaction | undefined;
  private timer: TimerHandle | undefined;
  private readonly waiters = new Map<string, Waiter<Op, Result>>();
  private readonly readWaiters = new Map<number, { serve(): void; reject(error: Error): void; readonly askedMs: number }>();
  private readsToAsk: number[] = [];
  private nextReadId = 1;
  private readonly readTimeoutMs: number;
  private idle: (() => void)[] = [];
  /** Turns run (KvStore transactions), the time they took and the longest, for tests and benchmarks. */
  turns = 0;
  turnMsTotal = 0;
  turnMsMax = 0;

  private constructor(private readonly options: ReplicaDriverOptions<Op, Result>) {
    assert(options.replicaIndex >= 0 && options.replicaIndex < options.addresses.length, `replica index ${options.replicaIndex}`);
    this.address = options.addresses[options.replicaIndex]!;
    this.tickMs = options.tickMs ?? 10;
    this.retryMs = options.retryMs ?? 500;
    this.readTimeoutMs = options.readTimeoutMs ?? 2000;
    assert(this.tickMs > 0 && this.retryMs > 0 && this.readTimeoutMs > 0, 'driver tick, retry and read timeout must be positive');
    const initial = options.initialReplicaCount ?? options.addresses.length;
    assert(initial >= 1 && initial % 2 === 1 && initial <= options.addresses.length, `initial replica count ${initial} of ${options.addresses.length} addresses`);
    assert(options.joining !== true || options.replacement !== true, 'a replica joins or replaces, not both');
  }

  /** Opens the replica from what `kv` holds (or fresh) and starts listening and ticking. */
  static async open<Op, Result>(options: ReplicaDriverOptions<Op, Result>): Promise<ReplicaDriver<Op, Result>> {
    const driver = new ReplicaDriver(options);
    await driver.start();
    return driver;
  }

  private async start(): Promise<void> {
    const { env, kv } = this.options;
    // A store without a hard state is a fresh replica. Its first hard state is
    // written before anything can be sent, so a replica that crashed after
    // sending (a primary's Prepares go out before they are persisted) is
    // never mistaken for a fresh one on restart.
    const fresh = kv.get(hardStateKey) === undefined;
    const migrated = await kv.transact((transaction) => migrateLegacyLog(transaction));
    if (migrated > 0) env.logger.log('info', 'vsr: moved log entries kept one per key into a batch', { entries: migrated });
    const durable = readDurableState<Op, Result>(kv);
    this.logValue = new PersistedLog(kv);
    this.clientsValue = new PersistedClientTable<Result>(kv);
    const adapter: StateMachine<Op, Result> = {
      apply: (op, opNumber, timestampMs) => this.options.stateMachine.apply(this.inTurn(), op, opNumber, timestampMs),
      snapshot: () => snapshotState(this.inTurn()),
      restore: (snapshot) => {
        restoreState(this.inTurn(), snapshot);
      },
    };
    // The replica may apply while restoring (ops committed after the commit
    // point), so it is built inside a transaction like every other turn.
    await kv.transact((transaction) => {
      this.transaction = transaction;
      try {
        if (fresh) {
          const initial = this.options.initialReplicaCount ?? this.options.addresses.length;
          assert(
            this.options.replicaIndex < initial || this.options.joining === true || this.options.replacement === true,
            `replica ${this.options.replicaIndex} is not in the group of ${initial} it was created as: start it as a joiner`,
          );
          // A replacement's or joiner's first hard state says so: a crash before its first turn must not reopen it as a voter.
          const first: HardState =
            this.options.replacement === true
              ? { ...durable.hardState, recovering: true, viewUnknown: true }
              : this.options.joining === true
                ? { ...durable.hardState, recovering: true, joining: true }
                : durable.hardState;
          transaction.put(hardStateKey, encodeRecord(first));
        }
        this.replicaValue = new Replica<Op, Result>({
          ...this.options.replica,
          replicaIndex: this.options.replicaIndex,
          // The first configuration (a persisted one overrides it); joiners,
          // replacements and retired replicas ask every address for the newest.
          replicaCount: this.options.initialReplicaCount ?? this.options.addresses.length,
          addressCount: this.options.addresses.length,
          stateMachine: adapter,
          random: env.random,
          ...(fresh ? { replacement: this.options.replacement === true, joining: this.options.joining === true } : { durable }),
          ...(this.options.reconfiguration === undefined ? {} : { reconfiguration: this.options.reconfiguration }),
          atomicApply: true,
        });
      } finally {
        this.transaction = undefined;
      }
    });
    if (this.listens) {
      env.transport.listen(this.address, (_from, bytes) => this.onTransportMessage(bytes));
    }
    this.scheduleTick();
    this.kick();
  }

  private get log(): PersistedLog {
    assert(this.logValue !== undefined, 'driver not started');
    return this.logValue;
  }

  private get clients(): PersistedClientTable<Result> {
    assert(this.clientsValue !== undefined, 'driver not started');
    return this.clientsValue;
  }

  get replica(): Replica<Op, Result> {
    assert(this.replicaValue !== undefined, 'driver not started');
    return this.replicaValue;
  }

  private get listens(): boolean {
    return this.options.addresses.length > 1 || this.options.listenAlone === true;
  }

  private inTurn(): KvTransaction {
    assert(this.transaction !== undefined, 'the replica touches the state machine only inside a driver turn');
    return this.transaction;
  }

  /**
   * Submits a client request to this replica, which must be the primary of a
   * normal view (else NotPrimaryError). Requests of one client go one at a
   * time, with growing request numbers; a retry with the same number is
   * answered from the client table, never executed twice.
   */
  submit(clientId: string, requestNumber: number, op: Op): Promise<Result> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('replica driver closed'));
    const replica = this.replica;
    if (replica.status !== 'normal' || !replica.isPrimary()) {
      return Promise.reject(new NotPrimaryError(replica.view, replica.primaryOf(replica.view)));
    }
    const replicaCount = this.options.reconfiguration?.(op);
    if (replicaCount !== undefined && !(Number.isSafeInteger(replicaCount) && replicaCount >= 1 && replicaCount % 2 === 1 && replicaCount <= this.options.addresses.length)) {
      return Promise.reject(
        new ReconfigurationError(`a group of ${replicaCount} replicas is impossible here: the size must be odd, at least 1 and at most the ${this.options.addresses.length} configured addresses`),
      );
    }
    const superseded = this.waiters.get(clientId);
    // A remote client that gave up waiting retries the same request: both wait for the one reply.
    if (superseded?.requestNumber === requestNumber) return superseded.promise;
    if (superseded !== undefined) {
      assert(superseded.requestNumber < requestNumber, `client ${clientId}: request ${requestNumber} after ${superseded.requestNumber}`);
      superseded.reject(new Error(`client ${clientId}: request ${superseded.requestNumber} superseded by ${requestNumber}`));
    }
    const message: Message<Op, Result> = { type: 'request', clientId, requestNumber, op };
    // Built as one literal (a spread of the settle functions cost an object and a copy per request).
    let resolveWaiter: (result: Result) => void = noSettle;
    let rejectWaiter: (error: Error) => void = noSettle;
    const promise = new Promise<Result>((resolve, reject) => {
      resolveWaiter = resolve;
      rejectWaiter = reject;
    });
    this.waiters.set(clientId, { requestNumber, message, resolve: resolveWaiter, reject: rejectWaiter, sentMs: this.options.env.clock.monotonicMs(), promise });
    this.inbox.push(message);
    this.kick();
    return promise;
  }

  /**
   * A linearizable read: `query` runs against the KvStore once this replica,
   * the primary of a normal view, has proven it still is (a quorum answered a
   * round begun after the read arrived) and has committed every op its view
   * started with (read index). Else NotPrimaryError, or a timeout error when
   * the primary is cut off from its backups.
   */
  read<T>(query: (reader: KvReader) => T): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('replica driver closed'));
    const replica = this.replica;
    if (replica.status !== 'normal' || !replica.isPrimary()) {
      return Promise.reject(new NotPrimaryError(replica.view, replica.primaryOf(replica.view)));
    }
    const readId = this.nextReadId++;
    return new Promise<T>((resolve, reject) => {
      this.readWaiters.set(readId, {
        serve: () => {
          try {
            resolve(query(this.options.kv));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
        reject,
        askedMs: this.options.env.clock.monotonicMs(),
      });
      this.readsToAsk.push(readId);
      this.kick();
    });
  }

  private async onTransportMessage(bytes: Uint8Array): Promise<Uint8Array> {
    const message = decodeRecord(bytes) as Message<Op, Result> | QueryMessage;
    if (message.type === 'query') return this.onQuery(message);
    if (message.type === 'request') {
      // A remote client: answer once committed, or say who the primary is.
      const waiting = this.waiters.get(message.clientId);
      if (waiting !== undefined && waiting.requestNumber > message.requestNumber) {
        // A late copy of a request its client has moved past (the network may reorder retries).
        throw new Error(`client ${message.clientId}: request ${message.requestNumber} is older than ${waiting.requestNumber}`);
      }
      try {
        const result = await this.submit(message.clientId, message.requestNumber, message.op);
        return encodeRecord({ ok: true, result });
      } catch (error) {
        if (error instanceof NotPrimaryError) return encodeRecord({ ok: false, view: error.view, primaryIndex: error.primaryIndex });
        throw error;
      }
    }
    if ((message as { type: string }).type === 'status') return encodeRecord(this.status());
    const replicaMessage = replicaMessageFromWire<Op, Result>(message, this.options.addresses.length, this.options.replicaIndex);
    if (replicaMessage === undefined) {
      // Never hand the replica what it would assert on: a peer's bug must not stop this replica.
      this.options.env.logger.log('warn', 'vsr: dropped a malformed message', { type: String((message as { type?: unknown }).type) });
      throw new Error('malformed replica message');
    }
    if (!this.closed && this.failure === undefined) {
      this.inbox.push(replicaMessage);
      this.kick();
    }
    return new Uint8Array(0);
  }

  /** What `tessera cluster status` shows of this replica. */
  status(): { status: string; epoch: number; replicaCount: number; view: number; primaryIndex: number; commitNumber: number; opNumber: number; failed: boolean } {
    const replica = this.replica;
    return {
      status: replica.status,
      epoch: replica.epoch,
      replicaCount: replica.replicaCount,
      view: replica.view,
      primaryIndex: replica.primaryOf(replica.view),
      commitNumber: replica.commitNumber,
      opNumber: replica.opNumber,
      failed: this.failure !== undefined,
    };
  }

  /** A remote client's read: `{ok: true, result}`, `{ok: false, error}` if the query threw, or a redirect. */
  private async onQuery(message: QueryMessage): Promise<Uint8Array> {
    const run = this.options.query;
    if (run === undefined) throw new Error('this replica answers no queries');
    try {
      const outcome = await this.read((reader) => {
        try {
          return { ok: true, result: run(reader, message.query) } as const;
        } catch (error) {
          if (error instanceof AssertionError) throw error;
          return { ok: false, error: error instanceof Error ? error.message : String(error) } as const;
        }
      });
      return encodeRecord(outcome);
    } catch (error) {
      if (error instanceof NotPrimaryError) return encodeRecord({ ok: false, view: error.view, primaryIndex: error.primaryIndex });
      throw error; // A read timeout or a closed driver: the client tries elsewhere.
    }
  }

  private scheduleTick(): void {
    if (this.closed) return;
    this.timer = this.options.env.clock.setTimer(this.tickMs, () => {
      this.ticksDue++;
      this.retryLocalRequests();
      this.kick();
      this.scheduleTick();
    });
  }

  /** Requests dropped by the replica (a view change, a full queue) are handed to it again. */
  private retryLocalRequests(): void {
    const nowMs = this.options.env.clock.monotonicMs();
    const replica = this.replica;
    if ((replica.status === 'normal' || replica.status === 'retired') && !replica.isPrimary() && this.waiters.size > 0) {
      // Deposed (or retired): another replica leads. Its clients retry there (the client table keeps it at most once).
      for (const waiter of this.waiters.values()) waiter.reject(new NotPrimaryError(replica.view, replica.primaryOf(replica.view)));
      this.waiters.clear();
    }
    for (const [readId, waiter] of this.readWaiters) {
      if (nowMs - waiter.askedMs < this.readTimeoutMs) continue;
      this.readWaiters.delete(readId);
      waiter.reject(new Error(`read not confirmed within ${this.readTimeoutMs} ms: this primary may be cut off from its backups`));
    }
    for (const waiter of this.waiters.values()) {
      if (nowMs - waiter.sentMs < this.retryMs) continue;
      waiter.sentMs = nowMs;
      this.inbox.push(waiter.message);
    }
  }

  private kick(): void {
    if (this.running || this.closed || this.failure !== undefined) return;
    this.running = true;
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      while (
        !this.closed &&
        this.failure === undefined &&
        (this.inbox.length > 0 || this.ticksDue > 0 || this.readsToAsk.length > 0 || this.pendingNeedsTurn())
      ) {
        await this.turn();
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.running = false;
      for (const wake of this.idle.splice(0)) wake();
    }
  }

  /**
   * Whether the last turn's Ready must be advanced by a turn of its own rather
   * than at the start of the next one. A normal backup's advance() only notes
   * what is durable: it commits nothing and sends nothing (its PrepareOks left
   * with the Ready), so it waits for the next message or tick. Measured in the
   * group bench at 50% load: 42% of a backup's turns were these.
   */
  private pendingNeedsTurn(): boolean {
    if (this.pending === undefined) return false;
    const replica = this.replica;
    return !(replica.status === 'normal' && !replica.isPrimary());
  }

  private async turn(): Promise<void> {
    const inbox = this.inbox.splice(0);
    const reads = this.readsToAsk.splice(0);
    const refused: number[] = [];
    const ticks = this.ticksDue;
    this.ticksDue = 0;
    const pending = this.pending;
    this.pending = undefined;
    const nowMs = this.options.env.clock.nowMs();
    const startedMs = this.options.env.clock.monotonicMs();
    this.turns++;
    const replica = this.replica;
    const work = (transaction: KvTransaction): TurnOutcome<Op, Result> | undefined => {
      this.transaction = transaction;
      try {
        if (pending !== undefined) {
          replica.advance(pending.ready);
          replica.checkpointed(pending.checkpointOpNumber);
        }
        replica.observeTime(nowMs);
        for (let tick = 0; tick < ticks; tick++) replica.tick(nowMs);
        for (const message of inbox) replica.step(message);
        for (const readId of reads) if (!replica.read(readId)) refused.push(readId);
        if (!replica.hasReady()) return undefined;
        const ready = replica.ready();
        this.persist(transaction, ready);
        // What needs nothing of this transaction durable leaves now, while it commits.
        this.emitNow(ready);
        return { ready, checkpointOpNumber: replica.commitNumber };
      } finally {
        this.transaction = undefined;
      }
    };
    const { kv } = this.options;
    const sync = this.options.syncBackupTurns === true && !(replica.status === 'normal' && replica.isPrimary());
    const outcome = sync ? kv.transactSync(work) : await kv.transact(work);
    const turnMs = this.options.env.clock.monotonicMs() - startedMs;
    this.turnMsTotal += turnMs;
    this.turnMsMax = Math.max(this.turnMsMax, turnMs);
    for (const readId of refused) this.settleRead(readId, false);
    if (outcome === undefined) return;
    // Durable: now it may be said.
    this.pending = outcome;
    this.emit(outcome.ready);
  }

  /** Writes a Ready in the order it documents; the state machine's applies are already in `transaction`. */
  private persist(transaction: KvTransaction, ready: Ready<Op, Result>): void {
    if (ready.installedCheckpoint !== undefined) {
      this.log.clear(transaction);
      this.clients.replace(transaction, ready.installedCheckpoint.clients);
    }
    if (ready.truncateAfterOpNumber !== undefined) this.log.truncate(transaction, ready.truncateAfterOpNumber);
    this.log.append(transaction, ready.entries);
    if (ready.hardState !== undefined) transaction.put(hardStateKey, encodeRecord(ready.hardState));
    this.clients.commit(
      transaction,
      ready.committed.map(({ entry, result }): ClientEntry<Result> => ({ clientId: entry.clientId, requestNumber: entry.requestNumber, opNumber: entry.opNumber, result })),
    );
    this.clients.drop(transaction, ready.evictedClients);
    if (ready.committed.length > 0 || ready.installedCheckpoint !== undefined) {
      transaction.put(commitPointKey, encodeRecord(this.replica.commitPoint()));
    }
    if (ready.compactThroughOpNumber !== undefined) this.log.compact(transaction, ready.compactThroughOpNumber);
  }

  private settleRead(readId: number, ok: boolean): void {
    const waiter = this.readWaiters.get(readId);
    if (waiter === undefined) return; // Timed out already.
    this.readWaiters.delete(readId);
    if (ok) {
      waiter.serve();
      return;
    }
    const replica = this.replica;
    waiter.reject(new NotPrimaryError(replica.view, replica.primaryOf(replica.view)));
  }

  private emitNow(ready: Ready<Op, Result>): void {
    this.sendAll(ready.messagesNow);
    if (ready.repliesNow) this.answer(ready);
  }

  private emit(ready: Ready<Op, Result>): void {
    for (const { readId, ok } of ready.reads) this.settleRead(readId, ok);
    this.sendAll(ready.messages);
    if (!ready.repliesNow) this.answer(ready);
  }

  /**
   * Sends envelopes, encoding a message broadcast to several replicas (one
   * object) once. A message over the transport's size limit (a state transfer
   * of a state machine bigger than a frame) is dropped and logged, as a lost
   * message would be: the replica asks again, and the primary keeps serving
   * rather than failing its turn.
   */
  private sendAll(envelopes: Ready<Op, Result>['messages']): void {
    const { env, addresses } = this.options;
    let last: { readonly message: object; readonly bytes: Uint8Array } | undefined;
    for (const { to, message } of envelopes) {
      if (last?.message !== message) last = { message, bytes: encodeReplicaMessage(message) };
      try {
        env.transport.send(this.address, addresses[to]!, last.bytes);
      } catch (error) {
        if (!(error instanceof TransportError && error.code === 'too_large')) throw error;
        env.logger.log('error', 'vsr: a message exceeds the transport limit and was not sent', { type: message.type, to, bytes: last.bytes.length });
      }
    }
  }

  private answer(ready: Ready<Op, Result>): void {
    for (const reply of ready.replies) {
      const waiter = this.waiters.get(reply.clientId);
      if (waiter === undefined || waiter.requestNumber !== reply.requestNumber) continue;
      this.waiters.delete(reply.clientId);
      waiter.resolve(reply.result);
    }
  }

  private fail(error: Error): void {
    this.failure = error instanceof AssertionError ? error : new Error('replica driver failed; restart to recover', { cause: error });
    this.options.env.logger.log('error', 'vsr: driver failed', { error: String(error) });
    for (const waiter of this.waiters.values()) waiter.reject(this.failure);
    this.waiters.clear();
    for (const waiter of this.readWaiters.values()) waiter.reject(this.failure);
    this.readWaiters.clear();
  }

  /** Client requests waiting for a reply. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Resolves when no turn is running (for tests and orderly shutdown). */
  async drain(): Promise<void> {
    while (this.running) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.options.env.clock.clearTimer(this.timer);
    if (this.listens) this.options.env.transport.unlisten(this.address);
    await this.drain();
    for (const waiter of this.waiters.values()) waiter.reject(new Error('replica driver closed'));
    this.waiters.clear();
    for (const waiter of this.readWaiters.values()) waiter.reject(new Error('replica driver closed'));
    this.readWaiters.clear();
  }

  /** The error that stopped the driver, if one did. */
  get failed(): Error | undefined {
    return this.failure;
  }
}
