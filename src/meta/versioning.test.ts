// Versioned buckets in MetaStateMachine (versioning.ts): ops applied straight
// to a MemoryKvStore transaction, as in state-machine.test.ts. Examples pin
// down each rule: the history of a key newest first under v/, o/ mirroring the
// newest version unless it is a delete marker, markers, the one null version
// of a Suspended bucket, and exactly which versions become garbage. A
// fast-check property then runs random put / delete / delete-version /
// set_versioning / collect sequences against a model (a list of versions per
// key) and checks the current object, the history, the index and the garbage.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { KvReader } from '../io/kv-store.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import type { MetaOp, MetaResult } from './ops.js';
import { s3VersionId } from './records.js';
import type { PartRecord, UploadRecord, VersionRecord } from './records.js';
import { readBucket, readObject } from './state-machine.js';
import { Harness, createBucket, garbage, part as basePart, versionIndex, versionRecord } from './test-support.js';
import { findVersion, keyVersions } from './versioning.js';

const bucket = 'photos';

/** part(partNumber, firstDrive) with an etag that also names the drive. */
function part(firstDrive: number, partNumber = 1): PartRecord {
  return { ...basePart(partNumber, firstDrive), etag: `"part-${partNumber}-${firstDrive}"` };
}

function setVersioning(status: 'Enabled' | 'Suspended', onBucket = bucket): MetaOp {
  return { type: 'set_versioning', bucket: onBucket, status };
}

/** A striped put (its part on drives firstDrive…) or, with `inline`, an inline one. */
function put(versionId: string, options: { key?: string; firstDrive?: number; inline?: string } = {}): MetaOp {
  const fields = { versionId, ...(options.key === undefined ? {} : { key: options.key }) };
  const version =
    options.inline === undefined ? versionRecord({ ...fields, parts: [part(options.firstDrive ?? 0)] }) : versionRecord({ ...fields, inline: Buffer.from(options.inline) });
  return { type: 'put_version', version };
}

/** DELETE without a version id: the gateway always brings the id a marker would get. */
function deleteKey(markerVersionId: string, key = 'cat.jpg'): MetaOp {
  return { type: 'delete_object', bucket, key, markerVersionId };
}

/** DELETE ?versionId=… (the gateway mints a marker id here too; it goes unused). */
function deleteVersion(s3Id: string, key = 'cat.jpg'): MetaOp {
  return { type: 'delete_object', bucket, key, s3VersionId: s3Id, markerVersionId: `unused-${s3Id}` };
}

/** The history of a key as [internal id, S3 id, state], newest first. */
function history(reader: KvReader, key = 'cat.jpg'): [string, string, VersionRecord['state']][] {
  return keyVersions(reader, bucket, key).map((version) => [version.versionId, s3VersionId(version), version.state]);
}

function currentId(reader: KvReader, key = 'cat.jpg'): string | undefined {
  return readObject(reader, bucket, key)?.versionId;
}

function garbageIds(reader: KvReader): string[] {
  return garbage(reader).map((record) => record.versionId);
}

async function bucketWith(status: 'Enabled' | 'Suspended' | undefined): Promise<Harness> {
  const harness = new Harness();
  await harness.apply(createBucket());
  if (status !== undefined) assert.deepEqual(await harness.apply(setVersioning(status)), { status: 'ok' });
  return harness;
}

