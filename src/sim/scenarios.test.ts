// VSR scenario tests on the simulator, each named for what it shows. Every
// scenario ends the same way: faults stop, every client request completes
// within a bound (liveness), replicas converge with every acknowledged op in
// their committed logs, and the client history is linearizable.
// Disk faults are injected by hand here; the seed sweep injects them at random.
// Scenarios that name entries by op number keep whole logs (no checkpoints);
// the rest compact behind checkpoints as the sweep does.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SimulationOptions } from './simulation.js';
import { Simulation, quietNetwork } from './simulation.js';

const network = { lossProbability: 0.02, duplicateProbability: 0.02, delayMsMin: 1, delayMsMax: 20 };

function finish(simulation: Simulation): void {
  simulation.heal();
  for (let index = 0; index < simulation.replicaCount; index++) simulation.restart(index);
  simulation.setClientsIssuing(false);
  const deadlineMs = simulation.nowMs + 15_000;
  while (simulation.pendingRequests() > 0 && simulation.nowMs < deadlineMs) simulation.runUntil(simulation.nowMs + 100);
  assert.equal(simulation.pendingRequests(), 0, 'every request completes after faults stop');
  simulation.runUntil(simulation.nowMs + 2000);
  simulation.checkConverged();
  simulation.checkLinearizable();
}

/** No checkpoints, so no compaction: every entry stays in the log to be inspected. */
const wholeLog = { checkpointProbability: 0 } as const;

function start(seed: number, replicaCount = 3, options: Partial<SimulationOptions> = {}): Simulation {
  const simulation = new Simulation({ seed, replicaCount, network, ...options });
  simulation.setClientsIssuing(true);
  return simulation;
}

