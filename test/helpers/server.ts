// Integration-test harness: an embedded server in a fresh temp dir, an S3
// client pointed at it, raw (optionally SigV4-signed) HTTP requests for what
// the SDK will not send, and disk probes (temp files, fragment counts) that
// tests use to show a failed write left nothing behind; the fragment count the
// S3 view implies (leak checks), and the real CLI spawned for crash tests.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { HttpRequest } from '@smithy/core/protocols';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { startEmbeddedServer } from '../../src/process/embedded-server.js';
import type { EmbeddedServer, EmbeddedServerOptions } from '../../src/process/embedded-server.js';
import { silentLogger } from '../../src/io/logger.js';

export interface TestCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export const rootCredentials: TestCredentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret/TEST+key' };
export const region = 'us-east-1';
export const blockSizeBytes = 64 * 1024;
export const inlineBytesMax = 64 * 1024;

export interface TestServer {
  readonly server: EmbeddedServer;
  readonly client: S3Client;
  readonly endpoint: string;
  readonly port: number;
  readonly dataDir: string;
  close(): Promise<void>;
}

export async function makeTempDir(label: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `tessera-${label}-`));
}

export function makeClient(endpoint: string, credentials: TestCredentials = rootCredentials, extra: Partial<S3ClientConfig> = {}): S3Client {
  // Default checksum settings on purpose: the SDK sends x-amz-checksum-crc32
  // headers and, for stream bodies, aws-chunked with a CRC32 trailer.
  return new S3Client({ endpoint, region, forcePathStyle: true, credentials, maxAttempts: 1, ...extra });
}

export async function startTestServer(
  label: string,
  overrides: Partial<EmbeddedServerOptions> = {},
): Promise<TestServer> {
  const dataDir = await makeTempDir(label);
  const server = await startEmbeddedServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    driveCount: 6,
    scheme: { k: 4, m: 2 },
    logger: silentLogger,
    root: rootCredentials,
    blockSizeBytes,
    inlineBytesMax,
    ...overrides,
  });
  const client = makeClient(server.endpoint);
  const port = Number(new URL(server.endpoint).port);
  return {
    server,
    client,
    endpoint: server.endpoint,
    port,
    dataDir,
    async close() {
      client.destroy();
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function patternBytes(sizeBytes: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(sizeBytes);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < sizeBytes; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** The S3 error a promise rejects with: code (SDK `name`) and HTTP status. */
export async function s3ErrorOf(promise: Promise<unknown>): Promise<{ code: string; status: number | undefined; error: S3ServiceException }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return { code: error.name, status: error.$metadata.httpStatusCode, error };
    throw error;
  }
  throw new Error('expected the request to fail with an S3 error, but it succeeded');
}

export async function bodyOf(output: { Body?: { transformToByteArray(): Promise<Uint8Array> } | undefined }): Promise<Buffer> {
  if (output.Body === undefined) return Buffer.alloc(0);
  return Buffer.from(await output.Body.transformToByteArray());
}

// ---- disk probes -----------------------------------------------------------

export async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else found.push(full);
    }
  }
  return found;
}

export async function temporaryFiles(driveDirs: readonly string[]): Promise<string[]> {
  return (await Promise.all(driveDirs.map((drive) => filesUnder(path.join(drive, 'tmp'))))).flat();
}

export async function fragmentFiles(driveDirs: readonly string[]): Promise<string[]> {
  return (await Promise.all(driveDirs.map((drive) => filesUnder(path.join(drive, 'fragments'))))).flat();
}

export function driveDirsOf(dataDir: string, driveCount = 6): string[] {
  return Array.from({ length: driveCount }, (_, id) => path.join(dataDir, 'drives', `drive-${id}`));
}

/**
 * The fragment files the S3 view says must exist: k+m for every striped part
 * (larger than the inline limit) of every object and of every unfinished
 * multipart upload, in every bucket. Tests compare it with fragmentFiles() to
 * show that nothing leaked and nothing was lost.
 */
