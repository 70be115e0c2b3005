// Shared pieces of the PUT/GET and multipart benchmarks (put-get.ts runs its
// main() on import, so they live here): the bench credentials and bucket, a
// SigV4 signer for UNSIGNED-PAYLOAD requests, Tessera's embedded server as
// both benches run it, and the building blocks of the minimal node:http
// baseline servers (durable file write, reply, listen and close).

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

export function sigv4Signer(host: string): Signer {
  const signedHeaders = 'host;x-amz-content-sha256;x-amz-date';
  let keyDate = '';
  let key: Buffer = Buffer.alloc(0);
  return (method, requestPath, query = {}) => {
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = amzDate.slice(0, 8);
    if (date !== keyDate) {
      const hmac = (secret: Buffer | string, text: string): Buffer => createHmac('sha256', secret).update(text).digest();
      key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, date), region), 's3'), 'aws4_request');
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
      authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
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
