// SigV4 verification against signatures made by the AWS SDK's own signer
// (@smithy/signature-v4, configured as the S3 client configures it) and against
// the worked examples of the S3 SigV4 documentation.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/core/serde';
import { HttpRequest, escapeUri } from '@smithy/core/protocols';
import { S3Error, type S3ErrorCode } from '../errors.js';
import type { S3Request } from '../http.js';
import {
  authenticate,
  createPayloadHashVerifier,
  deriveSigningKey,
  signingKeyCacheMax,
  signingKeyCacheSize,
  emptySha256Hex,
  parseAmzDate,
  parseRequestTarget,
  percentDecode,
  awsUriEncode,
  type AuthResult,
  type AuthenticatedResult,
  type Credentials,
} from './sigv4.js';

const credentials: Credentials = { accessKeyId: 'AKIDTESSERA', secretAccessKey: 'secret/with+odd=chars' };
const lookup = (accessKeyId: string): Credentials | undefined =>
  accessKeyId === credentials.accessKeyId ? credentials : accessKeyId === docCredentials.accessKeyId ? docCredentials : undefined;
const signingDate = new Date('2024-03-01T12:00:00Z');
const nowMs = signingDate.getTime();
const host = 'localhost:9000';

const signer = new SignatureV4({
  credentials,
  region: 'us-east-1',
  service: 's3',
  sha256: Hash.bind(null, 'sha256'),
  uriEscapePath: false, // what the S3 client does: the path is encoded once, by the serializer
});

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

function s3Request(method: string, rawUrl: string, headers: Record<string, string>): S3Request {
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  return { method, rawUrl, headers: lower, body: emptyBody(), remoteAddress: '127.0.0.1' };
}

/** The query string the SDK's HTTP handler sends (smithy buildQueryString). */
function queryString(query: Record<string, string | string[] | null>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    const encodedKey = escapeUri(key);
    if (Array.isArray(value)) {
      for (const item of value) parts.push(`${encodedKey}=${escapeUri(item)}`);
    } else {
      parts.push(value === null ? encodedKey : `${encodedKey}=${escapeUri(value)}`);
    }
  }
  return parts.join('&');
}

function objectPath(bucket: string, key: string): string {
  return `/${bucket}/${key.split('/').map(escapeUri).join('/')}`;
}

interface SignInput {
  method?: string;
  path?: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
  date?: Date;
  applyChecksum?: boolean;
}

async function signed(input: SignInput = {}): Promise<S3Request> {
  const request = new HttpRequest({
    method: input.method ?? 'GET',
    protocol: 'http:',
    hostname: 'localhost',
    port: 9000,
    path: input.path ?? '/bucket/key',
    query: input.query ?? {},
    headers: { host, ...input.headers },
    body: input.body,
  });
  const chosen =
    input.applyChecksum === false
      ? new SignatureV4({ credentials, region: 'us-east-1', service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: false })
      : signer;
  const result = await chosen.sign(request, { signingDate: input.date ?? signingDate });
  const query = queryString(result.query ?? {});
  return s3Request(result.method, `${result.path}${query === '' ? '' : `?${query}`}`, result.headers);
}

