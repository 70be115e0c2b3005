// Cluster benchmark (issue 5): the PUT/GET suite of put-get.ts (4 KiB, 1 MiB,
// 64 MiB; raw undici client, SigV4 UNSIGNED-PAYLOAD) against a 6-node local
// cluster (`tessera cluster start --nodes 6 --zones 3 --ec 4+2`: 6 node
// processes, 3 of them metadata replicas, node-0 the gateway) and against the
// embedded server, in the same run, rounds interleaved. The ratio
// cluster/embedded is the cost of distribution: the machine, its cores and the
// erasure scheme are the same; the cluster adds the hops gateway → blob nodes
// and the metadata replication over TCP.
//
// By default the embedded server also runs as its own process (`tessera
// server`), so in both columns the client is alone in this process and the
// server side pays for its own event loop(s); `--embedded in-process` runs it
// in this process instead, as put-get.ts does (client and server then share
// one event loop, which the cluster's gateway does not).
//
// The default run uses put-get.ts's counts (about 80 s on 2 idle cores; more
// when the machine is shared), with a longer 1 MiB warm-up that reaches every
// drive of the cluster; `--quick` runs one round of each size, `--rounds N`
// sets the rounds of every size (scale up for steadier ratios). Both servers
// and the temp folder are removed at the end, also on error, Ctrl-C or SIGTERM.
// Run: npm run build && node dist/bench/cluster.js [--quick] [--rounds N] [--only 4k|1m|64m] [--embedded process|in-process]

import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { assert } from '../src/stdx/assert.js';
import {
  createBucket, credentials, formatLatency, mergeSamples, printTable, runSize, sampleRate, sigv4Signer, startTessera, undiciClient,
} from './lib.js';
import type { Contender, Credentials, ObjectClient, Sample, SizePlan } from './lib.js';

const sizeNames = ['4k', '1m', '64m'] as const;
type SizeName = (typeof sizeNames)[number];
type EmbeddedMode = 'process' | 'in-process';

const tesseraBin = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));
const clusterFlags = ['--nodes', '6', '--zones', '3', '--ec', '4+2'];
/** `cluster start` itself gives up after 60 s; `stop` escalates to SIGKILL after 10 s. */
const cliTimeoutMs = 90_000;
const embeddedStartTimeoutMs = 30_000;
/** Server output kept for error messages: the last this many characters. */
const outputTailCharsMax = 16_384;
const logTailLinesMax = 8;

interface Arguments {
  readonly quick: boolean;
  readonly rounds: number | undefined;
  readonly only: SizeName | undefined;
  readonly embedded: EmbeddedMode;
}

const usage = 'usage: cluster.js [--quick] [--rounds N] [--only 4k|1m|64m] [--embedded process|in-process]';

function parseArguments(argv: readonly string[]): Arguments {
  let quick = false;
  let rounds: number | undefined;
  let only: SizeName | undefined;
  let embedded: EmbeddedMode = 'process';
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    const value = argv[index + 1];
    if (argument === '--quick') quick = true;
    else if (argument === '--rounds') {
      rounds = Number(value);
      if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 100) throw new Error(`--rounds takes an integer in 1..100, got "${value}"; ${usage}`);
      index++;
    } else if (argument === '--only') {
      if (!sizeNames.includes(value as SizeName)) throw new Error(`--only takes ${sizeNames.join('|')}, got "${value}"; ${usage}`);
      only = value as SizeName;
      index++;
    } else if (argument === '--embedded') {
      if (value !== 'process' && value !== 'in-process') throw new Error(`--embedded takes process|in-process, got "${value}"; ${usage}`);
      embedded = value;
      index++;
    } else throw new Error(`Unknown argument "${argument}"; ${usage}`);
  }
  return { quick, rounds, only, embedded };
}

/**
 * put-get.ts's plans (one round each with `quick`), except the 1 MiB warm-up:
 * 24 parts of 4+2 over 3 zones of 4 drives each miss a given drive with
 * probability 2^-24, so it reaches every blob node and drive of the cluster
 * before anything is measured (the 4 KiB objects are inline: metadata only).
 */
function plansFor(options: Arguments): SizePlan[] {
  const KiB = 1024;
  const MiB = 1024 * KiB;
  const { quick } = options;
  const plans: SizePlan[] = [
    { name: '4k', label: '4 KiB', objectBytes: 4 * KiB, concurrency: 32, rounds: quick ? 1 : 5, durationMs: 1000, opsPerRoundMax: 50_000,
      warmupOps: 256, payloadVariants: 64, unit: 'ops/s' },
    { name: '1m', label: '1 MiB', objectBytes: MiB, concurrency: 8, rounds: quick ? 1 : 4, durationMs: Infinity, opsPerRoundMax: 50,
      warmupOps: 24, payloadVariants: 8, unit: 'MB/s' },
    { name: '64m', label: '64 MiB', objectBytes: 64 * MiB, concurrency: 2, rounds: quick ? 1 : 6, durationMs: Infinity, opsPerRoundMax: 2,
      warmupOps: 2, payloadVariants: 2, unit: 'MB/s' },
  ];
  return plans
    .filter((plan) => options.only === undefined || plan.name === options.only)
    .map((plan) => (options.rounds === undefined ? plan : { ...plan, rounds: options.rounds }));
}

