// The whole-cluster simulation end to end: a seed replays exactly (same trace
// hash twice, with two metadata groups, a draining drive and a node killed
// for good), a sweep of seeds passes every checker, and each planted bug is
// caught within a few seeds — a gateway read cache that is never invalidated
// (read-after-write), a GC that never deletes (leaked fragments), a
// rebalancer that never runs (shards left on draining and failed drives);
// a failing seed shrinks to a shorter fault prefix that fails the same way.
// Seed 19 leaked a fragment a healer rebuild wrote when its gateway crashed
// before move_shards, until the simulation ran the cluster orphan sweep.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runClusterSeed, shrinkClusterFailure } from './run-cluster-simulation.js';
import type { ClusterRunOptions, ClusterSeedResult } from './run-cluster-simulation.js';

async function firstFailure(seedsMax: number, options: ClusterRunOptions): Promise<ClusterSeedResult | undefined> {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const result = await runClusterSeed(seed, options);
    if (!result.ok) return result;
  }
  return undefined;
}

describe('cluster simulation', () => {
  it('replays a seed exactly with two metadata groups, a drain and a kill: same trace hash and counts twice, another seed differs', async () => {
    const first = await runClusterSeed(7);
    const second = await runClusterSeed(7);
    assert.equal(first.ok, true, first.failure);
    assert.match(first.shape, /^2 metadata groups/);
    assert.ok(first.faults.some((line) => / drive \d+ draining/.test(line)), 'a drive was marked draining');
    assert.ok(first.faults.some((line) => / drive \d+ failed/.test(line)), 'a killed node\'s drives were marked failed');
    assert.ok(first.partsChecked > 0, 'parts placement was checked');
    assert.equal(second.traceHash, first.traceHash);
    assert.deepEqual(second.counts, first.counts);
    assert.equal(second.events, first.events);
    assert.deepEqual(second.faults, first.faults);
    const other = await runClusterSeed(8);
    assert.notEqual(other.traceHash, first.traceHash);
  });

  it('seeds 1..8 and 19 pass: reads explained, final reads and lists agree, drains done, failed shards rebuilt, no leaked fragment', async () => {
    // Seeds 1 and 2 kill a node whose drives held garbage: GC retried deleting there forever until it skipped failed drives.
    let writes = 0;
    let reads = 0;
    let faults = 0;
    let parts = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 19]) {
      const result = await runClusterSeed(seed);
      assert.equal(result.ok, true, `seed ${seed}: ${result.failure ?? ''}\n${result.traceTail.join('\n')}`);
      writes += result.writesAcknowledged;
      reads += result.counts.readsChecked;
      faults += result.faultsInjected;
      parts += result.partsChecked;
    }
    // The sweep did real work: writes acknowledged and reads checked under faults.
    assert.ok(writes >= 40, `${writes} writes acknowledged`);
    assert.ok(reads >= 80, `${reads} reads checked`);
    assert.ok(faults >= 80, `${faults} faults injected`);
    assert.ok(parts >= 20, `${parts} parts checked for placement`);
  });

  it('planted bug: a gateway read cache never invalidated is caught as a stale read within 4 seeds', async () => {
    const failed = await firstFailure(4, { plantedBug: 'stale_read_cache' });
    assert.ok(failed !== undefined, 'some seed of 1..4 fails');
    assert.match(failed.failure ?? '', /GET .* answered .* it could only be one of/);
    assert.ok(failed.traceTail.length > 0, 'a failure carries the trace tail');
  });

  it('planted bug: a GC that never deletes is caught as leaked fragments within 4 seeds', async () => {
    const failed = await firstFailure(4, { plantedBug: 'gc_never_deletes' });
    assert.ok(failed !== undefined, 'some seed of 1..4 fails');
    assert.match(failed.failure ?? '', /leaked fragment|draining drive \d+ of blob-\d+ still holds/);
  });

  it('planted bug: a rebalancer that never runs is caught (a draining drive not emptied, or a part left on a failed drive) within 4 seeds', async () => {
    const failed = await firstFailure(4, { plantedBug: 'no_rebalancer' });
    assert.ok(failed !== undefined, 'some seed of 1..4 fails');
    assert.match(failed.failure ?? '', /parts to repair|draining drive|which is (failed|draining)|still missing/);
  });

  it('shrinks a failing seed to a shorter fault prefix that fails the same way', async () => {
    const failed = await firstFailure(4, { plantedBug: 'gc_never_deletes' });
    assert.ok(failed !== undefined);
    const shrunk = await shrinkClusterFailure(failed, { plantedBug: 'gc_never_deletes' });
    assert.ok(shrunk.faultsMax < failed.faultsInjected, `${shrunk.faultsMax} of ${failed.faultsInjected} faults`);
    assert.equal(shrunk.result.ok, false);
    assert.match(shrunk.result.failure ?? '', /leaked fragment|still holds/);
    const replay = await runClusterSeed(failed.seed, { plantedBug: 'gc_never_deletes', faultsMax: shrunk.faultsMax });
    assert.equal(replay.traceHash, shrunk.result.traceHash, 'the shrunk prefix replays exactly');
  });
});
