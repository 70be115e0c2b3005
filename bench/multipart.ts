// Multipart benchmark: one large object (1 GiB; --quick 256 MiB) uploaded as
// 16 MiB parts, 8 in flight, then read back with one GET and with 8 parallel
// ranged GETs; Tessera's embedded server (6 drive folders, 4+2) against a
// minimal baseline node:http server. Both get the same raw bytes from the same
// undici client code; only the SigV4 headers differ (UNSIGNED-PAYLOAD, signed
// here with node:crypto so signing costs microseconds). An extra row uploads
// through @aws-sdk/lib-storage to Tessera: what a stock client sees.
//
// The baseline is bench/put-get.ts's server (stream each body to a temp file
// with fsync, rename; no directory fsync; here it reads in 1 MiB chunks, see
// baselineReadBytes) given the same three multipart calls: Create makes an
// upload id, each UploadPart is one such durable file, Complete writes a small
// manifest (the part files in order; fsync, rename) without copying data. GET reads the manifest and streams the part files,
// honouring one Range. That is Tessera's shape (parts stored as units, a
// version that references them) minus erasure coding, checksums, metadata and
// auth, so the ratio prices exactly those. (Eight parallel PUTs of 128 MiB
// objects would move the same bytes but leave the baseline no single object
// to GET whole or by range.)
//
// The downloaded bytes land in one buffer; its SHA-256 is compared with the
// payload's after the clock stops, and Tessera's ETag with the MD5-of-MD5s.
// Client and servers share one event loop, so client cost is in both columns.
// Run: npm run build && node dist/bench/multipart.js [--quick]

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Pool } from 'undici';
import { assert } from '../src/stdx/assert.js';
import { bucket, canonicalQuery, createBucket, credentials, makeBenchRoot, region, reply, sigv4Signer, startHttpServer, startTessera, writeDurably } from './lib.js';
import type { Query, Server, Signer } from './lib.js';

const MiB = 1024 * 1024;

interface Plan {
  readonly objectBytes: number;
  readonly partBytes: number;
  /** Parts in flight during the upload, ranges in flight during the ranged GET. */
  readonly parallel: number;
  /** Rounds alternate the servers' order, so drift on a shared machine hits both. */
  readonly rounds: number;
}

function planFor(quick: boolean): Plan {
  return { objectBytes: (quick ? 256 : 1024) * MiB, partBytes: 16 * MiB, parallel: 8, rounds: quick ? 1 : 5 };
}

/** Unmeasured warm-up object per contender: JIT, sockets, files. */
const warmupBytes = 64 * MiB;
/** A stuck request fails the run instead of hanging it. */
const requestTimeoutMs = 120_000;
/**
 * The baseline reads files in 1 MiB chunks, not createReadStream's 64 KiB: a
 * 1 GiB GET in 64 KiB reads is 16k thread-pool round trips, which made the
 * baseline's GET slower than Tessera's (whose reads are 256 KiB blocks, four
 * stripes ahead) and the GET ratio flattering (1.71 with 64 KiB, 1.23 with 1 MiB).
 */
const baselineReadBytes = 1 * MiB;
/** Largest request body the baseline accepts as a part list (64 parts need ~4 KiB). */
const completeBodyBytesMax = 1 * MiB;

function parseArguments(argv: readonly string[]): { quick: boolean } {
  let quick = false;
  for (const argument of argv) {
    if (argument === '--quick') quick = true;
    else throw new Error(`Unknown argument "${argument}"; usage: multipart.js [--quick]`);
  }
  return { quick };
}

// ---------------------------------------------------------------------------
// The baseline: durable part files and a manifest, nothing else.

interface Manifest {
  readonly parts: readonly { readonly file: string; readonly sizeBytes: number }[];
}

