// Bucket operations and listings through the real AWS SDK: create / head /
// list / locate / delete, the naming and ownership errors, NoSuchBucket on
// every kind of operation, and ListObjectsV2 / ListObjects paging checked
// against a model of the key set (prefix, delimiter, MaxKeys, StartAfter,
// Marker, EncodingType=url, FetchOwner).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { ListObjectsV2CommandInput } from '@aws-sdk/client-s3';
import { makeClient, rootCredentials, s3ErrorOf, sendSigned, startTestServer, xmlText } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const listBucket = 'listing';

/** S3 lists keys in UTF-8 byte order. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const keys = [
  'a/1.txt',
  'a/2.txt',
  'a/b/1.txt',
  'a/b/2.txt',
  'a/b/c/deep.txt',
  'a/c/1.txt',
  'b/1.txt',
  'b/2.txt',
  'b0',
  'c',
  'd/x/y',
  'photos/2024/jan/1.jpg',
  'photos/2024/jan/2.jpg',
  'photos/2024/feb/1.jpg',
  'photos/2025/mar/1.jpg',
  'root-1',
  'root-2',
  'sp ace/key with spaces',
  'plus+sign',
  'unicode/ünï©ødé',
  'unicode/日本語.txt',
  'unicode/emoji-😀',
  'xml&<>"\'chars',
  'z',
  'zz/top',
].sort(byteOrder);

/** What a listing with this prefix/delimiter must return, in order (keys and prefixes merged). */
function expectedEntries(prefix: string, delimiter: string | undefined, startAfter = ''): { keys: string[]; prefixes: string[] } {
  const result = { keys: [] as string[], prefixes: [] as string[] };
  for (const key of keys) {
    if (!key.startsWith(prefix) || byteOrder(key, startAfter) <= 0) continue;
    const rest = key.slice(prefix.length);
    const at = delimiter === undefined ? -1 : rest.indexOf(delimiter);
    if (at >= 0) {
      const common = prefix + rest.slice(0, at + delimiter!.length);
      if (!result.prefixes.includes(common) && byteOrder(common, startAfter) > 0) result.prefixes.push(common);
    } else {
      result.keys.push(key);
    }
  }
  return result;
}