describe('VSR scenarios', () => {
  it('normal operation: 3 replicas commit every request, no faults', () => {
    const simulation = start(1);
    simulation.runUntil(2000);
    assert.equal(simulation.primary(), 0);
    finish(simulation);
    assert.ok(simulation.completedRequests() > 50, `completed ${simulation.completedRequests()}`);
  });

  it('group of 1 and group of 5 run the same code', () => {
    for (const replicaCount of [1, 5]) {
      const simulation = start(2, replicaCount);
      simulation.runUntil(1500);
      simulation.crash(0);
      simulation.runUntil(2000);
      finish(simulation);
      assert.ok(simulation.completedRequests() > 20, `${replicaCount} replicas completed ${simulation.completedRequests()}`);
    }
  });

  it('view change: primary partitioned, 3 replicas', () => {
    const simulation = start(3);
    simulation.runUntil(1000);
    const old = simulation.primary();
    assert.equal(old, 0);
    simulation.partition([0]);
    const before = simulation.completedRequests();
    simulation.runUntil(4000);
    const replacement = simulation.primary();
    assert.ok(replacement !== undefined && replacement !== 0, `a new primary took over (got ${replacement})`);
    assert.ok(simulation.replica(replacement)!.view > 0);
    assert.ok(simulation.completedRequests() > before, 'the majority side keeps committing');
    simulation.heal();
    simulation.runUntil(5000);
    assert.ok(simulation.replica(0)!.view >= simulation.replica(replacement)!.view, 'the old primary learns the new view');
    finish(simulation);
  });

  it('backup crashes mid-prepare: its unfinished write is lost, nothing acknowledged is', () => {
    const simulation = start(4);
    simulation.runUntil(500);
    let crashed = false;
    for (let step = 0; step < 2000 && !crashed; step++) {
      simulation.runUntil(simulation.nowMs + 1);
      const backup = simulation.writing().find((index) => index !== simulation.primary());
      if (backup !== undefined) {
        simulation.crash(backup);
        crashed = true;
      }
    }
    assert.ok(crashed, 'caught a backup with a write in flight');
    simulation.runUntil(simulation.nowMs + 1000);
    finish(simulation);
  });

  it('primary crashes mid-prepare and restarts into a newer view', () => {
    const simulation = start(5);
    simulation.runUntil(500);
    for (let step = 0; step < 2000 && !simulation.writing().includes(0); step++) simulation.runUntil(simulation.nowMs + 1);
    simulation.crash(0);
    simulation.runUntil(simulation.nowMs + 2000);
    assert.ok(simulation.primary() !== undefined && simulation.primary() !== 0);
    simulation.restart(0);
    finish(simulation);
  });

  it('all three restart: a whole cluster stopped and started loses nothing', () => {
    const simulation = start(6);
    simulation.runUntil(1500);
    const committed = simulation.committedOps;
    assert.ok(committed > 10);
    for (let index = 0; index < 3; index++) simulation.crash(index);
    simulation.runUntil(1700);
    for (let index = 0; index < 3; index++) simulation.restart(index);
    simulation.runUntil(3500);
    finish(simulation);
    assert.ok(simulation.committedOps > committed, 'the restarted cluster commits new ops');
  });

  it('lagging replica catches up by log repair (GetState, NewState) after missing many ops', () => {
    const simulation = start(7);
    simulation.crash(2);
    simulation.runUntil(3000);
    const ahead = simulation.replica(0)!.commitNumber;
    assert.ok(ahead > 50, `the majority committed ${ahead} ops without replica 2`);
    simulation.restart(2);
    simulation.setClientsIssuing(false);
    simulation.runUntil(6000);
    assert.ok(simulation.replica(2)!.commitNumber >= ahead, `replica 2 caught up to ${ahead} (at ${simulation.replica(2)!.commitNumber})`);
    finish(simulation);
  });

  it('minority partition: the isolated backup cannot commit and rejoins after healing', () => {
    const simulation = start(8);
    simulation.runUntil(500);
    simulation.partition([2]);
    simulation.runUntil(3000);
    assert.equal(simulation.primary(), 0, 'a majority with its primary keeps the view');
    simulation.heal();
    finish(simulation);
  });

  it('disk corruption on the primary\'s last entry: it recovers from its peers, the committed entry is not lost', () => {
    const simulation = start(9, 3, wholeLog);
    simulation.runUntil(1500);
    assert.equal(simulation.primary(), 0);
    simulation.setClientsIssuing(false);
    simulation.runUntil(3000);
    const last = simulation.replica(0)!.opNumber;
    assert.ok(last > 10 && simulation.replica(0)!.commitNumber === last, 'the primary\'s last entry is committed');
    const checksum = simulation.replica(0)!.entry(last)!.checksum;
    simulation.crash(0);
    simulation.corruptStoredEntry(0, last);
    simulation.restart(0);
    assert.equal(simulation.replica(0)!.status, 'recovering', 'a replica with a corrupt entry does not rejoin as if it had none');
    assert.equal(simulation.replica(0)!.opNumber, last - 1);
    simulation.setClientsIssuing(true);
    simulation.runUntil(6000);
    const primary = simulation.primary();
    assert.ok(primary !== undefined && primary !== 0, `the backups elected a new primary (got ${primary})`);
    assert.equal(simulation.replica(0)!.status, 'normal');
    assert.equal(simulation.replica(0)!.entry(last)?.checksum, checksum, 'the entry was repaired from a peer');
    assert.equal(simulation.diskDamaged(0), false, 'the corrupt entry left the disk');
    finish(simulation);
  });

  it('torn write: the primary crashes mid-write and its last entry lands garbled', () => {
    const simulation = start(11);
    simulation.runUntil(500);
    for (let step = 0; step < 2000 && !simulation.writingEntries().includes(0); step++) simulation.runUntil(simulation.nowMs + 1);
    assert.ok(simulation.writingEntries().includes(0), 'caught the primary mid-write');
    simulation.crash(0, { tornWrite: true });
    assert.equal(simulation.diskDamaged(0), true);
    simulation.runUntil(simulation.nowMs + 500);
    simulation.restart(0);
    assert.equal(simulation.replica(0)!.status, 'recovering');
    simulation.runUntil(simulation.nowMs + 3000);
    assert.equal(simulation.replica(0)!.status, 'normal');
    assert.equal(simulation.diskDamaged(0), false);
    finish(simulation);
  });

  it('bit flip in a backup\'s committed entry is repaired, and the repaired copy counts toward a quorum', () => {
    const simulation = start(10, 3, wholeLog);
    simulation.runUntil(2000);
    assert.equal(simulation.primary(), 0);
    const commit = simulation.replica(2)!.commitNumber;
    assert.ok(commit > 20, `backup 2 committed ${commit} ops`);
    const victim = Math.floor(commit / 2);
    const checksum = simulation.replica(2)!.entry(victim)!.checksum;
    simulation.crash(2);
    simulation.corruptStoredEntry(2, victim);
    simulation.restart(2);
    const recovering = simulation.replica(2)!;
    assert.equal(recovering.status, 'recovering');
    assert.equal(recovering.opNumber, victim - 1, 'entries from the corrupt one on are not trusted');
    assert.ok(recovering.commitNumber < victim, 'nothing past the corruption is applied');
    simulation.runUntil(3000);
    assert.equal(simulation.replica(2)!.status, 'normal');
    assert.equal(simulation.replica(2)!.entry(victim)?.checksum, checksum);
    assert.equal(simulation.diskDamaged(2), false);
    // With the other backup down, the primary commits with the repaired backup.
    simulation.crash(1);
    const before = simulation.committedOps;
    simulation.runUntil(5000);
    assert.ok(simulation.committedOps > before, 'the primary and the repaired backup form a quorum');
    finish(simulation);
  });

  it('clocks drift apart (rate ±5%, offset ±200 ms): view changes still work and timestamps never go back', () => {
    const simulation = start(12, 3, { ...wholeLog, clockDrift: { rateMax: 0.05, offsetMsMax: 200 } });
    assert.equal(new Set(simulation.clocks()).size, 3);
    simulation.runUntil(1000);
    simulation.partition([0]);
    simulation.runUntil(3000);
    simulation.heal();
    simulation.crash(1);
    simulation.runUntil(5000);
    finish(simulation);
    const log = simulation.replica(0)!.log;
    assert.ok(log.length > 50);
    for (let index = 1; index < log.length; index++) assert.ok(log[index]!.timestampMs >= log[index - 1]!.timestampMs, `timestamp of op ${index + 1} goes back`);
  });

  it('lagging replica needs state transfer: the primary compacted what it missed, so it gets a checkpoint', () => {
    const simulation = start(13, 3, { checkpointProbability: 1, logRetainOps: 4, compactOpsMin: 2 });
    simulation.runUntil(500);
    simulation.partition([2]);
    const behind = simulation.replica(2)!.opNumber;
    simulation.runUntil(3000);
    const primary = simulation.replica(0)!;
    assert.ok(primary.logBaseOpNumber > behind, `the primary compacted past the lagging replica (base ${primary.logBaseOpNumber}, replica at ${behind})`);
    assert.equal(simulation.stateTransfers, 0);
    simulation.heal();
    simulation.runUntil(4000);
    assert.ok(simulation.stateTransfers >= 1, 'the lagging replica installed a checkpoint');
    assert.ok(simulation.replica(2)!.commitNumber > behind, 'and committed past it');
    finish(simulation);
  });

  it('checkpoints under faults: compaction, restarts from a checkpoint, and state transfer stay safe (25 seeds)', () => {
    let transfers = 0;
    for (let seed = 100; seed < 125; seed++) {
      const simulation = start(seed, 3, { checkpointProbability: 0.5, logRetainOps: 3, compactOpsMin: 1 });
      for (let round = 0; round < 8; round++) {
        simulation.runUntil(simulation.nowMs + 300);
        const victim = simulation.prng.between(0, 2);
        if (simulation.prng.chance(0.5)) simulation.partition([victim]);
        else simulation.crash(victim);
        simulation.runUntil(simulation.nowMs + 400);
        simulation.heal();
        simulation.restart(victim);
      }
      finish(simulation);
      transfers += simulation.stateTransfers;
    }
    assert.ok(transfers >= 10, `only ${transfers} state transfers in 25 seeds`);
  });

  it('the whole group stops and starts again: every acknowledged op survives from checkpoints and logs', () => {
    const simulation = start(14, 3, { checkpointProbability: 0.5, logRetainOps: 4, compactOpsMin: 2 });
    simulation.runUntil(2000);
    const committed = simulation.committedOps;
    for (let index = 0; index < 3; index++) simulation.crash(index);
    simulation.runUntil(simulation.nowMs + 200);
    for (let index = 0; index < 3; index++) simulation.restart(index);
    simulation.runUntil(simulation.nowMs + 2000);
    assert.ok(simulation.committedOps > committed, 'the group commits again after a full restart');
    finish(simulation);
  });

  it('BUGGIFY: fault points in the replica (abdication, dropped requests, one-entry repair, checkpoints for repair) fire and the group stays safe and live', () => {
    const fired = new Map<string, number>();
    for (let seed = 200; seed < 230; seed++) {
      const simulation = start(seed, 3, { buggify: true, logRetainOps: 4, compactOpsMin: 2 });
      for (let round = 0; round < 6; round++) {
        simulation.runUntil(simulation.nowMs + 400);
        const victim = simulation.prng.between(0, 2);
        simulation.partition([victim]);
        simulation.runUntil(simulation.nowMs + 300);
        simulation.heal();
      }
      simulation.faultPoints.enabled = false;
      finish(simulation);
      for (const [name, count] of simulation.faultPoints.fired) fired.set(name, (fired.get(name) ?? 0) + count);
    }
    for (const name of ['vsr.primary_abdicates', 'vsr.drop_request', 'vsr.repair_one_entry', 'vsr.checkpoint_for_repair']) {
      assert.ok((fired.get(name) ?? 0) > 0, `${name} never fired in 30 seeds`);
    }
  });

  // The view number must be durable before a replica votes in a view change.
  // Here replica 2 votes for view 1 (which forms with replica 1 as primary),
  // crashes and restarts; it is then cut off with the old primary 0. Having
  // persisted view 1 it refuses view 0; with the view not persisted (planted
  // bug) it rejoins view 0, and 0 and 2 go on committing behind view 1's back:
  // two normal views at once, caught on every seed tried.
  for (const planted of [false, true]) {
    it(`view change: a replica that voted for view 1 and restarted ${planted ? 'forgets it (planted bug) and the checkers catch the split' : 'keeps it, so the old primary cannot use it'}`, () => {
      for (let seed = 300; seed < 305; seed++) {
        const simulation = start(seed, 3, { ...wholeLog, network: quietNetwork, unsafe: { skipViewPersist: planted } });
        const run = (): void => {
          simulation.runUntil(1000);
          assert.equal(simulation.primary(), 0);
          simulation.partition([0]);
          while (!(simulation.replica(1)!.status === 'normal' && simulation.replica(1)!.view === 1)) simulation.runUntil(simulation.nowMs + 1);
          simulation.crash(2);
          simulation.restart(2);
          simulation.partition([1]);
          simulation.runUntil(simulation.nowMs + 1500);
          finish(simulation);
        };
        if (planted) assert.throws(run, /did not converge|disagree|lost|differs|drops committed|not linearizable/);
        else run();
      }
    });
  }

  it('replace a dead replica: its disk is lost, an empty replacement learns the view, catches up, and nothing committed is lost', () => {
    const simulation = start(400, 3, { checkpointProbability: 0.3, logRetainOps: 8, compactOpsMin: 2 });
    simulation.runUntil(1500);
    const committed = simulation.committedOps;
    simulation.crash(2);
    simulation.replaceDisk(2);
    simulation.restart(2);
    assert.equal(simulation.replica(2)!.status, 'recovering');
    simulation.runUntil(simulation.nowMs + 2000);
    assert.equal(simulation.replica(2)!.status, 'normal', 'the replacement rejoined');
    assert.ok(simulation.committedOps > committed);
    // The replacement now counts toward a quorum: the group commits without replica 1.
    simulation.crash(1);
    const before = simulation.committedOps;
    simulation.runUntil(simulation.nowMs + 2000);
    assert.ok(simulation.committedOps > before, 'the primary and the replacement form a quorum');
    finish(simulation);
  });

  // A replacement has lost the views its predecessor voted in. Here the old
  // primary 0 is cut off while 1 and 2 form view 1; then 2's disk is lost and
  // its replacement can reach only the stale primary. Learning the view from a
  // quorum, it waits; taking the stale primary's StartView (planted bug), it
  // lets view 0 commit behind view 1's back, and the checkers catch it.
  for (const planted of [false, true]) {
    it(`replacement behind a stale primary ${planted ? 'takes its StartView (planted bug): caught' : 'waits for a quorum to tell it the view'}`, () => {
      for (let seed = 410; seed < 414; seed++) {
        const simulation = start(seed, 3, { ...wholeLog, network: quietNetwork, unsafe: { skipViewDiscovery: planted } });
        const run = (): void => {
          simulation.runUntil(1000);
          simulation.partition([0]);
          while (!(simulation.replica(1)!.status === 'normal' && simulation.replica(1)!.view === 1)) simulation.runUntil(simulation.nowMs + 1);
          simulation.runUntil(simulation.nowMs + 500);
          simulation.crash(2);
          simulation.replaceDisk(2);
          simulation.partition([1]);
          simulation.restart(2);
          simulation.runUntil(simulation.nowMs + 1500);
          if (!planted) assert.equal(simulation.replica(2)!.status, 'recovering', 'one answer is not a quorum');
          finish(simulation);
        };
        if (planted) assert.throws(run, /disagree|did not converge|lost|differs|drops committed|not linearizable/);
        else run();
      }
    });
  }

  it('reconfiguration under load: a group grows 1 → 3 → 5 with an epoch change each time, and nothing committed is lost', () => {
    for (let seed = 500; seed < 505; seed++) {
      const simulation = start(seed, 1, {
        checkpointProbability: 0.3,
        logRetainOps: 8,
        compactOpsMin: 2,
        reconfigurations: [
          { atMs: 800, replicaCount: 3 },
          { atMs: 2500, replicaCount: 5 },
        ],
      });
      simulation.runUntil(2000);
      assert.deepEqual(simulation.configuration, { epoch: 1, replicaCount: 3 }, `seed ${seed}: grew to 3`);
      simulation.runUntil(4500);
      assert.deepEqual(simulation.configuration, { epoch: 2, replicaCount: 5 }, `seed ${seed}: grew to 5`);
      // Five replicas: two may fail and the group still commits.
      simulation.crash(0);
      simulation.crash(3);
      const committed = simulation.committedOps;
      simulation.runUntil(6500);
      assert.ok(simulation.committedOps > committed, `seed ${seed}: the grown group commits without two of its five`);
      finish(simulation);
      assert.equal(simulation.reconfigurationsDone.length, 2);
      for (let index = 0; index < 5; index++) assert.equal(simulation.replica(index)!.epoch, 2);
    }
  });

  it('reconfiguration with faults: crashes, a partition and loss while the group grows 3 → 5 and shrinks back to 3', () => {
    for (let seed = 520; seed < 530; seed++) {
      const simulation = start(seed, 3, {
        checkpointProbability: 0.3,
        logRetainOps: 8,
        compactOpsMin: 2,
        reconfigurations: [
          { atMs: 700, replicaCount: 5 },
          { atMs: 2600, replicaCount: 3 },
        ],
      });
      simulation.runUntil(650);
      simulation.crash(seed % 3);
      simulation.runUntil(900);
      simulation.restart(seed % 3);
      simulation.partition([seed % 5, (seed + 1) % 5]);
      simulation.runUntil(2000);
      simulation.heal();
      simulation.crash(0);
      simulation.runUntil(2700);
      simulation.restart(0);
      simulation.runUntil(4500);
      finish(simulation);
      assert.deepEqual(simulation.configuration, { epoch: 2, replicaCount: 3 }, `seed ${seed}`);
      assert.equal(simulation.replica(3)!.status, 'retired');
      assert.equal(simulation.replica(4)!.status, 'retired');
    }
  });

  // Growing 1 → 3, the old replica crashes the moment both joiners are in the
  // new epoch. Joiners that got the epoch's state carry on without it;
  // joiners that entered with empty logs (planted bug) form a quorum of two
  // that has never seen the committed ops, and the checkers catch it.
  for (const planted of [false, true]) {
    it(`joiners ${planted ? 'enter the epoch without its state (planted bug): caught' : 'get the epoch\'s state before they take part'}`, () => {
      let caught = 0;
      for (let seed = 540; seed < 550; seed++) {
        const simulation = start(seed, 1, { network: quietNetwork, reconfigurations: [{ atMs: 600, replicaCount: 3 }], unsafe: { skipJoinStateTransfer: planted } });
        const run = (): void => {
          // The moment both joiners are in the epoch, before they can repair from replica 0.
          while (simulation.replica(1)!.isJoining || simulation.replica(2)!.isJoining) simulation.runUntil(simulation.nowMs + 1);
          simulation.crash(0);
          simulation.runUntil(simulation.nowMs + 1500);
          simulation.restart(0);
          simulation.runUntil(simulation.nowMs + 1000);
          finish(simulation);
        };
        if (!planted) {
          run();
          continue;
        }
        try {
          run();
        } catch (error) {
          assert.match(String(error), /disagree|did not converge|lost|differs|drops committed|not linearizable|beyond/);
          caught++;
        }
      }
      if (planted) assert.ok(caught >= 5, `planted bug caught on ${caught} of 10 seeds`);
    });
  }
});