describe('versioning: Enabled', () => {
  it('puts keep every version newest first, o/ mirrors the newest, nothing becomes garbage', async () => {
    const harness = await bucketWith('Enabled');
    assert.equal(readBucket(harness.kv, bucket)?.versioning, 'Enabled');
    for (const [versionId, options] of [
      ['v1', { firstDrive: 10 }],
      ['v2', { inline: 'small' }],
      ['v3', { firstDrive: 30 }],
    ] as const) {
      const result = await harness.apply(put(versionId, options));
      assert.ok(result.status === 'version_committed');
      assert.equal(result.replacedVersionId, undefined, 'nothing is replaced in an Enabled bucket');
      assert.equal(result.version.sequence, harness.opNumber, 'the op number orders the version');
      assert.equal(result.version.isNullVersion, undefined);
      assert.equal(s3VersionId(result.version), versionId);
    }
    assert.deepEqual(history(harness.kv), [
      ['v3', 'v3', 'COMMITTED'],
      ['v2', 'v2', 'COMMITTED'],
      ['v1', 'v1', 'COMMITTED'],
    ]);
    assert.deepEqual(readObject(harness.kv, bucket, 'cat.jpg'), keyVersions(harness.kv, bucket, 'cat.jpg')[0]);
    assert.deepEqual(garbage(harness.kv), []);
    for (const version of keyVersions(harness.kv, bucket, 'cat.jpg')) {
      assert.deepEqual(versionIndex(harness.kv, version.versionId), [bucket, 'cat.jpg', version.sequence]);
      assert.deepEqual(findVersion(harness.kv, bucket, 'cat.jpg', version.versionId), version);
    }
    assert.equal(findVersion(harness.kv, bucket, 'cat.jpg', 'null'), undefined, 'no null version');
    assert.equal(findVersion(harness.kv, bucket, 'other.jpg', 'v1'), undefined, 'a version id belongs to one key');
  });

  it('a delete without version id puts a delete marker on top; o/ goes, nothing becomes garbage', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1', { firstDrive: 10 }), put('v2', { firstDrive: 20 })]);
    assert.deepEqual(await harness.apply(deleteKey('m3')), { status: 'object_deleted', s3VersionId: 'm3', deleteMarker: true });
    assert.equal(currentId(harness.kv), undefined);
    assert.deepEqual(history(harness.kv), [
      ['m3', 'm3', 'DELETE_MARKER'],
      ['v2', 'v2', 'COMMITTED'],
      ['v1', 'v1', 'COMMITTED'],
    ]);
    const marker = keyVersions(harness.kv, bucket, 'cat.jpg')[0]!;
    assert.equal(marker.createdMs, harness.timestampMs, 'a marker is stamped with its op time');
    assert.equal(marker.owner, 'alice');
    assert.deepEqual([marker.parts, marker.sizeBytes], [[], 0]);
    assert.deepEqual(versionIndex(harness.kv, 'm3'), [bucket, 'cat.jpg', harness.opNumber]);
    assert.deepEqual(garbage(harness.kv), []);
    // A second delete stacks a second marker; a key that never existed gets one too (as S3).
    assert.deepEqual(await harness.apply(deleteKey('m4')), { status: 'object_deleted', s3VersionId: 'm4', deleteMarker: true });
    assert.deepEqual(await harness.apply(deleteKey('m5', 'never.jpg')), { status: 'object_deleted', s3VersionId: 'm5', deleteMarker: true });
    assert.deepEqual(history(harness.kv).map(([id]) => id), ['m4', 'm3', 'v2', 'v1']);
    assert.deepEqual(history(harness.kv, 'never.jpg'), [['m5', 'm5', 'DELETE_MARKER']]);
    assert.deepEqual(garbage(harness.kv), []);
  });

  it('deleting one version queues exactly its fragments and the next newest becomes current', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1', { firstDrive: 10 }), put('v2', { firstDrive: 20 }), put('v3', { firstDrive: 30 })]);
    // The middle one: the current version stays.
    assert.deepEqual(await harness.apply(deleteVersion('v2')), { status: 'object_deleted', s3VersionId: 'v2', deletedVersionId: 'v2' });
    assert.equal(currentId(harness.kv), 'v3');
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v2', parts: [part(20)], queuedMs: harness.timestampMs }]);
    assert.equal(versionIndex(harness.kv, 'v2'), undefined);
    // The newest: v1 is promoted into o/.
    assert.deepEqual(await harness.apply(deleteVersion('v3')), { status: 'object_deleted', s3VersionId: 'v3', deletedVersionId: 'v3' });
    assert.deepEqual(readObject(harness.kv, bucket, 'cat.jpg'), keyVersions(harness.kv, bucket, 'cat.jpg')[0]);
    assert.equal(currentId(harness.kv), 'v1');
    // The last: the key is gone entirely.
    assert.deepEqual(await harness.apply(deleteVersion('v1')), { status: 'object_deleted', s3VersionId: 'v1', deletedVersionId: 'v1' });
    assert.equal(currentId(harness.kv), undefined);
    assert.deepEqual(history(harness.kv), []);
    assert.deepEqual(garbageIds(harness.kv), ['v1', 'v2', 'v3']);
    assert.deepEqual(
      garbage(harness.kv).map((record) => record.parts),
      [[part(10)], [part(20)], [part(30)]],
    );
    // Deleting it again finds nothing and queues nothing twice.
    assert.deepEqual(await harness.apply(deleteVersion('v1')), { status: 'object_deleted', s3VersionId: 'v1' });
    assert.deepEqual(garbageIds(harness.kv), ['v1', 'v2', 'v3']);
  });

  it('deleting the newest version when the next one is a delete marker leaves the key deleted', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1', { firstDrive: 10 }), deleteKey('m2'), put('v3', { firstDrive: 30 })]);
    assert.equal(currentId(harness.kv), 'v3');
    await harness.apply(deleteVersion('v3'));
    assert.equal(currentId(harness.kv), undefined, 'the latest version is now the marker');
    assert.deepEqual(history(harness.kv).map(([id]) => id), ['m2', 'v1']);
    assert.deepEqual(garbageIds(harness.kv), ['v3']);
  });

  it('deleting the delete marker restores the object; deleting an older marker changes nothing visible', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1', { firstDrive: 10 }), deleteKey('m2'), put('v3', { firstDrive: 30 }), deleteKey('m4')]);
    assert.equal(currentId(harness.kv), undefined);
    assert.deepEqual(await harness.apply(deleteVersion('m4')), { status: 'object_deleted', s3VersionId: 'm4', deleteMarker: true });
    assert.equal(currentId(harness.kv), 'v3');
    assert.equal(versionIndex(harness.kv, 'm4'), undefined);
    assert.deepEqual(await harness.apply(deleteVersion('m2')), { status: 'object_deleted', s3VersionId: 'm2', deleteMarker: true });
    assert.equal(currentId(harness.kv), 'v3');
    assert.deepEqual(history(harness.kv).map(([id]) => id), ['v3', 'v1']);
    assert.deepEqual(garbage(harness.kv), [], 'markers have no fragments');
  });

  it('a version id of another key, an unknown id or "null" without a null version deletes nothing', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1', { key: 'a' }), put('v2', { key: 'b' })]);
    for (const s3Id of ['v2', 'nope', 'null']) {
      assert.deepEqual(await harness.apply(deleteVersion(s3Id, 'a')), { status: 'object_deleted', s3VersionId: s3Id });
    }
    assert.deepEqual([currentId(harness.kv, 'a'), currentId(harness.kv, 'b')], ['v1', 'v2']);
    assert.deepEqual(garbage(harness.kv), []);
  });

  it('an inline version deleted by id leaves no garbage', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1', { inline: 'one' }), put('v2', { inline: 'two' })]);
    assert.deepEqual(await harness.apply(deleteVersion('v2')), { status: 'object_deleted', s3VersionId: 'v2', deletedVersionId: 'v2' });
    assert.deepEqual(Buffer.from(readObject(harness.kv, bucket, 'cat.jpg')!.inline!), Buffer.from('one'));
    assert.deepEqual(garbage(harness.kv), []);
  });

  it('If-None-Match "*" passes when the latest version is a delete marker', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1'), deleteKey('m2')]);
    const op: MetaOp = { type: 'put_version', version: versionRecord({ versionId: 'v3', parts: [part(30)] }), conditions: { ifNoneMatch: '*' } };
    assert.equal((await harness.apply(op)).status, 'version_committed');
    assert.deepEqual(history(harness.kv).map(([id]) => id), ['v3', 'm2', 'v1']);
  });
});