describe('s3 buckets', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('buckets');
  });
  after(async () => {
    await t.close();
  });

  it('create, head, list, locate and delete a bucket', async () => {
    const created = await t.client.send(new CreateBucketCommand({ Bucket: 'lifecycle-1' }));
    assert.equal(created.$metadata.httpStatusCode, 200);
    assert.equal(created.Location, '/lifecycle-1');
    const head = await t.client.send(new HeadBucketCommand({ Bucket: 'lifecycle-1' }));
    assert.equal(head.$metadata.httpStatusCode, 200);
    assert.equal(head.BucketRegion, 'us-east-1');
    const listed = await t.client.send(new ListBucketsCommand({}));
    const entry = listed.Buckets?.find((bucket) => bucket.Name === 'lifecycle-1');
    assert.ok(entry !== undefined, 'ListBuckets shows the new bucket');
    assert.ok(entry.CreationDate instanceof Date && Math.abs(entry.CreationDate.getTime() - Date.now()) < 60_000);
    assert.ok(listed.Owner?.ID !== undefined && listed.Owner.ID !== '');
    const location = await t.client.send(new GetBucketLocationCommand({ Bucket: 'lifecycle-1' }));
    assert.ok(location.LocationConstraint === undefined || (location.LocationConstraint as string) === '', 'us-east-1 is the empty constraint');
    const deleted = await t.client.send(new DeleteBucketCommand({ Bucket: 'lifecycle-1' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    assert.equal((await s3ErrorOf(t.client.send(new HeadBucketCommand({ Bucket: 'lifecycle-1' })))).status, 404);
    const after = await t.client.send(new ListBucketsCommand({}));
    assert.equal(after.Buckets?.find((bucket) => bucket.Name === 'lifecycle-1'), undefined);
  });

  it('ListBuckets pages with MaxBuckets and ContinuationToken, and filters by Prefix', async () => {
    const names = ['page-a', 'page-b', 'page-c', 'page-d', 'page-e'];
    for (const name of names) await t.client.send(new CreateBucketCommand({ Bucket: name }));
    const seen: string[] = [];
    let token: string | undefined;
    for (let pages = 1; ; pages++) {
      assert.ok(pages <= names.length, 'ListBuckets paging does not end');
      const page = await t.client.send(new ListBucketsCommand({ Prefix: 'page-', MaxBuckets: 2, ...(token === undefined ? {} : { ContinuationToken: token }) }));
      assert.ok((page.Buckets ?? []).length <= 2);
      assert.equal(page.Prefix, 'page-');
      seen.push(...(page.Buckets ?? []).map((bucket) => bucket.Name!));
      token = page.ContinuationToken;
      if (token === undefined) break;
    }
    assert.deepEqual(seen, names);
    for (const name of names) await t.client.send(new DeleteBucketCommand({ Bucket: name }));
  });

  it('creates a bucket with a matching LocationConstraint body', async () => {
    // us-east-1 clients send no body; a raw body with the server's region is accepted.
    const body = '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>';
    const response = await sendSigned(t.port, { method: 'PUT', path: '/with-location', body, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    assert.equal(response.status, 200, response.body.toString());
    await t.client.send(new HeadBucketCommand({ Bucket: 'with-location' }));
    await t.client.send(new DeleteBucketCommand({ Bucket: 'with-location' }));
  });

  const invalidNames = ['ab', 'a'.repeat(64), 'UpperCase', 'under_score', '-leading', 'trailing-', 'double..dot', 'dot.-dash', '192.168.1.1', 'xn--punycode', 'name-s3alias'];
  for (const name of invalidNames) {
    it(`invalid bucket name "${name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name}" → 400 InvalidBucketName`, async () => {
      // Raw signed request: the SDK may refuse some of these names itself.
      const response = await sendSigned(t.port, { method: 'PUT', path: `/${name}` });
      assert.equal(response.status, 400, response.body.toString());
      assert.equal(xmlText(response.body, 'Code'), 'InvalidBucketName');
      const listed = await t.client.send(new ListBucketsCommand({}));
      assert.equal(listed.Buckets?.find((bucket) => bucket.Name === name), undefined);
    });
  }

  it('rejects an invalid name through the SDK too', async () => {
    const failure = await s3ErrorOf(t.client.send(new CreateBucketCommand({ Bucket: 'bad_name' })));
    assert.equal(failure.status, 400);
    assert.equal(failure.code, 'InvalidBucketName');
  });

  it('accepts names at the edges of the rules', async () => {
    for (const name of ['abc', 'a'.repeat(63), 'dots.in.name', '0-9digits']) {
      await t.client.send(new CreateBucketCommand({ Bucket: name }));
      await t.client.send(new HeadBucketCommand({ Bucket: name }));
      await t.client.send(new DeleteBucketCommand({ Bucket: name }));
    }
  });

  it('re-creating your own bucket in us-east-1 is 200 and keeps its objects (as AWS)', async () => {
    await t.client.send(new CreateBucketCommand({ Bucket: 'twice' }));
    await t.client.send(new PutObjectCommand({ Bucket: 'twice', Key: 'kept', Body: 'kept' }));
    const again = await t.client.send(new CreateBucketCommand({ Bucket: 'twice' }));
    assert.equal(again.$metadata.httpStatusCode, 200);
    const listed = await t.client.send(new ListObjectsV2Command({ Bucket: 'twice' }));
    assert.deepEqual((listed.Contents ?? []).map((entry) => entry.Key), ['kept']);
    await t.client.send(new DeleteObjectCommand({ Bucket: 'twice', Key: 'kept' }));
    await t.client.send(new DeleteBucketCommand({ Bucket: 'twice' }));
  });

  it('outside us-east-1, creating a bucket twice is 409 BucketAlreadyOwnedByYou', async () => {
    const regional = await startTestServer('buckets-eu', { region: 'eu-central-1' });
    const client = makeClient(regional.endpoint, rootCredentials, { region: 'eu-central-1' });
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'twice', CreateBucketConfiguration: { LocationConstraint: 'eu-central-1' } }));
      const location = await client.send(new GetBucketLocationCommand({ Bucket: 'twice' }));
      assert.equal(location.LocationConstraint, 'eu-central-1');
      const failure = await s3ErrorOf(client.send(new CreateBucketCommand({ Bucket: 'twice', CreateBucketConfiguration: { LocationConstraint: 'eu-central-1' } })));
      assert.equal(failure.status, 409);
      assert.equal(failure.code, 'BucketAlreadyOwnedByYou');
      const wrongRegion = await s3ErrorOf(client.send(new CreateBucketCommand({ Bucket: 'elsewhere', CreateBucketConfiguration: { LocationConstraint: 'ap-south-1' } })));
      assert.equal(wrongRegion.status, 400);
      assert.equal(wrongRegion.code, 'InvalidLocationConstraint');
    } finally {
      client.destroy();
      await regional.close();
    }
  });

  it('deleting a non-empty bucket is 409 BucketNotEmpty; empty again, it deletes', async () => {
    await t.client.send(new CreateBucketCommand({ Bucket: 'not-empty' }));
    await t.client.send(new PutObjectCommand({ Bucket: 'not-empty', Key: 'small', Body: 'x' }));
    await t.client.send(new PutObjectCommand({ Bucket: 'not-empty', Key: 'big', Body: Buffer.alloc(200 * 1024, 1) }));
    const failure = await s3ErrorOf(t.client.send(new DeleteBucketCommand({ Bucket: 'not-empty' })));
    assert.equal(failure.status, 409);
    assert.equal(failure.code, 'BucketNotEmpty');
    await t.client.send(new DeleteObjectCommand({ Bucket: 'not-empty', Key: 'small' }));
    assert.equal((await s3ErrorOf(t.client.send(new DeleteBucketCommand({ Bucket: 'not-empty' })))).code, 'BucketNotEmpty');
    await t.client.send(new DeleteObjectCommand({ Bucket: 'not-empty', Key: 'big' }));
    await t.client.send(new DeleteBucketCommand({ Bucket: 'not-empty' }));
  });

  it('every operation on a missing bucket is 404 NoSuchBucket', async () => {
    const bucket = 'does-not-exist';
    const operations = {
      PutObject: () => t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'x' })),
      PutObjectStriped: () => t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.alloc(300 * 1024) })),
      GetObject: () => t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' })),
      DeleteObject: () => t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'k' })),
      ListObjectsV2: () => t.client.send(new ListObjectsV2Command({ Bucket: bucket })),
      ListObjects: () => t.client.send(new ListObjectsCommand({ Bucket: bucket })),
      DeleteBucket: () => t.client.send(new DeleteBucketCommand({ Bucket: bucket })),
      GetBucketLocation: () => t.client.send(new GetBucketLocationCommand({ Bucket: bucket })),
    };
    for (const [name, operation] of Object.entries(operations)) {
      const failure = await s3ErrorOf(operation());
      assert.equal(failure.status, 404, name);
      assert.equal(failure.code, 'NoSuchBucket', name);
    }
    // HEAD has no body: just the status.
    assert.equal((await s3ErrorOf(t.client.send(new HeadBucketCommand({ Bucket: bucket })))).status, 404);
    assert.equal((await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'k' })))).status, 404);
    // The error document names the bucket.
    const raw = await sendSigned(t.port, { method: 'GET', path: `/${bucket}`, query: { 'list-type': '2' } });
    assert.equal(xmlText(raw.body, 'BucketName'), bucket);
    assert.equal(xmlText(raw.body, 'Resource'), `/${bucket}`);
  });
});

