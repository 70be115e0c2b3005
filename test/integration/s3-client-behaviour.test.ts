// What common S3 clients expect of the HTTP layer beyond the operations
// themselves: `Expect: 100-continue` (the body follows the interim answer, and
// an error needs no body at all), keep-alive with pipelined requests answered
// in order, x-amz-request-id / x-amz-id-2 on every answer, the STANDARD
// storage class, GetBucketVersioning on a fresh bucket and ListObjectsV2
// FetchOwner. The wire-level cases use raw sockets and a small HTTP/1.1
// response reader, because node:http and the SDK hide exactly what is tested.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  bodyOf,
  captureRequestHeaders,
  makeClient,
  openSignedRequest,
  patternBytes,
  rootCredentials,
  s3ErrorOf,
  sendRaw,
  sendSigned,
  signRequest,
  startTestServer,
  xmlText,
} from '../helpers/server.js';
import type { RawRequest, RawResponse, TestServer } from '../helpers/server.js';

const bucket = 'client-behaviour';
const KiB = 1024;
/** A wire-level answer that does not come within this fails the test instead of hanging it. */
const answerTimeoutMs = 10_000;
/** Bound on what one raw response may buffer (the largest body here is 300 KiB). */
const responseBytesMax = 4 * 1024 * KiB;

function md5Etag(body: Buffer): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}