describe('versioning: Suspended', () => {
  it('a put replaces the null version (its fragments become garbage) and keeps the Enabled versions', async () => {
    const harness = await bucketWith('Enabled');
    await harness.apply(put('v1', { firstDrive: 10 }));
    await harness.apply(setVersioning('Suspended'));
    const first = await harness.apply(put('v2', { firstDrive: 20 }));
    assert.ok(first.status === 'version_committed');
    assert.equal(first.replacedVersionId, undefined, 'there was no null version yet');
    assert.equal(first.version.isNullVersion, true);
    assert.deepEqual(history(harness.kv), [
      ['v2', 'null', 'COMMITTED'],
      ['v1', 'v1', 'COMMITTED'],
    ]);
    const second = await harness.apply(put('v3', { firstDrive: 30 }));
    assert.ok(second.status === 'version_committed');
    assert.equal(second.replacedVersionId, 'v2');
    assert.deepEqual(history(harness.kv), [
      ['v3', 'null', 'COMMITTED'],
      ['v1', 'v1', 'COMMITTED'],
    ]);
    assert.equal(currentId(harness.kv), 'v3');
    assert.equal(findVersion(harness.kv, bucket, 'cat.jpg', 'null')?.versionId, 'v3');
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v2', parts: [part(20)], queuedMs: harness.timestampMs }]);
    assert.equal(versionIndex(harness.kv, 'v2'), undefined);
  });

  it('a delete makes a null delete marker that replaces the null version', async () => {
    const harness = await bucketWith('Suspended');
    await harness.apply(put('v1', { firstDrive: 10 }));
    assert.deepEqual(await harness.apply(deleteKey('m2')), { status: 'object_deleted', s3VersionId: 'null', deleteMarker: true, deletedVersionId: 'v1' });
    assert.deepEqual(history(harness.kv), [['m2', 'null', 'DELETE_MARKER']]);
    assert.equal(currentId(harness.kv), undefined);
    assert.deepEqual(garbageIds(harness.kv), ['v1']);
    // A marker replacing a null marker frees nothing.
    assert.deepEqual(await harness.apply(deleteKey('m3')), { status: 'object_deleted', s3VersionId: 'null', deleteMarker: true });
    assert.deepEqual(history(harness.kv), [['m3', 'null', 'DELETE_MARKER']]);
    // A put replacing the null marker reports no replaced version either.
    const result = await harness.apply(put('v4', { firstDrive: 40 }));
    assert.ok(result.status === 'version_committed');
    assert.equal(result.replacedVersionId, undefined);
    assert.deepEqual(history(harness.kv), [['v4', 'null', 'COMMITTED']]);
    assert.equal(currentId(harness.kv), 'v4');
    assert.deepEqual(garbageIds(harness.kv), ['v1']);
  });

  it('re-enabled, the null version stays below the new versions and can be deleted as "null"', async () => {
    const harness = await bucketWith('Suspended');
    await harness.applyAll([put('v1', { firstDrive: 10 }), setVersioning('Enabled'), put('v2', { firstDrive: 20 })]);
    assert.deepEqual(history(harness.kv), [
      ['v2', 'v2', 'COMMITTED'],
      ['v1', 'null', 'COMMITTED'],
    ]);
    assert.deepEqual(await harness.apply(deleteVersion('null')), { status: 'object_deleted', s3VersionId: 'null', deletedVersionId: 'v1' });
    assert.equal(currentId(harness.kv), 'v2');
    assert.deepEqual(garbageIds(harness.kv), ['v1']);
  });
});