async function startBaselineServer(directory: string): Promise<Server> {
  let sequence = 0;
  const nameOf = (text: string): string => Buffer.from(text).toString('base64url');
  const uploadDirectory = (url: URL): string => path.join(directory, `upload-${nameOf(url.searchParams.get('uploadId') ?? '')}`);

  async function createUpload(_request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const uploadId = `u${sequence++}`;
    await fs.mkdir(path.join(directory, `upload-${nameOf(uploadId)}`));
    reply(response, 200, `<InitiateMultipartUploadResult><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`);
  }
  async function storePart(request: http.IncomingMessage, response: http.ServerResponse, url: URL): Promise<void> {
    const partNumber = Number(url.searchParams.get('partNumber'));
    assert(Number.isInteger(partNumber) && partNumber >= 1, `baseline: part number "${url.searchParams.get('partNumber')}"`);
    const finalPath = path.join(uploadDirectory(url), `part-${partNumber}`);
    const temporaryPath = `${finalPath}.${sequence++}.tmp`;
    await writeDurably(request, temporaryPath, finalPath);
    response.setHeader('etag', `"part-${partNumber}"`);
    reply(response, 200);
  }
  async function completeUpload(request: http.IncomingMessage, response: http.ServerResponse, url: URL): Promise<void> {
    let text = '';
    for await (const chunk of request as AsyncIterable<Buffer>) {
      text += chunk.toString();
      assert(text.length <= completeBodyBytesMax, `baseline: part list over ${completeBodyBytesMax} bytes`);
    }
    const partNumbers = [...text.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((match) => Number(match[1]));
    const parts = await Promise.all(
      partNumbers.map(async (partNumber) => {
        const file = path.join(uploadDirectory(url), `part-${partNumber}`);
        return { file, sizeBytes: (await fs.stat(file)).size };
      }),
    );
    const manifest: Manifest = { parts };
    const finalPath = path.join(directory, nameOf(url.pathname));
    const temporaryPath = `${finalPath}.${sequence++}.tmp`;
    const file = await fs.open(temporaryPath, 'wx');
    await file.writeFile(JSON.stringify(manifest));
    await file.sync();
    await file.close();
    await fs.rename(temporaryPath, finalPath);
    reply(response, 200, '<CompleteMultipartUploadResult><ETag>"baseline"</ETag></CompleteMultipartUploadResult>');
  }
  async function sendObject(request: http.IncomingMessage, response: http.ServerResponse, url: URL): Promise<void> {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await fs.readFile(path.join(directory, nameOf(url.pathname)), 'utf8')) as Manifest;
    } catch {
      reply(response, 404);
      return;
    }
    const sizeBytes = manifest.parts.reduce((total, part) => total + part.sizeBytes, 0);
    const range = parseRange(request.headers.range, sizeBytes);
    const first = range?.first ?? 0;
    const last = range?.last ?? sizeBytes - 1;
    response.writeHead(range === undefined ? 200 : 206, {
      'content-length': String(last - first + 1),
      ...(range === undefined ? {} : { 'content-range': `bytes ${first}-${last}/${sizeBytes}` }),
    });
    async function* partBytes(): AsyncGenerator<Buffer> {
      let partStart = 0;
      for (const part of manifest.parts) {
        const partLast = partStart + part.sizeBytes - 1;
        if (partLast >= first && partStart <= last) {
          const start = Math.max(first, partStart) - partStart;
          const end = Math.min(last, partLast) - partStart;
          yield* createReadStream(part.file, { highWaterMark: baselineReadBytes, start, end }) as AsyncIterable<Buffer>;
        }
        partStart += part.sizeBytes;
      }
    }
    await pipeline(partBytes, response);
  }

  return startHttpServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://baseline');
    const uploadId = url.searchParams.get('uploadId');
    const serve =
      request.method === 'POST' && url.searchParams.has('uploads') ? createUpload
      : request.method === 'PUT' && uploadId !== null ? storePart
      : request.method === 'POST' && uploadId !== null ? completeUpload
      : request.method === 'GET' ? sendObject
      : undefined;
    return serve?.(request, response, url);
  });
}

/** `bytes=first-last` only: all this client sends. */
function parseRange(header: string | undefined, sizeBytes: number): { first: number; last: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d+)$/.exec(header);
  assert(match !== null, `baseline: unsupported Range "${header}"`);
  const first = Number(match[1]);
  const last = Math.min(Number(match[2]), sizeBytes - 1);
  assert(first <= last, `baseline: range ${header} of ${sizeBytes} bytes`);
  return { first, last };
}

// ---------------------------------------------------------------------------
// The client: one code path for both servers.

interface Contender {
  readonly name: 'tessera' | 'baseline';
  readonly endpoint: string;
  readonly sign: Signer | undefined;
  readonly pool: Pool;
}

