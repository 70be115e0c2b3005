// ReplicaDriver tests: real replicas, each on its own MemoryKvStore, talking
// over the in-process transport with real timers. A group of 3 commits and
// converges, a backup refuses client requests with the primary's index, the
// group survives its primary going away, a restarted replica catches up from
// its store, and one that missed compacted ops gets a checkpoint.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import type { KvTransaction } from '../io/kv-store.js';
import { silentLogger } from '../io/logger.js';
import type { Logger } from '../io/logger.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { utf8 } from '../stdx/bytes.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { NotPrimaryError, ReplicaDriver, readDurableState, snapshotState } from './kv-driver.js';
import type { TransactionalStateMachine } from './kv-driver.js';
import { eventually, sleep } from '../../test/helpers/eventually.js';

type Op = { readonly key: string; readonly value: string };
type Result = string | null;

/** put returns the value it replaced. */
const register: TransactionalStateMachine<Op, Result> = {
  apply(transaction: KvTransaction, op: Op): Result {
    const key = utf8(`s/${op.key}`);
    const previous = transaction.get(key);
    transaction.put(key, utf8(op.value));
    return previous === undefined ? null : Buffer.from(previous).toString('utf8');
  },
};

const addresses = ['r0', 'r1', 'r2'];

function makeEnv(transport: InProcessTransport, logger: Logger = silentLogger): Env {
  return { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger };
}

interface Group {
  /** The driver's timers do not keep the process alive (NodeClock unrefs them); a test waiting on one must. */
  readonly keepAlive: ReturnType<typeof setInterval>;
  readonly transport: InProcessTransport;
  readonly stores: MemoryKvStore[];
  readonly drivers: (ReplicaDriver<Op, Result> | undefined)[];
  /** Backups' turns commit with transactSync (ReplicaDriverOptions.syncBackupTurns). */
  readonly syncBackupTurns?: boolean;
  readonly logger?: Logger;
}

const tuning = { timeouts: { heartbeatTicks: 2, prepareRetryTicks: 4, viewChangeTicksMin: 20, viewChangeTicksMax: 40, viewChangeRetryTicks: 4, repairTicks: 2 } };

async function openReplica(group: Group, index: number, extra: object = {}): Promise<ReplicaDriver<Op, Result>> {
  const driver = await ReplicaDriver.open<Op, Result>({
    env: makeEnv(group.transport, group.logger),
    kv: group.stores[index]!,
    stateMachine: register,
    replicaIndex: index,
    addresses,
    tickMs: 5,
    retryMs: 100,
    readTimeoutMs: 500,
    ...(group.syncBackupTurns === true ? { syncBackupTurns: true } : {}),
    replica: { ...tuning, ...extra },
  });
  group.drivers[index] = driver;
  return driver;
}

async function openGroup(
  extra: object = {},
  options: { stores?: MemoryKvStore[]; syncBackupTurns?: boolean; transport?: InProcessTransport; logger?: Logger } = {},
): Promise<Group> {
  const group: Group = {
    keepAlive: setInterval(() => undefined, 50),
    transport: options.transport ?? new InProcessTransport(),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    stores: options.stores ?? addresses.map(() => new MemoryKvStore()),
    drivers: [],
    ...(options.syncBackupTurns === true ? { syncBackupTurns: true } : {}),
  };
  for (let index = 0; index < addresses.length; index++) await openReplica(group, index, extra);
  return group;
}

async function closeGroup(group: Group): Promise<void> {
  for (const driver of group.drivers) await driver?.close();
  clearInterval(group.keepAlive);
}


/** Submits to whichever replica is primary, following NotPrimaryError. */
async function submit(group: Group, clientId: string, requestNumber: number, op: Op): Promise<Result> {
  let target = 0;
  for (let attempt = 0; attempt < 200; attempt++) {
    const driver = group.drivers[target];
    if (driver === undefined) {
      target = (target + 1) % addresses.length;
      continue;
    }
    try {
      return await driver.submit(clientId, requestNumber, op);
    } catch (error) {
      if (!(error instanceof NotPrimaryError)) throw error;
      target = error.primaryIndex === target ? (target + 1) % addresses.length : error.primaryIndex;
      await sleep(10);
    }
  }
  throw new Error('no primary answered');
}

