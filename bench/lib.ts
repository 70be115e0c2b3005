// Shared pieces of the PUT/GET, multipart and cluster benchmarks (put-get.ts
// runs its main() on import, so they live here): the bench credentials and
// bucket, a SigV4 signer for UNSIGNED-PAYLOAD requests, Tessera's embedded
// server as the benches run it, the building blocks of the minimal node:http
// baseline servers (durable file write, reply, listen and close), and the
// PUT/GET measurement (raw undici client, closed-loop load, interleaved rounds,
// rates and percentiles).

import { createHash, createHmac } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import { silentLogger } from '../src/io/logger.js';
import { startEmbeddedServer } from '../src/process/embedded-server.js';
import type { EmbeddedServer } from '../src/process/embedded-server.js';
import { assert } from '../src/stdx/assert.js';

export const bucket = 'bench';
export const region = 'us-east-1';
export const credentials = { accessKeyId: 'BENCHACCESSKEY000001', secretAccessKey: 'bench-secret-key-0000000000000000000000' };

/** A fresh temp folder for a bench run, removed on Ctrl-C too (the caller removes it otherwise). */
export async function makeBenchRoot(prefix: string): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  process.once('SIGINT', () => {
    rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
  return root;
}

/** Tessera's embedded server on 127.0.0.1: 6 drive folders under dataDir, 4+2, the bench credentials. */
export function startTessera(dataDir: string): Promise<EmbeddedServer> {
  return startEmbeddedServer({
    host: '127.0.0.1', port: 0, dataDir, driveCount: 6, scheme: { k: 4, m: 2 }, logger: silentLogger, root: credentials,
  });
}

// ---------------------------------------------------------------------------
// SigV4 with UNSIGNED-PAYLOAD: host, x-amz-content-sha256 and x-amz-date signed.

export type Query = Readonly<Record<string, string>>;
export type Signer = (method: string, requestPath: string, query?: Query) => Record<string, string>;

/** RFC 3986 encoding as SigV4 wants it. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The canonical query string; also what is sent, so both sides see the same. */
export function canonicalQuery(query: Query): string {
  return Object.entries(query)
    .map(([name, value]) => `${uriEncode(name)}=${uriEncode(value)}`)
    .sort()
    .join('&');
}

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Signs as `keys` (default: the bench credentials above) for `host`. */
export function sigv4Signer(host: string, keys: Credentials = credentials): Signer {
  const signedHeaders = 'host;x-amz-content-sha256;x-amz-date';
  let keyDate = '';
  let key: Buffer = Buffer.alloc(0);
  return (method, requestPath, query = {}) => {
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = amzDate.slice(0, 8);
    if (date !== keyDate) {
      const hmac = (secret: Buffer | string, text: string): Buffer => createHmac('sha256', secret).update(text).digest();
      key = hmac(hmac(hmac(hmac(`AWS4${keys.secretAccessKey}`, date), region), 's3'), 'aws4_request');
      keyDate = date;
    }
    const scope = `${date}/${region}/s3/aws4_request`;
    const canonicalHeaders = `host:${host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${amzDate}\n`;
    const canonicalRequest = [method, requestPath, canonicalQuery(query), canonicalHeaders, signedHeaders, 'UNSIGNED-PAYLOAD'].join('\n');
    const hashed = createHash('sha256').update(canonicalRequest).digest('hex');
    const signature = createHmac('sha256', key).update(`AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hashed}`).digest('hex');
    return {
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${keys.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    };
  };
}

/** Creates the bench bucket with one signed PUT on its own connection. */
export async function createBucket(endpoint: string, sign: Signer): Promise<void> {
  const pool = new Pool(endpoint, { connections: 1 });
  const response = await pool.request({ method: 'PUT', path: `/${bucket}`, headers: sign('PUT', `/${bucket}`) });
  const text = await response.body.text();
  await pool.close();
  if (response.statusCode !== 200) throw new Error(`CreateBucket ${bucket}: ${response.statusCode} ${text}`);
}

// ---------------------------------------------------------------------------
// Baseline server building blocks.

export interface Server {
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts a node:http server on 127.0.0.1 that hands each request to `serve`;
 * `serve` returning undefined means 405, a failure a 500 (or a destroyed
 * response once headers are out).
 */
export async function startHttpServer(serve: (request: http.IncomingMessage, response: http.ServerResponse) => Promise<void> | undefined): Promise<Server> {
  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) => {
    const served = serve(request, response);
    if (served === undefined) {
      reply(response, 405);
      return;
    }
    served.catch((error: unknown) => {
      if (!response.headersSent) reply(response, 500, String(error));
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert(address !== null && typeof address === 'object', 'baseline server listens on TCP');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** Streams `body` to temporaryPath with fsync, then renames it to finalPath (no directory fsync). */
export async function writeDurably(body: Readable, temporaryPath: string, finalPath: string): Promise<void> {
  // flush: fsync before close; pipeline resolves only after the close.
  await pipeline(body, createWriteStream(temporaryPath, { flags: 'wx', flush: true }));
  await fs.rename(temporaryPath, finalPath);
}

export function reply(response: http.ServerResponse, status: number, text = ''): void {
  response.writeHead(status, { 'content-length': String(Buffer.byteLength(text)) });
  response.end(text);
}

// ---------------------------------------------------------------------------
// PUT/GET measurement, as put-get.ts does it (same client, load and round
// structure), shared so the cluster bench measures exactly the same way.

/** Every verifyEvery-th GET compares content byte for byte; all GETs check length. */
export const verifyEvery = 8;
/** A stuck request fails the run instead of hanging it (undici's default is 5 minutes). */
export const requestTimeoutMs = 60_000;

/** One object size of a PUT/GET suite. */
export interface SizePlan {
  readonly name: string;
  readonly label: string;
  readonly objectBytes: number;
  readonly concurrency: number;
  /** Rounds alternate the contenders' order, so drift on a shared machine hits both. */
  readonly rounds: number;
  /** Time box of one phase in one round (Infinity: run exactly opsPerRoundMax). */
  readonly durationMs: number;
  /** Most ops of one phase in one round: PUT's object count, a bound on time-boxed phases. */
  readonly opsPerRoundMax: number;
  /** Unmeasured PUT+GET ops per contender first (JIT, sockets, page cache). */
  readonly warmupOps: number;
  /** Distinct payloads cycled over the keys, so a mixed-up object fails the check. */
  readonly payloadVariants: number;
  readonly unit: 'ops/s' | 'MB/s';
}

export interface ObjectClient {
  put(key: string, body: Buffer): Promise<void>;
  /** Returns the body length; compares content with `expected` when `verify`. */
  get(key: string, expected: Buffer, verify: boolean): Promise<number>;
  close(): Promise<void>;
}

/** Raw PUT/GET of `/${bucket}/${key}` over an undici pool; unsigned when `sign` is undefined. */
export function undiciClient(endpoint: string, connections: number, sign: Signer | undefined): ObjectClient {
  const pool = new Pool(endpoint, { connections, pipelining: 1, headersTimeout: requestTimeoutMs, bodyTimeout: requestTimeoutMs });
  const pathOf = (key: string): string => `/${bucket}/${key}`;
  return {
    async put(key, body) {
      const requestPath = pathOf(key);
      const response = await pool.request({ method: 'PUT', path: requestPath, headers: sign?.('PUT', requestPath) ?? {}, body });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`PUT ${endpoint}${requestPath}: ${response.statusCode} ${text}`);
    },
    async get(key, expected, verify) {
      const requestPath = pathOf(key);
      const response = await pool.request({ method: 'GET', path: requestPath, headers: sign?.('GET', requestPath) ?? {} });
      if (response.statusCode !== 200) {
        throw new Error(`GET ${endpoint}${requestPath}: ${response.statusCode} ${await response.body.text()}`);
      }
      return consumeBody(response.body as AsyncIterable<Buffer>, expected, verify, `${endpoint}${requestPath}`);
    },
    // destroy, not close: after a failed op, close would wait for requests still in flight.
    close: () => pool.destroy(),
  };
}

/** Reads a GET body to the end; checks its length, and its content when `verify`. */
export async function consumeBody(body: AsyncIterable<Uint8Array>, expected: Buffer, verify: boolean, what: string): Promise<number> {
  let received = 0;
  for await (const chunk of body) {
    if (verify && !expected.subarray(received, received + chunk.length).equals(chunk)) {
      throw new Error(`GET ${what}: content differs in bytes ${received}..${received + chunk.length - 1}`);
    }
    received += chunk.length;
  }
  if (received !== expected.length) throw new Error(`GET ${what}: ${received} bytes, PUT ${expected.length}`);
  return received;
}

export interface Sample {
  readonly ops: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly latenciesMs: readonly number[];
}

/** Closed loop: `concurrency` workers claim op indexes until opsMax or the time box. */
export async function runLoad(concurrency: number, opsMax: number, durationMs: number, op: (index: number) => Promise<number>): Promise<Sample> {
  const latenciesMs: number[] = [];
  let claimed = 0;
  let bytes = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  const worker = async (): Promise<void> => {
    while (claimed < opsMax && performance.now() < deadline) {
      const index = claimed++; // claimed before the await, so indexes are unique
      const opStart = performance.now();
      const opBytes = await op(index); // not `bytes += await …`: that reads bytes before the await
      bytes += opBytes;
      latenciesMs.push(performance.now() - opStart);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  assert(latenciesMs.length === claimed && claimed <= opsMax, `${latenciesMs.length} latencies for ${claimed} ops`);
  return { ops: claimed, bytes, seconds: (performance.now() - start) / 1000, latenciesMs };
}

/** One server (or client) under test, with its measurements per round. */
export interface Contender {
  /** Part of every key, so contenders sharing a bucket never overwrite each other. */
  readonly name: string;
  readonly client: ObjectClient;
  readonly puts: Sample[];
  readonly gets: Sample[];
}

/**
 * Warms every contender up, then per round: every contender PUTs, then every
 * contender GETs what it PUT that round. Odd rounds reverse the order.
 */
export async function runSize(plan: SizePlan, payloads: readonly Buffer[], contenders: readonly Contender[]): Promise<void> {
  const key = (contender: Contender, phase: string, index: number): string =>
    `${contender.name}/${plan.name}/${phase}-${String(index).padStart(6, '0')}`;
  const payloadOf = (index: number): Buffer => payloads[index % payloads.length]!;
  const put = (contender: Contender, phase: string) => async (index: number) => {
    await contender.client.put(key(contender, phase, index), payloadOf(index));
    return plan.objectBytes;
  };
  const get = (contender: Contender, phase: string, count: number) => (index: number) =>
    contender.client.get(key(contender, phase, index % count), payloadOf(index % count), index % verifyEvery === 0);
  for (const contender of contenders) {
    if (plan.warmupOps === 0) break;
    await runLoad(plan.concurrency, plan.warmupOps, Infinity, put(contender, 'warm'));
    await runLoad(plan.concurrency, plan.warmupOps, Infinity, get(contender, 'warm', plan.warmupOps));
  }
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    const phase = `round${round}`;
    for (const contender of order) {
      contender.puts.push(await runLoad(plan.concurrency, plan.opsPerRoundMax, plan.durationMs, put(contender, phase)));
    }
    for (const contender of order) {
      const count = contender.puts.at(-1)!.ops;
      contender.gets.push(await runLoad(plan.concurrency, plan.opsPerRoundMax, plan.durationMs, get(contender, phase, count)));
    }
    process.stdout.write(` ${round + 1}`);
  }
}

/** All rounds as one sample: total ops, bytes and time, every latency. */
export function mergeSamples(samples: readonly Sample[]): Sample {
  return {
    ops: samples.reduce((total, sample) => total + sample.ops, 0),
    bytes: samples.reduce((total, sample) => total + sample.bytes, 0),
    seconds: samples.reduce((total, sample) => total + sample.seconds, 0),
    latenciesMs: samples.flatMap((sample) => sample.latenciesMs),
  };
}

/** ops/s or MB/s (10^6 bytes), as the plan reports. */
export function sampleRate(plan: SizePlan, sample: Sample): number {
  return plan.unit === 'ops/s' ? sample.ops / sample.seconds : sample.bytes / 1e6 / sample.seconds;
}

export function percentileMs(sample: Sample, fraction: number): number {
  const sorted = [...sample.latenciesMs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] ?? NaN;
}

/** "p50/p99" in ms: two decimals under 10 ms, whole ms above. */
export function formatLatency(sample: Sample): string {
  const format = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
  return `${format(percentileMs(sample, 0.5))}/${format(percentileMs(sample, 0.99))}`;
}

/** Prints aligned columns: the first `leftColumns` padded right, the rest (numbers) padded left. */
export function printTable(header: readonly string[], lines: readonly (readonly string[])[], leftColumns: number): void {
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]?.length ?? 0)));
  const format = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column < leftColumns ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const line of lines) console.log(format(line));
}
