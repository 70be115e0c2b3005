// Bucket versioning through the real AWS SDK against an embedded server:
// Put/GetBucketVersioning, version ids on every kind of write, reads of old
// versions (inline and striped) by VersionId, delete markers and their
// headers, deletes of one version (fragment files counted on disk),
// ListObjectVersions paged with key and version-id markers, DeleteObjects and
// CopyObject with versions, the null version of a Suspended bucket, and at the
// end every version deleted, every bucket deleted and no fragment left.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { ListObjectVersionsCommandInput, ListObjectVersionsCommandOutput } from '@aws-sdk/client-s3';
import { bodyOf, drainGarbage, fragmentFiles, patternBytes, s3ErrorOf, sendSigned, startTestServer, temporaryFiles, xmlText } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const shardCount = 6;
const partBytesMin = 64 * KiB;
const versionIdPattern = /^[0-9a-f]{28}$/;

function md5Etag(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** One entry of ListObjectVersions, versions and delete markers alike. */
interface Listed {
  readonly key: string;
  readonly versionId: string;
  readonly isLatest: boolean;
  readonly marker: boolean;
}

function listedOf(output: ListObjectVersionsCommandOutput): { versions: Listed[]; markers: Listed[] } {
  const versions = (output.Versions ?? []).map((entry) => ({ key: entry.Key!, versionId: entry.VersionId!, isLatest: entry.IsLatest === true, marker: false }));
  const markers = (output.DeleteMarkers ?? []).map((entry) => ({ key: entry.Key!, versionId: entry.VersionId!, isLatest: entry.IsLatest === true, marker: true }));
  return { versions, markers };
}

describe('s3 versioning', () => {
  let t: TestServer;
  let fragmentsAtStart: number;
  const buckets = ['ver-basic', 'ver-list', 'ver-suspended', 'ver-plain'];

  before(async () => {
    t = await startTestServer('versioning', { partBytesMin });
    for (const bucket of buckets) await t.client.send(new CreateBucketCommand({ Bucket: bucket }));
    fragmentsAtStart = await settledFragmentCount();
  });

  after(async () => {
    await t.close();
  });

  /** Fragment files on disk once the garbage queue is empty. */
  async function settledFragmentCount(): Promise<number> {
    await drainGarbage(t.server);
    return (await fragmentFiles(t.server.driveDirs)).length;
  }

  async function setVersioning(bucket: string, status: 'Enabled' | 'Suspended'): Promise<void> {
    await t.client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: status } }));
  }

  async function put(bucket: string, key: string, bytes: Buffer): Promise<string | undefined> {
    const output = await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    assert.equal(output.ETag, md5Etag(bytes));
    return output.VersionId;
  }

  async function get(bucket: string, key: string, versionId?: string): Promise<{ bytes: Buffer; versionId: string | undefined; etag: string | undefined }> {
    const output = await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId === undefined ? {} : { VersionId: versionId }) }));
    return { bytes: await bodyOf(output), versionId: output.VersionId, etag: output.ETag };
  }

  /** Every page of ListObjectVersions for `input` with `maxKeys`, following the markers. */
  async function listAllVersions(
    bucket: string,
    input: Omit<ListObjectVersionsCommandInput, 'Bucket'>,
  ): Promise<{ pages: number; versions: Listed[]; markers: Listed[]; entries: Listed[]; prefixes: string[] }> {
    const pagesMax = 200;
    const versions: Listed[] = [];
    const markers: Listed[] = [];
    const prefixes: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (let page = 1; page <= pagesMax; page++) {
      const output = await t.client.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          ...input,
          ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
          ...(versionIdMarker === undefined ? {} : { VersionIdMarker: versionIdMarker }),
        }),
      );
      const listed = listedOf(output);
      const onPage = listed.versions.length + listed.markers.length + (output.CommonPrefixes ?? []).length;
      if (input.MaxKeys !== undefined) assert.ok(onPage <= input.MaxKeys, `page ${page} holds ${onPage} > MaxKeys ${input.MaxKeys}`);
      versions.push(...listed.versions);
      markers.push(...listed.markers);
      prefixes.push(...(output.CommonPrefixes ?? []).map((entry) => entry.Prefix!));
      if (output.IsTruncated !== true) {
        assert.equal(output.NextKeyMarker, undefined, 'a last page has no NextKeyMarker');
        return { pages: page, versions, markers, entries: [...versions, ...markers], prefixes };
      }
      assert.ok(onPage > 0, `truncated page ${page} is not empty`);
      assert.ok(output.NextKeyMarker !== undefined, 'a truncated page says where to go on');
      keyMarker = output.NextKeyMarker;
      versionIdMarker = output.NextVersionIdMarker;
    }
    throw new Error(`ListObjectVersions did not finish in ${pagesMax} pages`);
  }

  it('PutBucketVersioning / GetBucketVersioning: no Status on a fresh bucket, then Enabled and Suspended', async () => {
    const fresh = await t.client.send(new GetBucketVersioningCommand({ Bucket: 'ver-basic' }));
    assert.equal(fresh.Status, undefined);
    const raw = await sendSigned(t.port, { method: 'GET', path: '/ver-basic', query: { versioning: '' } });
    assert.equal(raw.status, 200);
    assert.match(raw.body.toString(), /<VersioningConfiguration[^>]*\/?>/);
    assert.equal(xmlText(raw.body, 'Status'), undefined);
    for (const status of ['Enabled', 'Suspended', 'Enabled'] as const) {
      await setVersioning('ver-basic', status);
      assert.equal((await t.client.send(new GetBucketVersioningCommand({ Bucket: 'ver-basic' }))).Status, status);
    }
    const missing = await s3ErrorOf(t.client.send(new GetBucketVersioningCommand({ Bucket: 'ver-missing' })));
    assert.deepEqual([missing.code, missing.status], ['NoSuchBucket', 404]);
  });

  it('PutBucketVersioning with malformed XML is 400 MalformedXML and changes nothing', async () => {
    for (const body of [
      'not xml at all',
      '<VersioningConfiguration><Status>On</Status></VersioningConfiguration>',
      '<VersioningConfiguration></VersioningConfiguration>',
      '<Other><Status>Enabled</Status></Other>',
    ]) {
      const response = await sendSigned(t.port, {
        method: 'PUT',
        path: '/ver-plain',
        query: { versioning: '' },
        headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-type': 'application/xml' },
        body,
      });
      assert.equal(response.status, 400, `${body}: ${response.body.toString()}`);
      assert.equal(xmlText(response.body, 'Code'), 'MalformedXML', body);
    }
    assert.equal((await t.client.send(new GetBucketVersioningCommand({ Bucket: 'ver-plain' }))).Status, undefined);
  });

  it('version ids come back from PutObject, CopyObject and CompleteMultipartUpload only in Enabled buckets', async () => {
    async function writeAll(bucket: string): Promise<(string | undefined)[]> {
      const putId = await put(bucket, 'ids/put', patternBytes(100, 1));
      const copied = await t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'ids/copy', CopySource: `${bucket}/ids/put` }));
      const { UploadId: uploadId } = await t.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'ids/multipart' }));
      const partBytes = patternBytes(partBytesMin, 2);
      const part = await t.client.send(new UploadPartCommand({ Bucket: bucket, Key: 'ids/multipart', UploadId: uploadId, PartNumber: 1, Body: partBytes }));
      const completed = await t.client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'ids/multipart', UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] } }),
      );
      return [putId, copied.VersionId, completed.VersionId];
    }
    assert.deepEqual(await writeAll('ver-plain'), [undefined, undefined, undefined], 'unversioned');
    await setVersioning('ver-suspended', 'Suspended');
    assert.deepEqual(await writeAll('ver-suspended'), [undefined, undefined, undefined], 'suspended');
    const ids = await writeAll('ver-basic');
    for (const id of ids) assert.match(id ?? '', versionIdPattern);
    assert.equal(new Set(ids).size, 3, 'each write gets its own id');
    for (const [key, id] of [['ids/put', ids[0]], ['ids/copy', ids[1]], ['ids/multipart', ids[2]]] as const) {
      const head = await t.client.send(new HeadObjectCommand({ Bucket: 'ver-basic', Key: key }));
      assert.equal(head.VersionId, id, `HEAD ${key} names the current version`);
    }
  });

  it('GET and HEAD by VersionId read old versions byte-identical, inline and striped', async () => {
    const sizes = [1 * KiB, 200 * KiB, 0, MiB + 3, 64 * KiB];
    const written: { versionId: string; bytes: Buffer }[] = [];
    for (const [index, size] of sizes.entries()) {
      const bytes = patternBytes(size, 10 + index);
      const versionId = await put('ver-basic', 'read/doc', bytes);
      assert.match(versionId ?? '', versionIdPattern);
      written.push({ versionId: versionId!, bytes });
    }
    for (const { versionId, bytes } of written) {
      const read = await get('ver-basic', 'read/doc', versionId);
      assert.ok(read.bytes.equals(bytes), `version ${versionId} (${bytes.length} bytes) differs`);
      assert.equal(read.versionId, versionId);
      assert.equal(read.etag, md5Etag(bytes));
      const head = await t.client.send(new HeadObjectCommand({ Bucket: 'ver-basic', Key: 'read/doc', VersionId: versionId }));
      assert.equal(head.ContentLength, bytes.length);
      assert.equal(head.VersionId, versionId);
    }
    const ranged = await t.client.send(new GetObjectCommand({ Bucket: 'ver-basic', Key: 'read/doc', VersionId: written[3]!.versionId, Range: 'bytes=100-199' }));
    assert.ok((await bodyOf(ranged)).equals(written[3]!.bytes.subarray(100, 200)), 'a range of an old version');
    const latest = await get('ver-basic', 'read/doc');
    assert.equal(latest.versionId, written.at(-1)!.versionId);
    assert.ok(latest.bytes.equals(written.at(-1)!.bytes));

    const unknown = await s3ErrorOf(get('ver-basic', 'read/doc', '0'.repeat(28)));
    assert.deepEqual([unknown.code, unknown.status], ['NoSuchVersion', 404]);
    const otherKey = await s3ErrorOf(get('ver-basic', 'ids/put', written[0]!.versionId));
    assert.deepEqual([otherKey.code, otherKey.status], ['NoSuchVersion', 404], 'a version id belongs to its key');
    const malformed = await s3ErrorOf(get('ver-basic', 'read/doc', 'not-a-version'));
    assert.deepEqual([malformed.code, malformed.status], ['InvalidArgument', 400]);
  });

  it('a delete marker: GET is 404 with x-amz-delete-marker, GET of the marker is 405; deleting the marker restores the object', async () => {
    const bytes = patternBytes(100 * KiB, 30);
    const versionId = await put('ver-basic', 'marker/doc', bytes);
    const deleted = await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-basic', Key: 'marker/doc' }));
    assert.equal(deleted.DeleteMarker, true);
    const markerId = deleted.VersionId!;
    assert.match(markerId, versionIdPattern);
    assert.notEqual(markerId, versionId);

    for (const method of ['GET', 'HEAD']) {
      const current = await sendSigned(t.port, { method, path: '/ver-basic/marker/doc' });
      assert.equal(current.status, 404, method);
      assert.equal(current.headers['x-amz-delete-marker'], 'true', method);
      assert.equal(current.headers['x-amz-version-id'], markerId, method);
      const marker = await sendSigned(t.port, { method, path: '/ver-basic/marker/doc', query: { versionId: markerId } });
      assert.equal(marker.status, 405, method);
      assert.equal(marker.headers['x-amz-delete-marker'], 'true', method);
      assert.equal(marker.headers['x-amz-version-id'], markerId, method);
    }
    const viaSdk = await s3ErrorOf(get('ver-basic', 'marker/doc'));
    assert.deepEqual([viaSdk.code, viaSdk.status], ['NoSuchKey', 404]);
    const markerViaSdk = await s3ErrorOf(get('ver-basic', 'marker/doc', markerId));
    assert.equal(markerViaSdk.status, 405);
    // The old version is still there by id.
    assert.ok((await get('ver-basic', 'marker/doc', versionId)).bytes.equals(bytes));
    // A key that never was a delete marker answers x-amz-delete-marker false (or not at all).
    const never = await sendSigned(t.port, { method: 'HEAD', path: '/ver-basic/marker/never' });
    assert.equal(never.status, 404);
    assert.notEqual(never.headers['x-amz-delete-marker'], 'true');

    const restored = await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-basic', Key: 'marker/doc', VersionId: markerId }));
    assert.equal(restored.DeleteMarker, true, 'the deleted version was a marker');
    assert.equal(restored.VersionId, markerId);
    const read = await get('ver-basic', 'marker/doc');
    assert.ok(read.bytes.equals(bytes));
    assert.equal(read.versionId, versionId);
  });

  it('deleting one striped version frees exactly its fragments; the other versions stay readable', async () => {
    const before = await settledFragmentCount();
    const written: { versionId: string; bytes: Buffer }[] = [];
    for (let index = 0; index < 3; index++) {
      const bytes = patternBytes(150 * KiB + index, 40 + index);
      written.push({ versionId: (await put('ver-basic', 'free/doc', bytes))!, bytes });
    }
    assert.equal(await settledFragmentCount(), before + 3 * shardCount, 'every version keeps its fragments');
    const [oldest, middle, newest] = written as [(typeof written)[0], (typeof written)[0], (typeof written)[0]];
    const deleted = await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-basic', Key: 'free/doc', VersionId: middle.versionId }));
    assert.equal(deleted.VersionId, middle.versionId);
    assert.equal(deleted.DeleteMarker, undefined);
    assert.equal(await settledFragmentCount(), before + 2 * shardCount, 'the middle version is freed');
    assert.ok((await get('ver-basic', 'free/doc', oldest.versionId)).bytes.equals(oldest.bytes));
    assert.ok((await get('ver-basic', 'free/doc')).bytes.equals(newest.bytes));
    const gone = await s3ErrorOf(get('ver-basic', 'free/doc', middle.versionId));
    assert.deepEqual([gone.code, gone.status], ['NoSuchVersion', 404]);

    // Deleting the newest promotes the oldest.
    await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-basic', Key: 'free/doc', VersionId: newest.versionId }));
    assert.equal(await settledFragmentCount(), before + shardCount);
    const current = await get('ver-basic', 'free/doc');
    assert.equal(current.versionId, oldest.versionId);
    assert.ok(current.bytes.equals(oldest.bytes));
  });

  it('an old multipart version reads back by VersionId; deleting it frees the fragments of every part', async () => {
    const before = await settledFragmentCount();
    const parts = [patternBytes(70 * KiB, 45), patternBytes(66 * KiB, 46)];
    const { UploadId: uploadId } = await t.client.send(new CreateMultipartUploadCommand({ Bucket: 'ver-basic', Key: 'mp/doc' }));
    const completedParts = [];
    for (const [index, body] of parts.entries()) {
      const output = await t.client.send(new UploadPartCommand({ Bucket: 'ver-basic', Key: 'mp/doc', UploadId: uploadId, PartNumber: index + 1, Body: body }));
      completedParts.push({ PartNumber: index + 1, ETag: output.ETag! });
    }
    const completed = await t.client.send(
      new CompleteMultipartUploadCommand({ Bucket: 'ver-basic', Key: 'mp/doc', UploadId: uploadId, MultipartUpload: { Parts: completedParts } }),
    );
    const multipartId = completed.VersionId!;
    assert.match(multipartId, versionIdPattern);
    await put('ver-basic', 'mp/doc', patternBytes(100, 47));
    assert.equal(await settledFragmentCount(), before + 2 * shardCount, 'both parts striped, the overwrite inline');
    const old = await get('ver-basic', 'mp/doc', multipartId);
    assert.ok(old.bytes.equals(Buffer.concat(parts)));
    assert.equal(old.etag, completed.ETag);
    const second = await t.client.send(new GetObjectCommand({ Bucket: 'ver-basic', Key: 'mp/doc', VersionId: multipartId, PartNumber: 2 }));
    assert.ok((await bodyOf(second)).equals(parts[1]!), 'part 2 of the old version');
    assert.equal(second.PartsCount, 2);
    await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-basic', Key: 'mp/doc', VersionId: multipartId }));
    assert.equal(await settledFragmentCount(), before, 'the fragments of both parts are freed');
  });

  it('concurrent PUTs of one key each keep their own version', async () => {
    const count = 12;
    const bodies = Array.from({ length: count }, (_, index) => patternBytes(index % 3 === 0 ? 70 * KiB : 300, 100 + index));
    const ids = await Promise.all(bodies.map((body) => put('ver-basic', 'race/doc', body)));
    assert.equal(new Set(ids).size, count, 'distinct version ids');
    const listed = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: 'ver-basic', Prefix: 'race/' }))).versions;
    assert.deepEqual(new Set(listed.map((entry) => entry.versionId)), new Set(ids));
    assert.deepEqual(listed.map((entry) => entry.isLatest), listed.map((_, index) => index === 0));
    const current = await get('ver-basic', 'race/doc');
    assert.equal(current.versionId, listed[0]!.versionId, 'the current object is the newest listed version');
    for (const [index, id] of ids.entries()) {
      assert.ok((await get('ver-basic', 'race/doc', id)).bytes.equals(bodies[index]!), `version ${index}`);
    }
  });

  it('ListObjectVersions pages with KeyMarker / VersionIdMarker and MaxKeys over 15 versions of 3 keys', async () => {
    await setVersioning('ver-list', 'Enabled');
    // Newest first per key, as ListObjectVersions must return them.
    const expected = new Map<string, Listed[]>([
      ['a', []],
      ['b/c', []],
      ['b/d', []],
    ]);
    const plan: [string, 'put' | 'delete'][] = [
      ['a', 'put'], ['b/c', 'put'], ['b/d', 'put'], ['a', 'put'], ['a', 'delete'],
      ['b/c', 'put'], ['a', 'put'], ['b/d', 'put'], ['b/c', 'delete'], ['b/c', 'put'],
      ['a', 'put'], ['b/d', 'put'], ['a', 'put'], ['b/c', 'put'], ['b/d', 'delete'],
    ];
    for (const [index, [key, action]] of plan.entries()) {
      const versionId =
        action === 'put'
          ? await put('ver-list', key, patternBytes(index % 2 === 0 ? 100 : 70 * KiB, 50 + index))
          : (await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-list', Key: key }))).VersionId;
      assert.match(versionId ?? '', versionIdPattern);
      const versions = expected.get(key)!;
      versions.forEach((version, at) => (versions[at] = { ...version, isLatest: false }));
      versions.unshift({ key, versionId: versionId!, isLatest: true, marker: action === 'delete' });
    }
    const all = [...expected.values()].flat();
    assert.equal(all.length, 15);

    /** The listing must hold exactly `wanted`: in key order, newest first within a key, versions and markers each in that order. */
    function assertListing(got: { versions: Listed[]; markers: Listed[] }, wanted: Listed[], context: string): void {
      assert.deepEqual(got.versions, wanted.filter((entry) => !entry.marker), `${context}: versions`);
      assert.deepEqual(got.markers, wanted.filter((entry) => entry.marker), `${context}: delete markers`);
    }

    const whole = await listAllVersions('ver-list', {});
    assert.equal(whole.pages, 1);
    assertListing(whole, all, 'one page');
    for (const maxKeys of [1, 2, 4, 7, 15]) {
      const paged = await listAllVersions('ver-list', { MaxKeys: maxKeys });
      assertListing(paged, all, `MaxKeys ${maxKeys}`);
      assert.equal(paged.pages, Math.ceil(15 / maxKeys), `MaxKeys ${maxKeys}: pages`);
    }
    // Starting in the middle of a key's history: after its second-newest version.
    const bc = expected.get('b/c')!;
    const resumed = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: 'ver-list', KeyMarker: 'b/c', VersionIdMarker: bc[1]!.versionId })));
    assertListing(resumed, [...bc.slice(2), ...expected.get('b/d')!], 'resumed inside b/c');
    // A key marker alone skips every version of that key.
    const afterA = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: 'ver-list', KeyMarker: 'a' })));
    assertListing(afterA, [...bc, ...expected.get('b/d')!], 'after a');

    // Prefix, delimiter, and both, paged too.
    for (const maxKeys of [undefined, 1, 3]) {
      const context = `MaxKeys ${maxKeys}`;
      const prefixed = await listAllVersions('ver-list', { Prefix: 'b/', ...(maxKeys === undefined ? {} : { MaxKeys: maxKeys }) });
      assertListing(prefixed, [...bc, ...expected.get('b/d')!], `${context}: prefix b/`);
      assert.deepEqual(prefixed.prefixes, []);
      const delimited = await listAllVersions('ver-list', { Delimiter: '/', ...(maxKeys === undefined ? {} : { MaxKeys: maxKeys }) });
      assertListing(delimited, expected.get('a')!, `${context}: delimiter /`);
      assert.deepEqual(delimited.prefixes, ['b/'], `${context}: common prefixes`);
      const both = await listAllVersions('ver-list', { Prefix: 'b/', Delimiter: '/', ...(maxKeys === undefined ? {} : { MaxKeys: maxKeys }) });
      assertListing(both, [...bc, ...expected.get('b/d')!], `${context}: prefix and delimiter`);
    }
    const none = await t.client.send(new ListObjectVersionsCommand({ Bucket: 'ver-list', Prefix: 'zzz' }));
    assert.deepEqual([none.Versions, none.DeleteMarkers, none.IsTruncated], [undefined, undefined, false]);
  });

  it('DeleteObjects with VersionIds deletes those versions and markers; without one it makes a marker', async () => {
    const first = (await put('ver-basic', 'batch/x', patternBytes(80 * KiB, 60)))!;
    const second = (await put('ver-basic', 'batch/x', patternBytes(100, 61)))!;
    const marker = (await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-basic', Key: 'batch/x' }))).VersionId!;
    await put('ver-basic', 'batch/y', patternBytes(100, 62));
    const result = await t.client.send(
      new DeleteObjectsCommand({
        Bucket: 'ver-basic',
        Delete: {
          Objects: [
            { Key: 'batch/x', VersionId: first },
            { Key: 'batch/x', VersionId: marker },
            { Key: 'batch/y' },
          ],
        },
      }),
    );
    assert.deepEqual(result.Errors, undefined);
    const byKey = new Map((result.Deleted ?? []).map((entry) => [`${entry.Key}@${entry.VersionId ?? ''}`, entry]));
    assert.equal(byKey.size, 3);
    assert.equal(byKey.get(`batch/x@${first}`)?.DeleteMarker, undefined);
    assert.equal(byKey.get(`batch/x@${marker}`)?.DeleteMarker, true);
    assert.equal(byKey.get(`batch/x@${marker}`)?.DeleteMarkerVersionId, marker);
    const newMarker = byKey.get('batch/y@');
    assert.equal(newMarker?.DeleteMarker, true);
    assert.match(newMarker?.DeleteMarkerVersionId ?? '', versionIdPattern);

    const listed = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: 'ver-basic', Prefix: 'batch/' })));
    assert.deepEqual(
      listed.versions.map((entry) => [entry.key, entry.versionId, entry.isLatest]),
      [['batch/x', second, true], ['batch/y', listed.versions[1]?.versionId, false]],
    );
    assert.deepEqual(listed.markers, [{ key: 'batch/y', versionId: newMarker?.DeleteMarkerVersionId, isLatest: true, marker: true }]);
    assert.equal((await get('ver-basic', 'batch/x')).versionId, second, 'with its marker gone, the newer version is current');
  });

  it('CopyObject from a specific old version', async () => {
    const old = patternBytes(120 * KiB, 70);
    const oldId = (await put('ver-basic', 'copy/src', old))!;
    await put('ver-basic', 'copy/src', patternBytes(100, 71));
    const copied = await t.client.send(new CopyObjectCommand({ Bucket: 'ver-basic', Key: 'copy/dst', CopySource: `ver-basic/copy/src?versionId=${oldId}` }));
    assert.equal(copied.CopySourceVersionId, oldId);
    assert.match(copied.VersionId ?? '', versionIdPattern);
    assert.equal(copied.CopyObjectResult?.ETag, md5Etag(old));
    assert.ok((await get('ver-basic', 'copy/dst')).bytes.equals(old));
    // Restoring an old version onto its own key makes it the newest again.
    const restored = await t.client.send(new CopyObjectCommand({ Bucket: 'ver-basic', Key: 'copy/src', CopySource: `ver-basic/copy/src?versionId=${oldId}` }));
    const current = await get('ver-basic', 'copy/src');
    assert.equal(current.versionId, restored.VersionId);
    assert.ok(current.bytes.equals(old));
    // Into an unversioned bucket: no version id for the copy, the source's id still reported.
    const plain = await t.client.send(new CopyObjectCommand({ Bucket: 'ver-plain', Key: 'copy/dst', CopySource: `ver-basic/copy/src?versionId=${oldId}` }));
    assert.equal(plain.VersionId, undefined);
    assert.equal(plain.CopySourceVersionId, oldId);
    // A delete marker cannot be a copy source.
    const marker = (await t.client.send(new DeleteObjectCommand({ Bucket: 'ver-basic', Key: 'copy/src' }))).VersionId!;
    const fromMarker = await s3ErrorOf(t.client.send(new CopyObjectCommand({ Bucket: 'ver-basic', Key: 'copy/x', CopySource: `ver-basic/copy/src?versionId=${marker}` })));
    assert.deepEqual([fromMarker.code, fromMarker.status], ['InvalidRequest', 400]);
    const fromDeleted = await s3ErrorOf(t.client.send(new CopyObjectCommand({ Bucket: 'ver-basic', Key: 'copy/x', CopySource: 'ver-basic/copy/src' })));
    assert.deepEqual([fromDeleted.code, fromDeleted.status], ['NoSuchKey', 404]);
  });

  it('Suspended: the null version is replaced and its fragments freed; versions from before stay', async () => {
    const bucket = 'ver-suspended';
    await setVersioning(bucket, 'Enabled');
    const keptBytes = patternBytes(90 * KiB, 80);
    const keptId = (await put(bucket, 'null/doc', keptBytes))!;
    await setVersioning(bucket, 'Suspended');
    const before = await settledFragmentCount();
    let latest = patternBytes(90 * KiB + 1, 81);
    assert.equal(await put(bucket, 'null/doc', latest), undefined, 'a Suspended put answers no version id');
    assert.equal(await settledFragmentCount(), before + shardCount);
    for (let round = 0; round < 2; round++) {
      latest = patternBytes(90 * KiB + 2 + round, 82 + round);
      await put(bucket, 'null/doc', latest);
      assert.equal(await settledFragmentCount(), before + shardCount, `round ${round}: the replaced null version is freed`);
    }
    const read = await get(bucket, 'null/doc');
    assert.ok(read.bytes.equals(latest));
    assert.equal(read.versionId, 'null');
    assert.ok((await get(bucket, 'null/doc', 'null')).bytes.equals(latest));
    assert.ok((await get(bucket, 'null/doc', keptId)).bytes.equals(keptBytes));
    const listed = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'null/' })));
    assert.deepEqual(
      listed.versions.map((entry) => [entry.versionId, entry.isLatest]),
      [['null', true], [keptId, false]],
    );

    // A delete makes a null marker in place of the null version, whose fragments go.
    const deleted = await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'null/doc' }));
    assert.equal(deleted.DeleteMarker, true);
    assert.equal(deleted.VersionId, 'null');
    assert.equal(await settledFragmentCount(), before);
    const afterDelete = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'null/' })));
    assert.deepEqual(afterDelete.markers.map((entry) => [entry.versionId, entry.isLatest]), [['null', true]]);
    assert.deepEqual(afterDelete.versions.map((entry) => [entry.versionId, entry.isLatest]), [[keptId, false]]);
    // Deleting the null marker by id brings back the version from before.
    await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'null/doc', VersionId: 'null' }));
    assert.equal((await get(bucket, 'null/doc')).versionId, keptId);
  });

  it('unversioned buckets list "null" versions; enabling versioning keeps them as null versions', async () => {
    const bucket = 'ver-plain';
    const bytes = patternBytes(70 * KiB, 90);
    await put(bucket, 'plain/doc', bytes);
    const listed = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'plain/' })));
    assert.deepEqual(listed.versions, [{ key: 'plain/doc', versionId: 'null', isLatest: true, marker: false }]);
    assert.ok((await get(bucket, 'plain/doc', 'null')).bytes.equals(bytes));
    await setVersioning(bucket, 'Enabled');
    const newId = (await put(bucket, 'plain/doc', patternBytes(100, 91)))!;
    assert.match(newId, versionIdPattern);
    const versions = listedOf(await t.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'plain/' }))).versions;
    assert.deepEqual(
      versions.map((entry) => [entry.versionId, entry.isLatest]),
      [[newId, true], ['null', false]],
    );
    const old = await get(bucket, 'plain/doc', 'null');
    assert.ok(old.bytes.equals(bytes));
    assert.equal(old.versionId, 'null');
  });

  it('at the end: delete every version and marker, DeleteBucket succeeds, no fragment is left', async () => {
    for (const bucket of buckets) {
      const markersOnly = await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'end/marker-only' }));
      if ((await t.client.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status !== undefined) assert.equal(markersOnly.DeleteMarker, true);
      const { entries } = await listAllVersions(bucket, { MaxKeys: 7 });
      assert.ok(entries.length > 0, `${bucket} has versions`);
      const notEmpty = await s3ErrorOf(t.client.send(new DeleteBucketCommand({ Bucket: bucket })));
      assert.deepEqual([notEmpty.code, notEmpty.status], ['BucketNotEmpty', 409], `${bucket} is not empty while versions remain`);
      // Everything but one delete marker (or version) first, in batches…
      const last = entries.find((entry) => entry.marker) ?? entries[0]!;
      const rest = entries.filter((entry) => entry !== last);
      for (let at = 0; at < rest.length; at += 5) {
        const batch = rest.slice(at, at + 5);
        const result = await t.client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((entry) => ({ Key: entry.key, VersionId: entry.versionId })), Quiet: true } }),
        );
        assert.deepEqual(result.Errors, undefined);
      }
      if (last.marker) {
        const onlyMarker = await s3ErrorOf(t.client.send(new DeleteBucketCommand({ Bucket: bucket })));
        assert.equal(onlyMarker.code, 'BucketNotEmpty', `${bucket}: a lone delete marker keeps the bucket`);
      }
      // …then the last one alone.
      await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: last.key, VersionId: last.versionId }));
      assert.deepEqual((await listAllVersions(bucket, {})).entries, [], `${bucket} is empty`);
      await t.client.send(new DeleteBucketCommand({ Bucket: bucket }));
    }
    assert.equal(await settledFragmentCount(), fragmentsAtStart, 'every fragment of every version was freed');
    assert.deepEqual(await temporaryFiles(t.server.driveDirs), []);
  });
});