function stateOf(store: MemoryKvStore): string {
  return Buffer.from(snapshotState(store)).toString('hex');
}

describe('ReplicaDriver', () => {
  it('a group of 3 commits client requests and every replica converges to the same state', async () => {
    const group = await openGroup();
    assert.equal(await submit(group, 'c1', 1, { key: 'a', value: '1' }), null);
    assert.equal(await submit(group, 'c1', 2, { key: 'a', value: '2' }), '1');
    const results = await Promise.all(Array.from({ length: 50 }, (_, index) => submit(group, `w${index}`, 1, { key: `k${index % 5}`, value: `${index}` })));
    assert.equal(results.length, 50);
    await eventually(() => group.drivers.every((driver) => driver!.replica.commitNumber === 52), 'all replicas committed 52 ops');
    const states = new Set(group.stores.map(stateOf));
    assert.equal(states.size, 1, 'replica states are byte-identical');
    assert.equal(readDurableState(group.stores[1]!).hardState.commitNumber >= 50, true);
    await closeGroup(group);
  });

  it('a backup refuses client requests and names the primary; a retried request is answered, not executed again', async () => {
    const group = await openGroup();
    await assert.rejects(group.drivers[1]!.submit('c', 1, { key: 'a', value: 'x' }), (error: unknown) => error instanceof NotPrimaryError && error.primaryIndex === 0);
    assert.equal(await group.drivers[0]!.submit('c', 1, { key: 'a', value: 'x' }), null);
    assert.equal(await group.drivers[0]!.submit('c', 2, { key: 'a', value: 'y' }), 'x');
    // The same request again: the client table answers with the first result.
    const reply = decodeRecord(await group.transport.request('client', 'r0', encodeRecord({ type: 'request', clientId: 'c', requestNumber: 2, op: { key: 'a', value: 'y' } }))) as {
      ok: boolean;
      result: Result;
    };
    assert.deepEqual(reply, { ok: true, result: 'x' });
    assert.equal(group.drivers[0]!.replica.commitNumber, 2);
    const fromBackup = decodeRecord(await group.transport.request('client', 'r2', encodeRecord({ type: 'request', clientId: 'd', requestNumber: 1, op: { key: 'a', value: 'z' } })));
    assert.deepEqual(fromBackup, { ok: false, view: 0, primaryIndex: 0 });
    await closeGroup(group);
  });

  it('linearizable reads: the primary serves them after a confirming round; a backup refuses them', async () => {
    const group = await openGroup();
    await submit(group, 'c', 1, { key: 'a', value: 'x' });
    const read = (index: number): Promise<string | undefined> =>
      group.drivers[index]!.read((reader) => {
        const value = reader.get(utf8('s/a'));
        return value === undefined ? undefined : Buffer.from(value).toString('utf8');
      });
    assert.deepEqual(await Promise.all([read(0), read(0), read(0)]), ['x', 'x', 'x']);
    await assert.rejects(read(1), (error: unknown) => error instanceof NotPrimaryError && error.primaryIndex === 0);
    // The primary's backups are gone: it cannot prove it is still primary, so the read times out.
    await group.drivers[1]!.close();
    await group.drivers[2]!.close();
    group.drivers[1] = undefined;
    group.drivers[2] = undefined;
    await assert.rejects(read(0), /not confirmed/);
    await closeGroup(group);
  });

  it('the primary goes away: the backups elect a new one and keep every committed op', async () => {
    const group = await openGroup();
    for (let request = 1; request <= 10; request++) await submit(group, 'c', request, { key: 'a', value: `${request}` });
    await group.drivers[0]!.close();
    group.drivers[0] = undefined;
    assert.equal(await submit(group, 'c', 11, { key: 'a', value: '11' }), '10', 'the new primary holds every committed op');
    const primary = group.drivers.find((driver) => driver?.replica.isPrimary() === true && driver.replica.status === 'normal');
    assert.ok(primary !== undefined && primary.replica.view >= 1);
    // The old primary comes back from its store and catches up.
    await openReplica(group, 0);
    await eventually(() => group.drivers[0]!.replica.commitNumber === 11, 'the restarted replica caught up');
    await eventually(() => new Set(group.stores.map(stateOf)).size === 1, 'states converge');
    await closeGroup(group);
  });

  it('a replica that missed compacted ops gets the primary checkpoint (state transfer) and converges', async () => {
    const group = await openGroup({ logRetainOps: 2, compactOpsMin: 2 });
    await submit(group, 'c', 1, { key: 'a', value: '1' });
    await group.drivers[2]!.close();
    group.drivers[2] = undefined;
    for (let request = 2; request <= 40; request++) await submit(group, 'c', request, { key: `k${request % 7}`, value: `${request}` });
    await eventually(() => group.drivers[0]!.replica.logBaseOpNumber > 1, 'the primary compacted past the missing replica');
    await openReplica(group, 2, { logRetainOps: 2, compactOpsMin: 2 });
    await eventually(() => group.drivers[2]!.replica.commitNumber === 40, 'the lagging replica caught up');
    await eventually(() => new Set(group.stores.map(stateOf)).size === 1, 'states converge');
    const durable = readDurableState(group.stores[2]!);
    assert.ok((durable.checkpoint?.opNumber ?? 0) >= 40, 'its checkpoint is durable');
    assert.ok(durable.log.every((entry) => entry.opNumber > 1), 'it holds no entries from before the checkpoint');
    await closeGroup(group);
  });
});