async function presigned(
  input: SignInput & { expiresIn?: number; presignHeaders?: Record<string, string>; unhoistable?: string[] } = {},
): Promise<S3Request> {
  // As @aws-sdk/s3-request-presigner does: sign UNSIGNED-PAYLOAD, hoisted into the query.
  const request = new HttpRequest({
    method: input.method ?? 'GET',
    protocol: 'http:',
    hostname: 'localhost',
    port: 9000,
    path: input.path ?? '/bucket/key',
    query: input.query ?? {},
    headers: { host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', ...input.presignHeaders },
  });
  const result = await signer.presign(request, {
    signingDate: input.date ?? signingDate,
    expiresIn: input.expiresIn ?? 3600,
    unsignableHeaders: new Set(['content-type']),
    unhoistableHeaders: new Set(input.unhoistable ?? []),
  });
  const query = queryString(result.query ?? {});
  return s3Request(result.method, `${result.path}?${query}`, { ...result.headers, ...input.headers });
}

function withUrl(request: S3Request, rawUrl: string): S3Request {
  return { ...request, rawUrl };
}

function withHeaders(request: S3Request, headers: Record<string, string | undefined>): S3Request {
  return { ...request, headers: { ...request.headers, ...headers } };
}

function authenticated(result: AuthResult): AuthenticatedResult {
  assert.equal(result.anonymous, false);
  return result;
}

function throwsS3(fn: () => unknown, code: S3ErrorCode, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof S3Error, `expected S3Error ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

describe('sigv4: header auth with SDK signatures', () => {
  it('accepts a signed GET and reports the payload mode', async () => {
    const result = authenticated(authenticate(await signed(), lookup, nowMs));
    assert.equal(result.accessKeyId, credentials.accessKeyId);
    assert.equal(result.scope, '20240301/us-east-1/s3/aws4_request');
    assert.equal(result.amzDate, '20240301T120000Z');
    assert.equal(result.region, 'us-east-1');
    assert.deepEqual(result.payload, { kind: 'sha256', hex: emptySha256Hex });
    assert.match(result.seedSignature, /^[0-9a-f]{64}$/);
  });

  it('accepts a PUT with a body hash, metadata with odd whitespace, and content-type', async () => {
    const request = await signed({
      method: 'PUT',
      body: 'hello',
      headers: { 'x-amz-meta-note': '  a   b \t c  ', 'content-type': 'text/plain' },
    });
    const result = authenticated(authenticate(request, lookup, nowMs));
    assert.deepEqual(result.payload, { kind: 'sha256', hex: createHash('sha256').update('hello').digest('hex') });
  });

  it('accepts odd object keys: spaces, unicode, +, %, !*()\' and reserved characters', async () => {
    for (const key of ['a b/c d.txt', 'ünïcødé/日本語/😀', 'plus+sign', '100%/%41', "bang!star*(paren)'", 'q?x=1&y#z', 'a;b,c:d@e$f', '~tilde/-_.']) {
      const request = await signed({ path: objectPath('bucket', key) });
      authenticated(authenticate(request, lookup, nowMs));
    }
  });

  it('accepts odd query values (prefix with spaces, unicode, +, %, =, &)', async () => {
    const request = await signed({
      path: '/bucket',
      query: { 'list-type': '2', prefix: 'a b+c%d=e&f/ü', delimiter: '/', 'continuation-token': 'x/y+z==' },
    });
    authenticated(authenticate(request, lookup, nowMs));
    const parsed = parseRequestTarget(request.rawUrl);
    assert.deepEqual(Object.fromEntries(parsed.query).prefix, 'a b+c%d=e&f/ü');
  });

  it('accepts repeated query keys and valueless subresources', async () => {
    const request = await signed({ path: '/bucket', query: { uploads: '', a: ['2', '1'] } });
    authenticated(authenticate(request, lookup, nowMs));
    // ?uploads sent without "=" canonicalizes to "uploads=" just the same.
    const bare = withUrl(request, request.rawUrl.replace('uploads=', 'uploads'));
    authenticated(authenticate(bare, lookup, nowMs));
  });

  it('property: any key and query value the SDK signs verifies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }),
        fc.string({ unit: 'binary', maxLength: 24 }),
        async (key, prefix) => {
          const request = await signed({ path: objectPath('bucket', key), query: { prefix } });
          authenticated(authenticate(request, lookup, nowMs));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects tampering with the path, query, method, a signed header or the signature', async () => {
    const request = await signed({ path: '/bucket/a', query: { prefix: 'x' }, headers: { range: 'bytes=0-9' } });
    const tampered: S3Request[] = [
      withUrl(request, request.rawUrl.replace('/bucket/a', '/bucket/b')),
      withUrl(request, request.rawUrl.replace('prefix=x', 'prefix=y')),
      withUrl(request, `${request.rawUrl}&extra=1`),
      { ...request, method: 'DELETE' },
      withHeaders(request, { range: 'bytes=0-10' }),
      withHeaders(request, { 'x-amz-content-sha256': createHash('sha256').update('other').digest('hex') }),
      withHeaders(request, { authorization: request.headers.authorization!.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }),
    ];
    for (const candidate of tampered) {
      throwsS3(() => authenticate(candidate, lookup, nowMs), 'SignatureDoesNotMatch');
    }
  });

  it('SignatureDoesNotMatch carries the canonical request and string to sign', async () => {
    const request = await signed();
    try {
      authenticate({ ...request, method: 'PUT' }, lookup, nowMs);
      assert.fail('expected SignatureDoesNotMatch');
    } catch (error) {
      assert.ok(error instanceof S3Error);
      assert.match(error.fields.CanonicalRequest ?? '', /^PUT\n\/bucket\/key\n/);
      assert.match(error.fields.StringToSign ?? '', /^AWS4-HMAC-SHA256\n20240301T120000Z\n/);
    }
  });

  it('rejects a wrong secret and an unknown key', async () => {
    const request = await signed();
    throwsS3(() => authenticate(request, () => ({ ...credentials, secretAccessKey: 'other' }), nowMs), 'SignatureDoesNotMatch');
    throwsS3(() => authenticate(request, () => undefined, nowMs), 'InvalidAccessKeyId');
  });

  it('allows 15 minutes of clock skew either way, no more', async () => {
    const request = await signed();
    const minute = 60_000;
    authenticated(authenticate(request, lookup, nowMs + 15 * minute));
    authenticated(authenticate(request, lookup, nowMs - 15 * minute));
    throwsS3(() => authenticate(request, lookup, nowMs + 15 * minute + 1), 'RequestTimeTooSkewed');
    throwsS3(() => authenticate(request, lookup, nowMs - 15 * minute - 1), 'RequestTimeTooSkewed');
    throwsS3(() => authenticate(request, lookup, nowMs + 2 * minute, { clockSkewMsMax: minute }), 'RequestTimeTooSkewed');
  });

  it('requires x-amz-content-sha256 and rejects values that are not a mode or a hash', async () => {
    const request = await signed({ applyChecksum: false });
    throwsS3(() => authenticate(request, lookup, nowMs), 'InvalidRequest', /x-amz-content-sha256/);
    const bad = await signed({ headers: { 'x-amz-content-sha256': 'not-a-hash' } });
    throwsS3(() => authenticate(bad, lookup, nowMs), 'InvalidArgument');
  });

  it('reports streaming payload modes', async () => {
    const modes = [
      ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'streaming-signed'],
      ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'streaming-signed-trailer'],
      ['STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'streaming-unsigned-trailer'],
      ['UNSIGNED-PAYLOAD', 'unsigned'],
    ] as const;
    for (const [value, kind] of modes) {
      const request = await signed({ method: 'PUT', headers: { 'x-amz-content-sha256': value } });
      assert.equal(authenticate(request, lookup, nowMs).payload.kind, kind);
    }
  });

  it('rejects x-amz-* headers that are not signed', async () => {
    const request = withHeaders(await signed(), { 'x-amz-acl': 'public-read' });
    throwsS3(() => authenticate(request, lookup, nowMs), 'AccessDenied', /not signed/);
  });

  it('checks the region when one is configured', async () => {
    const request = await signed();
    authenticated(authenticate(request, lookup, nowMs, { region: 'us-east-1' }));
    throwsS3(() => authenticate(request, lookup, nowMs, { region: 'eu-west-1' }), 'AuthorizationHeaderMalformed', /region/);
  });

  it('rejects malformed and unsupported Authorization headers', async () => {
    const request = await signed();
    const authorization = request.headers.authorization!;
    const cases: [string, S3ErrorCode][] = [
      ['AWS AKIDTESSERA:c2lnbmF0dXJl', 'InvalidArgument'],
      ['Bearer token', 'InvalidArgument'],
      ['AWS4-ECDSA-P256-SHA256 Credential=x', 'InvalidArgument'],
      ['AWS4-HMAC-SHA256', 'AuthorizationHeaderMalformed'],
      ['AWS4-HMAC-SHA256 Credential=AKIDTESSERA/20240301/us-east-1/s3/aws4_request', 'AuthorizationHeaderMalformed'],
      [authorization.replace('/s3/', '/ec2/'), 'AuthorizationHeaderMalformed'],
      [authorization.replace('aws4_request', 'aws5_request'), 'AuthorizationHeaderMalformed'],
      [authorization.replace('/20240301/', '/20240302/'), 'AuthorizationHeaderMalformed'],
      [authorization.replace('Credential=AKIDTESSERA/', 'Credential='), 'AuthorizationHeaderMalformed'],
      [authorization.replace('SignedHeaders=host;', 'SignedHeaders='), 'AuthorizationHeaderMalformed'],
      [authorization.replace('Signature=', 'Signature=x'), 'SignatureDoesNotMatch'],
    ];
    for (const [value, code] of cases) {
      throwsS3(() => authenticate(withHeaders(request, { authorization: value }), lookup, nowMs), code);
    }
  });

  it('a signed header named like an Object.prototype member is just absent', async () => {
    const request = await signed();
    const authorization = request.headers.authorization!.replace('SignedHeaders=host;', 'SignedHeaders=__proto__;constructor;host;');
    throwsS3(() => authenticate(withHeaders(request, { authorization }), lookup, nowMs), 'SignatureDoesNotMatch');
  });

  it('tolerates Authorization without spaces after commas', async () => {
    const request = await signed();
    const compact = request.headers.authorization!.replace(/, /g, ',');
    authenticated(authenticate(withHeaders(request, { authorization: compact }), lookup, nowMs));
  });

  it('needs a valid x-amz-date or Date', async () => {
    const request = await signed();
    throwsS3(() => authenticate(withHeaders(request, { 'x-amz-date': '2024-03-01T12:00:00Z' }), lookup, nowMs), 'AccessDenied');
    throwsS3(() => authenticate(withHeaders(request, { 'x-amz-date': undefined }), lookup, nowMs), 'AccessDenied');
  });

  it('refuses both an Authorization header and query signature', async () => {
    const request = await signed();
    throwsS3(() => authenticate(withUrl(request, `${request.rawUrl}?X-Amz-Signature=00`), lookup, nowMs), 'InvalidArgument');
  });
});

describe('sigv4: presigned URLs', () => {
  it('accepts a presigned GET with UNSIGNED-PAYLOAD', async () => {
    const request = await presigned({ path: objectPath('bucket', 'dir/a b+ü%.txt') });
    const result = authenticated(authenticate(request, lookup, nowMs + 1000));
    assert.equal(result.presigned, true);
    assert.deepEqual(result.payload, { kind: 'unsigned' });
    assert.ok(request.headers.authorization === undefined);
  });

  it('accepts presigned URLs with extra query parameters and odd values', async () => {
    const request = await presigned({
      path: objectPath('bucket', '😀 key'),
      query: { 'response-content-disposition': 'attachment; filename="a b+c.txt"', versionId: 'v/1+2=' },
    });
    authenticated(authenticate(request, lookup, nowMs));
  });

  it('accepts x-amz-* headers hoisted into the query, or kept as signed headers', async () => {
    const sse = { 'x-amz-server-side-encryption': 'AES256' };
    const hoisted = await presigned({ method: 'PUT', presignHeaders: sse });
    assert.equal(hoisted.headers['x-amz-server-side-encryption'], undefined);
    assert.match(hoisted.rawUrl, /x-amz-server-side-encryption=AES256/);
    authenticated(authenticate(hoisted, lookup, nowMs));
    // @aws-sdk/s3-request-presigner keeps x-amz-server-side-encryption* as (signed) headers.
    const kept = await presigned({ method: 'PUT', presignHeaders: sse, unhoistable: ['x-amz-server-side-encryption'] });
    assert.equal(kept.headers['x-amz-server-side-encryption'], 'AES256');
    authenticated(authenticate(kept, lookup, nowMs));
    throwsS3(() => authenticate(withHeaders(kept, { 'x-amz-server-side-encryption': 'aws:kms' }), lookup, nowMs), 'SignatureDoesNotMatch');
  });

  it('expires after X-Amz-Expires seconds', async () => {
    const request = await presigned({ expiresIn: 60 });
    authenticated(authenticate(request, lookup, nowMs + 60_000));
    throwsS3(() => authenticate(request, lookup, nowMs + 60_001), 'AccessDenied', /Request has expired/);
  });

  it('is not valid more than 15 minutes before its date', async () => {
    const request = await presigned();
    authenticated(authenticate(request, lookup, nowMs - 15 * 60_000));
    throwsS3(() => authenticate(request, lookup, nowMs - 15 * 60_000 - 1), 'AccessDenied', /not valid yet/);
  });

  it('validates X-Amz-Expires, X-Amz-Date, X-Amz-Algorithm and required parameters', async () => {
    const request = await presigned();
    const replace = (pattern: RegExp, replacement: string): S3Request => withUrl(request, request.rawUrl.replace(pattern, replacement));
    for (const expires of ['604801', '0', '-7']) {
      throwsS3(() => authenticate(replace(/X-Amz-Expires=\d+/, `X-Amz-Expires=${expires}`), lookup, nowMs), 'AccessDenied');
    }
    const cases: S3Request[] = [
      replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=soon'),
      replace(/X-Amz-Date=[^&]+/, 'X-Amz-Date=2024-03-01'),
      replace(/X-Amz-Algorithm=[^&]+/, 'X-Amz-Algorithm=AWS4-HMAC-SHA1'),
      replace(/&X-Amz-SignedHeaders=[^&]+/, ''),
      replace(/X-Amz-Credential=[^&]+/, 'X-Amz-Credential=AKIDTESSERA%2F20240301%2Fus-east-1%2Fiam%2Faws4_request'),
      withUrl(request, `${request.rawUrl}&X-Amz-Date=20240301T120000Z`),
    ];
    for (const candidate of cases) {
      throwsS3(() => authenticate(candidate, lookup, nowMs), 'AuthorizationQueryParametersError');
    }
  });

  it('accepts X-Amz-Expires of a full week', async () => {
    const request = await presigned({ expiresIn: 604800 });
    authenticated(authenticate(request, lookup, nowMs + 604800_000));
    throwsS3(() => authenticate(request, lookup, nowMs + 604800_001), 'AccessDenied');
  });

  it('rejects tampering and unknown keys', async () => {
    const request = await presigned({ path: '/bucket/a', query: { versionId: '1' } });
    throwsS3(() => authenticate(withUrl(request, request.rawUrl.replace('/bucket/a', '/bucket/b')), lookup, nowMs), 'SignatureDoesNotMatch');
    throwsS3(() => authenticate(withUrl(request, request.rawUrl.replace('versionId=1', 'versionId=2')), lookup, nowMs), 'SignatureDoesNotMatch');
    throwsS3(() => authenticate({ ...request, method: 'PUT' }, lookup, nowMs), 'SignatureDoesNotMatch');
    throwsS3(
      () => authenticate(withUrl(request, request.rawUrl.replace(/X-Amz-Signature=([0-9a-f])/, (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`)), lookup, nowMs),
      'SignatureDoesNotMatch',
    );
    throwsS3(() => authenticate(request, () => undefined, nowMs), 'InvalidAccessKeyId');
  });

  it('rejects x-amz-* headers added to a presigned request', async () => {
    const request = withHeaders(await presigned({ method: 'PUT' }), { 'x-amz-acl': 'public-read' });
    throwsS3(() => authenticate(request, lookup, nowMs), 'AccessDenied', /not signed/);
  });

  it('refuses signature version 2 query auth', () => {
    const request = s3Request('GET', '/bucket/key?AWSAccessKeyId=AKID&Expires=1&Signature=abc', { host });
    throwsS3(() => authenticate(request, lookup, nowMs), 'InvalidArgument');
  });
});

