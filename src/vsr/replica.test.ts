// Unit tests of the pure replica, driven by hand: one step, one Ready at a
// time, so each test shows exactly what leaves the replica and when.
// Cluster behaviour under faults is tested on the simulator (src/sim/).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Random } from '../io/random.js';
import type { Message } from './messages.js';
import type { Ready, StateMachine } from './replica.js';
import { Replica } from './replica.js';
import { intactPrefixLength, logOriginChecksum } from './log-entry.js';

type Op = { readonly key: string; readonly value: string };

class Register implements StateMachine<Op, string | null> {
  readonly values = new Map<string, string>();
  applied = 0;
  apply(op: Op, opNumber: number): string | null {
    this.applied = opNumber;
    const previous = this.values.get(op.key) ?? null;
    this.values.set(op.key, op.value);
    return previous;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([this.applied, [...this.values]]));
  }
  restore(snapshot: Uint8Array): void {
    const [applied, values] = JSON.parse(new TextDecoder().decode(snapshot)) as [number, [string, string][]];
    this.applied = applied;
    this.values.clear();
    for (const [key, value] of values) this.values.set(key, value);
  }
}

const fixedRandom: Random = { uint32: () => 7, bytes: (length) => new Uint8Array(length) };

function replica(index: number, count: number, stateMachine = new Register()): Replica<Op, string | null> {
  return new Replica({ replicaIndex: index, replicaCount: count, stateMachine, random: fixedRandom });
}

function request(clientId: string, requestNumber: number, value: string): Message<Op> {
  return { type: 'request', clientId, requestNumber, op: { key: 'k', value } };
}

/**
 * Takes a Ready and advances it (the caller pretends it was persisted and
 * sent). Its `messages` are everything sent, before the writes or after.
 */
function drain(target: Replica<Op, string | null>): Ready<Op, string | null> {
  const ready = target.ready();
  target.advance(ready);
  return { ...ready, messages: [...ready.messagesNow, ...ready.messages] };
}