// ---------------------------------------------------------------------------
// The two servers under test.

interface Target {
  readonly name: 'embedded' | 'cluster';
  readonly endpoint: string;
  readonly keys: Credentials;
}

/** What must be undone at the end: async normally, sync from a signal handler (which then exits). */
interface Teardown {
  readonly what: string;
  run(): Promise<void>;
  runSync(): void;
}

// Not lib.ts's makeBenchRoot: its SIGINT handler exits at once, before the
// cluster's detached node processes could be stopped.
const teardowns: Teardown[] = [];

function onSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`\n${signal}: stopping the servers and removing the temp folder\n`);
  for (const teardown of [...teardowns].reverse()) {
    try {
      teardown.runSync();
    } catch (error) {
      process.stderr.write(`${teardown.what}: ${String(error)}\n`);
    }
  }
  process.exit(130);
}

const execFileAsync = promisify(execFile);

/** Runs `tessera …args` to completion; its stdout, or an error carrying both outputs. */
async function tessera(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(process.execPath, [tesseraBin, ...args], { timeout: cliTimeoutMs, maxBuffer: 1024 * 1024 });
    return stdout;
  } catch (error) {
    const output = error as { stdout?: string; stderr?: string; code?: number | string };
    throw new Error(`tessera ${args.join(' ')} failed (${output.code ?? 'no exit code'}): ${output.stderr ?? ''}${output.stdout ?? ''}`.trim(), { cause: error });
  }
}

/** The `endpoint:`, `access key:` and `secret key:` lines both `cluster start` and `server` print. */
function parseBanner(text: string, what: string): { endpoint: string; keys: Credentials } {
  const field = (name: string): string => {
    const match = new RegExp(`^\\s*${name}:\\s+(\\S+)`, 'm').exec(text);
    if (match === null) throw new Error(`${what}: no "${name}:" line in its output:\n${text}`);
    return match[1]!;
  };
  return { endpoint: field('endpoint'), keys: { accessKeyId: field('access key'), secretAccessKey: field('secret key') } };
}

async function startCluster(dir: string): Promise<Target> {
  const stopArgs = ['cluster', 'stop', '--dir', dir];
  // Registered before start: a start that fails half-way leaves node processes behind.
  // Without cluster.json, start spawned nothing (it writes the record right after spawning).
  const recorded = (): boolean => existsSync(path.join(dir, 'cluster.json'));
  teardowns.push({
    what: `cluster in ${dir}`,
    run: async () => {
      if (recorded()) await tessera(stopArgs);
    },
    runSync: () => {
      if (recorded()) spawnSync(process.execPath, [tesseraBin, ...stopArgs], { stdio: 'ignore', timeout: cliTimeoutMs });
    },
  });
  const banner = parseBanner(await tessera(['cluster', 'start', ...clusterFlags, '--dir', dir]), 'tessera cluster start');
  return { name: 'cluster', ...banner };
}

/** `tessera server` on a free port with the bench credentials; resolves once it prints its banner. */
async function startEmbeddedProcess(dataDir: string): Promise<Target> {
  const child = spawn(process.execPath, [tesseraBin, 'server', '--address', '127.0.0.1:0', '--data', dataDir, '--drives', '6', '--ec', '4+2', '--log-level', 'warn'], {
    env: { ...process.env, TESSERA_ROOT_USER: credentials.accessKeyId, TESSERA_ROOT_PASSWORD: credentials.secretAccessKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  teardowns.push({
    what: 'embedded server process',
    run: () => stopChild(child),
    runSync: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  });
  let output = '';
  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`tessera server did not print its endpoint within ${embeddedStartTimeoutMs} ms:\n${output}`));
    }, embeddedStartTimeoutMs);
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-outputTailCharsMax);
      if (/^\s*secret key:/m.test(output)) {
        clearTimeout(timer);
        resolve(output);
      }
    };
    // Keeps draining after the banner too: a full pipe would stall the server.
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`tessera server exited (${code ?? signal ?? '?'}) before serving:\n${output}`));
    });
  });
  return { name: 'embedded', ...parseBanner(banner, 'tessera server') };
}

