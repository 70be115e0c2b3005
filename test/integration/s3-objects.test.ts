// Object operations through the real AWS SDK against an embedded server:
// byte-identical round trips across the inline boundary and stripe
// boundaries, Buffer and stream (aws-chunked + CRC32 trailer) bodies, metadata,
// ranges, conditional reads, copies, deletes, and bad digests that must not
// leave an object (or a fragment, or a temp file) behind.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { PutObjectCommandInput } from '@aws-sdk/client-s3';
import {
  bodyOf,
  captureRequestHeaders,
  drainGarbage,
  fragmentFiles,
  openSignedRequest,
  patternBytes,
  s3ErrorOf,
  sendSigned,
  startTestServer,
  temporaryFiles,
} from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const bucket = 'objects';
const otherBucket = 'objects-other';

function md5Etag(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

function crc32Base64(bytes: Uint8Array): string {
  const digest = Buffer.alloc(4);
  digest.writeUInt32BE(crc32(bytes));
  return digest.toString('base64');
}

/** A stream body in uneven pieces, so framing is split at odd places. */
function streamOf(bytes: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0, step = 1; offset < bytes.length; step = (step * 7 + 3) % 50_000 + 1) {
    pieces.push(bytes.subarray(offset, offset + step));
    offset += step;
  }
  return Readable.from(pieces);
}