/** Counts the transactions committed each way. */
class CountingKvStore extends MemoryKvStore {
  asynchronous = 0;
  synchronous = 0;

  override transact<T>(body: (transaction: KvTransaction) => T): Promise<T> {
    this.asynchronous++;
    return super.transact(body);
  }

  override transactSync<T>(body: (transaction: KvTransaction) => T): T {
    this.synchronous++;
    return super.transactSync(body);
  }
}

describe('ReplicaDriver, synchronous backup turns', () => {
  it('backups commit on the event loop, the primary does not; after a view change the roles swap and no committed op is lost', async () => {
    const stores = addresses.map(() => new CountingKvStore());
    const group = await openGroup({}, { stores, syncBackupTurns: true });
    try {
      for (let request = 1; request <= 20; request++) await submit(group, 'c', request, { key: 'a', value: `${request}` });
      await eventually(() => group.drivers.every((driver) => driver!.replica.commitNumber === 20), 'all replicas committed 20 ops');
      const [primary, backup1, backup2] = stores;
      // Opening is one asynchronous transaction; after it the primary stays asynchronous and the backups turn synchronous.
      assert.equal(primary!.synchronous, 0);
      for (const backup of [backup1!, backup2!]) {
        assert.ok(backup.synchronous >= 20, `a backup committed ${backup.synchronous} turns synchronously`);
        assert.ok(backup.asynchronous <= 2, `a backup committed ${backup.asynchronous} turns asynchronously`);
      }
      await group.drivers[0]!.close();
      group.drivers[0] = undefined;
      const before = stores.map((store) => store.asynchronous);
      assert.equal(await submit(group, 'c', 21, { key: 'a', value: '21' }), '20', 'the new primary holds every committed op');
      for (let request = 22; request <= 30; request++) await submit(group, 'c', request, { key: 'a', value: `${request}` });
      const leader = group.drivers.findIndex((driver) => driver?.replica.isPrimary() === true && driver.replica.status === 'normal');
      assert.ok(leader === 1 || leader === 2, 'a former backup leads');
      assert.ok(stores[leader]!.asynchronous - before[leader]! >= 9, 'the new primary commits its turns asynchronously');
      await openReplica(group, 0);
      await eventually(() => group.drivers[0]!.replica.commitNumber === 30, 'the old primary, back as a backup, caught up');
      await eventually(() => new Set(group.stores.map(stateOf)).size === 1, 'states converge');
      assert.ok(primary!.synchronous > 0, 'the old primary, now a backup, turns synchronously');
    } finally {
      await closeGroup(group); // Also on a failed assertion: the group's keep-alive would hold the test run open.
    }
  });
});