describe('versioning: turning it on', () => {
  for (const status of ['Enabled', 'Suspended'] as const) {
    it(`${status} on a bucket with objects makes each object its key's null version`, async () => {
      const harness = await bucketWith(undefined);
      await harness.applyAll([put('v1', { key: 'a', firstDrive: 10 }), put('v2', { key: 'b', inline: 'small' })]);
      assert.deepEqual(history(harness.kv, 'a'), [], 'an unversioned bucket keeps no history');
      await harness.apply(setVersioning(status));
      const switchedAt = harness.opNumber;
      for (const [key, versionId] of [['a', 'v1'], ['b', 'v2']] as const) {
        assert.deepEqual(history(harness.kv, key), [[versionId, 'null', 'COMMITTED']]);
        const current = readObject(harness.kv, bucket, key);
        assert.equal(current?.isNullVersion, true);
        assert.equal(current?.sequence, switchedAt);
        assert.deepEqual(versionIndex(harness.kv, versionId), [bucket, key, switchedAt]);
        assert.equal(findVersion(harness.kv, bucket, key, 'null')?.versionId, versionId);
      }
      assert.deepEqual(garbage(harness.kv), []);
      const result = await harness.apply(put('v3', { key: 'a', firstDrive: 30 }));
      assert.ok(result.status === 'version_committed');
      if (status === 'Enabled') {
        assert.deepEqual(history(harness.kv, 'a').map(([id, s3Id]) => [id, s3Id]), [['v3', 'v3'], ['v1', 'null']]);
        assert.deepEqual(garbage(harness.kv), []);
        await harness.apply(deleteVersion('null', 'a'));
      } else {
        assert.equal(result.replacedVersionId, 'v1');
        assert.deepEqual(history(harness.kv, 'a').map(([id, s3Id]) => [id, s3Id]), [['v3', 'null']]);
      }
      assert.equal(currentId(harness.kv, 'a'), 'v3');
      assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v1', parts: [part(10)], queuedMs: harness.timestampMs }]);
    });
  }

  it('set_versioning on a missing bucket is no_such_bucket', async () => {
    const harness = new Harness();
    assert.deepEqual(await harness.apply(setVersioning('Enabled')), { status: 'no_such_bucket' });
  });

  it('Enabled ⇄ Suspended only changes the status; the history stays', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1'), deleteKey('m2')]);
    await harness.apply(setVersioning('Suspended'));
    assert.equal(readBucket(harness.kv, bucket)?.versioning, 'Suspended');
    await harness.apply(setVersioning('Enabled'));
    assert.equal(readBucket(harness.kv, bucket)?.versioning, 'Enabled');
    assert.deepEqual(history(harness.kv).map(([id]) => id), ['m2', 'v1']);
  });
});

