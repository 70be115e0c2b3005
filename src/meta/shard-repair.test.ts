// Shard repair in the state machine: the scan finds exactly the striped parts
// of committed versions with missing shards or shards on the named drives
// (unversioned and versioned buckets, multipart owners skipped), pages resume
// and end; move_shards is a compare-and-set that updates every copy of the
// record, queues the replaced fragments (only those shards) as garbage, and
// when stale (changed, deleted, not committed, or writing where GC is about
// to delete) records nothing and queues what the healer wrote instead.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { MetaQueryError, decodeMetaQuery, runMetaQuery } from './meta-queries.js';
import type { MetaOp } from './ops.js';
import type { PartRecord } from './records.js';
import { getPartToRepair, listPartsToRepair } from './shard-repair.js';
import { Harness, createBucket, garbage, part, putVersion } from './test-support.js';

function withMissing(record: PartRecord, missingShards: number[]): PartRecord {
  return { ...record, missingShards };
}

function move(fields: Partial<Extract<MetaOp, { type: 'move_shards' }>> & { versionId: string }): MetaOp {
  return {
    type: 'move_shards',
    bucket: 'photos',
    key: 'cat.jpg',
    partNumber: 1,
    fragmentOwnerId: fields.versionId,
    fromDrives: [0, 1, 2],
    fromMissingShards: [],
    toDrives: [0, 1, 7],
    toMissingShards: [],
    garbageShards: [2],
    ...fields,
  };
}

function scanAll(harness: Harness, drives: number[], limit: number): string[] {
  const found: string[] = [];
  let after = '';
  for (let pages = 0; pages < 100; pages++) {
    const page = runMetaQuery(harness.kv, { type: 'list_parts_to_repair', after, limit, drives });
    found.push(...page.candidates.map((candidate) => `${candidate.versionId}/${candidate.part.partNumber}`));
    if (page.done) return found;
    after = page.next;
  }
  throw new Error('the scan did not end');
}

describe('list_parts_to_repair', () => {
  it('finds missing shards and shards on the named drives, in every kind of bucket, and pages to the end', async () => {
    const harness = new Harness();
    await harness.applyAll([
      createBucket('photos'),
      createBucket('docs'),
      { type: 'set_versioning', bucket: 'docs', status: 'Enabled' },
      putVersion({ bucket: 'photos', key: 'healthy', versionId: 'v-1', parts: [part(1, 10)] }),
      putVersion({ bucket: 'photos', key: 'missing', versionId: 'v-2', parts: [part(1, 10), withMissing(part(2, 10), [1])] }),
      putVersion({ bucket: 'photos', key: 'on-draining', versionId: 'v-3', parts: [part(1, 3)] }),
      putVersion({ bucket: 'photos', key: 'inline', versionId: 'v-4', inline: Buffer.from('small') }),
      putVersion({ bucket: 'docs', key: 'old', versionId: 'v-5', parts: [part(1, 4)] }),
      putVersion({ bucket: 'docs', key: 'old', versionId: 'v-6', parts: [part(1, 10)] }),
    ]);
    // v-5 is an older version of a versioned key: still stored, still repaired.
    assert.deepEqual(scanAll(harness, [5], 1000), ['v-2/2', 'v-3/1', 'v-5/1']);
    assert.deepEqual(scanAll(harness, [5], 1), ['v-2/2', 'v-3/1', 'v-5/1'], 'pages of one entry resume where the last stopped');
    assert.deepEqual(scanAll(harness, [], 2), ['v-2/2']);
    const first = runMetaQuery(harness.kv, { type: 'list_parts_to_repair', after: '', limit: 2, drives: [5] });
    assert.deepEqual([first.next, first.done], ['v-2', false]);
    assert.deepEqual(first.candidates[0]?.pendingGarbage, []);
    const zero = listPartsToRepair(harness.kv, { after: 'v-3', limit: 0, drives: [] });
    assert.deepEqual(zero, { candidates: [], next: 'v-3', done: false });
  });

  it('skips versions that are not COMMITTED and the index entries of multipart part owners', async () => {
    const harness = new Harness();
    await harness.applyAll([
      createBucket('photos'),
      { type: 'prepare_version', version: { ...putVersionRecord('v-p'), state: 'PREPARING' } },
      {
        type: 'create_upload',
        upload: { format: 1, bucket: 'photos', key: 'big', uploadId: 'u-1', owner: 'alice', contentType: 'a/b', headers: {}, userMetadata: {}, createdMs: 0 },
      },
      { type: 'commit_part', bucket: 'photos', key: 'big', uploadId: 'u-1', part: { ...withMissing(part(1), [0]), fragmentOwnerId: 'owner-1' } },
    ]);
    assert.deepEqual(scanAll(harness, [0, 1, 2], 10), []);
    assert.equal(getPartToRepair(harness.kv, 'owner-1', 1), undefined);
    await harness.apply({ type: 'complete_upload', bucket: 'photos', key: 'big', uploadId: 'u-1', versionId: 'v-mp', parts: [{ partNumber: 1, etag: '"part-1"' }], partBytesMin: 0 });
    // Completed: the version owns the part; its fragments keep the part's owner id.
    assert.deepEqual(scanAll(harness, [], 10), ['v-mp/1']);
    assert.equal(getPartToRepair(harness.kv, 'v-mp', 1)?.part.fragmentOwnerId, 'owner-1');
  });

  it('decodeMetaQuery takes the repair queries and refuses bad drive lists', () => {
    const valid = [
      { type: 'list_parts_to_repair', after: '', limit: 1000, drives: [3, 4] },
      { type: 'get_part_to_repair', versionId: 'v', partNumber: 2 },
    ];
    for (const query of valid) assert.deepEqual(decodeMetaQuery(decodeRecord(encodeRecord(query))), query);
    for (const value of [
      { type: 'list_parts_to_repair', after: '', limit: 10, drives: [-1] },
      { type: 'list_parts_to_repair', after: '', limit: 10, drives: '3' },
      { type: 'list_parts_to_repair', after: 7, limit: 10, drives: [] },
      { type: 'list_parts_to_repair', after: '', limit: 1e9, drives: [] },
      { type: 'get_part_to_repair', versionId: 'v', partNumber: 'one' },
    ]) {
      assert.throws(() => decodeMetaQuery(value), MetaQueryError, JSON.stringify(value));
    }
  });
});