describe('ReplicaDriver, a state too big for one message', () => {
  it('the primary drops the state transfer it cannot send, logs it, and keeps serving; the lagging replica stays behind', async () => {
    const logged: string[] = [];
    const logger: Logger = {
      log(level, message) {
        if (level === 'error') logged.push(message);
      },
    };
    const group = await openGroup({ logRetainOps: 2, compactOpsMin: 2 }, { transport: new InProcessTransport({ messageBytesMax: 8 * 1024 }), logger });
    try {
      await group.drivers[2]!.close();
      group.drivers[2] = undefined;
      // ~24 KiB of state: more than one message may carry.
      for (let request = 1; request <= 48; request++) await submit(group, 'c', request, { key: `k${request}`, value: 'v'.repeat(500) });
      await eventually(() => group.drivers[0]!.replica.logBaseOpNumber > 1, 'the primary compacted past the missing replica');
      await openReplica(group, 2, { logRetainOps: 2, compactOpsMin: 2 });
      await eventually(() => logged.some((message) => message.includes('exceeds the transport limit')), 'the primary logged the dropped transfer');
      assert.equal(await submit(group, 'c', 49, { key: 'k1', value: 'after' }), 'v'.repeat(500), 'the primary still commits');
      assert.equal(group.drivers[0]!.failed, undefined, 'the primary did not fail');
      assert.ok(group.drivers[2]!.replica.commitNumber < 49, 'the lagging replica did not get the state');
    } finally {
      await closeGroup(group);
    }
  });
});

describe('ReplicaDriver, the network boundary', () => {
  it('answers a status probe, and refuses malformed messages without handing them to the replica', async () => {
    const group = await openGroup();
    await submit(group, 'c', 1, { key: 'a', value: '1' });
    const status = decodeRecord(await group.transport.request('probe', 'r0', encodeRecord({ type: 'status' }))) as { status: string; primaryIndex: number; commitNumber: number; failed: boolean };
    assert.deepEqual([status.status, status.primaryIndex, status.commitNumber >= 1, status.failed], ['normal', 0, true, false]);
    for (const malformed of [{ type: 'nonsense', view: 0, from: 1 }, { type: 'prepare', view: 0, from: 0 }, { type: 'commit', view: -1, from: 1 }, { type: 'commit', from: 7, view: 0 }, 'text']) {
      await assert.rejects(group.transport.request('probe', 'r0', encodeRecord(malformed)));
    }
    assert.equal(group.drivers[0]!.failed, undefined, 'the replica is still running');
    assert.equal(await submit(group, 'c', 2, { key: 'a', value: '2' }), '1');
    await closeGroup(group);
  });
});

