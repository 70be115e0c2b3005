// `tessera simulate`: runs the deterministic VSR simulation. `--seed N` replays
// one run exactly (same seed, same trace hash); `--seeds A..B` sweeps, printing
// progress, seeds/second and every failing seed. A failure is shrunk first
// (the shortest prefix of its fault schedule that still fails the same way),
// then printed: seed, failure, that schedule, the last events before the
// violation, and the command that replays it (`--faults-max K` keeps the
// first K faults).

import { runSeed, runSeeds, shrinkFailure } from '../sim/run-simulation.js';
import type { RunOptions, SeedResult, ShrinkReport } from '../sim/run-simulation.js';
import { ConfigError, parseFlags } from './config.js';

const progressEverySeeds = 1000;

/** The lines `tessera simulate` prints for a failing seed, given its shrunk replay. */
export function formatFailure(failed: SeedResult, shrunk: ShrinkReport): string[] {
  const { result, faultsMax } = shrunk;
  const replay = `tessera simulate --seed ${failed.seed}`;
  const lines = [`FAIL seed ${failed.seed} trace ${failed.traceHash}: ${failed.failure ?? 'unknown'}`];
  const kept = `the first ${faultsMax} of ${failed.faultsInjected} scheduled faults`;
  lines.push(result === failed ? `  fault schedule (${kept} are needed):` : `  shortest fault schedule that still fails (${kept}; trace ${result.traceHash}):`);
  for (const fault of result.faults) lines.push(`    ${fault}`);
  lines.push(`  last ${result.traceTail.length} events before the violation:`);
  for (const event of result.traceTail) lines.push(`    ${event}`);
  lines.push(`    => ${result.failure ?? 'unknown'}`);
  lines.push(`  replay: ${replay} --faults-max ${faultsMax}`);
  if (result !== failed) lines.push(`  replay the whole schedule: ${replay}`);
  return lines;
}

function printFailure(result: SeedResult, options: RunOptions): void {
  const lines = formatFailure(result, shrinkFailure(result, options));
  process.stdout.write(`${lines.join('\n')}\n`);
}

function parseCount(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new ConfigError(`--${flag} "${text}" is not a number`);
  return Number(text);
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
  const faultsMaxText = flags.get('faults-max');
  const options: RunOptions = faultsMaxText === undefined ? {} : { faultsMax: parseCount('faults-max', faultsMaxText) };
  if (single !== undefined) {
    const result = runSeed(parseCount('seed', single), options);
    process.stdout.write(
      `seed ${result.seed}: ${result.ok ? 'ok' : 'FAIL'} trace ${result.traceHash} ` +
        `(${result.committedOps} committed ops, ${result.completedRequests} requests, ${Math.round(result.simulatedMs)} simulated ms)\n`,
    );
    if (!result.ok) printFailure(result, options);
    return result.ok ? 0 : 1;
  }
  const range = parseRange(flags.get('seeds') ?? '1..200');
  let failures = 0;
  let committedOps = 0;
  let elapsedMs = 0;
  for (let from = range.from; from <= range.to; from += progressEverySeeds) {
    const to = Math.min(range.to, from + progressEverySeeds - 1);
    const report = runSeeds({ from, to }, options);
    for (const failure of report.failures) printFailure(failure, options);
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
