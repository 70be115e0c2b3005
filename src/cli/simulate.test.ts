// What `tessera simulate` prints for a failing seed: the seed and failure, the
// shortest fault schedule that still fails, the trace before the violation,
// and a replay command that reproduces exactly that run. The same for
// `--cluster`, whose failing seed (a planted bug) exits 1 and replays.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, shrinkFailure } from '../sim/run-simulation.js';
import type { RunOptions, SeedResult } from '../sim/run-simulation.js';
import { runClusterSeed, shrinkClusterFailure } from '../sim/cluster/run-cluster-simulation.js';
import { formatClusterFailure, formatFailure, simulate } from './simulate.js';

describe('tessera simulate: failure report', () => {
  it('prints seed, failure, shortened schedule, trace tail and replay command', () => {
    const options: RunOptions = { unsafe: { skipRecovery: true } };
    let failed: SeedResult | undefined;
    for (let seed = 1; seed <= 100 && failed === undefined; seed++) {
      const result = runSeed(seed, options);
      if (!result.ok) failed = result;
    }
    assert.ok(failed !== undefined, 'some seed of 1..100 fails with skipRecovery');
    const shrunk = shrinkFailure(failed, options);
    const lines = formatFailure(failed, shrunk);
    assert.ok(lines[0]!.startsWith(`FAIL seed ${failed.seed} trace ${failed.traceHash}: `));
    for (const fault of shrunk.result.faults) assert.ok(lines.includes(`    ${fault}`), `schedule line "${fault}"`);
    for (const event of shrunk.result.traceTail) assert.ok(lines.includes(`    ${event}`), `trace line "${event}"`);
    assert.ok(lines.includes(`  replay: tessera simulate --seed ${failed.seed} --faults-max ${shrunk.faultsMax}`));
    const tailAt = lines.indexOf(`    ${shrunk.result.traceTail.at(-1)!}`);
    assert.equal(lines[tailAt + 1], `    => ${shrunk.result.failure!}`, 'the violation right after the last event');
  });
});

describe('tessera simulate --cluster', () => {
  it('prints a failing seed shrunk: its shortest schedule, trace tail and replay commands, and exits 1', async () => {
    const options = { plantedBug: 'stale_read_cache' } as const;
    let failed = await runClusterSeed(1, options);
    for (let seed = 2; seed <= 4 && failed.ok; seed++) failed = await runClusterSeed(seed, options);
    assert.equal(failed.ok, false, 'a seed of 1..4 catches the planted stale read');
    const { seed } = failed;
    const shrunk = await shrinkClusterFailure(failed, options);
    const lines = formatClusterFailure(failed, shrunk, options);
    assert.ok(lines[0]!.startsWith(`FAIL cluster seed ${seed} trace ${failed.traceHash}: `));
    assert.equal(lines[1], `  shape: ${failed.shape}`);
    for (const fault of shrunk.result.faults) assert.ok(lines.includes(`    ${fault}`), `schedule line "${fault}"`);
    for (const event of shrunk.result.traceTail) assert.ok(lines.includes(`    ${event}`), `trace line "${event}"`);
    assert.ok(lines.includes(`  replay: tessera simulate --cluster --seed ${seed} --planted-bug stale_read_cache --faults-max ${shrunk.faultsMax}`));
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array): boolean => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await simulate(['--cluster', '--seed', String(seed), '--planted-bug', 'stale_read_cache']);
    } finally {
      process.stdout.write = write;
    }
    assert.equal(code, 1);
    assert.ok(written.join('').includes(`seed ${seed}: FAIL trace ${failed.traceHash}`), 'the replay has the same trace');
  });
});