function putVersionRecord(versionId: string) {
  const op = putVersion({ versionId });
  assert.ok(op.type === 'put_version');
  return op.version;
}

describe('move_shards', () => {
  it('records the new drives and queues only the replaced fragments as garbage', async () => {
    const harness = new Harness();
    await harness.applyAll([createBucket('photos'), putVersion({ versionId: 'v-1', parts: [withMissing(part(1), [1])] })]);
    const result = await harness.apply(move({ versionId: 'v-1', fromMissingShards: [1], toDrives: [0, 1, 7], toMissingShards: [] }));
    assert.deepEqual(result, { status: 'shards_moved' });
    const moved = runMetaQuery(harness.kv, { type: 'get_object', bucket: 'photos', key: 'cat.jpg' })!.parts[0]!;
    assert.deepEqual([moved.drives, moved.missingShards], [[0, 1, 7], []]);
    const queued = garbage(harness.kv);
    assert.equal(queued.length, 1);
    assert.deepEqual(queued[0]!.moved, { versionId: 'v-1', shards: [2] });
    assert.deepEqual(queued[0]!.parts[0]!.drives, [0, 1, 2], 'where the old fragments lie');
    assert.equal(queued[0]!.parts[0]!.fragmentOwnerId, 'v-1');
    assert.equal(queued[0]!.queuedMs, harness.timestampMs, 'queued at the op time (the GC grace starts there)');
    assert.deepEqual(getPartToRepair(harness.kv, 'v-1', 1)?.pendingGarbage, [[2, 2]]);
    // The scan no longer offers it: nothing missing, nothing on drive 2 … unless drive 7 drains.
    assert.deepEqual(scanAll(harness, [2], 10), []);
    assert.deepEqual(scanAll(harness, [7], 10), ['v-1/1']);
  });

  it('refuses a stale from (CAS): nothing changes and what the healer wrote is queued, except what the part references', async () => {
    const harness = new Harness();
    await harness.applyAll([createBucket('photos'), putVersion({ versionId: 'v-1' })]);
    const stale = await harness.apply(move({ versionId: 'v-1', fromDrives: [0, 1, 9], toDrives: [0, 1, 7], garbageShards: [] }));
    assert.deepEqual(stale, { status: 'stale_part' });
    assert.deepEqual(runMetaQuery(harness.kv, { type: 'get_object', bucket: 'photos', key: 'cat.jpg' })!.parts[0]!.drives, [0, 1, 2]);
    assert.deepEqual(garbage(harness.kv).map((record) => [record.moved, record.parts[0]!.drives]), [[{ versionId: 'v-1', shards: [2] }, [0, 1, 7]]]);
    // Another healer already moved shard 2 to drive 7: the same fragment is referenced, not garbage.
    const second = new Harness();
    await second.applyAll([createBucket('photos'), putVersion({ versionId: 'v-1' }), move({ versionId: 'v-1', garbageShards: [] })]);
    assert.deepEqual(await second.apply(move({ versionId: 'v-1', garbageShards: [2] })), { status: 'stale_part' });
    assert.deepEqual(garbage(second.kv), []);
    // A missing-shard list that changed is stale too.
    const third = new Harness();
    await third.applyAll([createBucket('photos'), putVersion({ versionId: 'v-1', parts: [withMissing(part(1), [0])] })]);
    assert.deepEqual(await third.apply(move({ versionId: 'v-1', fromMissingShards: [], garbageShards: [] })), { status: 'stale_part' });
  });

  it('a version deleted or overwritten meanwhile: stale, and every shard written becomes garbage', async () => {
    const harness = new Harness();
    await harness.applyAll([
      createBucket('photos'),
      putVersion({ versionId: 'v-1', parts: [withMissing(part(1), [0])] }),
      { type: 'delete_object', bucket: 'photos', key: 'cat.jpg' },
    ]);
    // Shard 0 rewritten in place (drive 0) and shard 2 moved to drive 7.
    const result = await harness.apply(move({ versionId: 'v-1', fromMissingShards: [0], toDrives: [0, 1, 7], toMissingShards: [], garbageShards: [2] }));
    assert.deepEqual(result, { status: 'stale_part' });
    const moved = garbage(harness.kv).filter((record) => record.moved !== undefined);
    assert.deepEqual(moved.map((record) => [record.moved!.shards, record.parts[0]!.drives, record.parts[0]!.fragmentOwnerId]), [[[0, 2], [0, 1, 7], 'v-1']]);
    assert.equal(garbage(harness.kv).filter((record) => record.versionId === 'v-1').length, 1, 'the delete queued the version itself');
  });

  it('never applies to a version that is not COMMITTED', async () => {
    const harness = new Harness();
    await harness.applyAll([createBucket('photos'), { type: 'prepare_version', version: { ...putVersionRecord('v-p'), state: 'PREPARING' } }]);
    assert.deepEqual(await harness.apply(move({ versionId: 'v-p', garbageShards: [] })), { status: 'stale_part' });
  });

  it('in a versioned bucket updates the version and the current-version mirror', async () => {
    const harness = new Harness();
    await harness.applyAll([
      createBucket('photos'),
      { type: 'set_versioning', bucket: 'photos', status: 'Enabled' },
      putVersion({ versionId: 'v-1' }),
      putVersion({ versionId: 'v-2' }),
    ]);
    assert.deepEqual(await harness.apply(move({ versionId: 'v-1' })), { status: 'shards_moved' });
    assert.deepEqual(await harness.apply(move({ versionId: 'v-2' })), { status: 'shards_moved' });
    assert.deepEqual(runMetaQuery(harness.kv, { type: 'get_version', bucket: 'photos', key: 'cat.jpg', s3VersionId: 'v-1' })!.parts[0]!.drives, [0, 1, 7]);
    assert.deepEqual(runMetaQuery(harness.kv, { type: 'get_object', bucket: 'photos', key: 'cat.jpg' })!.parts[0]!.drives, [0, 1, 7]);
    assert.deepEqual(runMetaQuery(harness.kv, { type: 'list_versions', bucket: 'photos', options: { prefix: '', limit: 10 } }).map((version) => version.parts[0]!.drives), [
      [0, 1, 7],
      [0, 1, 7],
    ]);
  });

  it('refuses to write a shard where an earlier move left a fragment for GC', async () => {
    const harness = new Harness();
    await harness.applyAll([createBucket('photos'), putVersion({ versionId: 'v-1' })]);
    assert.deepEqual(await harness.apply(move({ versionId: 'v-1', toDrives: [0, 1, 7], garbageShards: [2] })), { status: 'shards_moved' });
    // Shard 2 back onto drive 2, whose old fragment GC is about to delete.
    const back = await harness.apply(move({ versionId: 'v-1', fromDrives: [0, 1, 7], toDrives: [0, 1, 2], garbageShards: [2] }));
    assert.deepEqual(back, { status: 'stale_part' });
    assert.deepEqual(runMetaQuery(harness.kv, { type: 'get_object', bucket: 'photos', key: 'cat.jpg' })!.parts[0]!.drives, [0, 1, 7]);
    assert.equal(garbage(harness.kv).length, 1, 'the doomed fragment is queued once');
    await harness.apply({ type: 'garbage_collected', versionIds: garbage(harness.kv).map((record) => record.versionId) });
    assert.deepEqual(await harness.apply(move({ versionId: 'v-1', fromDrives: [0, 1, 7], toDrives: [0, 1, 2], garbageShards: [2] })), { status: 'shards_moved' });
  });

  it('a malformed move is a bug in the healer', async () => {
    const harness = new Harness();
    await harness.applyAll([createBucket('photos'), putVersion({ versionId: 'v-1' })]);
    await assert.rejects(harness.apply(move({ versionId: 'v-1', toDrives: [0, 1] })), /new drives/);
    await assert.rejects(harness.apply(move({ versionId: 'v-1', toDrives: [0, 0, 7] })), /distinct/);
    await assert.rejects(harness.apply(move({ versionId: 'v-1', toDrives: [0, 1, 2], garbageShards: [2] })), /garbage only/);
  });
});
