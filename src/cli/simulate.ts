// `tessera simulate`: runs the deterministic VSR simulation. `--seed N` replays
// one run exactly (same seed, same trace hash); `--seeds A..B` sweeps, printing
// progress, seeds/second and every failing seed with its fault schedule.

import { runSeed, runSeeds } from '../sim/run-simulation.js';
import type { SeedResult } from '../sim/run-simulation.js';
import { ConfigError, parseFlags } from './config.js';

const progressEverySeeds = 1000;

function printFailure(result: SeedResult): void {
  process.stdout.write(`FAIL seed ${result.seed} trace ${result.traceHash}: ${result.failure ?? 'unknown'}\n`);
  for (const fault of result.faults) process.stdout.write(`    ${fault}\n`);
  process.stdout.write(`  replay: tessera simulate --seed ${result.seed}\n`);
}

function parseRange(text: string): { from: number; to: number } {
  const match = /^(\d+)\.\.(\d+)$/.exec(text);
  if (match === null) throw new ConfigError(`--seeds "${text}" is not of the form A..B`);
  const from = Number(match[1]);
  const to = Number(match[2]);
  if (to < from) throw new ConfigError(`--seeds ${text}: B must not be below A`);
  return { from, to };
}

/** Returns the process exit code: 0 when every seed passed. */
export function simulate(argv: readonly string[]): number {
  const flags = parseFlags(argv);
  const single = flags.get('seed');
  if (single !== undefined) {
    if (!/^\d+$/.test(single)) throw new ConfigError(`--seed "${single}" is not a number`);
    const result = runSeed(Number(single));
    process.stdout.write(
      `seed ${result.seed}: ${result.ok ? 'ok' : 'FAIL'} trace ${result.traceHash} ` +
        `(${result.committedOps} committed ops, ${result.completedRequests} requests, ${Math.round(result.simulatedMs)} simulated ms)\n`,
    );
    if (!result.ok) printFailure(result);
    return result.ok ? 0 : 1;
  }
  const range = parseRange(flags.get('seeds') ?? '1..200');
  let failures = 0;
  let committedOps = 0;
  let elapsedMs = 0;
  for (let from = range.from; from <= range.to; from += progressEverySeeds) {
    const to = Math.min(range.to, from + progressEverySeeds - 1);
    const report = runSeeds({ from, to });
    for (const failure of report.failures) printFailure(failure);
    failures += report.failures.length;
    committedOps += report.committedOps;
    elapsedMs += report.elapsedMs;
    const done = to - range.from + 1;
    const total = range.to - range.from + 1;
    process.stdout.write(`seeds ${range.from}..${to}: ${done}/${total}, ${failures} failed, ${((done / elapsedMs) * 1000).toFixed(0)} seeds/s\n`);
  }
  process.stdout.write(`simulate: ${range.to - range.from + 1 - failures} passed, ${failures} failed (${committedOps} committed ops)\n`);
  return failures === 0 ? 0 : 1;
}