export async function referencedFragmentCount(client: S3Client, shardCount = 6, inlineLimitBytes = inlineBytesMax): Promise<number> {
  const pagesMax = 1000;
  const fragmentsOf = (sizeBytes: number | undefined): number => ((sizeBytes ?? 0) > inlineLimitBytes ? shardCount : 0);
  let count = 0;
  for (const { Name: bucket } of (await client.send(new ListBucketsCommand({}))).Buckets ?? []) {
    let token: string | undefined;
    for (let page = 0; page < pagesMax; page++) {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...(token === undefined ? {} : { ContinuationToken: token }) }));
      for (const { Key: key } of listed.Contents ?? []) {
        // HEAD partNumber=1 answers PartsCount for a multipart object, the whole size otherwise.
        const first = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, PartNumber: 1 }));
        count += fragmentsOf(first.ContentLength);
        for (let partNumber = 2; partNumber <= (first.PartsCount ?? 1); partNumber++) {
          count += fragmentsOf((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, PartNumber: partNumber }))).ContentLength);
        }
      }
      if (listed.IsTruncated !== true) break;
      token = listed.NextContinuationToken;
    }
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (let page = 0; page < pagesMax; page++) {
      const uploads = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
          ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
        }),
      );
      for (const upload of uploads.Uploads ?? []) {
        let partMarker: string | undefined;
        for (let partPage = 0; partPage < pagesMax; partPage++) {
          const parts = await client.send(
            new ListPartsCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId, ...(partMarker === undefined ? {} : { PartNumberMarker: partMarker }) }),
          );
          for (const part of parts.Parts ?? []) count += fragmentsOf(part.Size);
          if (parts.IsTruncated !== true) break;
          partMarker = parts.NextPartNumberMarker;
        }
      }
      if (uploads.IsTruncated !== true) break;
      keyMarker = uploads.NextKeyMarker;
      uploadIdMarker = uploads.NextUploadIdMarker;
    }
  }
  return count;
}

/** Runs GC until the garbage queue is empty (grace is 0 in tests). */
export async function drainGarbage(server: EmbeddedServer): Promise<void> {
  for (let pass = 0; pass < 100; pass++) {
    const report = await server.garbageCollector.runPass();
    if (report.versions === 0 && report.deferred === 0) return;
  }
  throw new Error('garbage queue did not drain in 100 passes');
}

// ---- raw HTTP --------------------------------------------------------------

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RawRequest {
  readonly method: string;
  /** Already percent-encoded path, e.g. `/bucket/a%20b`. */
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | string;
}

