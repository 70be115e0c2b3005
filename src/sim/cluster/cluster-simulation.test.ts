// The whole-cluster simulation end to end: a seed replays exactly (same trace
// hash twice), a sweep of seeds passes every checker, and each planted bug is
// caught within a few seeds — a gateway read cache that is never invalidated
// (read-after-write), and a GC that never deletes (leaked fragments).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runClusterSeed } from './run-cluster-simulation.js';
import type { ClusterRunOptions, ClusterSeedResult } from './run-cluster-simulation.js';

async function firstFailure(seedsMax: number, options: ClusterRunOptions): Promise<ClusterSeedResult | undefined> {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const result = await runClusterSeed(seed, options);
    if (!result.ok) return result;
  }
  return undefined;
}

describe('cluster simulation', () => {
  it('replays a seed exactly: same trace hash and counts twice, another seed differs', async () => {
    const first = await runClusterSeed(7);
    const second = await runClusterSeed(7);
    assert.equal(first.ok, true, first.failure);
    assert.equal(second.traceHash, first.traceHash);
    assert.deepEqual(second.counts, first.counts);
    assert.equal(second.events, first.events);
    assert.deepEqual(second.faults, first.faults);
    const other = await runClusterSeed(8);
    assert.notEqual(other.traceHash, first.traceHash);
  });

  it('seeds 1..8 pass: reads explained, final reads and list agree, no leaked fragment', async () => {
    let writes = 0;
    let reads = 0;
    let faults = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const result = await runClusterSeed(seed);
      assert.equal(result.ok, true, `seed ${seed}: ${result.failure ?? ''}\n${result.traceTail.join('\n')}`);
      writes += result.writesAcknowledged;
      reads += result.counts.readsChecked;
      faults += result.faultsInjected;
    }
    // The sweep did real work: writes acknowledged and reads checked under faults.
    assert.ok(writes >= 40, `${writes} writes acknowledged`);
    assert.ok(reads >= 80, `${reads} reads checked`);
    assert.ok(faults >= 80, `${faults} faults injected`);
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
    assert.match(failed.failure ?? '', /leaked fragment/);
  });
});