describe('versioning: delete_bucket', () => {
  it('refuses while any version or delete marker remains', async () => {
    const harness = await bucketWith('Enabled');
    await harness.applyAll([put('v1', { firstDrive: 10 }), deleteKey('m2')]);
    assert.equal(currentId(harness.kv), undefined, 'no current object…');
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket }), { status: 'bucket_not_empty' }, '…but a version');
    await harness.apply(deleteVersion('v1'));
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket }), { status: 'bucket_not_empty' }, 'a lone delete marker');
    await harness.apply(deleteVersion('m2'));
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket }), { status: 'ok' });
    assert.equal(readBucket(harness.kv, bucket), undefined);
    assert.deepEqual(garbageIds(harness.kv), ['v1']);
  });
});

describe('versioning: multipart', () => {
  const upload: UploadRecord = {
    format: 1,
    bucket,
    key: 'cat.jpg',
    uploadId: 'u1',
    owner: 'alice',
    contentType: 'application/octet-stream',
    headers: {},
    userMetadata: {},
    createdMs: 0,
  };

  it('a completed upload is one version; deleting it by id queues its parts and drops their index entries', async () => {
    const harness = await bucketWith('Enabled');
    const owned = (firstDrive: number, partNumber: number, owner: string): PartRecord => ({ ...part(firstDrive, partNumber), fragmentOwnerId: owner });
    await harness.applyAll([
      put('v0', { firstDrive: 5 }),
      { type: 'create_upload', upload },
      { type: 'prepare_version', version: versionRecord({ versionId: 'p1', state: 'PREPARING', parts: [part(10)] }) },
      { type: 'commit_part', bucket, key: 'cat.jpg', uploadId: 'u1', preparedId: 'p1', part: owned(10, 1, 'p1') },
      { type: 'prepare_version', version: versionRecord({ versionId: 'p2', state: 'PREPARING', parts: [part(20)] }) },
      { type: 'commit_part', bucket, key: 'cat.jpg', uploadId: 'u1', preparedId: 'p2', part: owned(20, 2, 'p2') },
    ]);
    const completed = await harness.apply({
      type: 'complete_upload',
      bucket,
      key: 'cat.jpg',
      uploadId: 'u1',
      versionId: 'mp',
      parts: [
        { partNumber: 1, etag: owned(10, 1, 'p1').etag },
        { partNumber: 2, etag: owned(20, 2, 'p2').etag },
      ],
      partBytesMin: 0,
    });
    assert.ok(completed.status === 'version_committed');
    assert.equal(completed.replacedVersionId, undefined);
    assert.deepEqual(history(harness.kv).map(([id, s3Id]) => [id, s3Id]), [['mp', 'mp'], ['v0', 'v0']]);
    assert.deepEqual(garbage(harness.kv), []);
    assert.deepEqual(versionIndex(harness.kv, 'p1'), [bucket, 'cat.jpg']);
    await harness.apply(put('v9', { firstDrive: 90 }));
    assert.deepEqual(await harness.apply(deleteVersion('mp')), { status: 'object_deleted', s3VersionId: 'mp', deletedVersionId: 'mp' });
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'mp', parts: [owned(10, 1, 'p1'), owned(20, 2, 'p2')], queuedMs: harness.timestampMs }]);
    for (const id of ['mp', 'p1', 'p2']) assert.equal(versionIndex(harness.kv, id), undefined, `index of ${id}`);
    assert.equal(currentId(harness.kv), 'v9');
    // A part owner id is not a version id a client can name.
    await harness.apply(put('v10', { key: 'x' }));
    assert.equal(findVersion(harness.kv, bucket, 'cat.jpg', 'p1'), undefined);
  });
});

