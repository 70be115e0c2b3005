// The seed sweep, reproducibility, and the mutation check: the simulator must
// pass the real replica on many faulty seeds, replay a seed exactly, and catch
// a replica broken on purpose (a checker that cannot fail proves nothing); a
// failure carries the trace before the violation and shrinks to a shorter
// fault schedule that still fails on replay.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, runSeeds, shrinkFailure } from './run-simulation.js';
import type { RunOptions, SeedResult } from './run-simulation.js';

/**
 * The time a failure message or trace line names: "t=6009 ms: …", "… (t=6009 ms)",
 * "t=6009 prepare …". A message may quote earlier times ("committed … at t=393");
 * the time of the violation is the last one on its first line.
 */
function failureTimeMs(failure: string): number {
  const matches = [...failure.split('\n', 1)[0]!.matchAll(/t=(\d+)/g)];
  assert.ok(matches.length > 0, `no time in "${failure}"`);
  const last = matches.at(-1)!;
  const atStart = /^t=(\d+) ms:/.exec(failure);
  return Number(atStart?.[1] ?? last[1]);
}

function firstFailure(options: RunOptions, seedsMax: number): SeedResult {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const result = runSeed(seed, options);
    if (!result.ok) return result;
  }
  assert.fail(`no seed of 1..${seedsMax} failed`);
}

function describeFailures(report: ReturnType<typeof runSeeds>): string {
  return report.failures.map((failure) => `seed ${failure.seed} (trace ${failure.traceHash}): ${failure.failure}\n  ${failure.faults.join('\n  ')}`).join('\n');
}

describe('simulation runs', () => {
  it('the same seed replays exactly: same trace hash twice', () => {
    const first = runSeed(42);
    const second = runSeed(42);
    assert.equal(first.traceHash, second.traceHash);
    assert.deepEqual(first.faults, second.faults);
    assert.equal(first.committedOps, second.committedOps);
    assert.notEqual(runSeed(43).traceHash, first.traceHash, 'another seed is another run');
  });

  it('seed sweep: 200 seeds with crashes, partitions, loss, duplication, delay, disk faults and clock drift stay safe and live', () => {
    const report = runSeeds({ from: 1, to: 200 });
    assert.equal(report.failures.length, 0, describeFailures(report));
    assert.ok(report.committedOps > 200 * 20, `committed ${report.committedOps} ops in 200 seeds`);
    assert.ok(report.diskFaults > 100, `injected ${report.diskFaults} torn writes and bit flips in 200 seeds`);
  });

  it('disk faults are in the fault schedule, and a seed replays them exactly', () => {
    const withDiskFaults = [...Array(50).keys()].map((index) => runSeed(index + 1)).find((result) => result.faults.some((line) => line.includes(' disk ')));
    assert.ok(withDiskFaults !== undefined, 'some seed of the first 50 has a disk fault');
    const again = runSeed(withDiskFaults.seed);
    assert.deepEqual(again.faults, withDiskFaults.faults);
    assert.equal(again.traceHash, withDiskFaults.traceHash);
    assert.ok(withDiskFaults.faults[0]!.startsWith('t=0 clocks '), 'the seeded clocks head the schedule');
  });

  // A margin, not one lucky seed: over seeds 1..1000 (a fifth of them
  // changing the group's size) the sweep caught skipPersistBeforePrepareOk in
  // 33, skipRecovery in 130, skipReadConfirmation in 13,
  // resumePrimaryAfterRestart in 73 and skipViewPersist in only 10 (since a
  // restarted primary steps down, the
  // forgotten view rarely meets a live old primary; scenarios.test.ts catches
  // it in every seed of a targeted scenario), and skipJoinStateTransfer in
  // 21 (only the seeds whose group grows can show it; a targeted scenario
  // catches it on 10 of 10). A change that blunts the schedule shows up here.
  const caughtMin = {
    skipPersistBeforePrepareOk: 8,
    skipRecovery: 20,
    skipReadConfirmation: 6,
    resumePrimaryAfterRestart: 25,
    skipViewPersist: 1,
    skipJoinStateTransfer: 7,
  } as const;
  for (const [flag, minimum] of Object.entries(caughtMin)) {
    it(`mutation check: the sweep catches "${flag}" in at least ${minimum} of 1000 seeds`, () => {
      const report = runSeeds({ from: 1, to: 1000 }, { unsafe: { [flag]: true } });
      assert.ok(report.failures.length >= minimum, `"${flag}" was caught by ${report.failures.length} of 1000 seeds`);
    });
  }

  it('a passing seed carries no trace tail', () => {
    const result = runSeed(42);
    assert.equal(result.ok, true);
    assert.deepEqual(result.traceTail, []);
    assert.ok(result.faultsInjected > 0);
  });

  it('a planted bug fails with the trace up to the violation, and shrinks to a shorter schedule that replays', () => {
    const options: RunOptions = { unsafe: { skipRecovery: true } };
    const failed = firstFailure(options, 100);
    assert.ok(failed.failure !== undefined);
    assert.ok(failed.traceTail.length > 0 && failed.traceTail.length <= 64, `${failed.traceTail.length} events in the tail`);
    const lastEventMs = failureTimeMs(failed.traceTail.at(-1)!);
    const failedAtMs = failureTimeMs(failed.failure);
    assert.ok(lastEventMs <= failedAtMs && lastEventMs >= failedAtMs - 100, `tail ends at t=${lastEventMs}, failure at t=${failedAtMs}`);

    const shrunk = shrinkFailure(failed, options);
    assert.ok(shrunk.faultsMax <= failed.faultsInjected);
    assert.ok(shrunk.result.faults.length <= failed.faults.length);
    assert.equal(shrunk.result.ok, false);
    assert.ok(shrunk.result.traceTail.length > 0);
    const replay = runSeed(failed.seed, { ...options, faultsMax: shrunk.faultsMax });
    assert.equal(replay.failure, shrunk.result.failure);
    assert.equal(replay.traceHash, shrunk.result.traceHash);
    assert.deepEqual(replay.traceTail, shrunk.result.traceTail);
    assert.deepEqual(replay.faults, shrunk.result.faults);
    // The whole schedule is its own longest prefix: the same run.
    const whole = runSeed(failed.seed, { ...options, faultsMax: failed.faultsInjected });
    assert.equal(whole.traceHash, failed.traceHash);
  });
});