async function request(
  contender: Contender,
  method: string,
  key: string,
  query: Query,
  options: { body?: Buffer | string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const requestPath = `/${bucket}/${key}`;
  const search = canonicalQuery(query);
  const response = await contender.pool.request({
    method: method as 'GET',
    path: search === '' ? requestPath : `${requestPath}?${search}`,
    headers: { ...options.headers, ...contender.sign?.(method, requestPath, query) },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${method} ${contender.endpoint}${requestPath}?${search}: ${response.statusCode} ${text}`);
  return { status: response.statusCode, headers: response.headers, text };
}

function elementOf(text: string, element: string, what: string): string {
  const value = new RegExp(`<${element}>([^<]*)</${element}>`).exec(text)?.[1];
  if (value === undefined) throw new Error(`${what}: no <${element}> in ${text.slice(0, 300)}`);
  return value;
}

/** Create, `parallel` UploadParts in flight, Complete. Returns the ETag Complete answered. */
async function uploadMultipart(contender: Contender, key: string, payload: Buffer, plan: Plan): Promise<string> {
  const created = await request(contender, 'POST', key, { uploads: '' });
  const uploadId = elementOf(created.text, 'UploadId', `CreateMultipartUpload ${key}`);
  const partCount = Math.ceil(payload.length / plan.partBytes);
  const etags: string[] = [];
  let claimed = 0;
  const worker = async (): Promise<void> => {
    while (claimed < partCount) {
      const index = claimed++; // claimed before the await, so indexes are unique
      const body = payload.subarray(index * plan.partBytes, Math.min(payload.length, (index + 1) * plan.partBytes));
      const uploaded = await request(contender, 'PUT', key, { partNumber: String(index + 1), uploadId }, { body });
      const etag = uploaded.headers['etag'];
      assert(typeof etag === 'string', `UploadPart ${index + 1} of ${key}: no ETag`);
      etags[index] = etag;
    }
  };
  await Promise.all(Array.from({ length: plan.parallel }, worker));
  assert(etags.length === partCount, `${etags.length} ETags for ${partCount} parts`);
  const parts = etags.map((etag, index) => `<Part><PartNumber>${index + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join('');
  const completed = await request(contender, 'POST', key, { uploadId }, { body: `<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>` });
  return elementOf(completed.text, 'ETag', `CompleteMultipartUpload ${key}`).replaceAll('&quot;', '"');
}

/** GETs [first, last] into `into` at `first` (the whole object when range is undefined). */
async function download(contender: Contender, key: string, into: Buffer, range: { first: number; last: number } | undefined): Promise<void> {
  const requestPath = `/${bucket}/${key}`;
  const response = await contender.pool.request({
    method: 'GET',
    path: requestPath,
    headers: { ...(range === undefined ? {} : { range: `bytes=${range.first}-${range.last}` }), ...contender.sign?.('GET', requestPath, {}) },
  });
  const expectedStatus = range === undefined ? 200 : 206;
  if (response.statusCode !== expectedStatus) {
    throw new Error(`GET ${contender.endpoint}${requestPath} ${range?.first}-${range?.last}: ${response.statusCode} ${await response.body.text()}`);
  }
  const first = range?.first ?? 0;
  const end = range === undefined ? into.length : range.last + 1;
  let at = first;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    if (at + chunk.length > end) throw new Error(`GET ${requestPath}: more than the ${end - first} bytes asked for`);
    chunk.copy(into, at);
    at += chunk.length;
  }
  if (at !== end) throw new Error(`GET ${requestPath}: ${at - first} bytes, expected ${end - first}`);
}

async function downloadRanges(contender: Contender, key: string, into: Buffer, parallel: number): Promise<void> {
  const rangeBytes = Math.ceil(into.length / parallel);
  const ranges = Array.from({ length: parallel }, (_, index) => ({ first: index * rangeBytes, last: Math.min(into.length, (index + 1) * rangeBytes) - 1 }));
  await Promise.all(ranges.map((range) => download(contender, key, into, range)));
}

// ---------------------------------------------------------------------------
// Measurement.

const phases = ['upload', 'GET whole', 'GET 8 ranges', 'upload lib-storage'] as const;
type Phase = (typeof phases)[number];

/** Seconds per round, per contender and phase. */
type Timings = Record<'tessera' | 'baseline', Partial<Record<Phase, number[]>>>;

function record(timings: Timings, contender: Contender['name'], phase: Phase, seconds: number): void {
  (timings[contender][phase] ??= []).push(seconds);
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await action();
  return (performance.now() - start) / 1000;
}

interface Expected {
  readonly sha256: string;
  readonly multipartEtag: string;
}

function expectedOf(payload: Buffer, plan: Plan): Expected {
  const partDigests: Buffer[] = [];
  for (let offset = 0; offset < payload.length; offset += plan.partBytes) {
    partDigests.push(createHash('md5').update(payload.subarray(offset, offset + plan.partBytes)).digest());
  }
  return {
    sha256: createHash('sha256').update(payload).digest('hex'),
    multipartEtag: `"${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${partDigests.length}"`,
  };
}

function verify(received: Buffer, expected: Expected, what: string): void {
  const sha256 = createHash('sha256').update(received).digest('hex');
  if (sha256 !== expected.sha256) throw new Error(`${what}: downloaded SHA-256 ${sha256}, uploaded ${expected.sha256}`);
}

/**
 * One contender, one round: upload, GET whole, GET by ranges; each download
 * verified after its clock stops. `received` is at least the payload's size and
 * already touched, so page faults of a fresh buffer are not timed.
 */
async function measureRound(contender: Contender, key: string, payload: Buffer, expected: Expected, plan: Plan, timings: Timings, receivedBuffer: Buffer): Promise<void> {
  assert(receivedBuffer.length >= payload.length, 'the receive buffer holds the payload');
  const received = receivedBuffer.subarray(0, payload.length);
  received.fill(0);
  let etag = '';
  record(timings, contender.name, 'upload', await timed(async () => (etag = await uploadMultipart(contender, key, payload, plan))));
  if (contender.name === 'tessera' && etag !== expected.multipartEtag) throw new Error(`Complete ${key}: ETag ${etag}, expected ${expected.multipartEtag}`);
  record(timings, contender.name, 'GET whole', await timed(() => download(contender, key, received, undefined)));
  verify(received, expected, `${contender.name} GET ${key}`);
  received.fill(0);
  record(timings, contender.name, 'GET 8 ranges', await timed(() => downloadRanges(contender, key, received, plan.parallel)));
  verify(received, expected, `${contender.name} ranged GET ${key}`);
}

/** @aws-sdk/lib-storage against Tessera: same part size and queue depth, SDK defaults otherwise (CRC32 per part). */
async function measureLibStorage(
  client: S3Client, key: string, payload: Buffer, expected: Expected, plan: Plan, contender: Contender, timings: Timings, received: Buffer,
): Promise<void> {
  const upload = new Upload({ client, params: { Bucket: bucket, Key: key, Body: payload }, partSize: plan.partBytes, queueSize: plan.parallel });
  record(timings, 'tessera', 'upload lib-storage', await timed(() => upload.done()));
  assert(received.length === payload.length, 'the receive buffer is the payload\'s size');
  received.fill(0);
  await downloadRanges(contender, key, received, plan.parallel);
  verify(received, expected, `lib-storage upload ${key}`);
}

// ---------------------------------------------------------------------------
// Report.

function megabytesPerSecond(bytes: number, seconds: readonly number[]): number {
  return (bytes * seconds.length) / 1e6 / seconds.reduce((total, value) => total + value, 0);
}

function printTable(plan: Plan, timings: Timings): void {
  const rows: string[][] = [];
  for (const phase of phases) {
    const tessera = timings.tessera[phase];
    // lib-storage runs only against Tessera; it is compared with the raw baseline upload.
    const baseline = timings.baseline[phase === 'upload lib-storage' ? 'upload' : phase];
    if (tessera === undefined || baseline === undefined) continue;
    assert(tessera.length === plan.rounds && baseline.length === plan.rounds, `${phase}: one sample per round`);
    const ratio = megabytesPerSecond(plan.objectBytes, tessera) / megabytesPerSecond(plan.objectBytes, baseline);
    const perRound = tessera.map((seconds, round) => baseline[round]! / seconds);
    rows.push([
      phase,
      megabytesPerSecond(plan.objectBytes, tessera).toFixed(1),
      megabytesPerSecond(plan.objectBytes, baseline).toFixed(1),
      ratio.toFixed(3),
      `${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)}`,
      `${(Math.min(...tessera)).toFixed(2)}/${(Math.max(...tessera)).toFixed(2)}`,
      `${(Math.min(...baseline)).toFixed(2)}/${(Math.max(...baseline)).toFixed(2)}`,
    ]);
  }
  const header = ['phase', 'tessera MB/s', 'baseline MB/s', 'ratio', 'per round', 'tessera s min/max', 'baseline s min/max'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const format = (cells: readonly string[]): string => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(format(row));
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { quick } = parseArguments(process.argv.slice(2));
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const plan = planFor(quick);
  const root = await makeBenchRoot('tessera-bench-multipart-');
  const closers: (() => Promise<void>)[] = [];
  try {
    const tesseraServer = await startTessera(path.join(root, 'tessera'));
    closers.push(() => tesseraServer.close());
    await fs.mkdir(path.join(root, 'baseline'));
    const baselineServer = await startBaselineServer(path.join(root, 'baseline'));
    closers.push(() => baselineServer.close());
    const poolOf = (endpoint: string): Pool => {
      const pool = new Pool(endpoint, { connections: plan.parallel, pipelining: 1, headersTimeout: requestTimeoutMs, bodyTimeout: requestTimeoutMs });
      // destroy, not close: after a failure, close would wait for requests still in flight.
      closers.unshift(() => pool.destroy());
      return pool;
    };
    const tessera: Contender = { name: 'tessera', endpoint: tesseraServer.endpoint, sign: sigv4Signer(new URL(tesseraServer.endpoint).host), pool: poolOf(tesseraServer.endpoint) };
    const baseline: Contender = { name: 'baseline', endpoint: baselineServer.endpoint, sign: undefined, pool: poolOf(baselineServer.endpoint) };
    const sdk = new S3Client({ endpoint: tesseraServer.endpoint, region, credentials, forcePathStyle: true, maxAttempts: 1 });
    closers.unshift(() => {
      sdk.destroy();
      return Promise.resolve();
    });
    await createBucket(tesseraServer.endpoint, tessera.sign!);
    console.log(
      `Tessera ${tesseraServer.protection}, data under ${root}; ${os.cpus().length} cores ` +
        `(load ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}), node ${process.version}; ` +
        `${plan.objectBytes / MiB} MiB object, ${plan.partBytes / MiB} MiB parts, ${plan.parallel} in flight, ${plan.rounds} round(s)${quick ? ', quick' : ''}`,
    );
    const payload = randomBytes(plan.objectBytes);
    const expected = expectedOf(payload, plan);
    const warmup = payload.subarray(0, warmupBytes);
    const warmupExpected = expectedOf(warmup, plan);
    const received = Buffer.alloc(plan.objectBytes);
    const scratch: Timings = { tessera: {}, baseline: {} };
    for (const contender of [tessera, baseline]) await measureRound(contender, 'warmup', warmup, warmupExpected, { ...plan, objectBytes: warmupBytes }, scratch, received);
    const timings: Timings = { tessera: {}, baseline: {} };
    process.stdout.write('rounds');
    for (let round = 0; round < plan.rounds; round++) {
      const order = round % 2 === 0 ? [tessera, baseline] : [baseline, tessera];
      for (const contender of order) await measureRound(contender, `round-${round}`, payload, expected, plan, timings, received);
      await measureLibStorage(sdk, `lib-storage-${round}`, payload, expected, plan, tessera, timings, received);
      process.stdout.write(` ${round + 1}`);
    }
    console.log(' done; every download matched the upload\'s SHA-256, every Tessera ETag the MD5-of-MD5s\n');
    console.log('MB/s = 1e6 bytes/s over all rounds; ratio = tessera/baseline; per round: lowest-highest ratio of single rounds.');
    console.log('"upload lib-storage": @aws-sdk/lib-storage to Tessera (CRC32 per part), against the raw baseline upload.\n');
    printTable(plan, timings);
  } finally {
    for (const close of closers) await close();
    await fs.rm(root, { recursive: true, force: true });
  }
}

await main();
