// `tessera simulate`: runs the deterministic VSR simulation. `--seed N` replays
// one run exactly (same seed, same trace hash); `--seeds A..B` sweeps, printing
// progress, seeds/second and every failing seed. A failure is shrunk first
// (the shortest prefix of its fault schedule that still fails the same way),
// then printed: seed, failure, that schedule, the last events before the
// violation, and the command that replays it (`--faults-max K` keeps the
// first K faults).
// `--cluster` runs the whole-cluster simulation instead (sim/cluster/: meta
// groups, blob nodes, gateways, workers and S3 clients under faults, drains
// and a node lost for good), with the same flags and the same failure report,
// shrunk the same way; `--planted-bug NAME` plants one of its test bugs, to
// see the checkers catch it.

import { runClusterSeed, shrinkClusterFailure } from '../sim/cluster/run-cluster-simulation.js';
import type { ClusterRunOptions, ClusterSeedResult, ClusterShrinkReport } from '../sim/cluster/run-cluster-simulation.js';
import type { PlantedBug } from '../sim/cluster/cluster-simulation.js';
import { runSeed, runSeeds, shrinkFailure } from '../sim/run-simulation.js';
import type { RunOptions, SeedResult, ShrinkReport } from '../sim/run-simulation.js';
import { ConfigError, parseFlags } from './config.js';

const progressEverySeeds = 1000;
const clusterProgressEverySeeds = 10;
const plantedBugs: readonly PlantedBug[] = ['stale_read_cache', 'gc_never_deletes', 'no_rebalancer'];

/** What both simulators report for a failing run. */
interface FailedRun {
  readonly seed: number;
  readonly traceHash: string;
  readonly failure: string | undefined;
  readonly faults: readonly string[];
  readonly traceTail: readonly string[];
}

/** The schedule, the trace tail and the violation: the part of a failure report both simulators print alike. */
function runLines(result: FailedRun, scheduleTitle: string): string[] {
  const lines = [scheduleTitle];
  for (const fault of result.faults) lines.push(`    ${fault}`);
  lines.push(`  last ${result.traceTail.length} events before the violation:`);
  for (const event of result.traceTail) lines.push(`    ${event}`);
  lines.push(`    => ${result.failure ?? 'unknown'}`);
  return lines;
}

/** The lines `tessera simulate` prints for a failing seed, given its shrunk replay. */
export function formatFailure(failed: SeedResult, shrunk: ShrinkReport): string[] {
  const { result, faultsMax } = shrunk;
  const replay = `tessera simulate --seed ${failed.seed}`;
  const lines = [`FAIL seed ${failed.seed} trace ${failed.traceHash}: ${failed.failure ?? 'unknown'}`];
  const kept = `the first ${faultsMax} of ${failed.faultsInjected} scheduled faults`;
  lines.push(...runLines(result, result === failed ? `  fault schedule (${kept} are needed):` : `  shortest fault schedule that still fails (${kept}; trace ${result.traceHash}):`));
  lines.push(`  replay: ${replay} --faults-max ${faultsMax}`);
  if (result !== failed) lines.push(`  replay the whole schedule: ${replay}`);
  return lines;
}

/** The lines `tessera simulate --cluster` prints for a failing seed, given its shrunk replay. */
export function formatClusterFailure(failed: ClusterSeedResult, shrunk: ClusterShrinkReport, options: ClusterRunOptions): string[] {
  const { result, faultsMax } = shrunk;
  const bug = options.plantedBug === undefined ? '' : ` --planted-bug ${options.plantedBug}`;
  const replay = `tessera simulate --cluster --seed ${failed.seed}${bug}`;
  const lines = [`FAIL cluster seed ${failed.seed} trace ${failed.traceHash}: ${failed.failure ?? 'unknown'}`, `  shape: ${failed.shape}`];
  const kept = `the first ${faultsMax} of ${failed.faultsInjected} scheduled faults`;
  lines.push(...runLines(result, result === failed ? `  fault schedule (${kept} are needed):` : `  shortest fault schedule that still fails (${kept}; trace ${result.traceHash}):`));
  lines.push(`  replay: ${replay} --faults-max ${faultsMax}`);
  if (result !== failed) lines.push(`  replay the whole schedule: ${replay}`);
  return lines;
}

async function printClusterFailure(result: ClusterSeedResult, options: ClusterRunOptions): Promise<void> {
  const lines = formatClusterFailure(result, await shrinkClusterFailure(result, options), options);
  process.stdout.write(`${lines.join('\n')}\n`);
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

function clusterSummary(result: ClusterSeedResult): string {
  const { counts } = result;
  return (
    `seed ${result.seed}: ${result.ok ? 'ok' : 'FAIL'} trace ${result.traceHash} (${result.writesAcknowledged} writes acknowledged, ${result.writesUnknown} unknown; ` +
    `${counts.readsChecked} reads checked, ${counts.readErrors} clean errors; ${result.fragmentsChecked} fragments checked; ` +
    `${result.faultsInjected} faults; ${result.events} events, ${Math.round(result.simulatedMs)} simulated ms)`
  );
}

/** `--cluster`: one seed or a sweep of the whole-cluster simulation; resolves with the exit code. */
async function simulateCluster(flags: ReadonlyMap<string, string>): Promise<number> {
  const faultsMaxText = flags.get('faults-max');
  const bug = flags.get('planted-bug');
  if (bug !== undefined && !plantedBugs.includes(bug as PlantedBug)) throw new ConfigError(`--planted-bug "${bug}": one of ${plantedBugs.join(', ')}`);
  const options: ClusterRunOptions = {
    ...(faultsMaxText === undefined ? {} : { faultsMax: parseCount('faults-max', faultsMaxText) }),
    ...(bug === undefined ? {} : { plantedBug: bug as PlantedBug }),
  };
  const single = flags.get('seed');
  if (single !== undefined) {
    const result = await runClusterSeed(parseCount('seed', single), options);
    process.stdout.write(`${clusterSummary(result)}\n`);
    if (!result.ok) await printClusterFailure(result, options);
    return result.ok ? 0 : 1;
  }
  const range = parseRange(flags.get('seeds') ?? '1..20');
  const started = performance.now();
  let failures = 0;
  let writes = 0;
  let reads = 0;
  for (let seed = range.from; seed <= range.to; seed++) {
    const result = await runClusterSeed(seed, options);
    writes += result.writesAcknowledged;
    reads += result.counts.readsChecked;
    if (!result.ok) {
      failures++;
      await printClusterFailure(result, options);
    }
    const done = seed - range.from + 1;
    if (done % clusterProgressEverySeeds === 0 || seed === range.to) {
      const perSecond = done / ((performance.now() - started) / 1000);
      process.stdout.write(`seeds ${range.from}..${seed}: ${done}/${range.to - range.from + 1}, ${failures} failed, ${perSecond.toFixed(2)} seeds/s\n`);
    }
  }
  process.stdout.write(`simulate --cluster: ${range.to - range.from + 1 - failures} passed, ${failures} failed (${writes} writes acknowledged, ${reads} reads checked)\n`);
  return failures === 0 ? 0 : 1;
}

/** Returns the process exit code: 0 when every seed passed. */
export async function simulate(argv: readonly string[]): Promise<number> {
  const cluster = argv.includes('--cluster');
  const flags = parseFlags(argv.filter((argument) => argument !== '--cluster'));
  if (cluster) return simulateCluster(flags);
  if (flags.has('planted-bug')) throw new ConfigError('--planted-bug needs --cluster');
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