// Property: random histories agree with a model of S3 versioning.

const keyNames = ['k', 'k/1', 'é'];

type Step =
  | { readonly kind: 'put'; readonly key: number; readonly inline: boolean }
  | { readonly kind: 'delete'; readonly key: number }
  | { readonly kind: 'delete_version'; readonly key: number; readonly pick: number }
  | { readonly kind: 'set_versioning'; readonly enabled: boolean }
  | { readonly kind: 'collect'; readonly pick: number };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.nat({ max: 2 }), inline: fc.boolean() }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat({ max: 2 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('delete_version' as const), key: fc.nat({ max: 2 }), pick: fc.nat() }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('set_versioning' as const), enabled: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('collect' as const), pick: fc.nat() }), weight: 1 },
);

interface ModelVersion {
  readonly id: string;
  readonly s3Id: string;
  readonly marker: boolean;
  readonly striped: boolean;
}

/** What S3 says the bucket holds: versions per key, newest first, and where removed fragments are. */
class Model {
  versioning: 'Enabled' | 'Suspended' | undefined;
  readonly keys = new Map<string, ModelVersion[]>(keyNames.map((key) => [key, []]));
  /** Striped versions removed and queued, not yet collected. */
  readonly queued = new Set<string>();
  readonly collected = new Set<string>();
  /** Every S3 version id a client has been given (never "null"). */
  readonly issued: string[] = [];

  versionsOf(key: string): ModelVersion[] {
    return this.keys.get(key)!;
  }

  /** Removes the entry at `index`; its fragments, if any, become garbage. */
  private remove(key: string, index: number): ModelVersion {
    const [removed] = this.versionsOf(key).splice(index, 1);
    assert.ok(removed !== undefined);
    if (removed.striped && !removed.marker) this.queued.add(removed.id);
    return removed;
  }

  private removeNull(key: string): ModelVersion | undefined {
    const index = this.versionsOf(key).findIndex((version) => version.s3Id === 'null');
    return index < 0 ? undefined : this.remove(key, index);
  }

