// PUT/GET benchmark: Tessera's embedded server (6 drive folders, 4+2) against a
// minimal baseline node:http server that streams each body to one file (temp
// name, fsync, rename; no directory fsync) and streams it back. Both run in this process and
// get the same raw bytes from the same undici client code; only the SigV4
// headers differ (UNSIGNED-PAYLOAD, signed here with node:crypto so signing
// costs microseconds). The ratios tessera/baseline are checked against the
// targets of the performance issue. Extra rows show @aws-sdk/client-s3 against
// Tessera, i.e. what a stock client sees, SDK overhead included.
//
// Client and servers share one event loop (and the machine's cores), so client
// cost is in both columns; that pulls ratios toward 1 a little.
// Run: npm run build && node dist/bench/put-get.js [--quick] [--only 4k|1m|64m]

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { assert } from '../src/stdx/assert.js';
import {
  bucket,
  consumeBody,
  createBucket,
  credentials,
  formatLatency,
  makeBenchRoot,
  mergeSamples,
  region,
  reply,
  runSize,
  sampleRate,
  sigv4Signer,
  startHttpServer,
  startTessera,
  undiciClient,
  writeDurably,
} from './lib.js';
import type { Contender, ObjectClient, Sample, Server, Signer, SizePlan } from './lib.js';

const sizeNames = ['4k', '1m', '64m'] as const;
type SizeName = (typeof sizeNames)[number];
type Operation = 'PUT' | 'GET';

function plansFor(quick: boolean): SizePlan[] {
  const KiB = 1024;
  const MiB = 1024 * KiB;
  return [
    { name: '4k', label: '4 KiB', objectBytes: 4 * KiB, concurrency: 32, rounds: quick ? 1 : 5, durationMs: 1000, opsPerRoundMax: 50_000,
      warmupOps: quick ? 64 : 256, payloadVariants: 64, unit: 'ops/s' },
    { name: '1m', label: '1 MiB', objectBytes: MiB, concurrency: 8, rounds: quick ? 1 : 4, durationMs: Infinity, opsPerRoundMax: quick ? 40 : 50,
      warmupOps: 8, payloadVariants: 8, unit: 'MB/s' },
    { name: '64m', label: '64 MiB', objectBytes: 64 * MiB, concurrency: 2, rounds: quick ? 1 : 6, durationMs: Infinity, opsPerRoundMax: 2,
      warmupOps: quick ? 0 : 2, payloadVariants: 2, unit: 'MB/s' },
  ];
}

/** Targets from the issue: tessera/baseline at least this much. */
const targets: readonly { size: SizeName; op: Operation; ratioMin: number }[] = [
  { size: '64m', op: 'PUT', ratioMin: 0.6 },
  { size: '64m', op: 'GET', ratioMin: 0.8 },
  { size: '4k', op: 'PUT', ratioMin: 1.0 },
  { size: '4k', op: 'GET', ratioMin: 0.7 },
];

interface Arguments {
  readonly quick: boolean;
  readonly only: SizeName | undefined;
}

function parseArguments(argv: readonly string[]): Arguments {
  let quick = false;
  let only: SizeName | undefined;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--quick') quick = true;
    else if (argument === '--only') {
      const value = argv[++index];
      if (!sizeNames.includes(value as SizeName)) throw new Error(`--only takes ${sizeNames.join('|')}, got "${value}"`);
      only = value as SizeName;
    } else throw new Error(`Unknown argument "${argument}"; usage: put-get.js [--quick] [--only 4k|1m|64m]`);
  }
  return { quick, only };
}

// ---------------------------------------------------------------------------
// The baseline: what a plain Node server needs to store a body durably.

async function startBaselineServer(directory: string): Promise<Server> {
  let sequence = 0;
  const fileOf = (url: string): string => path.join(directory, Buffer.from(url).toString('base64url'));
  async function storeBody(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const finalPath = fileOf(request.url ?? '/');
    const temporaryPath = `${finalPath}.${sequence++}.tmp`;
    await writeDurably(request, temporaryPath, finalPath);
    reply(response, 200);
  }
  async function sendFile(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    let file: fs.FileHandle;
    try {
      file = await fs.open(fileOf(request.url ?? '/'), 'r');
    } catch {
      reply(response, 404);
      return;
    }
    const { size } = await file.stat();
    response.writeHead(200, { 'content-length': String(size) });
    // Reads of up to 1 MiB (the 64 KiB default made a weaker baseline that
    // flattered the GET ratios), never larger than the file itself.
    await pipeline(file.createReadStream({ highWaterMark: Math.max(1, Math.min(size, 1024 * 1024)) }), response);
  }
  return startHttpServer((request, response) =>
    request.method === 'PUT' ? storeBody(request, response) : request.method === 'GET' ? sendFile(request, response) : undefined,
  );
}

// ---------------------------------------------------------------------------
// Clients: one code path for raw undici (Tessera and baseline), one for the SDK.

function sdkClient(endpoint: string, connections: number): ObjectClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true, requestHandler: { httpAgent: agent } });
  return {
    async put(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async get(key, expected, verify) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert(response.Body !== undefined, `GET ${key} via SDK: no body`);
      return consumeBody(response.Body as AsyncIterable<Uint8Array>, expected, verify, `${endpoint}/${bucket}/${key} (sdk)`);
    },
    close: () => {
      client.destroy();
      agent.destroy();
      return Promise.resolve();
    },
  };
}

