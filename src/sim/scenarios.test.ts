// VSR scenario tests on the simulator, each named for what it shows. Every
// scenario ends the same way: faults stop, every client request completes
// within a bound (liveness), replicas converge with every acknowledged op in
// their committed logs, and the client history is linearizable.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from './simulation.js';

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

function start(seed: number, replicaCount = 3): Simulation {
  const simulation = new Simulation({ seed, replicaCount, network });
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

  it('lagging replica catches up by state transfer after missing many ops', () => {
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
});