  /** What a put of `id` answers with as replacedVersionId. */
  put(key: string, id: string, striped: boolean): string | undefined {
    let replaced: ModelVersion | undefined;
    if (this.versioning === undefined) replaced = this.versionsOf(key).length === 0 ? undefined : this.remove(key, 0);
    if (this.versioning === 'Suspended') replaced = this.removeNull(key);
    const s3Id = this.versioning === 'Enabled' ? id : 'null';
    if (s3Id !== 'null') this.issued.push(s3Id);
    this.versionsOf(key).unshift({ id, s3Id, marker: false, striped });
    return replaced === undefined || replaced.marker ? undefined : replaced.id;
  }

  delete(key: string, markerId: string): MetaResult {
    if (this.versioning === undefined) {
      if (this.versionsOf(key).length === 0) return { status: 'object_deleted' };
      return { status: 'object_deleted', deletedVersionId: this.remove(key, 0).id };
    }
    const replaced = this.versioning === 'Suspended' ? this.removeNull(key) : undefined;
    const s3Id = this.versioning === 'Enabled' ? markerId : 'null';
    if (s3Id !== 'null') this.issued.push(s3Id);
    this.versionsOf(key).unshift({ id: markerId, s3Id, marker: true, striped: false });
    return { status: 'object_deleted', s3VersionId: s3Id, deleteMarker: true, ...(replaced === undefined || replaced.marker ? {} : { deletedVersionId: replaced.id }) };
  }

  deleteVersion(key: string, s3Id: string): MetaResult {
    const versions = this.versionsOf(key);
    if (this.versioning === undefined) {
      if (s3Id !== 'null') return { status: 'object_deleted', s3VersionId: s3Id };
      return versions.length === 0 ? { status: 'object_deleted' } : { status: 'object_deleted', deletedVersionId: this.remove(key, 0).id };
    }
    const index = versions.findIndex((version) => version.s3Id === s3Id);
    if (index < 0) return { status: 'object_deleted', s3VersionId: s3Id };
    const removed = this.remove(key, index);
    return { status: 'object_deleted', s3VersionId: s3Id, ...(removed.marker ? { deleteMarker: true } : { deletedVersionId: removed.id }) };
  }

  setVersioning(status: 'Enabled' | 'Suspended'): void {
    this.versioning = status;
  }

  /** A version id to DELETE: often one of the key's own, sometimes another key's, "null" or unknown. */
  pickVersion(key: string, pick: number): string {
    const own = this.versionsOf(key).map((version) => version.s3Id);
    const candidates = [...own, ...own, 'null', 'never-issued', ...this.issued];
    return candidates[pick % candidates.length]!;
  }
}

function checkAgainstModel(kv: MemoryKvStore, model: Model): void {
  let remaining = 0;
  for (const key of keyNames) {
    const expected = model.versionsOf(key);
    remaining += expected.length;
    const stored = keyVersions(kv, bucket, key);
    if (model.versioning === undefined) {
      assert.deepEqual(stored, [], 'an unversioned bucket keeps no history');
      assert.ok(expected.length <= 1);
    } else {
      assert.deepEqual(
        stored.map((version) => ({ id: version.versionId, s3Id: s3VersionId(version), marker: version.state === 'DELETE_MARKER' })),
        expected.map(({ id, s3Id, marker }) => ({ id, s3Id, marker })),
        `history of ${key}`,
      );
      const sequences = stored.map((version) => version.sequence!);
      assert.deepEqual(sequences, [...sequences].sort((a, b) => b - a), 'newest first');
      for (const version of stored) assert.deepEqual(versionIndex(kv, version.versionId), [bucket, key, version.sequence]);
    }
    const latest = expected[0];
    const current = readObject(kv, bucket, key);
    assert.equal(current?.versionId, latest === undefined || latest.marker ? undefined : latest.id, `current version of ${key}`);
    if (current !== undefined && model.versioning !== undefined) assert.deepEqual(current, stored[0], 'o/ mirrors the newest version');
    if (current !== undefined && model.versioning === undefined) assert.deepEqual(versionIndex(kv, current.versionId), [bucket, key]);
  }
  const indexEntries = [...kv.scan({ start: Buffer.from('x/'), end: Buffer.from('x0') })].length;
  assert.equal(indexEntries, remaining, 'one index entry per remaining version or marker');
  // Garbage: exactly the removed striped versions not yet collected; nothing still referenced.
  const queued = garbageIds(kv);
  assert.deepEqual(queued, [...model.queued].sort(), 'garbage queue');
  const referenced = new Set(keyNames.flatMap((key) => model.versionsOf(key).map((version) => version.id)));
  for (const versionId of queued) {
    assert.ok(!referenced.has(versionId), `${versionId} is garbage while a remaining version references it`);
    assert.ok(!model.collected.has(versionId), `${versionId} queued again after it was collected`);
  }
}