interface WireResponse {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-cased names; repeated headers joined with ",". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * Reads HTTP/1.1 responses off a raw socket in order: informational (1xx)
 * answers, Content-Length and chunked bodies, HEAD answers without a body.
 */
class ResponseReader {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      // Fails the waiting next() rather than throwing inside an event handler.
      if (this.buffered.length > responseBytesMax) socket.destroy(new Error(`more than ${responseBytesMax} bytes of responses buffered`));
      this.wake?.();
    });
    const end = (): void => {
      this.ended = true;
      this.wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** True once the server has closed its side and every byte has been read. */
  get closed(): boolean {
    return this.ended && this.buffered.length === 0;
  }

  /** The next response, 1xx included. `forHead`: a HEAD answer has no body whatever its headers say. */
  async next(options: { forHead?: boolean } = {}): Promise<WireResponse> {
    const deadline = Date.now() + answerTimeoutMs;
    for (;;) {
      const parsed = this.tryParse(options.forHead === true);
      if (parsed !== undefined) return parsed;
      if (this.ended) throw new Error(`connection closed with ${this.buffered.length} bytes of an incomplete response: ${this.buffered.toString('latin1').slice(0, 200)}`);
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`no complete response within ${answerTimeoutMs} ms; have: ${this.buffered.toString('latin1').slice(0, 200)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remainingMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Waits until the server closes the connection (bounded). */
  async waitClosed(): Promise<void> {
    const deadline = Date.now() + answerTimeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`the server kept the connection open for ${answerTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private tryParse(forHead: boolean): WireResponse | undefined {
    const headEnd = this.buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return undefined;
    const [statusLine = '', ...headerLines] = this.buffered.subarray(0, headEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
    assert.ok(Number.isInteger(status), `not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
    }
    const bodyStart = headEnd + 4;
    let body: Buffer;
    let consumed: number;
    if (status < 200 || status === 204 || status === 304 || forHead) {
      body = Buffer.alloc(0);
      consumed = bodyStart;
    } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const chunked = this.parseChunked(bodyStart);
      if (chunked === undefined) return undefined;
      ({ body, consumed } = chunked);
    } else {
      const length = Number(headers['content-length']);
      assert.ok(Number.isInteger(length), `response ${status} has neither Content-Length nor chunked encoding`);
      if (this.buffered.length < bodyStart + length) return undefined;
      body = Buffer.from(this.buffered.subarray(bodyStart, bodyStart + length));
      consumed = bodyStart + length;
    }
    this.buffered = this.buffered.subarray(consumed);
    return { status, statusLine, headers, body };
  }

  private parseChunked(start: number): { body: Buffer; consumed: number } | undefined {
    const chunks: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = this.buffered.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(this.buffered.subarray(at, lineEnd).toString('latin1'), 16);
      assert.ok(Number.isInteger(size) && size >= 0, 'chunk size line');
      if (size === 0) {
        const trailerEnd = this.buffered.indexOf('\r\n\r\n', lineEnd);
        // No trailers: the last-chunk line is followed directly by the empty line.
        if (this.buffered.subarray(lineEnd, lineEnd + 4).toString('latin1') === '\r\n\r\n') return { body: Buffer.concat(chunks), consumed: lineEnd + 4 };
        if (trailerEnd < 0) return undefined;
        return { body: Buffer.concat(chunks), consumed: trailerEnd + 4 };
      }
      if (this.buffered.length < lineEnd + 2 + size + 2) return undefined;
      chunks.push(Buffer.from(this.buffered.subarray(lineEnd + 2, lineEnd + 2 + size)));
      at = lineEnd + 2 + size + 2;
    }
  }
}

/** The request head a signed request puts on the wire (HTTP/1.1, keep-alive by default). */
async function signedHead(port: number, request: RawRequest): Promise<string> {
  const signed = await signRequest(port, request);
  const lines = Object.entries(signed.headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${signed.method} ${signed.path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

function assertRequestIds(headers: Readonly<Record<string, string | string[] | undefined>>, what: string): string {
  const requestId = headers['x-amz-request-id'];
  const hostId = headers['x-amz-id-2'];
  assert.ok(typeof requestId === 'string' && requestId.length > 0, `${what}: x-amz-request-id missing`);
  assert.ok(typeof hostId === 'string' && hostId.length > 0, `${what}: x-amz-id-2 missing`);
  return requestId;
}

describe('s3 client behaviour', () => {
  let t: TestServer;
  const small = patternBytes(3 * KiB, 1); // inline
  const striped = patternBytes(300 * KiB, 2); // erasure-coded, streamed back
  const tiny = Buffer.from('third object');

  before(async () => {
    t = await startTestServer('client-behaviour');
    await t.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'small', Body: small }));
    await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'striped', Body: striped }));
    await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tiny', Body: tiny }));
  });
  after(async () => {
    await t.close();
  });

  describe('Expect: 100-continue', () => {
    it('a PUT waits for 100 Continue, then sends its body and gets 200', async () => {
      const body = patternBytes(200 * KiB, 3);
      const socket = await openSignedRequest(t.port, { method: 'PUT', path: `/${bucket}/continued`, headers: { expect: '100-continue' }, body });
      const reader = new ResponseReader(socket);
      try {
        const interim = await reader.next();
        assert.equal(interim.status, 100, `expected 100 Continue before the body, got ${interim.statusLine}`);
        assert.equal(interim.statusLine, 'HTTP/1.1 100 Continue');
        socket.write(body);
        const final = await reader.next();
        assert.equal(final.status, 200, final.body.toString());
        assert.equal(final.headers['etag'], md5Etag(body));
        assertRequestIds(final.headers, 'PUT after 100 Continue');
      } finally {
        socket.destroy();
      }
      const stored = await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'continued' }));
      assert.ok((await bodyOf(stored)).equals(body), 'the stored object is the body sent after 100 Continue');
    });

    // S3 answers an error known from the head alone without the interim 100,
    // so a client that waits for it never sends the body at all.
    const refusedHeads: { what: string; path: string; credentials?: { accessKeyId: string; secretAccessKey: string }; status: number; code: string }[] = [
      { what: 'a missing bucket', path: '/no-such-bucket-here/key', status: 404, code: 'NoSuchBucket' },
      { what: 'a wrong signature', path: `/${bucket}/refused`, credentials: { accessKeyId: rootCredentials.accessKeyId, secretAccessKey: 'wrong' }, status: 403, code: 'SignatureDoesNotMatch' },
    ];
    for (const refused of refusedHeads) {
      it(`a PUT with Expect to ${refused.what} gets ${refused.status} ${refused.code} at once, no 100, no body sent`, async () => {
        const socket = await openSignedRequest(
          t.port,
          { method: 'PUT', path: refused.path, headers: { expect: '100-continue', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(1024 * KiB) } },
          refused.credentials === undefined ? {} : { credentials: refused.credentials },
        );
        const reader = new ResponseReader(socket);
        try {
          const answer = await reader.next();
          assert.equal(answer.status, refused.status, `first answer: ${answer.statusLine} ${answer.body.toString()}`);
          assert.equal(xmlText(answer.body, 'Code'), refused.code);
          assertRequestIds(answer.headers, `${refused.code} after Expect`);
          // The unsent body cannot be skipped, so the connection must not be reused.
          assert.equal(answer.headers['connection'], 'close');
          await reader.waitClosed();
        } finally {
          socket.destroy();
        }
      });
    }

    it('the SDK, which sends Expect: 100-continue from 2 MiB, uploads 2 MiB and is told NoSuchBucket', async () => {
      const client = makeClient(t.endpoint);
      const sent = captureRequestHeaders(client);
      const body = patternBytes(2 * 1024 * KiB, 4);
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'sdk-continue', Body: body }));
        const refused = await s3ErrorOf(client.send(new PutObjectCommand({ Bucket: 'no-such-bucket-here', Key: 'k', Body: body })));
        assert.equal(refused.code, 'NoSuchBucket');
      } finally {
        client.destroy();
      }
      assert.deepEqual(sent.map((headers) => headers['Expect'] ?? headers['expect']), ['100-continue', '100-continue']);
      const stored = await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'sdk-continue' }));
      assert.ok((await bodyOf(stored)).equals(body));
    });
  });

  describe('keep-alive and pipelining', () => {
    it('three GETs written back to back on one socket get three answers, in order', async () => {
      const heads = await Promise.all(['small', 'striped', 'tiny'].map((key) => signedHead(t.port, { method: 'GET', path: `/${bucket}/${key}` })));
      const socket = await openSocket(t.port);
      const reader = new ResponseReader(socket);
      try {
        socket.write(heads.join(''));
        const expected = [small, striped, tiny];
        const requestIds = new Set<string>();
        for (const [index, body] of expected.entries()) {
          const answer = await reader.next();
          assert.equal(answer.status, 200, `response ${index}: ${answer.statusLine}`);
          assert.ok(answer.body.equals(body), `response ${index} carries object ${index} (${answer.body.length} bytes, want ${body.length})`);
          assert.equal(answer.headers['etag'], md5Etag(body));
          requestIds.add(assertRequestIds(answer.headers, `pipelined GET ${index}`));
        }
        assert.equal(requestIds.size, 3, 'one request id per request');
        // Keep-alive: the same socket still serves a fourth request afterwards.
        socket.write(await signedHead(t.port, { method: 'GET', path: `/${bucket}/tiny` }));
        const fourth = await reader.next();
        assert.equal(fourth.status, 200);
        assert.ok(fourth.body.equals(tiny));
        assert.equal(reader.closed, false);
      } finally {
        socket.destroy();
      }
    });

    it('an error in the middle of a pipeline (404, HEAD) does not break the ones after it', async () => {
      const requests: RawRequest[] = [
        { method: 'GET', path: `/${bucket}/small` },
        { method: 'GET', path: `/${bucket}/missing-key` },
        { method: 'HEAD', path: `/${bucket}/striped` },
        { method: 'GET', path: `/${bucket}`, query: { 'list-type': '2', prefix: 'tin' } },
      ];
      const heads = await Promise.all(requests.map((request) => signedHead(t.port, request)));
      const socket = await openSocket(t.port);
      const reader = new ResponseReader(socket);
      try {
        socket.write(heads.join(''));
        const first = await reader.next();
        assert.equal(first.status, 200);
        assert.ok(first.body.equals(small));
        const second = await reader.next();
        assert.equal(second.status, 404);
        assert.equal(xmlText(second.body, 'Code'), 'NoSuchKey');
        assertRequestIds(second.headers, 'pipelined NoSuchKey');
        const third = await reader.next({ forHead: true });
        assert.equal(third.status, 200);
        assert.equal(third.headers['content-length'], String(striped.length));
        const fourth = await reader.next();
        assert.equal(fourth.status, 200);
        assert.equal(xmlText(fourth.body, 'Key'), 'tiny');
      } finally {
        socket.destroy();
      }
    });

    // RFC 9112 §9.3.2: only safe methods may be processed in parallel, and
    // node:http dispatches pipelined requests at once; the GET must see the PUT.
    it('a PUT with a body, then a GET of it, pipelined on one socket', async () => {
      const body = patternBytes(100 * KiB, 5);
      const putHead = await signedHead(t.port, { method: 'PUT', path: `/${bucket}/pipelined-put`, body });
      const getHead = await signedHead(t.port, { method: 'GET', path: `/${bucket}/pipelined-put` });
      const socket = await openSocket(t.port);
      const reader = new ResponseReader(socket);
      try {
        socket.write(Buffer.concat([Buffer.from(putHead, 'latin1'), body, Buffer.from(getHead, 'latin1')]));
        const put = await reader.next();
        assert.equal(put.status, 200, put.body.toString());
        const got = await reader.next();
        assert.equal(got.status, 200, got.body.toString());
        assert.ok(got.body.equals(body), 'the GET sees the PUT before it');
      } finally {
        socket.destroy();
      }
    });
  });

  describe('request ids', () => {
    it('every answer, success or error, carries x-amz-request-id and x-amz-id-2', async () => {
      const badCredentials = { accessKeyId: rootCredentials.accessKeyId, secretAccessKey: 'wrong' };
      const cases: { what: string; status: number; send: () => Promise<RawResponse> }[] = [
        { what: 'ListBuckets', status: 200, send: () => sendSigned(t.port, { method: 'GET', path: '/' }) },
        { what: 'PutObject', status: 200, send: () => sendSigned(t.port, { method: 'PUT', path: `/${bucket}/ids`, body: 'x' }) },
        { what: 'GetObject', status: 200, send: () => sendSigned(t.port, { method: 'GET', path: `/${bucket}/ids` }) },
        { what: 'HeadObject', status: 200, send: () => sendSigned(t.port, { method: 'HEAD', path: `/${bucket}/ids` }) },
        { what: 'DeleteObject', status: 204, send: () => sendSigned(t.port, { method: 'DELETE', path: `/${bucket}/ids` }) },
        { what: 'ListObjectsV2', status: 200, send: () => sendSigned(t.port, { method: 'GET', path: `/${bucket}`, query: { 'list-type': '2' } }) },
        { what: 'GetObject NoSuchKey', status: 404, send: () => sendSigned(t.port, { method: 'GET', path: `/${bucket}/absent` }) },
        { what: 'HeadObject 404', status: 404, send: () => sendSigned(t.port, { method: 'HEAD', path: `/${bucket}/absent` }) },
        { what: 'NoSuchBucket', status: 404, send: () => sendSigned(t.port, { method: 'GET', path: '/absent-bucket/key' }) },
        { what: 'SignatureDoesNotMatch', status: 403, send: () => sendSigned(t.port, { method: 'GET', path: `/${bucket}/small` }, { credentials: badCredentials }) },
        { what: 'anonymous AccessDenied', status: 403, send: () => sendRaw(t.port, { method: 'GET', path: `/${bucket}/small` }) },
        { what: 'Range not satisfiable', status: 416, send: () => sendSigned(t.port, { method: 'GET', path: `/${bucket}/tiny`, headers: { range: 'bytes=1000-2000' } }) },
        { what: 'MalformedXML', status: 400, send: () => sendSigned(t.port, { method: 'POST', path: `/${bucket}`, query: { delete: '' }, body: '<Delete><Object>' }) },
      ];
      const requestIds = new Set<string>();
      for (const { what, status, send } of cases) {
        const answer = await send();
        assert.equal(answer.status, status, `${what}: ${answer.body.toString()}`);
        const requestId = assertRequestIds(answer.headers, what);
        if (status >= 400 && answer.body.length > 0) assert.equal(xmlText(answer.body, 'RequestId'), requestId, `${what}: <RequestId> is the header's`);
        requestIds.add(requestId);
      }
      assert.equal(requestIds.size, cases.length, 'request ids are unique');
    });

    it('the SDK surfaces them as $metadata.requestId and extendedRequestId, on success and on error', async () => {
      const listed = await t.client.send(new ListObjectsV2Command({ Bucket: bucket }));
      assert.ok(listed.$metadata.requestId !== undefined && listed.$metadata.requestId !== '');
      assert.ok(listed.$metadata.extendedRequestId !== undefined && listed.$metadata.extendedRequestId !== '');
      const failed = await s3ErrorOf(t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'absent' })));
      assert.equal(failed.code, 'NoSuchKey');
      assert.ok(failed.error.$metadata.requestId !== undefined && failed.error.$metadata.requestId !== '');
      assert.ok(failed.error.$metadata.extendedRequestId !== undefined && failed.error.$metadata.extendedRequestId !== '');
    });

    it('a request whose header section is too large gets its 400 with request ids too', async () => {
      const socket = await openSocket(t.port);
      const reader = new ResponseReader(socket);
      try {
        socket.write(`GET /${bucket}/small HTTP/1.1\r\nhost: 127.0.0.1:${t.port}\r\nx-padding: ${'a'.repeat(20 * KiB)}\r\n\r\n`);
        const answer = await reader.next();
        assert.equal(answer.status, 400);
        assert.equal(xmlText(answer.body, 'Code'), 'RequestHeaderSectionTooLarge');
        const requestId = assertRequestIds(answer.headers, 'RequestHeaderSectionTooLarge');
        assert.equal(xmlText(answer.body, 'RequestId'), requestId);
      } finally {
        socket.destroy();
      }
    });
  });

  describe('storage class', () => {
    it('x-amz-storage-class: STANDARD on PUT is accepted and listed as STANDARD', async () => {
      const put = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}/class/raw`, headers: { 'x-amz-storage-class': 'STANDARD' }, body: 'standard' });
      assert.equal(put.status, 200, put.body.toString());
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'class/sdk', Body: 'standard too', StorageClass: 'STANDARD' }));
      const listed = await t.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'class/' }));
      assert.deepEqual(
        listed.Contents?.map((entry) => [entry.Key, entry.StorageClass]),
        [['class/raw', 'STANDARD'], ['class/sdk', 'STANDARD']],
      );
      // S3 leaves the header off HEAD/GET for STANDARD objects; if it is sent, it must say STANDARD.
      const head = await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'class/raw' }));
      assert.ok(head.StorageClass === undefined || head.StorageClass === 'STANDARD', `HEAD StorageClass ${head.StorageClass}`);
    });

    it('a multipart upload created with StorageClass STANDARD lists its parts as STANDARD', async () => {
      const created = await t.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'class/multipart', StorageClass: 'STANDARD' }));
      assert.ok(created.UploadId !== undefined);
      try {
        const parts = await t.client.send(new ListPartsCommand({ Bucket: bucket, Key: 'class/multipart', UploadId: created.UploadId }));
        assert.equal(parts.StorageClass, 'STANDARD');
      } finally {
        await t.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'class/multipart', UploadId: created.UploadId }));
      }
    });

    it('an unknown storage class is refused with 400 InvalidStorageClass and stores nothing', async () => {
      const put = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}/class/bogus`, headers: { 'x-amz-storage-class': 'NOT_A_CLASS' }, body: 'x' });
      assert.equal(put.status, 400, put.body.toString());
      assert.equal(xmlText(put.body, 'Code'), 'InvalidStorageClass');
      const head = await sendSigned(t.port, { method: 'HEAD', path: `/${bucket}/class/bogus` });
      assert.equal(head.status, 404);
    });
  });

  describe('bucket queries clients make', () => {
    it('GetBucketVersioning on a fresh bucket answers 200 with no Status', async () => {
      await t.client.send(new CreateBucketCommand({ Bucket: 'fresh-versioning' }));
      const raw = await sendSigned(t.port, { method: 'GET', path: '/fresh-versioning', query: { versioning: '' } });
      assert.equal(raw.status, 200, raw.body.toString());
      assert.match(raw.body.toString(), /<VersioningConfiguration[^>]*(\/>|>\s*<\/VersioningConfiguration>)/, 'an empty VersioningConfiguration');
      assert.equal(xmlText(raw.body, 'Status'), undefined);
      assert.equal(xmlText(raw.body, 'MfaDelete'), undefined);
      const sdk = await t.client.send(new GetBucketVersioningCommand({ Bucket: 'fresh-versioning' }));
      assert.equal(sdk.Status, undefined);
      assert.equal(sdk.MFADelete, undefined);
    });

    it('ListObjectsV2 with FetchOwner returns each Owner; without it, none', async () => {
      const withOwner = await t.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'small', FetchOwner: true }));
      assert.equal(withOwner.Contents?.length, 1);
      const owner = withOwner.Contents?.[0]?.Owner;
      assert.ok(owner?.ID !== undefined && owner.ID !== '', 'Owner.ID');
      assert.ok(owner.DisplayName !== undefined && owner.DisplayName !== '', 'Owner.DisplayName');
      const without = await t.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'small' }));
      assert.equal(without.Contents?.[0]?.Owner, undefined, 'ListObjectsV2 leaves Owner out unless fetch-owner=true');
    });
  });
});

async function openSocket(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}
