// What `tessera simulate` prints for a failing seed: the seed and failure, the
// shortest fault schedule that still fails, the trace before the violation,
// and a replay command that reproduces exactly that run.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, shrinkFailure } from '../sim/run-simulation.js';
import type { RunOptions, SeedResult } from '../sim/run-simulation.js';
import { formatFailure } from './simulate.js';

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