function queryString(query: Record<string, string | string[] | null> | undefined): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) parts.push(item === null ? encodeURIComponent(name) : `${encodeURIComponent(name)}=${encodeURIComponent(item)}`);
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** Sends a request as is (no signature) to 127.0.0.1:port. */
export function sendRaw(port: number, request: RawRequest, host = `127.0.0.1:${port}`): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const outgoing = http.request(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: `${request.path}${queryString(request.query)}`,
        headers: { host, ...(body === undefined ? {} : { 'content-length': String(body.length) }), ...request.headers },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** A request signed with the SDK's own signer (@smithy/signature-v4, configured as the S3 client configures it). */
export async function signRequest(
  port: number,
  request: RawRequest,
  options: { credentials?: TestCredentials; host?: string; signingDate?: Date } = {},
): Promise<{ method: string; path: string; headers: Record<string, string> }> {
  const host = options.host ?? `127.0.0.1:${port}`;
  const signer = new SignatureV4({
    credentials: options.credentials ?? rootCredentials,
    region,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
  });
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const unsigned = new HttpRequest({
    method: request.method,
    protocol: 'http:',
    hostname: host.replace(/:\d+$/, ''),
    port,
    path: request.path,
    query: request.query ?? {},
    headers: { host, ...(body === undefined ? {} : { 'content-length': String(body.length) }), ...request.headers },
    ...(body === undefined ? {} : { body }),
  });
  const signed = await signer.sign(unsigned, options.signingDate === undefined ? {} : { signingDate: options.signingDate });
  return { method: signed.method, path: `${signed.path}${queryString(signed.query as Record<string, string>)}`, headers: signed.headers };
}

/** Signs (see signRequest) and sends to 127.0.0.1:port with the given Host. */
export async function sendSigned(
  port: number,
  request: RawRequest,
  options: { credentials?: TestCredentials; host?: string; signingDate?: Date } = {},
): Promise<RawResponse> {
  const signed = await signRequest(port, request, options);
  return sendRaw(port, { method: signed.method, path: signed.path, headers: signed.headers, ...(request.body === undefined ? {} : { body: request.body }) }, options.host);
}

/** A presigned URL made with the SDK's signer, as @aws-sdk/s3-request-presigner does. */
export async function presignUrl(
  endpoint: string,
  method: string,
  encodedPath: string,
  expiresInSeconds: number,
  credentials: TestCredentials = rootCredentials,
): Promise<string> {
  const url = new URL(endpoint);
  const signer = new SignatureV4({ credentials, region, service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
  const request = new HttpRequest({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: encodedPath,
    query: {},
    headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  const presigned = await signer.presign(request, { expiresIn: expiresInSeconds, unsignableHeaders: new Set(['content-type']) });
  return `${url.protocol}//${url.host}${presigned.path}${queryString(presigned.query as Record<string, string>)}`;
}

/** The text of one XML element (first occurrence), or undefined. */
export function xmlText(body: Buffer | string, element: string): string | undefined {
  const match = new RegExp(`<${element}>([\\s\\S]*?)</${element}>`).exec(body.toString());
  return match?.[1];
}

/** Records the headers of every request the client sends (as signed, on the wire). */
export function captureRequestHeaders(client: S3Client): Record<string, string>[] {
  const captured: Record<string, string>[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers !== undefined) captured.push({ ...request.headers });
      return next(args);
    },
    { step: 'deserialize', name: 'testCaptureRequestHeaders' },
  );
  return captured;
}

/** Opens a plain TCP connection and writes a signed request head (no body yet). */
export async function openSignedRequest(
  port: number,
  request: RawRequest,
  options: { credentials?: TestCredentials } = {},
): Promise<net.Socket> {
  const signed = await signRequest(port, request, options);
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const head = Object.entries(signed.headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.write(`${signed.method} ${signed.path} HTTP/1.1\r\n${head}\r\n`);
  return socket;
}

/**
 * Temp files left once in-flight cleanup has had `timeoutMs` to finish: when a
 * client drops a connection the server answers (or not) before its write path
 * has aborted the shard writers, so tests wait for the cleanup, bounded.
 */
export async function temporaryFilesAfterCleanup(driveDirs: readonly string[], timeoutMs = 2000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = await temporaryFiles(driveDirs);
    if (files.length === 0 || Date.now() > deadline) return files;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---- the real CLI -----------------------------------------------------------

/** A port free right now on 127.0.0.1 (for a server that must restart on the same port). */
export { freePort } from '../../src/io/node/free-port.js';

export interface CliServer {
  readonly child: ChildProcess;
  readonly client: S3Client;
  readonly exited: Promise<number | null>;
  output(): string;
}

const cliStartTimeoutMs = 20_000;
const cliOutputBytesMax = 64 * 1024;

/** Spawns `tessera server` (CLI defaults: 6 drives, 4+2) and waits until it answers ListBuckets. */
export async function startCliServer(dataDir: string, port: number, credentials: TestCredentials): Promise<CliServer> {
  const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
  const child = spawn(process.execPath, ['bin/tessera.js', 'server', '--address', `127.0.0.1:${port}`, '--data', dataDir, '--log-level', 'warn'], {
    cwd: repoRoot,
    env: { ...process.env, TESSERA_ROOT_USER: credentials.accessKeyId, TESSERA_ROOT_PASSWORD: credentials.secretAccessKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-cliOutputBytesMax);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', resolve);
  });
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const client = makeClient(`http://127.0.0.1:${port}`, credentials);
  const deadline = Date.now() + cliStartTimeoutMs;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`tessera server exited with ${exitCode} while starting:\n${output}`);
    try {
      await client.send(new ListBucketsCommand({}));
      return { child, client, exited, output: () => output };
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`tessera server did not answer within ${cliStartTimeoutMs} ms (${String(error)}):\n${output}`);
      }
      await sleep(50);
    }
  }
}

/** SIGKILL, then wait for the exit. */
export async function killCliServer(server: CliServer): Promise<void> {
  server.child.kill('SIGKILL');
  await server.exited;
  server.client.destroy();
}

/** Small seeded PRNG (mulberry32) for tests: a failing run prints its seed and replays. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