describe('s3 listing', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('listing');
    await t.client.send(new CreateBucketCommand({ Bucket: listBucket }));
    await Promise.all(keys.map((key, index) => t.client.send(new PutObjectCommand({ Bucket: listBucket, Key: key, Body: Buffer.alloc(index, 0x61) }))));
  });
  after(async () => {
    await t.close();
  });

  async function listAllV2(input: Omit<ListObjectsV2CommandInput, 'Bucket'>): Promise<{ keys: string[]; prefixes: string[]; pages: number }> {
    const all = { keys: [] as string[], prefixes: [] as string[], pages: 0 };
    let token: string | undefined;
    for (;;) {
      const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, ...input, ...(token === undefined ? {} : { ContinuationToken: token }) }));
      all.pages++;
      const pageKeys = (page.Contents ?? []).map((entry) => entry.Key!);
      const pagePrefixes = (page.CommonPrefixes ?? []).map((entry) => entry.Prefix!);
      assert.equal(page.KeyCount, pageKeys.length + pagePrefixes.length, 'KeyCount counts keys and common prefixes');
      if (input.MaxKeys !== undefined) assert.ok(page.KeyCount <= input.MaxKeys, `page of ${page.KeyCount} > MaxKeys ${input.MaxKeys}`);
      assert.equal(page.MaxKeys, input.MaxKeys ?? 1000);
      assert.equal(page.ContinuationToken, token);
      all.keys.push(...pageKeys);
      all.prefixes.push(...pagePrefixes);
      if (page.IsTruncated !== true) {
        assert.equal(page.NextContinuationToken, undefined);
        return all;
      }
      assert.ok(page.NextContinuationToken !== undefined && page.NextContinuationToken !== '');
      token = page.NextContinuationToken;
      assert.ok(all.pages < 100, 'listing does not end');
    }
  }

  it('lists every key in UTF-8 byte order with sizes, ETags and dates', async () => {
    const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket }));
    assert.deepEqual((page.Contents ?? []).map((entry) => entry.Key), keys);
    assert.equal(page.KeyCount, keys.length);
    assert.equal(page.IsTruncated, false);
    for (const entry of page.Contents ?? []) {
      assert.equal(entry.Size, keys.indexOf(entry.Key!));
      assert.match(entry.ETag ?? '', /^"[0-9a-f]{32}"$/);
      assert.ok(entry.LastModified instanceof Date);
      assert.equal(entry.StorageClass, 'STANDARD');
      assert.equal(entry.Owner, undefined, 'no Owner without FetchOwner');
    }
  });

  it('FetchOwner adds the owner to each entry', async () => {
    const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, FetchOwner: true, MaxKeys: 3 }));
    const owner = (await t.client.send(new ListBucketsCommand({}))).Owner!;
    assert.equal(page.Contents?.length, 3);
    for (const entry of page.Contents ?? []) {
      assert.equal(entry.Owner?.ID, owner.ID);
      assert.equal(entry.Owner?.DisplayName, owner.DisplayName);
    }
  });

  it('prefix filters keys', async () => {
    const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, Prefix: 'a/b/' }));
    assert.deepEqual((page.Contents ?? []).map((entry) => entry.Key), expectedEntries('a/b/', undefined).keys);
    assert.equal(page.Prefix, 'a/b/');
    const none = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, Prefix: 'nothing/' }));
    assert.equal(none.KeyCount, 0);
    assert.deepEqual(none.Contents ?? [], []);
  });

  const delimiterCases: [string, string][] = [
    ['', '/'],
    ['a/', '/'],
    ['photos/', '/'],
    ['photos/2024/', '/'],
    ['', '-'],
    ['unicode/', '/'],
  ];
  for (const [prefix, delimiter] of delimiterCases) {
    it(`delimiter "${delimiter}" with prefix "${prefix}" groups CommonPrefixes`, async () => {
      const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, Prefix: prefix, Delimiter: delimiter }));
      const expected = expectedEntries(prefix, delimiter);
      assert.deepEqual((page.Contents ?? []).map((entry) => entry.Key), expected.keys);
      assert.deepEqual((page.CommonPrefixes ?? []).map((entry) => entry.Prefix), expected.prefixes);
      assert.equal(page.Delimiter, delimiter);
      assert.equal(page.KeyCount, expected.keys.length + expected.prefixes.length);
    });
  }

  for (const delimiter of [undefined, '/']) {
    for (const prefix of ['', 'a/', 'photos/']) {
      it(`MaxKeys 4 paging with ContinuationToken collects everything (prefix "${prefix}", delimiter ${delimiter ?? 'none'})`, async () => {
        const all = await listAllV2({ MaxKeys: 4, Prefix: prefix, ...(delimiter === undefined ? {} : { Delimiter: delimiter }) });
        const expected = expectedEntries(prefix, delimiter);
        assert.deepEqual(all.keys, expected.keys);
        assert.deepEqual(all.prefixes, expected.prefixes);
        assert.equal(all.pages, Math.max(1, Math.ceil((expected.keys.length + expected.prefixes.length) / 4)));
      });
    }
  }

  it('MaxKeys 1 walks the whole bucket one entry at a time', async () => {
    const all = await listAllV2({ MaxKeys: 1 });
    assert.deepEqual(all.keys, keys);
    assert.equal(all.pages, keys.length);
  });

  it('MaxKeys 0 returns nothing and is not truncated forever', async () => {
    const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, MaxKeys: 0 }));
    assert.equal(page.KeyCount, 0);
    assert.deepEqual(page.Contents ?? [], []);
  });

  it('StartAfter skips keys up to and including it', async () => {
    for (const startAfter of ['b/1.txt', 'b', 'photos/', 'zz/top', '']) {
      const all = await listAllV2({ StartAfter: startAfter, MaxKeys: 5 });
      assert.deepEqual(all.keys, keys.filter((key) => byteOrder(key, startAfter) > 0), `StartAfter ${startAfter}`);
    }
    const withDelimiter = await listAllV2({ StartAfter: 'a/b/', Delimiter: '/', MaxKeys: 3 });
    const expected = expectedEntries('', '/', 'a/b/');
    assert.deepEqual(withDelimiter.keys, expected.keys);
    assert.deepEqual(withDelimiter.prefixes, expected.prefixes);
  });

  it('keys with XML special characters come back unescaped', async () => {
    const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, Prefix: 'xml' }));
    assert.deepEqual((page.Contents ?? []).map((entry) => entry.Key), ['xml&<>"\'chars']);
  });

  it('EncodingType url percent-encodes keys, prefixes and delimiters', async () => {
    // The SDK does not decode: what it returns is what the server sent.
    const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, EncodingType: 'url' }));
    assert.equal(page.EncodingType, 'url');
    const encoded = (page.Contents ?? []).map((entry) => entry.Key!);
    assert.deepEqual(encoded.map((key) => decodeURIComponent(key)), keys);
    assert.ok(encoded.includes('sp%20ace/key%20with%20spaces'), encoded.join(' '));
    assert.ok(encoded.includes('plus%2Bsign'));
    assert.ok(encoded.includes('unicode/%C3%BCn%C3%AF%C2%A9%C3%B8d%C3%A9'));
    assert.ok(encoded.includes('unicode/%E6%97%A5%E6%9C%AC%E8%AA%9E.txt'));
    for (const key of encoded) assert.match(key, /^[A-Za-z0-9%/._~-]*$/, `${key} is URL-safe`);

    const grouped = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, EncodingType: 'url', Prefix: 'sp ace/', Delimiter: ' ' }));
    assert.equal(grouped.Prefix, 'sp%20ace/');
    assert.equal(grouped.Delimiter, '%20');
    assert.deepEqual((grouped.CommonPrefixes ?? []).map((entry) => entry.Prefix), ['sp%20ace/key%20']);

    const all = await listAllV2({ EncodingType: 'url', MaxKeys: 4, Delimiter: '/' });
    const expected = expectedEntries('', '/');
    assert.deepEqual(all.keys.map((key) => decodeURIComponent(key)), expected.keys);
    assert.deepEqual(all.prefixes.map((prefix) => decodeURIComponent(prefix)), expected.prefixes);
  });

  it('prefix and StartAfter with spaces, unicode and + are matched exactly', async () => {
    for (const key of ['sp ace/key with spaces', 'plus+sign', 'unicode/日本語.txt']) {
      const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, Prefix: key }));
      assert.deepEqual((page.Contents ?? []).map((entry) => entry.Key), [key]);
      const got = await t.client.send(new GetObjectCommand({ Bucket: listBucket, Key: key }));
      assert.equal(got.ContentLength, keys.indexOf(key));
      await got.Body?.transformToByteArray();
    }
    const page = await t.client.send(new ListObjectsV2Command({ Bucket: listBucket, StartAfter: 'plus+sign', MaxKeys: 1 }));
    assert.deepEqual((page.Contents ?? []).map((entry) => entry.Key), [keys[keys.indexOf('plus+sign') + 1]]);
  });

  it('ListObjects (v1) pages with Marker and NextMarker', async () => {
    for (const delimiter of [undefined, '/']) {
      const collected = { keys: [] as string[], prefixes: [] as string[] };
      let marker: string | undefined;
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 100);
        const page = await t.client.send(
          new ListObjectsCommand({ Bucket: listBucket, MaxKeys: 4, ...(delimiter === undefined ? {} : { Delimiter: delimiter }), ...(marker === undefined ? {} : { Marker: marker }) }),
        );
        assert.equal(page.Marker ?? '', marker ?? '');
        const pageKeys = (page.Contents ?? []).map((entry) => entry.Key!);
        const pagePrefixes = (page.CommonPrefixes ?? []).map((entry) => entry.Prefix!);
        assert.ok(pageKeys.length + pagePrefixes.length <= 4);
        for (const entry of page.Contents ?? []) assert.ok(entry.Owner?.ID !== undefined, 'v1 lists owners');
        collected.keys.push(...pageKeys);
        collected.prefixes.push(...pagePrefixes);
        if (page.IsTruncated !== true) break;
        if (delimiter !== undefined) {
          // NextMarker is sent only with a delimiter: it is the last key or prefix of the page.
          const last = [...pageKeys, ...pagePrefixes].sort(byteOrder).at(-1);
          assert.equal(page.NextMarker, last);
          marker = page.NextMarker;
        } else {
          assert.equal(page.NextMarker, undefined);
          marker = pageKeys.at(-1);
        }
      }
      const expected = expectedEntries('', delimiter);
      assert.deepEqual(collected.keys, expected.keys);
      assert.deepEqual(collected.prefixes, expected.prefixes);
    }
  });

  it('ListObjects (v1) with a Marker in the middle and EncodingType url', async () => {
    const page = await t.client.send(new ListObjectsCommand({ Bucket: listBucket, Marker: 'plus+sign', EncodingType: 'url', Prefix: 'p' }));
    assert.deepEqual((page.Contents ?? []).map((entry) => entry.Key), []);
    const sp = await t.client.send(new ListObjectsCommand({ Bucket: listBucket, Marker: 'root-2', EncodingType: 'url', MaxKeys: 1 }));
    assert.equal(sp.Marker, 'root-2');
    assert.deepEqual((sp.Contents ?? []).map((entry) => entry.Key), ['sp%20ace/key%20with%20spaces']);
  });

  it('an invalid continuation token is 400 InvalidArgument', async () => {
    const failure = await s3ErrorOf(t.client.send(new ListObjectsV2Command({ Bucket: listBucket, ContinuationToken: 'garbage' })));
    assert.equal(failure.status, 400);
    assert.equal(failure.code, 'InvalidArgument');
  });
});
