// MetaQuery tests: runMetaQuery answers every read from a store the state
// machine wrote (versioned and unversioned buckets, uploads, garbage, keys),
// every query survives a msgpack round trip as the network carries it, and
// decodeMetaQuery refuses malformed queries with MetaQueryError.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { MetaQueryError, decodeMetaQuery, runMetaQuery } from './meta-queries.js';
import type { MetaQuery } from './meta-queries.js';
import { createBucket, Harness, part, putVersion } from './test-support.js';

async function populated(): Promise<Harness> {
  const harness = new Harness();
  await harness.applyAll([
    createBucket('photos'),
    createBucket('docs'),
    putVersion({ bucket: 'photos', key: 'a.jpg', versionId: 'v-a' }),
    putVersion({ bucket: 'photos', key: 'dir/b.jpg', versionId: 'v-b', inline: Buffer.from('bee') }),
    putVersion({ bucket: 'photos', key: 'a.jpg', versionId: 'v-a2' }),
    { type: 'set_versioning', bucket: 'docs', status: 'Enabled' },
    putVersion({ bucket: 'docs', key: 'x', versionId: 'd-1' }),
    putVersion({ bucket: 'docs', key: 'x', versionId: 'd-2' }),
    {
      type: 'create_upload',
      upload: { format: 1, bucket: 'photos', key: 'big', uploadId: 'u-1', owner: 'alice', contentType: 'a/b', headers: {}, userMetadata: {}, createdMs: 0 },
    },
    { type: 'commit_part', bucket: 'photos', key: 'big', uploadId: 'u-1', part: { ...part(1), inline: Buffer.from('p1'), drives: [] } },
    {
      type: 'create_access_key',
      key: { format: 1, accessKeyId: 'AK1', secretAccessKey: 'secret', userId: 'f'.repeat(64), displayName: 'bob', createdMs: 0 },
    },
  ]);
  return harness;
}

describe('runMetaQuery', () => {
  it('answers every read from what the state machine wrote', async () => {
    const { kv } = await populated();
    assert.equal(runMetaQuery(kv, { type: 'get_bucket', bucket: 'photos' })?.name, 'photos');
    assert.equal(runMetaQuery(kv, { type: 'get_bucket', bucket: 'nope' }), undefined);
    assert.deepEqual(
      runMetaQuery(kv, { type: 'list_buckets' }).map((bucket) => bucket.name),
      ['docs', 'photos'],
    );
    assert.equal(runMetaQuery(kv, { type: 'get_object', bucket: 'photos', key: 'a.jpg' })?.versionId, 'v-a2');
    // Unversioned: only "null" exists, and it is the current object.
    assert.equal(runMetaQuery(kv, { type: 'get_version', bucket: 'photos', key: 'a.jpg', s3VersionId: 'null' })?.versionId, 'v-a2');
    assert.equal(runMetaQuery(kv, { type: 'get_version', bucket: 'photos', key: 'a.jpg', s3VersionId: 'v-a2' }), undefined);
    assert.equal(runMetaQuery(kv, { type: 'get_version', bucket: 'docs', key: 'x', s3VersionId: 'd-1' })?.versionId, 'd-1');
    assert.equal(runMetaQuery(kv, { type: 'get_latest_version', bucket: 'docs', key: 'x' })?.versionId, 'd-2');
    assert.deepEqual(
      runMetaQuery(kv, { type: 'list_versions', bucket: 'docs', options: { prefix: '', limit: 10 } }).map((version) => version.versionId),
      ['d-2', 'd-1'],
    );
    const listed = runMetaQuery(kv, { type: 'list_objects', query: { bucket: 'photos', prefix: '', delimiter: '/', maxKeys: 10 } });
    assert.deepEqual([listed.contents.map((version) => version.key), listed.commonPrefixes], [['a.jpg'], ['dir/']]);
    assert.deepEqual(runMetaQuery(kv, { type: 'list_preparing' }), []);
    assert.deepEqual(
      runMetaQuery(kv, { type: 'list_garbage', limit: 10 }).map((record) => record.versionId),
      ['v-a'],
    );
    assert.equal(runMetaQuery(kv, { type: 'get_upload', bucket: 'photos', key: 'big', uploadId: 'u-1' })?.uploadId, 'u-1');
    assert.deepEqual(
      runMetaQuery(kv, { type: 'list_uploads', bucket: 'photos', options: { prefix: '', limit: 10 } }).map((upload) => upload.uploadId),
      ['u-1'],
    );
    assert.deepEqual(
      runMetaQuery(kv, { type: 'list_uploads', bucket: 'photos', options: { prefix: '', after: { key: 'big' }, limit: 10 } }),
      [],
    );
    assert.deepEqual(
      runMetaQuery(kv, { type: 'list_parts', uploadId: 'u-1' }).map((record) => record.part.partNumber),
      [1],
    );
    assert.deepEqual(
      runMetaQuery(kv, { type: 'list_access_keys' }).map((key) => key.accessKeyId),
      ['AK1'],
    );
    assert.equal(runMetaQuery(kv, { type: 'is_version_referenced', versionId: 'v-a2' }), true);
    assert.equal(runMetaQuery(kv, { type: 'is_version_referenced', versionId: 'v-a' }), true, 'garbage still references its fragments');
    assert.equal(runMetaQuery(kv, { type: 'is_version_referenced', versionId: 'never' }), false);
  });
});

describe('decodeMetaQuery', () => {
  const valid: MetaQuery[] = [
    { type: 'get_bucket', bucket: 'b' },
    { type: 'list_buckets' },
    { type: 'get_object', bucket: 'b', key: 'k' },
    { type: 'get_version', bucket: 'b', key: 'k', s3VersionId: 'null' },
    { type: 'get_latest_version', bucket: 'b', key: 'k' },
    { type: 'list_versions', bucket: 'b', options: { prefix: '', afterVersion: { key: 'k', sequence: 3 }, limit: 1000 } },
    { type: 'list_objects', query: { bucket: 'b', prefix: 'p/', delimiter: '/', after: 'p/a', maxKeys: 1000 } },
    { type: 'list_preparing' },
    { type: 'list_garbage', limit: 256 },
    { type: 'get_upload', bucket: 'b', key: 'k', uploadId: 'u' },
    { type: 'list_uploads', bucket: 'b', options: { prefix: '', after: { key: 'k', uploadId: 'u' }, limit: 1000 } },
    { type: 'list_parts', uploadId: 'u' },
    { type: 'list_access_keys' },
    { type: 'is_version_referenced', versionId: 'v' },
    { type: 'get_cluster_map' },
  ];

  it('takes every query back as it went over the network', () => {
    for (const query of valid) assert.deepEqual(decodeMetaQuery(decodeRecord(encodeRecord(query))), query);
  });

  it('refuses malformed queries with MetaQueryError', () => {
    const malformed: unknown[] = [
      null,
      'get_bucket',
      { type: 'drop_everything' },
      { type: 'toString' },
      { type: 'get_bucket' },
      { type: 'get_object', bucket: 'b', key: 7 },
      { type: 'list_garbage', limit: -1 },
      { type: 'list_garbage', limit: 1e9 },
      { type: 'list_objects', query: { bucket: 'b', prefix: '', maxKeys: 5000 } },
      { type: 'list_objects', query: { prefix: '', maxKeys: 5 } },
      { type: 'list_versions', bucket: 'b', options: { prefix: 3, limit: 5 } },
      { type: 'list_uploads', bucket: 'b', options: [] },
    ];
    for (const value of malformed) assert.throws(() => decodeMetaQuery(value), MetaQueryError, JSON.stringify(value));
  });
});