describe('Replica', () => {
  it('group of 1: commits after its own write is durable, then replies', () => {
    const single = replica(0, 1);
    single.tick(1000);
    single.step(request('c', 1, 'a'));
    const first = drain(single);
    assert.equal(first.entries.length, 1);
    assert.equal(first.replies.length, 0, 'no reply before the entry is durable');
    const second = drain(single);
    assert.deepEqual(second.replies.map((reply) => [reply.clientId, reply.requestNumber, reply.opNumber, reply.result]), [['c', 1, 1, null]]);
    assert.equal(second.entries[0]?.timestampMs ?? first.entries[0]!.timestampMs, 1000);
  });

  it('a client evicted and back within one Ready is not reported evicted (its new row must survive the delete)', () => {
    const single = new Replica<Op, string | null>({ replicaIndex: 0, replicaCount: 1, stateMachine: new Register(), random: fixedRandom, clientsMax: 2 });
    single.tick(1000);
    // a, b fill the table; c evicts a; a comes back and evicts b.
    for (const [clientId, requestNumber] of [['a', 1], ['b', 1], ['c', 1], ['a', 2]] as const) single.step(request(clientId, requestNumber, `${clientId}${requestNumber}`));
    drain(single);
    const committed = drain(single);
    assert.deepEqual(committed.committed.map(({ entry }) => entry.clientId), ['a', 'b', 'c', 'a']);
    assert.deepEqual(committed.evictedClients, ['b']);
  });

  it('batches queued requests into one Prepare of consecutive entries', () => {
    const primary = replica(0, 3);
    for (let client = 0; client < 5; client++) primary.step(request(`c${client}`, 1, `v${client}`));
    const ready = drain(primary);
    assert.deepEqual(ready.entries.map((entry) => entry.opNumber), [1, 2, 3, 4, 5]);
    const prepares = ready.messages.filter((envelope) => envelope.message.type === 'prepare');
    assert.deepEqual(prepares.map((envelope) => envelope.to), [1, 2]);
    assert.equal(intactPrefixLength(ready.entries), 5, 'entries are checksummed and chained');
  });

  it('a backup sends PrepareOk in the same Ready as the entries it must persist first', () => {
    const primary = replica(0, 3);
    const backup = replica(1, 3);
    primary.step(request('c', 1, 'a'));
    const prepare = drain(primary).messages.find((envelope) => envelope.to === 1)!.message;
    backup.step(prepare);
    const ready = drain(backup);
    assert.equal(ready.entries.length, 1);
    assert.deepEqual(ready.messages.map((envelope) => [envelope.to, envelope.message.type]), [[0, 'prepare_ok']]);
  });

  it('commits on a quorum of PrepareOks and answers a retried request from the client table', () => {
    const primary = replica(0, 3);
    const backup = replica(1, 3);
    primary.step(request('c', 1, 'a'));
    const prepare = drain(primary).messages.find((envelope) => envelope.to === 1)!.message;
    backup.step(prepare);
    const prepareOk = drain(backup).messages[0]!.message;
    primary.step(prepareOk);
    const committed = drain(primary);
    assert.equal(primary.commitNumber, 1);
    assert.deepEqual(committed.replies.map((reply) => reply.requestNumber), [1]);
    // The retry is not executed again: same reply, no new entry.
    primary.step(request('c', 1, 'a'));
    const retry = drain(primary);
    assert.equal(retry.entries.length, 0);
    assert.deepEqual(retry.replies.map((reply) => [reply.requestNumber, reply.opNumber]), [[1, 1]]);
    // An older request number is dropped.
    primary.step(request('c', 0, 'old'));
    assert.equal(primary.hasReady(), false);
  });

  it('reads: served only after a quorum answers a round begun after they arrived; a primary that loses its view fails them', () => {
    const primary = replica(0, 3);
    const backup = replica(1, 3);
    assert.equal(backup.read(1), false, 'a backup refuses reads');
    assert.equal(primary.read(1), true);
    const round = drain(primary);
    assert.deepEqual(round.reads, [], 'not before a quorum confirms the primary role');
    const commit = round.messages.find((envelope) => envelope.to === 1)!.message;
    assert.ok(commit.type === 'commit' && commit.readRound !== undefined);
    const firstRound = commit.readRound;
    // A read arriving while round 1 is out needs round 2.
    assert.equal(primary.read(2), true);
    backup.step(commit);
    const answer = drain(backup).messages.find((envelope) => envelope.message.type === 'prepare_ok')!.message;
    assert.ok(answer.type === 'prepare_ok' && answer.readRound === firstRound);
    primary.step(answer);
    const served = drain(primary);
    assert.deepEqual(served.reads, [{ readId: 1, ok: true }]);
    const second = served.messages.find((envelope) => envelope.to === 1 && envelope.message.type === 'commit')!.message;
    assert.ok(second.type === 'commit' && second.readRound === firstRound + 1, 'the next round begins for the waiting read');
    // Cut off from its backups, the primary never confirms read 2; a view change fails it.
    for (let tick = 0; tick < 30; tick++) primary.tick(tick);
    assert.deepEqual(drain(primary).reads, []);
    primary.step({ type: 'start_view_change', epoch: 0, view: 1, from: 2 });
    assert.deepEqual(drain(primary).reads, [{ readId: 2, ok: false }]);
    // A restarted primary (another incarnation, other random numbers) is not
    // fooled by a late answer to a round of its previous incarnation.
    let seed = 1;
    const otherRandom: Random = { uint32: () => (seed = (seed * 48271) % 2147483647), bytes: (length) => new Uint8Array(length) };
    const restarted = new Replica<Op, string | null>({ replicaIndex: 0, replicaCount: 3, stateMachine: new Register(), random: otherRandom });
    assert.equal(restarted.read(3), true);
    drain(restarted);
    restarted.step(answer);
    assert.deepEqual(drain(restarted).reads, [], 'a stale answer confirms nothing');
  });

  it('a group of 1 serves reads at once and, with atomicApply, commits in the Ready that persists', () => {
    const single = new Replica<Op, string | null>({ replicaIndex: 0, replicaCount: 1, stateMachine: new Register(), random: fixedRandom, atomicApply: true });
    single.step(request('c', 1, 'a'));
    assert.equal(single.read(7), true);
    const ready = drain(single);
    assert.equal(ready.entries.length, 1);
    assert.deepEqual(ready.replies.map((reply) => reply.opNumber), [1], 'committed with its own write');
    assert.deepEqual(ready.reads, [{ readId: 7, ok: true }]);
  });

  it('compacts behind a durable checkpoint, keeping logRetainOps, and restarts from the checkpoint', () => {
    const stateMachine = new Register();
    const single = new Replica<Op, string | null>({ replicaIndex: 0, replicaCount: 1, stateMachine, random: fixedRandom, logRetainOps: 3, compactOpsMin: 2, atomicApply: true });
    for (let request_ = 1; request_ <= 10; request_++) {
      single.step(request('c', request_, `v${request_}`));
      drain(single);
    }
    assert.equal(single.logBaseOpNumber, 0, 'nothing is compacted before a checkpoint');
    single.checkpointed(10);
    single.step(request('c', 11, 'v11'));
    const ready = drain(single);
    assert.equal(ready.compactThroughOpNumber, 7, 'entries behind the checkpoint go, keeping 3');
    assert.equal(single.logBaseOpNumber, 7);
    assert.equal(single.entry(7), undefined);
    assert.equal(single.entry(8)?.opNumber, 8);
    const checkpoint = single.checkpointAtCommit();
    assert.equal(checkpoint.opNumber, 11);
    assert.deepEqual(checkpoint.clients.map((client) => [client.clientId, client.requestNumber]), [['c', 11]]);
    const snapshot = stateMachine.snapshot();
    const restoredState = new Register();
    restoredState.restore(snapshot);
    const restarted = new Replica<Op, string | null>({
      replicaIndex: 0,
      replicaCount: 1,
      stateMachine: restoredState,
      random: fixedRandom,
      durable: { hardState: { view: 0, logView: 0, commitNumber: 11 }, checkpoint, log: single.log },
    });
    assert.equal(restarted.commitNumber, 11);
    assert.equal(restoredState.applied, 11, 'nothing is replayed over the checkpoint');
    restarted.step(request('c', 11, 'v11'));
    assert.deepEqual(drain(restarted).replies.map((reply) => reply.opNumber), [11], 'the client table came back with the checkpoint');
  });

  it('a backup that hears nothing starts a view change and persists the new view before sending', () => {
    const backup = replica(1, 3);
    for (let tick = 0; tick < 100 && backup.status === 'normal'; tick++) backup.tick(tick);
    assert.equal(backup.status, 'view_change');
    assert.equal(backup.view, 1);
    const ready = drain(backup);
    assert.equal(ready.hardState?.view, 1);
    assert.ok(ready.messages.every((envelope) => envelope.message.type === 'start_view_change'));
  });

  it('a backup with a gap in its log asks the primary for the missing entries', () => {
    const primary = replica(0, 3);
    const backup = replica(1, 3);
    primary.step(request('a', 1, 'x'));
    drain(primary);
    primary.step(request('b', 1, 'y'));
    const second = drain(primary).messages.find((envelope) => envelope.to === 1)!.message;
    backup.step(second);
    const ready = drain(backup);
    const types = ready.messages.map((envelope) => envelope.message.type);
    assert.deepEqual(types, ['get_state', 'prepare_ok']);
    const getState = ready.messages[0]!.message;
    primary.step(getState);
    const newState = drain(primary).messages.find((envelope) => envelope.message.type === 'new_state')!.message;
    backup.step(newState);
    drain(backup);
    assert.equal(backup.opNumber, 2);
  });

  it('a primary sends its state to a replica behind its compacted log at most once per checkpointResendTicks', () => {
    const primary = new Replica<Op, string | null>({ replicaIndex: 0, replicaCount: 3, stateMachine: new Register(), random: fixedRandom, logRetainOps: 2, compactOpsMin: 2 });
    for (let number = 1; number <= 6; number++) primary.step(request('c', number, `v${number}`));
    drain(primary);
    primary.step({ type: 'prepare_ok', epoch: 0, view: 0, from: 1, opNumber: 6 });
    drain(primary);
    primary.checkpointed(primary.commitNumber);
    primary.step(request('c', 7, 'v7'));
    drain(primary);
    assert.ok(primary.logBaseOpNumber > 0, 'the primary compacted');
    const checkpointsAfterAsking = (): number => {
      primary.step({ type: 'get_state', epoch: 0, view: 0, from: 2, opNumber: 0 });
      return drain(primary).messages.filter((envelope) => envelope.to === 2 && envelope.message.type === 'checkpoint').length;
    };
    assert.equal(checkpointsAfterAsking(), 1);
    assert.equal(checkpointsAfterAsking(), 0, 'asked again at once: one is on its way');
    for (let tick = 0; tick < 49; tick++) primary.tick(1000 + tick);
    assert.equal(checkpointsAfterAsking(), 0, 'still within 10 × repairTicks (50 ticks)');
    primary.tick(2000);
    assert.equal(checkpointsAfterAsking(), 1, 'sent again once the resend interval passed (the first may have been lost)');
  });

  it('restarts from what it persisted and drops a corrupt tail', () => {
    const primary = replica(0, 1);
    for (let number = 1; number <= 3; number++) primary.step(request('c', number, `v${number}`));
    const first = drain(primary);
    drain(primary);
    const log = [...first.entries];
    log[2] = { ...log[2]!, op: { key: 'k', value: 'flipped' } };
    const stateMachine = new Register();
    const restarted = new Replica<Op, string | null>({
      replicaIndex: 0,
      replicaCount: 1,
      stateMachine,
      random: fixedRandom,
      durable: { hardState: { view: 0, logView: 0, commitNumber: 3 }, log },
    });
    assert.equal(restarted.opNumber, 2, 'the corrupt entry is not trusted');
    assert.equal(stateMachine.applied, 2);
    assert.equal(restarted.ready().truncateAfterOpNumber, 2);
  });

  it('a backup restarted with a corrupt committed entry mid-log recovers: no votes until StartView, then the bad entries leave the disk', () => {
    // A primary of 3 with four committed ops.
    const primary = replica(0, 3);
    for (let number = 1; number <= 4; number++) primary.step(request('c', number, `v${number}`));
    const prepare = drain(primary).messages.find((envelope) => envelope.to === 1)!.message;
    primary.step({ type: 'prepare_ok', epoch: 0, view: 0, from: 1, opNumber: 4 });
    drain(primary);
    assert.equal(primary.commitNumber, 4);
    assert.equal(prepare.type, 'prepare');
    const log = prepare.type === 'prepare' ? [...prepare.entries] : [];
    log[1] = { ...log[1]!, requestNumber: log[1]!.requestNumber ^ 8 }; // Op 2: a bit flip.
    const stateMachine = new Register();
    const backup = new Replica<Op, string | null>({
      replicaIndex: 1,
      replicaCount: 3,
      stateMachine,
      random: fixedRandom,
      durable: { hardState: { view: 0, logView: 0, commitNumber: 4 }, log },
    });
    assert.equal(backup.status, 'recovering');
    assert.equal(backup.opNumber, 1, 'only the intact prefix is trusted');
    assert.equal(stateMachine.applied, 1, 'nothing past the corruption is applied');
    const first = drain(backup);
    assert.equal(first.truncateAfterOpNumber, undefined, 'the corrupt entry stays on disk (it marks the replica as recovering) until replaced');
    // It neither acknowledges prepares nor starts or joins view changes.
    backup.step({ type: 'prepare', epoch: 0, view: 0, from: 0, entries: log.slice(0, 1), commitNumber: 4 });
    backup.step({ type: 'do_view_change', epoch: 0, view: 1, from: 2, logView: 0, log: { baseOpNumber: 0, baseChecksum: logOriginChecksum, baseTimestampMs: 0, entries: [] }, commitNumber: 0 });
    for (let tick = 0; tick < 200; tick++) backup.tick(tick);
    assert.equal(backup.status, 'recovering');
    assert.equal(backup.view, 0);
    const asks = drain(backup).messages;
    assert.ok(asks.length > 0 && asks.every((envelope) => envelope.message.type === 'start_view_change' && envelope.message.view === 0));
    // The primary answers with StartView; the backup adopts the whole log.
    primary.step(asks.find((envelope) => envelope.to === 0)!.message);
    const startView = drain(primary).messages.find((envelope) => envelope.message.type === 'start_view')!.message;
    backup.step(startView);
    assert.equal(backup.status, 'normal');
    assert.equal(backup.commitNumber, 4);
    assert.equal(stateMachine.applied, 4);
    const repaired = drain(backup);
    assert.equal(repaired.truncateAfterOpNumber, 1, 'the corrupt entries are dropped in the write that replaces them');
    assert.deepEqual(repaired.entries.map((entry) => entry.opNumber), [2, 3, 4]);
    assert.deepEqual(backup.log.map((entry) => entry.checksum), primary.log.map((entry) => entry.checksum));
  });
});
