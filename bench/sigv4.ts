// SigV4 verification cost per request: authenticate() on a signed PUT with
// UNSIGNED-PAYLOAD (what the put-get benchmark sends), next to
// deriveSigningKey() alone, so the share of the per-day key derivation is
// visible. Best of several rounds, since the machine is shared.
// Run: npm run build && node dist/bench/sigv4.js

import { createHash, createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { authenticate, deriveSigningKey } from '../src/s3/auth/sigv4.js';
import type { Credentials } from '../src/s3/auth/sigv4.js';
import type { S3Request } from '../src/s3/http.js';

const credentials: Credentials = { accessKeyId: 'BENCHACCESSKEY000001', secretAccessKey: 'bench-secret-key-0000000000000000000000' };
const region = 'us-east-1';
const host = '127.0.0.1:9000';
const iterations = 50_000;
const rounds = 5;

function signedPut(path: string, nowMs: number): S3Request {
  const amzDate = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const hmac = (key: Buffer | string, text: string): Buffer => createHmac('sha256', key).update(text).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, date), region), 's3'), 'aws4_request');
  const scope = `${date}/${region}/s3/aws4_request`;
  const signedHeaders = 'host;x-amz-content-sha256;x-amz-date';
  const canonicalHeaders = `host:${host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${amzDate}\n`;
  const canonicalRequest = ['PUT', path, '', canonicalHeaders, signedHeaders, 'UNSIGNED-PAYLOAD'].join('\n');
  const hashed = createHash('sha256').update(canonicalRequest).digest('hex');
  const signature = createHmac('sha256', key).update(`AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hashed}`).digest('hex');
  return {
    method: 'PUT',
    rawUrl: path,
    headers: {
      host,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
    body: (async function* () {})(),
    remoteAddress: '127.0.0.1',
  };
}

function bestMicroseconds(body: () => void): number {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let index = 0; index < iterations; index++) body();
    best = Math.min(best, ((performance.now() - start) * 1000) / iterations);
  }
  return best;
}

const nowMs = Date.parse('2026-11-22T12:00:00Z');
const request = signedPut('/bench/tessera/4k/round0-000001', nowMs);
const lookup = (accessKeyId: string): Credentials | undefined => (accessKeyId === credentials.accessKeyId ? credentials : undefined);
const result = authenticate(request, lookup, nowMs, { region });
if (result.anonymous) throw new Error('the bench request must authenticate');
console.log(`authenticate (header, UNSIGNED-PAYLOAD): ${bestMicroseconds(() => authenticate(request, lookup, nowMs, { region })).toFixed(2)} µs/request`);
console.log(`deriveSigningKey:                        ${bestMicroseconds(() => deriveSigningKey(credentials.secretAccessKey, '20261122', region)).toFixed(2)} µs/call`);
