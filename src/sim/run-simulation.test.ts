// The seed sweep, reproducibility, and the mutation check: the simulator must
// pass the real replica on many faulty seeds, replay a seed exactly, and catch
// a replica broken on purpose (a checker that cannot fail proves nothing).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, runSeeds } from './run-simulation.js';

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

  for (const flag of ['skipPersistBeforePrepareOk', 'skipViewPersist', 'skipRecovery'] as const) {
    it(`mutation check: the sweep catches "${flag}" within 300 seeds`, () => {
      const report = runSeeds({ from: 1, to: 300 }, { unsafe: { [flag]: true } });
      assert.ok(report.failures.length > 0, `"${flag}" went unnoticed in 300 seeds`);
    });
  }
});
