// Authentication and error answers over the wire: bad and unknown keys,
// anonymous requests, presigned URLs (made with the SDK's own signer, as
// @aws-sdk/s3-request-presigner does), skewed clocks, payload hash
// mismatches, malformed XML, oversized headers and virtual-host addressing.
// After each refused write the drives must hold no temp file and no new
// fragment.

import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { fetch } from 'undici';
import {
  bodyOf,
  drainGarbage,
  fragmentFiles,
  makeClient,
  openSignedRequest,
  patternBytes,
  presignUrl,
  rootCredentials,
  s3ErrorOf,
  sendRaw,
  sendSigned,
  startTestServer,
  temporaryFilesAfterCleanup,
  xmlText,
} from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const bucket = 'auth';
const otherCredentials = { accessKeyId: 'AKIDOTHER', secretAccessKey: 'other/secret' };
const KiB = 1024;

/** Resolves every name to 127.0.0.1, so `bucket.localhost` works without DNS. */
const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  if (options.all === true) (callback as (error: null, addresses: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

describe('s3 auth and errors', () => {
  let t: TestServer;
  let fragmentsBefore = 0;

  before(async () => {
    t = await startTestServer('auth', { extraUsers: [{ ...otherCredentials, displayName: 'other' }] });
    await t.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'existing', Body: 'existing body' }));
  });
  after(async () => {
    await t.close();
  });

  beforeEach(async () => {
    await drainGarbage(t.server);
    fragmentsBefore = (await fragmentFiles(t.server.driveDirs)).length;
  });

  afterEach(async () => {
    // Every test here either fails its writes or cleans up after itself.
    assert.deepEqual(await temporaryFilesAfterCleanup(t.server.driveDirs), [], 'temp files left behind');
    await drainGarbage(t.server);
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, fragmentsBefore, 'fragments left behind');
    // The server is still answering.
    await t.client.send(new ListBucketsCommand({}));
  });

  async function assertAbsent(key: string): Promise<void> {
    assert.equal((await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })))).status, 404, `${key} must not exist`);
  }

  it('a wrong secret is 403 SignatureDoesNotMatch (reads and writes)', async () => {
    const client = makeClient(t.endpoint, { accessKeyId: rootCredentials.accessKeyId, secretAccessKey: 'wrong-secret' });
    try {
      for (const operation of [
        () => client.send(new ListBucketsCommand({})),
        () => client.send(new GetObjectCommand({ Bucket: bucket, Key: 'existing' })),
        () => client.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad-secret-small', Body: 'x' })),
        () => client.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad-secret-big', Body: patternBytes(300 * KiB, 1) })),
        () => client.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad-secret-stream', Body: Readable.from([patternBytes(200 * KiB, 2)]), ContentLength: 200 * KiB })),
      ]) {
        const failure = await s3ErrorOf(operation());
        assert.equal(failure.status, 403);
        assert.equal(failure.code, 'SignatureDoesNotMatch');
      }
    } finally {
      client.destroy();
    }
    for (const key of ['bad-secret-small', 'bad-secret-big', 'bad-secret-stream']) await assertAbsent(key);
  });

  it('an unknown access key is 403 InvalidAccessKeyId', async () => {
    const client = makeClient(t.endpoint, { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: rootCredentials.secretAccessKey });
    try {
      for (const operation of [
        () => client.send(new ListObjectsV2Command({ Bucket: bucket })),
        () => client.send(new PutObjectCommand({ Bucket: bucket, Key: 'unknown-key', Body: patternBytes(100 * KiB, 3) })),
      ]) {
        const failure = await s3ErrorOf(operation());
        assert.equal(failure.status, 403);
        assert.equal(failure.code, 'InvalidAccessKeyId');
      }
    } finally {
      client.destroy();
    }
    await assertAbsent('unknown-key');
  });

  it("another account gets 403 AccessDenied on the bucket and its objects, and 409 BucketAlreadyExists", async () => {
    const other = makeClient(t.endpoint, otherCredentials);
    try {
      for (const [name, operation] of Object.entries({
        GetObject: () => other.send(new GetObjectCommand({ Bucket: bucket, Key: 'existing' })),
        PutObject: () => other.send(new PutObjectCommand({ Bucket: bucket, Key: 'from-other', Body: patternBytes(200 * KiB, 12) })),
        DeleteObject: () => other.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'existing' })),
        ListObjectsV2: () => other.send(new ListObjectsV2Command({ Bucket: bucket })),
      })) {
        const failure = await s3ErrorOf(operation());
        assert.equal(failure.status, 403, name);
        assert.equal(failure.code, 'AccessDenied', name);
      }
      assert.equal((await s3ErrorOf(other.send(new HeadObjectCommand({ Bucket: bucket, Key: 'existing' })))).status, 403);
      const taken = await s3ErrorOf(other.send(new CreateBucketCommand({ Bucket: bucket })));
      assert.equal(taken.status, 409);
      assert.equal(taken.code, 'BucketAlreadyExists');
      const own = await other.send(new ListBucketsCommand({}));
      assert.deepEqual(own.Buckets ?? [], [], 'ListBuckets shows only your own buckets');
    } finally {
      other.destroy();
    }
    await assertAbsent('from-other');
    await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'existing' }));
  });

  it('an anonymous GET is 403 AccessDenied with an S3 error document', async () => {
    const response = await fetch(`${t.endpoint}/${bucket}/existing`);
    assert.equal(response.status, 403);
    assert.match(response.headers.get('content-type') ?? '', /xml/);
    const requestId = response.headers.get('x-amz-request-id');
    assert.ok(requestId !== null && requestId !== '');
    const body = await response.text();
    assert.equal(xmlText(body, 'Code'), 'AccessDenied');
    assert.equal(xmlText(body, 'RequestId'), requestId);
    assert.ok(xmlText(body, 'Message') !== undefined);
    assert.equal(xmlText(body, 'Resource'), `/${bucket}/existing`);
  });

  it('an anonymous PUT is refused and stores nothing', async () => {
    const response = await fetch(`${t.endpoint}/${bucket}/anonymous-put`, { method: 'PUT', body: patternBytes(300 * KiB, 4) });
    assert.equal(response.status, 403);
    assert.equal(xmlText(await response.text(), 'Code'), 'AccessDenied');
    await assertAbsent('anonymous-put');
  });

  it('a presigned GET URL works; the same URL with another key does not', async () => {
    const url = await presignUrl(t.endpoint, 'GET', `/${bucket}/existing`, 60);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'existing body');
    const tampered = await fetch(url.replace('/existing?', '/other?'));
    assert.equal(tampered.status, 403);
    assert.equal(xmlText(await tampered.text(), 'Code'), 'SignatureDoesNotMatch');
  });

  it('a presigned PUT URL uploads an object', async () => {
    const bytes = patternBytes(150 * KiB, 5);
    const url = await presignUrl(t.endpoint, 'PUT', `/${bucket}/presigned%20put`, 60);
    const response = await fetch(url, { method: 'PUT', body: bytes });
    assert.equal(response.status, 200, await response.text());
    const output = await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'presigned put' }));
    assert.ok((await bodyOf(output)).equals(bytes));
    await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'presigned put' }));
  });

  it('a presigned URL that expired is 403 AccessDenied', async () => {
    const url = await presignUrl(t.endpoint, 'GET', `/${bucket}/existing`, 1);
    await sleep(2100);
    const response = await fetch(url);
    assert.equal(response.status, 403);
    const body = await response.text();
    assert.equal(xmlText(body, 'Code'), 'AccessDenied');
    assert.match(xmlText(body, 'Message') ?? '', /expired/i);
  });

  it('a request signed 20 minutes ago is 403 RequestTimeTooSkewed', async () => {
    const response = await sendSigned(t.port, { method: 'GET', path: `/${bucket}/existing` }, { signingDate: new Date(Date.now() - 20 * 60 * 1000) });
    assert.equal(response.status, 403);
    assert.equal(xmlText(response.body, 'Code'), 'RequestTimeTooSkewed');
  });

  it('a body that does not match x-amz-content-sha256 is 400 XAmzContentSHA256Mismatch and stores nothing', async () => {
    for (const size of [1000, 300 * KiB]) {
      const body = patternBytes(size, 6);
      const claimed = createHash('sha256').update('a different body').digest('hex');
      const key = `sha-mismatch-${size}`;
      const response = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}/${key}`, headers: { 'x-amz-content-sha256': claimed }, body });
      assert.equal(response.status, 400, response.body.toString());
      assert.equal(xmlText(response.body, 'Code'), 'XAmzContentSHA256Mismatch');
      await assertAbsent(key);
    }
  });

  it('malformed XML to DeleteObjects is 400 MalformedXML', async () => {
    for (const body of ['<Delete><Object><Key>existing</Key></Object>', 'not xml at all', '<Delete></Delete>', '<Other><Object><Key>existing</Key></Object></Other>']) {
      const response = await sendSigned(t.port, {
        method: 'POST',
        path: `/${bucket}`,
        query: { delete: '' },
        headers: { 'content-md5': createHash('md5').update(body).digest('base64'), 'content-type': 'application/xml' },
        body,
      });
      assert.equal(response.status, 400, body);
      assert.equal(xmlText(response.body, 'Code'), 'MalformedXML', body);
      assert.ok(response.headers['x-amz-request-id'] !== undefined);
    }
    // Nothing was deleted.
    await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'existing' }));
  });

  it('an oversized header section is 400 RequestHeaderSectionTooLarge and the server stays up', async () => {
    const response = await sendRaw(t.port, { method: 'GET', path: `/${bucket}/existing`, headers: { 'x-amz-meta-big': 'x'.repeat(20 * KiB) } });
    assert.equal(response.status, 400);
    assert.equal(xmlText(response.body, 'Code'), 'RequestHeaderSectionTooLarge');
    const put = await sendRaw(t.port, { method: 'PUT', path: `/${bucket}/huge-header`, headers: { 'x-amz-meta-big': 'x'.repeat(20 * KiB) }, body: patternBytes(100 * KiB, 7) }).catch(
      (error: unknown) => ({ status: 0, error }),
    );
    assert.ok(put.status === 0 || (put.status >= 400 && put.status < 500), `status ${put.status}`);
    await assertAbsent('huge-header');
  });

  it('user metadata over 2 KiB is 400 MetadataTooLarge and stores nothing', async () => {
    const failure = await s3ErrorOf(t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'meta-too-large', Body: patternBytes(200 * KiB, 8), Metadata: { big: 'y'.repeat(3 * KiB) } })));
    assert.equal(failure.status, 400);
    assert.equal(failure.code, 'MetadataTooLarge');
    await assertAbsent('meta-too-large');
  });

  it('an object key over 1024 bytes is 400 KeyTooLongError', async () => {
    const failure = await s3ErrorOf(t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'k'.repeat(1025), Body: 'x' })));
    assert.equal(failure.status, 400);
    assert.equal(failure.code, 'KeyTooLongError');
  });

  it('an unsupported subresource is 501 NotImplemented, not a wrong answer', async () => {
    const response = await sendSigned(t.port, { method: 'GET', path: `/${bucket}`, query: { lifecycle: '' } });
    assert.equal(response.status, 501);
    assert.equal(xmlText(response.body, 'Code'), 'NotImplemented');
  });

  for (const [declared, sent] of [[50_000, 10_000], [300_000, 100_000], [300_000, 299_999], [1_000_000, 600_000]] as const) {
    it(`a body cut short (${sent} of ${declared} bytes, then half-close) is refused and stores nothing`, async () => {
      const key = `truncated-${declared}-${sent}`;
      const socket = await openSignedRequest(t.port, {
        method: 'PUT',
        path: `/${bucket}/${key}`,
        headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(declared) },
      });
      let reply = '';
      socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => {
        socket.once('close', () => {
          resolve();
        });
      });
      socket.write(patternBytes(sent, 10));
      await sleep(50);
      socket.end();
      await closed;
      assert.match(reply, /^HTTP\/1\.1 4\d\d /, 'a 4xx answer (or at least no 200)');
      await assertAbsent(key);
    });
  }

  it('a connection reset in the middle of a striped upload stores nothing', async () => {
    const socket = await openSignedRequest(t.port, {
      method: 'PUT',
      path: `/${bucket}/reset-mid-upload`,
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(2 * 1024 * KiB) },
    });
    socket.on('error', () => undefined);
    socket.write(patternBytes(700 * KiB, 11));
    await sleep(100);
    socket.resetAndDestroy();
    await assertAbsent('reset-mid-upload');
  });

  describe('virtual-host style', () => {
    it('a raw signed request with Host bucket.localhost addresses the bucket', async () => {
      const host = `${bucket}.localhost:${t.port}`;
      const got = await sendSigned(t.port, { method: 'GET', path: '/existing' }, { host });
      assert.equal(got.status, 200, got.body.toString());
      assert.equal(got.body.toString(), 'existing body');
      const listed = await sendSigned(t.port, { method: 'GET', path: '/', query: { 'list-type': '2', prefix: 'exist' } }, { host });
      assert.equal(listed.status, 200);
      assert.equal(xmlText(listed.body, 'Name'), bucket);
      assert.equal(xmlText(listed.body, 'Key'), 'existing');
    });

    it('the SDK with forcePathStyle false talks to bucket.localhost', async () => {
      const agent = new http.Agent({ keepAlive: true, lookup: loopbackLookup });
      const client = makeClient(`http://localhost:${t.port}`, rootCredentials, {
        forcePathStyle: false,
        requestHandler: new NodeHttpHandler({ httpAgent: agent }),
      });
      const hosts: string[] = [];
      client.middlewareStack.add(
        (next) => async (args) => {
          hosts.push((args.request as { headers: Record<string, string> }).headers.host ?? '');
          return next(args);
        },
        { step: 'deserialize', name: 'testCaptureHost' },
      );
      try {
        const bytes = patternBytes(200 * KiB + 3, 9);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'vhost/key one', Body: bytes }));
        const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'vhost/key one' }));
        assert.ok((await bodyOf(output)).equals(bytes));
        const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'vhost/' }));
        assert.deepEqual((listed.Contents ?? []).map((entry) => entry.Key), ['vhost/key one']);
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'vhost/key one' }));
      } finally {
        client.destroy();
        agent.destroy();
      }
      assert.ok(hosts.length > 0 && hosts.every((host) => host === `${bucket}.localhost:${t.port}`), hosts.join(', '));
      await assertAbsent('vhost/key one');
    });
  });
});