describe('sigv4: anonymous requests', () => {
  it('no Authorization and no X-Amz-Signature is anonymous', () => {
    const result = authenticate(s3Request('GET', '/bucket/key?versionId=3', { host }), lookup, nowMs);
    assert.deepEqual(result, { anonymous: true, payload: { kind: 'unsigned' } });
  });

  it('anonymous payload modes come from x-amz-content-sha256', () => {
    const hash = createHash('sha256').update('x').digest('hex');
    assert.deepEqual(authenticate(s3Request('PUT', '/b/k', { host, 'x-amz-content-sha256': hash }), lookup, nowMs).payload, { kind: 'sha256', hex: hash });
    const trailer = s3Request('PUT', '/b/k', { host, 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' });
    assert.equal(authenticate(trailer, lookup, nowMs).payload.kind, 'streaming-unsigned-trailer');
    const signedStream = s3Request('PUT', '/b/k', { host, 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
    throwsS3(() => authenticate(signedStream, lookup, nowMs), 'InvalidRequest');
  });
});

// The worked examples of https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
// and sigv4-query-string-auth.html.
const docCredentials: Credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const docNowMs = Date.UTC(2013, 4, 24);
const docHost = 'examplebucket.s3.amazonaws.com';

function docAuthorization(signedHeaders: string, signature: string): string {
  return `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${signature}`;
}

describe('sigv4: AWS documentation examples', () => {
  const common = { host: docHost, 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': emptySha256Hex };

  it('GET object with Range', () => {
    const request = s3Request('GET', '/test.txt', {
      ...common,
      range: 'bytes=0-9',
      authorization: docAuthorization('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
    });
    assert.equal(authenticated(authenticate(request, lookup, docNowMs)).accessKeyId, 'AKIAIOSFODNN7EXAMPLE');
  });

  it('PUT object: "$" sent raw but signed as %24', () => {
    const headers = {
      host: docHost,
      date: 'Fri, 24 May 2013 00:00:00 GMT',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      authorization: docAuthorization(
        'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
        '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      ),
    };
    authenticated(authenticate(s3Request('PUT', '/test$file.text', headers), lookup, docNowMs));
    authenticated(authenticate(s3Request('PUT', '/test%24file.text', headers), lookup, docNowMs));
  });

  it('GET bucket lifecycle (?lifecycle)', () => {
    const request = s3Request('GET', '/?lifecycle', {
      ...common,
      authorization: docAuthorization('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
    });
    authenticated(authenticate(request, lookup, docNowMs));
  });

  it('GET bucket (list objects), parameters in any order and encoding', () => {
    const authorization = docAuthorization('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
    for (const rawUrl of ['/?max-keys=2&prefix=J', '/?prefix=J&max-keys=2', '/?prefix=%4A&max-keys=2']) {
      authenticated(authenticate(s3Request('GET', rawUrl, { ...common, authorization }), lookup, docNowMs));
    }
    throwsS3(() => authenticate(s3Request('GET', '/?prefix=K&max-keys=2', { ...common, authorization }), lookup, docNowMs), 'SignatureDoesNotMatch');
  });

  it('presigned GET object', () => {
    const rawUrl =
      '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
      '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
      '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    const request = s3Request('GET', rawUrl, { host: docHost });
    authenticated(authenticate(request, lookup, docNowMs + 86400_000));
    throwsS3(() => authenticate(request, lookup, docNowMs + 86400_001), 'AccessDenied', /expired/);
  });

  it('seed signature of the aws-chunked upload example', () => {
    const request = s3Request('PUT', '/examplebucket/chunkObject.txt', {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
      authorization: docAuthorization(
        'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
        '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      ),
    });
    const result = authenticated(authenticate(request, lookup, docNowMs));
    assert.equal(result.seedSignature, '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
    assert.deepEqual(result.payload, { kind: 'streaming-signed' });
  });

  it('Date header instead of x-amz-date', () => {
    // Hand-built: with only a Date header the string to sign still uses the ISO basic timestamp.
    const headers = { host: docHost, date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-content-sha256': emptySha256Hex };
    const canonicalRequest = ['GET', '/test.txt', '', `date:${headers.date}`, `host:${docHost}`, `x-amz-content-sha256:${emptySha256Hex}`, '', 'date;host;x-amz-content-sha256', emptySha256Hex].join('\n');
    const stringToSign = ['AWS4-HMAC-SHA256', '20130524T000000Z', '20130524/us-east-1/s3/aws4_request', createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
    let key = createHmac('sha256', `AWS4${docCredentials.secretAccessKey}`).update('20130524').digest();
    for (const part of ['us-east-1', 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
    const request = s3Request('GET', '/test.txt', { ...headers, authorization: docAuthorization('date;host;x-amz-content-sha256', signature) });
    assert.equal(authenticated(authenticate(request, lookup, docNowMs)).amzDate, '20130524T000000Z');
  });
});

describe('sigv4: helpers', () => {
  it('parseRequestTarget keeps the raw path and decodes the query', () => {
    assert.deepEqual(parseRequestTarget('/b/a%20b+c?uploads&prefix=a+b%2Fc&x='), {
      path: '/b/a%20b+c',
      query: [
        ['uploads', ''],
        ['prefix', 'a b/c'],
        ['x', ''],
      ],
      rawQuery: 'uploads&prefix=a+b%2Fc&x=',
    });
    assert.deepEqual(parseRequestTarget('http://host:9000/b/k?x=1').path, '/b/k');
    assert.deepEqual(parseRequestTarget('/').query, []);
  });

  it('percent decoding leaves malformed escapes alone; encoding is AWS style', () => {
    assert.equal(percentDecode('%zz%4a%4A%', false).toString(), '%zzJJ%');
    assert.equal(percentDecode('a+b', false).toString(), 'a+b');
    assert.equal(percentDecode('a+b', true).toString(), 'a b');
    assert.equal(awsUriEncode(Buffer.from("a b+c/é~!*'()"), false), 'a%20b%2Bc%2F%C3%A9~%21%2A%27%28%29');
    assert.equal(awsUriEncode(Buffer.from('a/b'), true), 'a/b');
  });

  it('parseAmzDate rejects impossible dates', () => {
    assert.equal(parseAmzDate('20130524T000000Z'), docNowMs);
    assert.equal(parseAmzDate('20130230T000000Z'), undefined);
    assert.equal(parseAmzDate('20130524T000000'), undefined);
  });

  it('payload hash verifier', () => {
    const verifier = createPayloadHashVerifier(createHash('sha256').update('hello world').digest('hex'));
    verifier.update(Buffer.from('hello '));
    verifier.update(Buffer.from('world'));
    verifier.finish();
    const wrong = createPayloadHashVerifier(emptySha256Hex);
    wrong.update(Buffer.from('x'));
    throwsS3(() => {
      wrong.finish();
    }, 'XAmzContentSHA256Mismatch');
  });

  it('deriveSigningKey: cached keys equal fresh derivations, callers get copies, at most 64 are kept', () => {
    const fresh = (secret: string, date: string, region: string): Buffer => {
      const hmac = (key: Buffer | string, text: string): Buffer => createHmac('sha256', key).update(text).digest();
      return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
    };
    const triples: [string, string, string][] = [];
    for (let index = 0; index < 100; index++) triples.push([`secret-${index % 7}`, `202403${String(1 + (index % 28)).padStart(2, '0')}`, `region-${index % 5}`]);
    // Triples whose concatenations collide must still get different keys.
    triples.push(['1secret', '20240301', 'us-east-'], ['secret', '20240301', 'us-east-1']);
    for (let pass = 0; pass < 3; pass++) {
      for (const [secret, date, region] of triples) {
        const key = deriveSigningKey(secret, date, region);
        assert.deepEqual(key, fresh(secret, date, region));
        key.fill(0);
        assert.ok(signingKeyCacheSize() <= signingKeyCacheMax);
      }
    }
    assert.equal(signingKeyCacheSize(), signingKeyCacheMax);
    assert.deepEqual(deriveSigningKey('secret', '20240301', 'us-east-1'), fresh('secret', '20240301', 'us-east-1'));
  });
});