describe('s3 objects', () => {
  let t: TestServer;
  let requestHeaders: Record<string, string>[];

  async function put(input: Omit<PutObjectCommandInput, 'Bucket'> & { Bucket?: string }) {
    return t.client.send(new PutObjectCommand({ Bucket: bucket, ...input }));
  }

  async function get(key: string, extra: Partial<ConstructorParameters<typeof GetObjectCommand>[0]> = {}) {
    const output = await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
    return { output, bytes: await bodyOf(output) };
  }

  async function assertNothingLeft(key: string, fragmentCountBefore: number): Promise<void> {
    const missing = await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
    assert.equal(missing.status, 404, `${key} must not exist`);
    await drainGarbage(t.server);
    assert.deepEqual(await temporaryFiles(t.server.driveDirs), [], 'no temp files left');
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, fragmentCountBefore, 'no fragments left by the failed write');
  }

  before(async () => {
    t = await startTestServer('objects');
    requestHeaders = captureRequestHeaders(t.client);
    await t.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await t.client.send(new CreateBucketCommand({ Bucket: otherBucket }));
  });

  after(async () => {
    await t.close();
  });

  const sizes = [0, 1, 64 * KiB, 64 * KiB + 1, MiB + 3, 3 * MiB];
  for (const kind of ['buffer', 'stream'] as const) {
    for (const [index, size] of sizes.entries()) {
      it(`PUT then GET is byte-identical: ${size} bytes as a ${kind} body`, async () => {
        const key = `roundtrip/${kind}/${size}`;
        const bytes = patternBytes(size, index + (kind === 'stream' ? 100 : 0));
        requestHeaders.length = 0;
        const written = await put({ Key: key, Body: kind === 'buffer' ? bytes : streamOf(bytes), ContentLength: size });
        assert.equal(written.ETag, md5Etag(bytes));
        const putHeaders = requestHeaders[0]!;
        if (kind === 'stream') {
          // The SDK framed the body as aws-chunked with a CRC32 trailer…
          assert.match(putHeaders['content-encoding'] ?? '', /aws-chunked/);
          assert.equal(putHeaders['x-amz-trailer'], 'x-amz-checksum-crc32');
        } else {
          assert.equal(putHeaders['x-amz-checksum-crc32'], crc32Base64(bytes));
        }
        // …and what is stored is the payload alone, without framing.
        const { output, bytes: read } = await get(key);
        assert.equal(read.length, size);
        assert.ok(read.equals(bytes), 'body differs');
        assert.equal(output.ETag, md5Etag(bytes));
        assert.equal(output.ContentLength, size);
        assert.equal(output.ContentEncoding, undefined, 'aws-chunked must not be stored as Content-Encoding');
        const head = await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        assert.equal(head.ContentLength, size);
        assert.equal(head.ETag, md5Etag(bytes));
        assert.equal(head.ContentEncoding, undefined);
      });
    }
  }

  it('stores 64 KiB inline and 64 KiB + 1 as k+m fragments', async () => {
    await drainGarbage(t.server);
    const before = (await fragmentFiles(t.server.driveDirs)).length;
    await put({ Key: 'boundary/inline', Body: patternBytes(64 * KiB, 7) });
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, before, 'an inline object has no fragments');
    await put({ Key: 'boundary/striped', Body: patternBytes(64 * KiB + 1, 8) });
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, before + 6, 'a striped object has k+m = 6 fragments');
  });

  it('round-trips user metadata and content headers (Buffer and stream bodies)', async () => {
    const expires = new Date('2031-02-03T04:05:06Z');
    for (const [kind, size] of [['buffer', 300], ['stream', 200 * KiB]] as const) {
      const bytes = patternBytes(size, 11);
      const key = `meta/${kind}`;
      await put({
        Key: key,
        Body: kind === 'buffer' ? bytes : streamOf(bytes),
        ContentLength: size,
        Metadata: { color: 'blue', 'multi-word': 'a b  c', empty: '' },
        ContentType: 'text/plain; charset=utf-8',
        CacheControl: 'max-age=60, private',
        ContentDisposition: 'attachment; filename="report.txt"',
        ContentEncoding: 'gzip',
        ContentLanguage: 'de-CH',
        Expires: expires,
      });
      for (const output of [(await get(key)).output, await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))]) {
        assert.equal(output.Metadata?.color, 'blue');
        assert.equal(output.Metadata?.['multi-word'], 'a b  c');
        assert.equal(output.ContentType, 'text/plain; charset=utf-8');
        assert.equal(output.CacheControl, 'max-age=60, private');
        assert.equal(output.ContentDisposition, 'attachment; filename="report.txt"');
        assert.equal(output.ContentEncoding, 'gzip', `${kind}: aws-chunked is stripped, gzip kept`);
        assert.equal(output.ContentLanguage, 'de-CH');
        assert.equal(output.ExpiresString, expires.toUTCString());
        assert.ok(output.LastModified instanceof Date);
        assert.equal(output.ContentLength, size);
      }
    }
  });

  describe('ranges', () => {
    const size = MiB + 3;
    const bytes = patternBytes(size, 21);
    const stripeBytes = 4 * 64 * KiB;
    before(async () => {
      await put({ Key: 'range/big', Body: bytes });
      await put({ Key: 'range/small', Body: bytes.subarray(0, 1000) });
    });

    const cases: [string, string, number, number][] = [
      ['first bytes', 'bytes=0-9', 0, 9],
      ['inside one block', 'bytes=1000-1999', 1000, 1999],
      ['across a block boundary', `bytes=${64 * KiB - 5}-${64 * KiB + 4}`, 64 * KiB - 5, 64 * KiB + 4],
      ['across a stripe boundary', `bytes=${stripeBytes - 7}-${stripeBytes + 8}`, stripeBytes - 7, stripeBytes + 8],
      ['across two stripe boundaries', `bytes=${stripeBytes - 1}-${2 * stripeBytes + 1}`, stripeBytes - 1, 2 * stripeBytes + 1],
      ['open-ended a-', `bytes=${3 * stripeBytes + 17}-`, 3 * stripeBytes + 17, size - 1],
      ['suffix -n', 'bytes=-1000', size - 1000, size - 1],
      ['suffix longer than the object', `bytes=-${size + 50}`, 0, size - 1],
      ['single byte at the end', `bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
      ['end past the object is clamped', `bytes=${size - 5}-${size + 100}`, size - 5, size - 1],
      ['the last (short) stripe only', `bytes=${4 * stripeBytes}-`, 4 * stripeBytes, size - 1],
    ];
    for (const [name, range, first, last] of cases) {
      it(`GET Range ${name} (${range}) → 206 with Content-Range`, async () => {
        const { output, bytes: read } = await get('range/big', { Range: range });
        assert.equal(output.$metadata.httpStatusCode, 206);
        assert.equal(output.ContentRange, `bytes ${first}-${last}/${size}`);
        assert.equal(output.ContentLength, last - first + 1);
        assert.ok(read.equals(bytes.subarray(first, last + 1)), 'range bytes differ');
      });
    }

    it('ranges over an inline object', async () => {
      const { output, bytes: read } = await get('range/small', { Range: 'bytes=10-19' });
      assert.equal(output.$metadata.httpStatusCode, 206);
      assert.equal(output.ContentRange, 'bytes 10-19/1000');
      assert.ok(read.equals(bytes.subarray(10, 20)));
      const head = await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'range/small', Range: 'bytes=-10' }));
      assert.equal(head.$metadata.httpStatusCode, 206);
      assert.equal(head.ContentRange, 'bytes 990-999/1000');
      assert.equal(head.ContentLength, 10);
    });

    it('a range starting past the end is 416 InvalidRange', async () => {
      for (const key of ['range/big', 'range/small']) {
        const objectSize = key === 'range/big' ? size : 1000;
        const failure = await s3ErrorOf(get(key, { Range: `bytes=${objectSize}-` }));
        assert.equal(failure.status, 416);
        assert.equal(failure.code, 'InvalidRange');
      }
    });
  });

  describe('conditional GET', () => {
    const bytes = patternBytes(100 * KiB, 31);
    let etag: string;
    let lastModified: Date;
    before(async () => {
      etag = (await put({ Key: 'conditional', Body: bytes })).ETag!;
      lastModified = (await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'conditional' }))).LastModified!;
    });
    const past = new Date('2000-01-01T00:00:00Z');
    const future = new Date(Date.now() + 24 * 3600 * 1000);

    it('If-Match: match → 200, mismatch → 412 PreconditionFailed', async () => {
      assert.ok((await get('conditional', { IfMatch: etag })).bytes.equals(bytes));
      const failure = await s3ErrorOf(get('conditional', { IfMatch: '"0123456789abcdef0123456789abcdef"' }));
      assert.equal(failure.status, 412);
      assert.equal(failure.code, 'PreconditionFailed');
    });

    it('If-None-Match: match → 304, other → 200', async () => {
      const failure = await s3ErrorOf(get('conditional', { IfNoneMatch: etag }));
      assert.equal(failure.status, 304);
      assert.ok((await get('conditional', { IfNoneMatch: '"0123456789abcdef0123456789abcdef"' })).bytes.equals(bytes));
    });

    it('If-Modified-Since: not modified since → 304, modified since → 200', async () => {
      assert.equal((await s3ErrorOf(get('conditional', { IfModifiedSince: future }))).status, 304);
      assert.equal((await s3ErrorOf(get('conditional', { IfModifiedSince: lastModified }))).status, 304);
      assert.ok((await get('conditional', { IfModifiedSince: past })).bytes.equals(bytes));
    });

    it('If-Unmodified-Since: modified since → 412, not modified → 200', async () => {
      const failure = await s3ErrorOf(get('conditional', { IfUnmodifiedSince: past }));
      assert.equal(failure.status, 412);
      assert.equal(failure.code, 'PreconditionFailed');
      assert.ok((await get('conditional', { IfUnmodifiedSince: future })).bytes.equals(bytes));
    });

    it('If-Match true wins over If-Unmodified-Since false; If-None-Match decides over If-Modified-Since', async () => {
      assert.ok((await get('conditional', { IfMatch: etag, IfUnmodifiedSince: past })).bytes.equals(bytes));
      assert.ok((await get('conditional', { IfNoneMatch: '"0123456789abcdef0123456789abcdef"', IfModifiedSince: future })).bytes.equals(bytes));
      assert.equal((await s3ErrorOf(get('conditional', { IfNoneMatch: etag, IfModifiedSince: past }))).status, 304);
    });

    it('HEAD applies the same conditions', async () => {
      assert.equal((await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'conditional', IfNoneMatch: etag })))).status, 304);
      assert.equal((await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'conditional', IfMatch: '"nope"' })))).status, 412);
    });
  });

  it('response-content-type and response-content-disposition override the stored headers', async () => {
    await put({ Key: 'override', Body: 'hello', ContentType: 'text/plain', ContentDisposition: 'inline' });
    const { output, bytes } = await get('override', {
      ResponseContentType: 'application/json',
      ResponseContentDisposition: 'attachment; filename="x.json"',
      ResponseCacheControl: 'no-store',
    });
    assert.equal(bytes.toString(), 'hello');
    assert.equal(output.ContentType, 'application/json');
    assert.equal(output.ContentDisposition, 'attachment; filename="x.json"');
    assert.equal(output.CacheControl, 'no-store');
    // The stored headers are unchanged.
    const head = await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'override' }));
    assert.equal(head.ContentType, 'text/plain');
    assert.equal(head.ContentDisposition, 'inline');
  });

  it('DeleteObject removes the object; deleting a missing key is 204', async () => {
    await put({ Key: 'delete/me', Body: patternBytes(300 * KiB, 41) });
    const deleted = await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'delete/me' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    const failure = await s3ErrorOf(get('delete/me'));
    assert.equal(failure.status, 404);
    assert.equal(failure.code, 'NoSuchKey');
    const again = await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'delete/me' }));
    assert.equal(again.$metadata.httpStatusCode, 204);
    const never = await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'delete/never-existed' }));
    assert.equal(never.$metadata.httpStatusCode, 204);
  });

  it('deleting a striped object frees its fragments', async () => {
    await drainGarbage(t.server);
    const before = (await fragmentFiles(t.server.driveDirs)).length;
    await put({ Key: 'delete/fragments', Body: patternBytes(500 * KiB, 42) });
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, before + 6);
    await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'delete/fragments' }));
    await drainGarbage(t.server);
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, before);
  });

  it('an overwrite returns the new bytes and frees the old fragments', async () => {
    await drainGarbage(t.server);
    const before = (await fragmentFiles(t.server.driveDirs)).length;
    const versions = [patternBytes(700 * KiB, 51), patternBytes(10, 52), patternBytes(2 * MiB + 5, 53), patternBytes(65 * KiB, 54)];
    for (const bytes of versions) {
      const written = await put({ Key: 'overwrite', Body: bytes });
      assert.equal(written.ETag, md5Etag(bytes));
      const { output, bytes: read } = await get('overwrite');
      assert.ok(read.equals(bytes), 'overwrite must return the newest bytes');
      assert.equal(output.ETag, md5Etag(bytes));
    }
    await drainGarbage(t.server);
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, before + 6, 'only the newest version keeps fragments');
  });

  it('a slow reader keeps reading the old version across an overwrite and a GC pass', async () => {
    // Big enough that the response cannot sit whole in loopback socket buffers,
    // so the server is still reading fragments when GC runs.
    const size = 16 * MiB;
    const old = patternBytes(size, 55);
    await put({ Key: 'slow-reader', Body: old });
    const socket = await openSignedRequest(t.port, { method: 'GET', path: `/${bucket}/slow-reader`, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    socket.pause();
    await sleep(200);
    await put({ Key: 'slow-reader', Body: patternBytes(100 * KiB, 56) });
    const during = await t.server.garbageCollector.runPass();
    assert.equal(during.deferred, 1, 'the version being read is not collected');
    assert.equal(during.fragmentsDeleted, 0);
    const chunks: Buffer[] = [];
    let received = 0;
    let bodyStart = -1;
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (bodyStart < 0) {
          const headEnd = Buffer.concat(chunks).indexOf('\r\n\r\n');
          if (headEnd >= 0) bodyStart = headEnd + 4;
        }
        if (bodyStart >= 0 && received - bodyStart >= size) resolve();
      });
      socket.on('error', reject);
      socket.resume();
    });
    socket.destroy();
    const response = Buffer.concat(chunks);
    assert.match(response.subarray(0, 16).toString(), /^HTTP\/1\.1 200/);
    assert.ok(response.subarray(bodyStart).equals(old), 'the reader gets the old bytes, whole');
    await sleep(20);
    await drainGarbage(t.server);
    assert.equal((await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'slow-reader' }))).ContentLength, 100 * KiB);
  });

  it('an upload in flight is invisible: list, HEAD and GET see the old state until it completes', async () => {
    const old = patternBytes(300 * KiB, 57);
    const next = patternBytes(MiB + 11, 58);
    await put({ Key: 'in-flight/replaced', Body: old });
    const uploads = await Promise.all(
      ['in-flight/new', 'in-flight/replaced'].map((key) =>
        openSignedRequest(t.port, {
          method: 'PUT',
          path: `/${bucket}/${key}`,
          headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(next.length) },
        }),
      ),
    );
    const replies = uploads.map(
      (socket) =>
        new Promise<string>((resolve, reject) => {
          let reply = '';
          socket.on('data', (chunk: Buffer) => {
            reply += chunk.toString('latin1');
            if (reply.includes('\r\n\r\n')) resolve(reply);
          });
          socket.on('error', reject);
        }),
    );
    for (const socket of uploads) socket.write(next.subarray(0, 700 * KiB));
    await sleep(100);
    const listed = await t.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'in-flight/' }));
    assert.deepEqual((listed.Contents ?? []).map((entry) => [entry.Key, entry.Size]), [['in-flight/replaced', old.length]]);
    assert.equal((await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'in-flight/new' })))).status, 404);
    assert.ok((await get('in-flight/replaced')).bytes.equals(old), 'readers see the old bytes during an overwrite');
    // write, not end: a half-close makes node:http abort a request whose answer is pending.
    for (const socket of uploads) socket.write(next.subarray(700 * KiB));
    for (const reply of await Promise.all(replies)) assert.match(reply, /^HTTP\/1\.1 200 /);
    for (const socket of uploads) socket.destroy();
    for (const key of ['in-flight/new', 'in-flight/replaced']) assert.ok((await get(key)).bytes.equals(next), key);
  });

  describe('CopyObject', () => {
    const bytes = patternBytes(400 * KiB + 9, 61);
    before(async () => {
      await put({ Key: 'copy/source', Body: bytes, ContentType: 'image/png', Metadata: { origin: 'source' }, CacheControl: 'max-age=5' });
    });

    it('same bucket with MetadataDirective REPLACE takes the new metadata', async () => {
      const copied = await t.client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'copy/replaced',
          CopySource: `${bucket}/copy/source`,
          MetadataDirective: 'REPLACE',
          ContentType: 'text/csv',
          Metadata: { origin: 'replaced', extra: '1' },
        }),
      );
      assert.equal(copied.CopyObjectResult?.ETag, md5Etag(bytes));
      const { output, bytes: read } = await get('copy/replaced');
      assert.ok(read.equals(bytes));
      assert.equal(output.ContentType, 'text/csv');
      assert.deepEqual(output.Metadata, { origin: 'replaced', extra: '1' });
      assert.equal(output.CacheControl, undefined, 'REPLACE drops headers not given');
    });

    it('cross bucket with COPY keeps the source metadata', async () => {
      await t.client.send(new CopyObjectCommand({ Bucket: otherBucket, Key: 'copied key with spaces+plus', CopySource: `${bucket}/copy/source` }));
      const output = await t.client.send(new GetObjectCommand({ Bucket: otherBucket, Key: 'copied key with spaces+plus' }));
      assert.ok((await bodyOf(output)).equals(bytes));
      assert.equal(output.ContentType, 'image/png');
      assert.deepEqual(output.Metadata, { origin: 'source' });
      assert.equal(output.CacheControl, 'max-age=5');
      assert.equal(output.ETag, md5Etag(bytes));
    });

    it('copies a source key that needs URL encoding', async () => {
      const key = 'copy/sp ace+ü%.bin';
      await put({ Key: key, Body: 'odd key' });
      await t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/from-odd', CopySource: encodeURIComponent(`${bucket}/${key}`) }));
      assert.equal((await get('copy/from-odd')).bytes.toString(), 'odd key');
    });

    it('onto itself without REPLACE is 400 InvalidRequest; with REPLACE it updates metadata', async () => {
      const failure = await s3ErrorOf(t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/source', CopySource: `${bucket}/copy/source` })));
      assert.equal(failure.status, 400);
      assert.equal(failure.code, 'InvalidRequest');
      await t.client.send(
        new CopyObjectCommand({ Bucket: bucket, Key: 'copy/source', CopySource: `${bucket}/copy/source`, MetadataDirective: 'REPLACE', Metadata: { origin: 'self' }, ContentType: 'image/png' }),
      );
      const { output, bytes: read } = await get('copy/source');
      assert.ok(read.equals(bytes));
      assert.deepEqual(output.Metadata, { origin: 'self' });
    });

    it('x-amz-copy-source-if-match mismatch is 412 and creates nothing', async () => {
      const failure = await s3ErrorOf(
        t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/conditional', CopySource: `${bucket}/copy/source`, CopySourceIfMatch: '"ffffffffffffffffffffffffffffffff"' })),
      );
      assert.equal(failure.status, 412);
      assert.equal(failure.code, 'PreconditionFailed');
      assert.equal((await s3ErrorOf(get('copy/conditional'))).status, 404);
      await t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/conditional', CopySource: `${bucket}/copy/source`, CopySourceIfMatch: md5Etag(bytes) }));
      assert.ok((await get('copy/conditional')).bytes.equals(bytes));
    });

    it('the other x-amz-copy-source-if-* conditions fail with 412', async () => {
      const past = new Date('2000-01-01T00:00:00Z');
      const future = new Date(Date.now() + 24 * 3600 * 1000);
      for (const condition of [{ CopySourceIfNoneMatch: md5Etag(bytes) }, { CopySourceIfModifiedSince: future }, { CopySourceIfUnmodifiedSince: past }]) {
        const failure = await s3ErrorOf(t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/conditional-2', CopySource: `${bucket}/copy/source`, ...condition })));
        assert.equal(failure.status, 412, JSON.stringify(condition));
      }
      assert.equal((await s3ErrorOf(get('copy/conditional-2'))).status, 404);
    });

    it('copies a multi-stripe object across buckets with its own fragments', async () => {
      await drainGarbage(t.server);
      const before = (await fragmentFiles(t.server.driveDirs)).length;
      const big = patternBytes(3 * MiB + 1, 62);
      await put({ Key: 'copy/big', Body: big });
      await t.client.send(new CopyObjectCommand({ Bucket: otherBucket, Key: 'big-copy', CopySource: `${bucket}/copy/big` }));
      assert.equal((await fragmentFiles(t.server.driveDirs)).length, before + 12);
      await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'copy/big' }));
      await drainGarbage(t.server);
      const output = await t.client.send(new GetObjectCommand({ Bucket: otherBucket, Key: 'big-copy', ChecksumMode: 'ENABLED' }));
      assert.ok((await bodyOf(output)).equals(big), 'the copy outlives its source');
      assert.equal(output.ChecksumCRC32, crc32Base64(big));
      assert.equal((await fragmentFiles(t.server.driveDirs)).length, before + 6);
    });

    it('a missing source is 404 NoSuchKey', async () => {
      const failure = await s3ErrorOf(t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/x', CopySource: `${bucket}/copy/absent` })));
      assert.equal(failure.status, 404);
      assert.equal(failure.code, 'NoSuchKey');
    });
  });

  it('DeleteObjects deletes existing and missing keys alike; Quiet lists nothing', async () => {
    const keys = ['multi/a', 'multi/b', 'multi/c big'];
    for (const [index, key] of keys.entries()) await put({ Key: key, Body: patternBytes(index === 2 ? 200 * KiB : 10, 70 + index) });
    const result = await t.client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [...keys, 'multi/missing'].map((Key) => ({ Key })) } }),
    );
    assert.deepEqual((result.Deleted ?? []).map((entry) => entry.Key).sort(), [...keys, 'multi/missing'].sort());
    assert.deepEqual(result.Errors ?? [], []);
    for (const key of keys) assert.equal((await s3ErrorOf(get(key))).status, 404);

    await put({ Key: 'multi/quiet', Body: 'q' });
    const quiet = await t.client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: [{ Key: 'multi/quiet' }, { Key: 'multi/quiet-missing' }] } }),
    );
    assert.deepEqual(quiet.Deleted ?? [], []);
    assert.deepEqual(quiet.Errors ?? [], []);
    assert.equal((await s3ErrorOf(get('multi/quiet'))).status, 404);
  });

  it('DeleteObjects keeps leading and trailing spaces in keys (never deletes a neighbour)', async () => {
    const spaced = [' lead', 'trail ', '  ', 'a & b <c>'];
    for (const key of [...spaced, 'lead', 'trail']) await put({ Key: `ws/${key}`, Body: key });
    const result = await t.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: spaced.map((key) => ({ Key: `ws/${key}` })) } }));
    assert.deepEqual((result.Deleted ?? []).map((entry) => entry.Key).sort(), spaced.map((key) => `ws/${key}`).sort());
    const raw = await sendSigned(t.port, {
      method: 'POST',
      path: `/${bucket}`,
      query: { delete: '' },
      headers: { 'content-type': 'application/xml' },
      body: '<Delete>\n  <Object>\n    <Key>ws/lead </Key>\n  </Object>\n  <Quiet> true </Quiet>\n</Delete>',
    });
    assert.equal(raw.status, 200);
    assert.doesNotMatch(raw.body.toString(), /<Deleted>/, 'Quiet with spaces around true is still quiet');
    const left = await t.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'ws/' }));
    assert.deepEqual((left.Contents ?? []).map((entry) => entry.Key), ['ws/lead', 'ws/trail']);
  });

  it('DeleteObjects with a leading-space key deletes exactly that key', async () => {
    await put({ Key: ' spaced', Body: 'spaced' });
    await put({ Key: 'spaced', Body: 'plain' });
    const response = await sendSigned(t.port, {
      method: 'POST',
      path: `/${bucket}`,
      query: { delete: '' },
      headers: { 'content-type': 'application/xml' },
      body: '<Delete><Object><Key> spaced</Key></Object></Delete>',
    });
    assert.equal(response.status, 200, response.body.toString());
    assert.match(response.body.toString(), /<Deleted><Key> spaced<\/Key><\/Deleted>/);
    assert.equal((await get('spaced')).bytes.toString(), 'plain', 'the neighbour without the space survives');
    assert.equal((await s3ErrorOf(get(' spaced'))).status, 404);
  });

  describe('bad digests create nothing', () => {
    const wrongMd5 = createHash('md5').update('something else').digest('base64');
    for (const size of [100, 64 * KiB, 300 * KiB + 1]) {
      it(`Content-MD5 wrong → 400 BadDigest (${size} bytes)`, async () => {
        await drainGarbage(t.server);
        const before = (await fragmentFiles(t.server.driveDirs)).length;
        const key = `bad-md5/${size}`;
        const failure = await s3ErrorOf(put({ Key: key, Body: patternBytes(size, 81), ContentMD5: wrongMd5 }));
        assert.equal(failure.status, 400);
        assert.equal(failure.code, 'BadDigest');
        await assertNothingLeft(key, before);
        // A correct Content-MD5 is accepted.
        const bytes = patternBytes(size, 82);
        await put({ Key: key, Body: bytes, ContentMD5: createHash('md5').update(bytes).digest('base64') });
        assert.ok((await get(key)).bytes.equals(bytes));
      });

      it(`x-amz-checksum-crc32 wrong → 400 BadDigest (${size} bytes)`, async () => {
        await drainGarbage(t.server);
        const before = (await fragmentFiles(t.server.driveDirs)).length;
        const key = `bad-crc/${size}`;
        const bytes = patternBytes(size, 83);
        const wrong = crc32Base64(Buffer.from('not the body'));
        const failure = await s3ErrorOf(put({ Key: key, Body: bytes, ChecksumCRC32: wrong }));
        assert.equal(failure.status, 400);
        assert.equal(failure.code, 'BadDigest');
        await assertNothingLeft(key, before);
      });

      it(`aws-chunked trailer x-amz-checksum-crc32 wrong → 400 BadDigest (${size} bytes)`, async () => {
        await drainGarbage(t.server);
        const before = (await fragmentFiles(t.server.driveDirs)).length;
        const key = `bad-trailer/${size}`;
        const bytes = patternBytes(size, 84);
        const framed = Buffer.concat([
          Buffer.from(`${size.toString(16)}\r\n`),
          bytes,
          Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${crc32Base64(Buffer.from('nope'))}\r\n\r\n`),
        ]);
        const response = await sendSigned(t.port, {
          method: 'PUT',
          path: `/${bucket}/${key}`,
          headers: {
            'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
            'content-encoding': 'aws-chunked',
            'x-amz-trailer': 'x-amz-checksum-crc32',
            'x-amz-decoded-content-length': String(size),
          },
          body: framed,
        });
        assert.equal(response.status, 400, response.body.toString());
        assert.match(response.body.toString(), /<Code>BadDigest<\/Code>/);
        await assertNothingLeft(key, before);
      });
    }
  });

  it('GetObject with ChecksumMode ENABLED returns the stored CRC32 (header and trailer uploads)', async () => {
    for (const [kind, size] of [['buffer', 1000], ['buffer', 500 * KiB], ['stream', 10], ['stream', 700 * KiB]] as const) {
      const bytes = patternBytes(size, 90 + size);
      const key = `checksum/${kind}/${size}`;
      const written = await put({ Key: key, Body: kind === 'buffer' ? bytes : streamOf(bytes), ContentLength: size });
      assert.equal(written.ChecksumCRC32, crc32Base64(bytes));
      const { output, bytes: read } = await get(key, { ChecksumMode: 'ENABLED' });
      assert.ok(read.equals(bytes));
      assert.equal(output.ChecksumCRC32, crc32Base64(bytes), `${kind} ${size}`);
      const head = await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
      assert.equal(head.ChecksumCRC32, crc32Base64(bytes));
      // A whole-object checksum does not describe a range.
      const ranged = await get(key, { ChecksumMode: 'ENABLED', Range: 'bytes=0-4' });
      assert.equal(ranged.output.ChecksumCRC32, undefined);
      assert.ok(ranged.bytes.equals(bytes.subarray(0, 5)));
    }
  });
});