// ---------------------------------------------------------------------------
// Report.

interface Row {
  readonly plan: SizePlan;
  readonly op: string;
  /** Per round, in the same order for both. */
  readonly tessera: readonly Sample[];
  readonly baseline: readonly Sample[];
  readonly targetRatioMin: number | undefined;
}

/** Lowest and highest tessera/baseline ratio of single rounds: how noisy the run was. */
function roundRange(row: Row): string {
  assert(row.tessera.length === row.baseline.length, 'one tessera and one baseline sample per round');
  const ratios = row.tessera.map((sample, round) => sampleRate(row.plan, sample) / sampleRate(row.plan, row.baseline[round]!));
  return `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
}

function cells(row: Row): string[] {
  const tessera = mergeSamples(row.tessera);
  const baseline = mergeSamples(row.baseline);
  const digits = row.plan.unit === 'ops/s' ? 0 : 1;
  const ratio = sampleRate(row.plan, tessera) / sampleRate(row.plan, baseline);
  const target = row.targetRatioMin;
  return [
    row.plan.label, row.op, row.plan.unit, sampleRate(row.plan, tessera).toFixed(digits), sampleRate(row.plan, baseline).toFixed(digits), ratio.toFixed(3),
    roundRange(row), target === undefined ? '-' : `>= ${target.toFixed(2)}`, target === undefined ? '' : ratio >= target ? 'PASS' : 'MISS',
    formatLatency(tessera), formatLatency(baseline), `${tessera.ops}/${baseline.ops}`,
  ];
}

function printTable(rows: readonly Row[]): void {
  const header = ['size', 'op', 'unit', 'tessera', 'baseline', 'ratio', 'per round', 'target', 'result', 'tessera p50/p99 ms', 'baseline p50/p99 ms', 'ops t/b'];
  const lines = rows.map(cells);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column < 3 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const line of lines) console.log(format(line));
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  // The SDK warns on every client about Node 20 support ending in 2027.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const plans = plansFor(options.quick).filter((plan) => options.only === undefined || plan.name === options.only);
  const root = await makeBenchRoot('tessera-bench-');
  const servers: Server[] = [];
  const clients: ObjectClient[] = [];
  try {
    const tessera = await startTessera(path.join(root, 'tessera'));
    servers.push({ endpoint: tessera.endpoint, close: () => tessera.close() });
    await fs.mkdir(path.join(root, 'baseline'));
    const baseline = await startBaselineServer(path.join(root, 'baseline'));
    servers.push(baseline);
    const sign = sigv4Signer(new URL(tessera.endpoint).host);
    await createBucket(tessera.endpoint, sign);
    console.log(`Tessera ${tessera.protection}, data under ${root}; ${os.cpus().length} cores, node ${process.version}${options.quick ? ', quick' : ''}`);
    const rows: Row[] = [];
    for (const plan of plans) {
      rows.push(...(await measureSize(plan, tessera.endpoint, baseline.endpoint, sign, clients)));
    }
    console.log('\nratio: tessera/baseline over all rounds; per round: lowest-highest ratio of single rounds;');
    console.log('"sdk" rows: @aws-sdk/client-s3 (defaults: signed payload, CRC32) against Tessera, next to the raw baseline.\n');
    printTable(rows);
  } finally {
    for (const client of clients) await client.close();
    for (const server of servers) await server.close();
    await fs.rm(root, { recursive: true, force: true });
  }
}

/** Raw PUT/GET on both servers and the SDK on Tessera, interleaved; rows for the table. */
async function measureSize(plan: SizePlan, tesseraEndpoint: string, baselineEndpoint: string, sign: Signer, clients: ObjectClient[]): Promise<Row[]> {
  const payloads = Array.from({ length: plan.payloadVariants }, () => randomBytes(plan.objectBytes));
  const contenders: Contender[] = [
    { name: 'tessera', client: undiciClient(tesseraEndpoint, plan.concurrency, sign), puts: [], gets: [] },
    { name: 'baseline', client: undiciClient(baselineEndpoint, plan.concurrency, undefined), puts: [], gets: [] },
    { name: 'sdk', client: sdkClient(tesseraEndpoint, plan.concurrency), puts: [], gets: [] },
  ];
  clients.push(...contenders.map((contender) => contender.client));
  process.stdout.write(`${plan.label}: rounds`);
  await runSize(plan, payloads, contenders);
  console.log(' done');
  const [tessera, baseline, sdk] = contenders as [Contender, Contender, Contender];
  const targetOf = (op: Operation): number | undefined => targets.find((target) => target.size === plan.name && target.op === op)?.ratioMin;
  return [
    { plan, op: 'PUT', tessera: tessera.puts, baseline: baseline.puts, targetRatioMin: targetOf('PUT') },
    { plan, op: 'GET', tessera: tessera.gets, baseline: baseline.gets, targetRatioMin: targetOf('GET') },
    { plan, op: 'PUT sdk', tessera: sdk.puts, baseline: baseline.puts, targetRatioMin: undefined },
    { plan, op: 'GET sdk', tessera: sdk.gets, baseline: baseline.gets, targetRatioMin: undefined },
  ];
}

await main();