describe('ReplicaDriver, a replaced disk', () => {
  it('an empty replacement recovers: its flag is durable before it sends anything; it learns the view, takes the state and converges', async () => {
    const group = await openGroup({ logRetainOps: 2, compactOpsMin: 2 });
    for (let request = 1; request <= 30; request++) await submit(group, 'c', request, { key: `k${request % 5}`, value: `${request}` });
    await group.drivers[2]!.close();
    group.drivers[2] = undefined;
    group.stores[2] = new MemoryKvStore(); // The disk is gone.
    const replacement = await ReplicaDriver.open<Op, Result>({
      env: makeEnv(group.transport, group.logger),
      kv: group.stores[2],
      stateMachine: register,
      replicaIndex: 2,
      addresses,
      tickMs: 5,
      replacement: true,
      replica: { ...tuning, logRetainOps: 2, compactOpsMin: 2 },
    });
    assert.equal(replacement.replica.status, 'recovering');
    assert.equal(readDurableState(group.stores[2]).hardState.viewUnknown, true, 'durable before anything is sent');
    group.drivers[2] = replacement;
    await submit(group, 'c', 31, { key: 'k1', value: '31' });
    await eventually(() => replacement.replica.status === 'normal' && replacement.replica.commitNumber === 31, 'the replacement caught up');
    await eventually(() => new Set(group.stores.map(stateOf)).size === 1, 'states converge');
    assert.equal(readDurableState(group.stores[2]).hardState.viewUnknown, undefined);
    await closeGroup(group);
  });
});

describe('ReplicaDriver, remote clients', () => {
  it('a retry of a request still waiting joins it: one op, the same reply to both', async () => {
    const group = await openGroup();
    const request = encodeRecord({ type: 'request', clientId: 'remote', requestNumber: 1, op: { key: 'a', value: 'x' } });
    const replies = await Promise.all([group.transport.request('gateway', 'r0', request), group.transport.request('gateway', 'r0', request)]);
    assert.deepEqual(replies.map((reply) => decodeRecord(reply)), [
      { ok: true, result: null },
      { ok: true, result: null },
    ]);
    assert.equal(group.drivers[0]!.replica.commitNumber, 1);
    // A late copy of a request the client has moved past is refused, not asserted on.
    const second = group.transport.request('gateway', 'r0', encodeRecord({ type: 'request', clientId: 'remote', requestNumber: 2, op: { key: 'a', value: 'y' } }));
    await assert.rejects(group.transport.request('gateway', 'r0', request), /older than 2/);
    assert.deepEqual(decodeRecord(await second), { ok: true, result: 'x' });
    await closeGroup(group);
  });

  it('a replica without a query function refuses queries', async () => {
    const group = await openGroup();
    await assert.rejects(group.transport.request('gateway', 'r0', encodeRecord({ type: 'query', query: {} })), /answers no queries/);
    await closeGroup(group);
  });
});