/** SIGTERM (the server closes cleanly), SIGKILL if it has not exited 10 s later. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    resolve();
  }));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function startEmbeddedInProcess(dataDir: string): Promise<Target> {
  const server = await startTessera(dataDir);
  // Nothing to do from a signal handler: the server dies with this process.
  teardowns.push({ what: 'embedded server', run: () => server.close(), runSync: () => undefined });
  return { name: 'embedded', endpoint: server.endpoint, keys: credentials };
}

/** The last lines of every node's log: what a failed run leaves to read before the folder goes. */
async function nodeLogTails(clusterDir: string): Promise<string> {
  const parts: string[] = [];
  const entries = await fs.readdir(clusterDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.filter((candidate) => candidate.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const log = await fs.readFile(path.join(clusterDir, entry.name, 'node.log'), 'utf8').catch(() => '');
    const lines = log.trimEnd().split('\n').slice(-logTailLinesMax);
    parts.push(`--- ${entry.name}/node.log (last ${lines.length} lines)\n${lines.join('\n')}`);
  }
  return parts.join('\n');
}

// ---------------------------------------------------------------------------
// Measurement and report.

interface Row {
  readonly plan: SizePlan;
  readonly op: 'PUT' | 'GET';
  /** Per round, in the same order for both. */
  readonly embedded: readonly Sample[];
  readonly cluster: readonly Sample[];
}

async function measureSize(plan: SizePlan, targets: readonly [Target, Target], clients: ObjectClient[]): Promise<Row[]> {
  const payloads = Array.from({ length: plan.payloadVariants }, () => randomBytes(plan.objectBytes));
  const contenders: Contender[] = targets.map((target) => ({
    name: target.name,
    client: undiciClient(target.endpoint, plan.concurrency, sigv4Signer(new URL(target.endpoint).host, target.keys)),
    puts: [],
    gets: [],
  }));
  clients.push(...contenders.map((contender) => contender.client));
  process.stdout.write(`${plan.label}: warm-up, rounds`);
  await runSize(plan, payloads, contenders);
  console.log(' done');
  const [embedded, cluster] = contenders as [Contender, Contender];
  return [
    { plan, op: 'PUT', embedded: embedded.puts, cluster: cluster.puts },
    { plan, op: 'GET', embedded: embedded.gets, cluster: cluster.gets },
  ];
}

/** Lowest and highest cluster/embedded ratio of single rounds: how noisy the run was. */
function roundRange(row: Row): string {
  assert(row.cluster.length === row.embedded.length, 'one cluster and one embedded sample per round');
  const ratios = row.cluster.map((sample, round) => sampleRate(row.plan, sample) / sampleRate(row.plan, row.embedded[round]!));
  return `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
}

function cells(row: Row): string[] {
  const embedded = mergeSamples(row.embedded);
  const cluster = mergeSamples(row.cluster);
  const digits = row.plan.unit === 'ops/s' ? 0 : 1;
  const embeddedRate = sampleRate(row.plan, embedded);
  const clusterRate = sampleRate(row.plan, cluster);
  return [
    row.plan.label, row.op, row.plan.unit, embeddedRate.toFixed(digits), clusterRate.toFixed(digits), (clusterRate / embeddedRate).toFixed(3),
    roundRange(row), formatLatency(embedded), formatLatency(cluster), `${embedded.ops}/${cluster.ops}`,
  ];
}

function loadAverage(): string {
  return os.loadavg().map((load) => load.toFixed(2)).join(' ');
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  const plans = plansFor(options);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tessera-bench-cluster-'));
  teardowns.push({
    what: `temp folder ${root}`,
    run: () => fs.rm(root, { recursive: true, force: true }),
    runSync: () => {
      rmSync(root, { recursive: true, force: true });
    },
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const clients: ObjectClient[] = [];
  const clusterDir = path.join(root, 'cluster');
  let failed = true;
  try {
    const started = performance.now();
    const embedded = options.embedded === 'process' ? await startEmbeddedProcess(path.join(root, 'embedded')) : await startEmbeddedInProcess(path.join(root, 'embedded'));
    const cluster = await startCluster(clusterDir);
    for (const target of [embedded, cluster]) await createBucket(target.endpoint, sigv4Signer(new URL(target.endpoint).host, target.keys));
    console.log(`embedded: ${options.embedded === 'process' ? 'a tessera server process' : 'in this process'}, 6 drive folders, 4+2, at ${embedded.endpoint}`);
    console.log(`cluster:  6 node processes over 3 zones (2 drives each), 3 metadata replicas, 4+2, gateway ${cluster.endpoint}; up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    console.log(`client:   this process, raw undici + SigV4 UNSIGNED-PAYLOAD; ${os.cpus().length} cores, node ${process.version}, load average ${loadAverage()}`);
    const rows: Row[] = [];
    for (const plan of plans) rows.push(...(await measureSize(plan, [embedded, cluster], clients)));
    console.log(`\nratio: cluster/embedded over all rounds (below 1: the cluster is slower); per round: lowest-highest ratio of single rounds.`);
    console.log(`Load average after: ${loadAverage()}; ${((performance.now() - started) / 1000).toFixed(0)} s in all.\n`);
    const header = ['size', 'op', 'unit', 'embedded', 'cluster', 'ratio', 'per round', 'embedded p50/p99 ms', 'cluster p50/p99 ms', 'ops e/c'];
    printTable(header, rows.map(cells), 3);
    failed = false;
  } finally {
    if (failed) console.error(await nodeLogTails(clusterDir));
    for (const client of clients) await client.close();
    // Last registered first; each stays listed until done, so a Ctrl-C meanwhile still undoes it.
    while (teardowns.length > 0) {
      const teardown = teardowns.at(-1)!;
      await teardown.run().catch((error: unknown) => {
        console.error(`${teardown.what}: ${String(error)}`);
      });
      teardowns.pop();
    }
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

await main();