async function runSteps(steps: readonly Step[]): Promise<void> {
  const harness = await bucketWith(undefined);
  const model = new Model();
  for (const [index, step] of steps.entries()) {
    const key = 'key' in step ? keyNames[step.key]! : '';
    switch (step.kind) {
      case 'put': {
        const id = `v${index}`;
        const result = await harness.apply(step.inline ? put(id, { key, inline: `body ${index}` }) : put(id, { key, firstDrive: index }));
        const replaced = model.put(key, id, !step.inline);
        assert.ok(result.status === 'version_committed');
        assert.equal(result.replacedVersionId, replaced, `replaced by ${id}`);
        break;
      }
      case 'delete':
        assert.deepEqual(await harness.apply(deleteKey(`m${index}`, key)), model.delete(key, `m${index}`));
        break;
      case 'delete_version': {
        const s3Id = model.pickVersion(key, step.pick);
        assert.deepEqual(await harness.apply(deleteVersion(s3Id, key)), model.deleteVersion(key, s3Id), `delete ${key}?versionId=${s3Id}`);
        break;
      }
      case 'set_versioning': {
        const status = step.enabled ? 'Enabled' : 'Suspended';
        assert.deepEqual(await harness.apply(setVersioning(status)), { status: 'ok' });
        model.setVersioning(status);
        break;
      }
      case 'collect': {
        const queued = [...model.queued].sort();
        const chosen = queued.filter((_, at) => (at + step.pick) % 3 !== 0);
        await harness.apply({ type: 'garbage_collected', versionIds: chosen });
        for (const versionId of chosen) {
          model.queued.delete(versionId);
          model.collected.add(versionId);
        }
        break;
      }
    }
    checkAgainstModel(harness.kv, model);
  }
  const anyLeft = keyNames.some((name) => model.versionsOf(name).length > 0);
  assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket }), { status: anyLeft ? 'bucket_not_empty' : 'ok' });
}

describe('versioning: property', () => {
  it('random put / delete / delete-version / set_versioning sequences match the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 60, size: 'max' }), async (steps) => {
        await runSteps(steps);
      }),
      { numRuns: 200 },
    );
  });

  it('deleting every version and marker empties the bucket and frees every striped version once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 40, size: 'max' }), async (steps) => {
        const harness = await bucketWith('Enabled');
        const striped = new Set<string>();
        for (const [index, step] of steps.entries()) {
          if (step.kind === 'put') {
            await harness.apply(step.inline ? put(`v${index}`, { key: keyNames[step.key]!, inline: 'x' }) : put(`v${index}`, { key: keyNames[step.key]!, firstDrive: index }));
            if (!step.inline) striped.add(`v${index}`);
          } else if (step.kind === 'delete') {
            await harness.apply(deleteKey(`m${index}`, keyNames[step.key]));
          } else if (step.kind === 'set_versioning') {
            await harness.apply(setVersioning(step.enabled ? 'Enabled' : 'Suspended'));
          }
        }
        // Whatever a Suspended put or delete replaced is already garbage; delete the rest by id.
        for (const key of keyNames) {
          for (const version of keyVersions(harness.kv, bucket, key)) await harness.apply(deleteVersion(s3VersionId(version), key));
          assert.equal(readObject(harness.kv, bucket, key), undefined);
        }
        assert.deepEqual(garbageIds(harness.kv), [...striped].sort(), 'every striped version is garbage exactly once');
        assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket }), { status: 'ok' });
      }),
      { numRuns: 100 },
    );
  });
});