describe('ReplicaDriver, reconfiguration', () => {
  // The register's configuration op: key '#replicas', value the count.
  const reconfiguration = (op: Op): number | undefined => (op.key === '#replicas' ? Number(op.value) : undefined);
  const five = ['g0', 'g1', 'g2', 'g3', 'g4'];

  async function open(group: Group, index: number, extra: { joining?: boolean } = {}): Promise<ReplicaDriver<Op, Result>> {
    const driver = await ReplicaDriver.open<Op, Result>({
      env: makeEnv(group.transport, group.logger),
      kv: group.stores[index]!,
      stateMachine: register,
      replicaIndex: index,
      addresses: five,
      initialReplicaCount: 1,
      reconfiguration,
      tickMs: 5,
      retryMs: 100,
      ...extra,
      replica: { ...tuning, logRetainOps: 4, compactOpsMin: 2 },
    });
    group.drivers[index] = driver;
    return driver;
  }

  /** Submits to whichever of the five is primary. */
  async function submitAny(group: Group, clientId: string, requestNumber: number, op: Op): Promise<Result> {
    for (let attempt = 0; attempt < 400; attempt++) {
      const driver = group.drivers[attempt % five.length];
      if (driver === undefined) continue;
      try {
        return await driver.submit(clientId, requestNumber, op);
      } catch (error) {
        if (!(error instanceof NotPrimaryError)) throw error;
        await sleep(5);
      }
    }
    throw new Error('no primary answered');
  }

  it('grows a group 1 → 3 → 5 with an epoch change each time; joiners take the state first, and no committed op is lost', async () => {
    const group: Group = { keepAlive: setInterval(() => undefined, 50), transport: new InProcessTransport(), stores: five.map(() => new MemoryKvStore()), drivers: [] };
    const first = await open(group, 0);
    let request = 0;
    for (let index = 0; index < 10; index++) await submitAny(group, 'c', ++request, { key: `k${index % 3}`, value: `${request}` });
    await assert.rejects(first.submit('admin', 1, { key: '#replicas', value: '4' }), /odd/);
    await assert.rejects(first.submit('admin', 1, { key: '#replicas', value: '7' }), /at most the 5 configured/);

    const joiner = await open(group, 1, { joining: true });
    await open(group, 2, { joining: true });
    assert.equal(readDurableState(group.stores[1]!).hardState.joining, true, 'a joiner says so durably before it sends anything');
    assert.equal(joiner.replica.status, 'recovering');
    assert.equal(await submitAny(group, 'admin', 1, { key: '#replicas', value: '3' }), null);
    await eventually(() => [0, 1, 2].every((index) => group.drivers[index]!.replica.epoch === 1 && group.drivers[index]!.replica.status === 'normal'), 'three replicas in epoch 1');
    assert.equal(joiner.status().replicaCount, 3);
    for (let index = 0; index < 10; index++) await submitAny(group, 'c', ++request, { key: `k${index % 3}`, value: `${request}` });

    // Three replicas: the first may go away and the other two carry on.
    await first.close();
    group.drivers[0] = undefined;
    for (let index = 0; index < 5; index++) await submitAny(group, 'c', ++request, { key: 'k0', value: `${request}` });
    await open(group, 0);

    await open(group, 3, { joining: true });
    await open(group, 4, { joining: true });
    assert.equal(await submitAny(group, 'admin', 2, { key: '#replicas', value: '5' }), '3');
    await eventually(() => group.drivers.every((driver) => driver!.replica.epoch === 2 && driver!.replica.status === 'normal'), 'five replicas in epoch 2');
    // Five replicas: two may go away.
    for (const index of [1, 2]) {
      await group.drivers[index]!.close();
      group.drivers[index] = undefined;
    }
    const last = await submitAny(group, 'c', ++request, { key: 'k0', value: `${request}` });
    assert.equal(last, `${request - 1}`, 'the newest value survived both epoch changes');
    for (const index of [1, 2]) await open(group, index);
    await eventually(() => group.drivers.every((driver) => driver!.replica.commitNumber === group.drivers[0]!.replica.commitNumber), 'every replica caught up');
    await eventually(() => new Set(group.stores.map(stateOf)).size === 1, 'states converge');
    await closeGroup(group);
  });

  it('shrinks a group 3 → 1: the replicas left out retire and refuse requests; the one left commits alone', async () => {
    const group: Group = { keepAlive: setInterval(() => undefined, 50), transport: new InProcessTransport(), stores: five.map(() => new MemoryKvStore()), drivers: [] };
    await open(group, 0);
    await open(group, 1, { joining: true });
    await open(group, 2, { joining: true });
    await submitAny(group, 'admin', 1, { key: '#replicas', value: '3' });
    await eventually(() => [0, 1, 2].every((index) => group.drivers[index]!.replica.epoch === 1 && group.drivers[index]!.replica.status === 'normal'), 'three replicas in epoch 1');
    await submitAny(group, 'c', 1, { key: 'a', value: '1' });
    await submitAny(group, 'admin', 2, { key: '#replicas', value: '1' });
    await eventually(() => group.drivers[1]!.replica.status === 'retired' && group.drivers[2]!.replica.status === 'retired', 'replicas 1 and 2 retired');
    await assert.rejects(group.drivers[1]!.submit('c', 2, { key: 'a', value: 'x' }), NotPrimaryError);
    for (const index of [1, 2]) {
      await group.drivers[index]!.close();
      group.drivers[index] = undefined;
    }
    assert.equal(await submitAny(group, 'c', 2, { key: 'a', value: '2' }), '1', 'the group of 1 commits alone');
    await closeGroup(group);
  });
});
