// MetaStateMachine tests: ops applied straight to a MemoryKvStore transaction,
// no journal or service. Each S3-visible outcome (bucket_exists,
// precondition_failed, …) and each garbage rule is pinned down by example; a
// fast-check property then runs random op sequences and checks the invariants
// that keep fragments from leaking and indexes from drifting, and that the
// state does not depend on how ops are batched into transactions.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { KvReader } from '../io/kv-store.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { AssertionError } from '../stdx/assert.js';
import { decodeRecord } from '../stdx/codec.js';
import { bucketRange, garbageKey, objectKeyName, preparingRange } from './keys.js';
import type { MetaOp, MetaResult, SequencedOp } from './ops.js';
import type { BucketRecord, ClusterMapRecord, PartRecord, VersionRecord, WriteConditions } from './records.js';
import { runMetaQuery } from './meta-queries.js';
import { MetaStateMachine, readBucket, readObject, readPreparing } from './state-machine.js';
import { Harness, createBucket, garbage, part, putVersion, versionIndex, versionRecord } from './test-support.js';
import type { VersionFields } from './test-support.js';

function prepareVersion(fields: VersionFields): MetaOp {
  return { type: 'prepare_version', version: versionRecord({ ...fields, state: 'PREPARING', etag: '' }) };
}

function commitVersion(versionId: string, parts: readonly PartRecord[] = [part(1)], conditions?: WriteConditions, bucket = 'photos'): MetaOp {
  return {
    type: 'commit_version',
    bucket,
    versionId,
    sizeBytes: parts.reduce((total, p) => total + p.sizeBytes, 0),
    etag: `"committed-${versionId}"`,
    parts,
    checksums: { crc32c: 'AAAAAA==' },
    ...(conditions === undefined ? {} : { conditions }),
  };
}

function deleteObject(key: string, conditions?: WriteConditions, bucket = 'photos'): MetaOp {
  return { type: 'delete_object', bucket, key, ...(conditions === undefined ? {} : { conditions }) };
}

function preparing(reader: KvReader): VersionRecord[] {
  return [...reader.scan(preparingRange)].map((entry) => decodeRecord(entry.value) as VersionRecord);
}

describe('MetaStateMachine: buckets', () => {
  it('create_bucket stores the bucket with the op timestamp; a second create is bucket_exists', async () => {
    const harness = new Harness();
    const created = await harness.apply(createBucket('photos', 'alice'));
    assert.equal(created.status, 'bucket_created');
    assert.ok(created.status === 'bucket_created');
    assert.deepEqual(created.bucket, {
      format: 1,
      name: 'photos',
      bucketId: 'id-photos',
      owner: 'alice',
      region: 'local',
      createdMs: harness.timestampMs,
    });
    assert.deepEqual(readBucket(harness.kv, 'photos'), created.bucket);
    const again = await harness.apply(createBucket('photos', 'bob'));
    assert.deepEqual(again, { status: 'bucket_exists', owner: 'alice' });
    assert.equal(readBucket(harness.kv, 'photos')?.owner, 'alice');
  });

  it('delete_bucket: missing, non-empty, then empty', async () => {
    const harness = new Harness();
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket: 'photos' }), { status: 'no_such_bucket' });
    await harness.apply(createBucket('photos'));
    await harness.apply(createBucket('photos2'));
    await harness.apply(putVersion({ versionId: 'v1', inline: Buffer.from('hi') }));
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket: 'photos' }), { status: 'bucket_not_empty' });
    // An object in a bucket whose name extends this one does not count.
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket: 'photos2' }), { status: 'ok' });
    await harness.apply(deleteObject('cat.jpg'));
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket: 'photos' }), { status: 'ok' });
    assert.equal(readBucket(harness.kv, 'photos'), undefined);
    assert.deepEqual([...harness.kv.scan(bucketRange)], []);
  });

  it('a recreated bucket gets the new op values', async () => {
    const harness = new Harness();
    await harness.apply(createBucket('photos', 'alice'));
    await harness.apply({ type: 'delete_bucket', bucket: 'photos' });
    const created = await harness.apply({ type: 'create_bucket', bucket: 'photos', bucketId: 'id-2', owner: 'bob', region: 'r2' });
    assert.ok(created.status === 'bucket_created');
    assert.equal(readBucket(harness.kv, 'photos')?.bucketId, 'id-2');
    assert.equal(readBucket(harness.kv, 'photos')?.owner, 'bob');
  });
});

describe('MetaStateMachine: the cluster map', () => {
  it('set_cluster_map installs a map only above the current epoch; get_cluster_map reads it', async () => {
    const harness = new Harness();
    assert.equal(runMetaQuery(harness.kv, { type: 'get_cluster_map' }), undefined);
    const map = (epoch: number, weight = 1): ClusterMapRecord => ({
      epoch,
      scheme: { k: 4, m: 2 },
      level: 'zone',
      nodes: [{ name: 'node-0', zone: 'zone-0', rack: 'rack-0', blob: '127.0.0.1:7100', drives: [{ id: 0, weight, state: 'active' }] }],
      metaGroups: [{ group: 0, replicas: ['127.0.0.1:7001'] }],
    });
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(1) }), { status: 'ok' });
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(1, 2) }), { status: 'stale_cluster_map', epoch: 1 }, 'a second gateway installing epoch 1 loses');
    assert.equal(runMetaQuery(harness.kv, { type: 'get_cluster_map' })?.nodes[0]!.drives[0]!.weight, 1);
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(2, 3) }), { status: 'ok' });
    assert.equal(runMetaQuery(harness.kv, { type: 'get_cluster_map' })?.epoch, 2);
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(1) }), { status: 'stale_cluster_map', epoch: 2 }, 'never back');
  });

  it('set_cluster_map keeps the partition table and the metadata groups as they were created', async () => {
    const harness = new Harness();
    const groups = [
      { group: 0, replicas: ['127.0.0.1:7001'] },
      { group: 1, replicas: ['127.0.0.1:7002'] },
    ];
    const map = (epoch: number, slots: readonly number[], metaGroups = groups): ClusterMapRecord => ({
      epoch,
      scheme: { k: 4, m: 2 },
      level: 'zone',
      nodes: [],
      metaGroups,
      partitions: { hash: 'sha256-prefix32', slots },
    });
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(1, [0, 1, 0, 1]) }), { status: 'ok' });
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(2, [0, 1, 1, 1]) }), { status: 'partitions_fixed' }, 'a slot may not move');
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(2, [0, 1]) }), { status: 'partitions_fixed' }, 'nor the slot count change');
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(2, [0, 1, 0, 1], groups.slice(0, 1)) }), { status: 'partitions_fixed' }, 'nor a group go');
    assert.equal(runMetaQuery(harness.kv, { type: 'get_cluster_map' })?.epoch, 1);
    assert.deepEqual(await harness.apply({ type: 'set_cluster_map', map: map(2, [0, 1, 0, 1]) }), { status: 'ok' }, 'the same table in a new epoch');
    // A map from before partitioning (no table: one group) and a table of one group route alike.
    const legacy = new Harness();
    const { partitions: _partitions, ...unpartitioned } = map(1, [0], groups.slice(0, 1));
    assert.deepEqual(await legacy.apply({ type: 'set_cluster_map', map: unpartitioned }), { status: 'ok' });
    assert.deepEqual(await legacy.apply({ type: 'set_cluster_map', map: map(2, [0, 0, 0, 0], groups.slice(0, 1)) }), { status: 'ok' });
  });
});

describe('MetaStateMachine: versions', () => {
  it('put_version installs a COMMITTED version stamped with the op time and indexes it', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    const result = await harness.apply(putVersion({ versionId: 'v1' }));
    assert.ok(result.status === 'version_committed');
    assert.equal(result.replacedVersionId, undefined);
    assert.equal(result.version.createdMs, harness.timestampMs);
    assert.deepEqual(readObject(harness.kv, 'photos', 'cat.jpg'), result.version);
    assert.deepEqual(versionIndex(harness.kv, 'v1'), ['photos', 'cat.jpg']);
    assert.deepEqual(garbage(harness.kv), []);
  });

  it('put_version into a missing bucket is no_such_bucket and its parts become garbage', async () => {
    const harness = new Harness();
    const parts = [part(1), part(2, 3)];
    assert.deepEqual(await harness.apply(putVersion({ versionId: 'v1', parts })), { status: 'no_such_bucket' });
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg'), undefined);
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v1', parts, queuedMs: harness.timestampMs }]);
  });

  it('put_version refuses a PREPARING version (a bug in the caller)', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await assert.rejects(harness.apply(putVersion({ versionId: 'v1', state: 'PREPARING' })), AssertionError);
  });

  it('prepare then commit: invisible while preparing, committed with the commit op values', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    const placements = [part(1), part(2, 3)];
    assert.deepEqual(await harness.apply(prepareVersion({ versionId: 'v1', parts: placements })), { status: 'ok' });
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg'), undefined);
    assert.equal(readPreparing(harness.kv, 'v1')?.state, 'PREPARING');
    assert.equal(readPreparing(harness.kv, 'v1')?.createdMs, harness.timestampMs, 'stamped with the prepare op time');
    assert.deepEqual(preparing(harness.kv).map((version) => version.versionId), ['v1']);

    const finalParts = [part(1), { ...part(2, 3), missingShards: [2] }];
    const result = await harness.apply(commitVersion('v1', finalParts));
    assert.ok(result.status === 'version_committed');
    const committed = readObject(harness.kv, 'photos', 'cat.jpg');
    assert.deepEqual(committed, result.version);
    assert.equal(committed?.state, 'COMMITTED');
    assert.equal(committed?.etag, '"committed-v1"');
    assert.equal(committed?.sizeBytes, 2048);
    assert.deepEqual(committed?.parts, finalParts);
    assert.deepEqual(committed?.checksums, { crc32c: 'AAAAAA==' });
    assert.equal(committed?.createdMs, harness.timestampMs);
    assert.equal(readPreparing(harness.kv, 'v1'), undefined);
    assert.deepEqual(versionIndex(harness.kv, 'v1'), ['photos', 'cat.jpg']);
    assert.deepEqual(garbage(harness.kv), []);
  });

  it('commit of an unknown or already committed version is no_such_preparing_version', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    assert.deepEqual(await harness.apply(commitVersion('nope')), { status: 'no_such_preparing_version' });
    await harness.apply(prepareVersion({ versionId: 'v1' }));
    assert.equal((await harness.apply(commitVersion('v1'))).status, 'version_committed');
    assert.deepEqual(await harness.apply(commitVersion('v1')), { status: 'no_such_preparing_version' });
    // A version committed by put_version is not preparing either.
    await harness.apply(putVersion({ versionId: 'v2', key: 'other' }));
    assert.deepEqual(await harness.apply(commitVersion('v2')), { status: 'no_such_preparing_version' });
  });

  it('prepare into a missing bucket is no_such_bucket and records nothing', async () => {
    const harness = new Harness();
    assert.deepEqual(await harness.apply(prepareVersion({ versionId: 'v1' })), { status: 'no_such_bucket' });
    assert.deepEqual(preparing(harness.kv), []);
    assert.deepEqual(garbage(harness.kv), []);
  });

  it('preparing the same version twice is a bug', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(prepareVersion({ versionId: 'v1' }));
    await assert.rejects(harness.apply(prepareVersion({ versionId: 'v1' })), AssertionError);
    // The failed transaction left the first preparation as it was.
    assert.deepEqual(preparing(harness.kv).map((version) => version.versionId), ['v1']);
  });

  it('commit after the bucket was deleted is no_such_bucket and the parts become garbage', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(prepareVersion({ versionId: 'v1' }));
    assert.deepEqual(await harness.apply({ type: 'delete_bucket', bucket: 'photos' }), { status: 'ok' });
    assert.deepEqual(await harness.apply(commitVersion('v1', [part(1, 7)])), { status: 'no_such_bucket' });
    assert.deepEqual(preparing(harness.kv), []);
    assert.deepEqual(
      garbage(harness.kv).map((record) => [record.versionId, record.parts]),
      [['v1', [part(1, 7)]]],
    );
  });

  it('abort_version drops the preparing version and hands its parts to GC', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(prepareVersion({ versionId: 'v1', parts: [part(1, 4)] }));
    assert.deepEqual(await harness.apply({ type: 'abort_version', bucket: 'photos', versionId: 'v1' }), { status: 'ok' });
    assert.deepEqual(preparing(harness.kv), []);
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v1', parts: [part(1, 4)], queuedMs: harness.timestampMs }]);
    assert.deepEqual(await harness.apply({ type: 'abort_version', bucket: 'photos', versionId: 'v1' }), { status: 'no_such_preparing_version' });
  });

  it('commit_version and abort_version naming another bucket than the version\'s are refused and change nothing', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(createBucket('docs'));
    await harness.apply(prepareVersion({ versionId: 'v1' }));
    assert.deepEqual(await harness.apply(commitVersion('v1', [part(1)], undefined, 'docs')), { status: 'no_such_preparing_version' });
    assert.deepEqual(await harness.apply({ type: 'abort_version', bucket: 'docs', versionId: 'v1' }), { status: 'no_such_preparing_version' });
    assert.deepEqual(preparing(harness.kv).map((version) => [version.bucket, version.versionId]), [['photos', 'v1']]);
    assert.deepEqual(garbage(harness.kv), []);
    assert.equal((await harness.apply(commitVersion('v1'))).status, 'version_committed', 'the right bucket still commits it');
  });

  it('an overwrite queues the old version as garbage; garbage_collected removes it', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(putVersion({ versionId: 'v1', parts: [part(1, 10)] }));
    const result = await harness.apply(putVersion({ versionId: 'v2', parts: [part(1, 20)] }));
    assert.ok(result.status === 'version_committed');
    assert.equal(result.replacedVersionId, 'v1');
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg')?.versionId, 'v2');
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v1', parts: [part(1, 10)], queuedMs: harness.timestampMs }]);
    assert.equal(versionIndex(harness.kv, 'v1'), undefined);
    assert.deepEqual(versionIndex(harness.kv, 'v2'), ['photos', 'cat.jpg']);

    assert.deepEqual(await harness.apply({ type: 'garbage_collected', versionIds: ['v1', 'never-existed'] }), { status: 'ok' });
    assert.deepEqual(garbage(harness.kv), []);
    assert.equal(harness.kv.get(garbageKey('v1')), undefined);
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg')?.versionId, 'v2');
  });

  it('a commit over an existing object replaces it and queues the old parts', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(putVersion({ versionId: 'v1', parts: [part(1, 10)] }));
    await harness.apply(prepareVersion({ versionId: 'v2' }));
    const result = await harness.apply(commitVersion('v2'));
    assert.ok(result.status === 'version_committed');
    assert.equal(result.replacedVersionId, 'v1');
    assert.deepEqual(garbage(harness.kv).map((record) => record.versionId), ['v1']);
  });

  it('inline versions carry no fragments: overwriting or deleting them queues no garbage', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(putVersion({ versionId: 'v1', inline: Buffer.from('small body') }));
    const stored = readObject(harness.kv, 'photos', 'cat.jpg');
    assert.deepEqual(Buffer.from(stored!.inline!), Buffer.from('small body'));
    const result = await harness.apply(putVersion({ versionId: 'v2', inline: Buffer.from('another') }));
    assert.ok(result.status === 'version_committed' && result.replacedVersionId === 'v1');
    assert.deepEqual(garbage(harness.kv), []);
    // A failed inline put has nothing to collect either.
    assert.equal((await harness.apply(putVersion({ versionId: 'v3', inline: Buffer.from('x') }, { ifNoneMatch: '*' }))).status, 'precondition_failed');
    assert.deepEqual(garbage(harness.kv), []);
    await harness.apply(deleteObject('cat.jpg'));
    assert.deepEqual(garbage(harness.kv), []);
    // An inline version replaced by a multipart one: still nothing to collect.
    await harness.apply(putVersion({ versionId: 'v4', inline: Buffer.from('x') }));
    await harness.apply(putVersion({ versionId: 'v5' }));
    assert.deepEqual(garbage(harness.kv), []);
  });
});

describe('MetaStateMachine: conditions', () => {
  async function withObject(): Promise<Harness> {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(putVersion({ versionId: 'v1', etag: '"abc123"', parts: [part(1, 10)] }));
    return harness;
  }

  it('ifNoneMatch "*" fails on an existing key and queues the new parts; passes on a new key', async () => {
    const harness = await withObject();
    const failed = await harness.apply(putVersion({ versionId: 'v2', parts: [part(1, 20)] }, { ifNoneMatch: '*' }));
    assert.deepEqual(failed, { status: 'precondition_failed' });
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg')?.versionId, 'v1');
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v2', parts: [part(1, 20)], queuedMs: harness.timestampMs }]);
    const passed = await harness.apply(putVersion({ versionId: 'v3', key: 'new.jpg' }, { ifNoneMatch: '*' }));
    assert.equal(passed.status, 'version_committed');
  });

  for (const ifMatch of ['"abc123"', 'abc123', '*']) {
    it(`ifMatch ${ifMatch} matches the current etag "abc123"`, async () => {
      const harness = await withObject();
      const result = await harness.apply(putVersion({ versionId: 'v2' }, { ifMatch }));
      assert.ok(result.status === 'version_committed');
      assert.equal(result.replacedVersionId, 'v1');
    });
  }

  for (const ifMatch of ['"abc124"', 'abc12', '""', '"abc123"x', 'W/"abc123"']) {
    it(`ifMatch ${ifMatch} does not match "abc123": precondition_failed`, async () => {
      const harness = await withObject();
      assert.deepEqual(await harness.apply(putVersion({ versionId: 'v2' }, { ifMatch })), { status: 'precondition_failed' });
      assert.equal(readObject(harness.kv, 'photos', 'cat.jpg')?.versionId, 'v1');
    });
  }

  it('ifMatch on a missing key fails as no_such_key (S3: 404), even "*"', async () => {
    const harness = await withObject();
    for (const ifMatch of ['*', '"abc123"']) {
      const result = await harness.apply(putVersion({ versionId: `new-${ifMatch}`, key: 'missing' }, { ifMatch }));
      assert.deepEqual(result, { status: 'no_such_key' });
    }
  });

  it('commit_version checks its conditions; on failure the preparing version becomes garbage', async () => {
    const harness = await withObject();
    await harness.apply(prepareVersion({ versionId: 'v2', parts: [part(1, 30)] }));
    const result = await harness.apply(commitVersion('v2', [part(1, 30)], { ifMatch: '"other"' }));
    assert.deepEqual(result, { status: 'precondition_failed' });
    assert.deepEqual(preparing(harness.kv), []);
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg')?.versionId, 'v1');
    assert.deepEqual(garbage(harness.kv).map((record) => [record.versionId, record.parts]), [['v2', [part(1, 30)]]]);

    await harness.apply(prepareVersion({ versionId: 'v3' }));
    const passed = await harness.apply(commitVersion('v3', [part(1)], { ifMatch: 'abc123' }));
    assert.ok(passed.status === 'version_committed' && passed.replacedVersionId === 'v1');
  });

  it('delete_object checks its conditions', async () => {
    const harness = await withObject();
    assert.deepEqual(await harness.apply(deleteObject('cat.jpg', { ifMatch: '"nope"' })), { status: 'precondition_failed' });
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg')?.versionId, 'v1');
    assert.deepEqual(garbage(harness.kv), []);
    assert.deepEqual(await harness.apply(deleteObject('missing', { ifMatch: '*' })), { status: 'no_such_key' });
    assert.deepEqual(await harness.apply(deleteObject('cat.jpg', { ifMatch: '"abc123"' })), {
      status: 'object_deleted',
      deletedVersionId: 'v1',
    });
  });
});

describe('MetaStateMachine: delete_object', () => {
  it('deletes the current version, its index entry, and queues its parts', async () => {
    const harness = new Harness();
    await harness.apply(createBucket());
    await harness.apply(putVersion({ versionId: 'v1', parts: [part(1, 5)] }));
    assert.deepEqual(await harness.apply(deleteObject('cat.jpg')), { status: 'object_deleted', deletedVersionId: 'v1' });
    assert.equal(readObject(harness.kv, 'photos', 'cat.jpg'), undefined);
    assert.equal(versionIndex(harness.kv, 'v1'), undefined);
    assert.deepEqual(garbage(harness.kv), [{ format: 1, versionId: 'v1', parts: [part(1, 5)], queuedMs: harness.timestampMs }]);
  });

  it('deleting a missing key succeeds without a version; a missing bucket is no_such_bucket', async () => {
    const harness = new Harness();
    assert.deepEqual(await harness.apply(deleteObject('cat.jpg')), { status: 'no_such_bucket' });
    await harness.apply(createBucket());
    assert.deepEqual(await harness.apply(deleteObject('cat.jpg')), { status: 'object_deleted' });
  });

  it('the op timestamp, not a clock, decides createdMs and queuedMs', async () => {
    const harness = new Harness();
    const stateMachine = new MetaStateMachine();
    await harness.kv.transact((transaction) => {
      stateMachine.apply(transaction, { opNumber: 1, timestampMs: 42, op: createBucket() });
      stateMachine.apply(transaction, { opNumber: 2, timestampMs: 43, op: putVersion({ versionId: 'v1' }) });
      stateMachine.apply(transaction, { opNumber: 3, timestampMs: 44, op: deleteObject('cat.jpg') });
    });
    assert.equal(readBucket(harness.kv, 'photos')?.createdMs, 42);
    assert.equal(garbage(harness.kv)[0]?.queuedMs, 44);
  });

  it('rejects op numbers and timestamps that cannot come from a sequencer', async () => {
    const stateMachine = new MetaStateMachine();
    const kv = new MemoryKvStore();
    for (const [opNumber, timestampMs] of [
      [0, 1],
      [1.5, 1],
      [1, 0],
      [1, Number.NaN],
    ] as const) {
      await assert.rejects(
        kv.transact((transaction) => stateMachine.apply(transaction, { opNumber, timestampMs, op: createBucket() })),
        AssertionError,
      );
    }
    assert.equal(kv.size(), 0);
  });
});

// Property: random op sequences keep the invariants, and batching does not matter.

type Step =
  | { readonly kind: 'create_bucket' | 'delete_bucket'; readonly bucket: number }
  | { readonly kind: 'put'; readonly bucket: number; readonly key: number; readonly inline: boolean; readonly condition: number }
  | { readonly kind: 'prepare'; readonly bucket: number; readonly key: number }
  | { readonly kind: 'commit'; readonly ref: number; readonly condition: number }
  | { readonly kind: 'abort'; readonly ref: number }
  | { readonly kind: 'delete'; readonly bucket: number; readonly key: number; readonly condition: number }
  | { readonly kind: 'collect'; readonly refs: readonly number[] };

const bucketNames = ['b', 'bb', 'photos'];
const keyNames = ['k', 'k/1', 'k/2', 'é', '😀', '\uFFFD'];
const conditionChoices: readonly (WriteConditions | undefined)[] = [undefined, undefined, { ifNoneMatch: '*' }, { ifMatch: '*' }];

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('create_bucket' as const), bucket: fc.nat({ max: 2 }) }), weight: 3 },
  fc.record({ kind: fc.constant('delete_bucket' as const), bucket: fc.nat({ max: 2 }) }),
  {
    arbitrary: fc.record({ kind: fc.constant('put' as const), bucket: fc.nat({ max: 2 }), key: fc.nat({ max: 5 }), inline: fc.boolean(), condition: fc.nat({ max: 3 }) }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('prepare' as const), bucket: fc.nat({ max: 2 }), key: fc.nat({ max: 5 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('commit' as const), ref: fc.nat(), condition: fc.nat({ max: 3 }) }), weight: 2 },
  fc.record({ kind: fc.constant('abort' as const), ref: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), bucket: fc.nat({ max: 2 }), key: fc.nat({ max: 5 }), condition: fc.nat({ max: 3 }) }),
  fc.record({ kind: fc.constant('collect' as const), refs: fc.array(fc.nat(), { maxLength: 3 }) }),
);

/**
 * Step `index` of a run: a step that makes a version uses versionId `v<index>`,
 * so ids never repeat. A commit or abort names the bucket of the step it
 * refers to (any bucket when that step made no version).
 */
function stepToOp(step: Step, index: number, steps: readonly Step[]): MetaOp {
  // References point a few steps back, so they often hit a recent version.
  const back = (value: number): number => Math.max(0, index - 1 - (value % 8));
  const ref = (value: number): string => `v${back(value)}`;
  const bucketOf = (value: number): string => {
    const made = steps[back(value)];
    return made !== undefined && 'bucket' in made ? bucketNames[made.bucket]! : 'photos';
  };
  const condition = (value: number): WriteConditions | undefined => conditionChoices[value];
  switch (step.kind) {
    case 'create_bucket':
      return createBucket(bucketNames[step.bucket]);
    case 'delete_bucket':
      return { type: 'delete_bucket', bucket: bucketNames[step.bucket]! };
    case 'put': {
      const fields = { bucket: bucketNames[step.bucket]!, key: keyNames[step.key]!, versionId: `v${index}` };
      return putVersion(step.inline ? { ...fields, inline: Buffer.from(`body ${index}`) } : { ...fields, parts: [part(1, index)] }, condition(step.condition));
    }
    case 'prepare':
      return prepareVersion({ bucket: bucketNames[step.bucket]!, key: keyNames[step.key]!, versionId: `v${index}`, parts: [part(1, index)] });
    case 'commit':
      return commitVersion(ref(step.ref), [part(1, back(step.ref))], condition(step.condition), bucketOf(step.ref));
    case 'abort':
      return { type: 'abort_version', bucket: bucketOf(step.ref), versionId: ref(step.ref) };
    case 'delete':
      return deleteObject(keyNames[step.key]!, condition(step.condition), bucketNames[step.bucket]);
    case 'collect':
      return { type: 'garbage_collected', versionIds: step.refs.map(ref) };
  }
}

function decodeAll<T>(reader: KvReader, range: { start: Uint8Array; end: Uint8Array }): T[] {
  return [...reader.scan(range)].map((entry) => decodeRecord(entry.value) as T);
}

const objectSpace = { start: Buffer.from('o/'), end: Buffer.from('o0') };
const indexSpace = { start: Buffer.from('x/'), end: Buffer.from('x0') };

function checkInvariants(kv: MemoryKvStore, withFragments: ReadonlySet<string>, collected: ReadonlySet<string>): void {
  const buckets = new Set(decodeAll<BucketRecord>(kv, bucketRange).map((bucket) => bucket.name));
  const objects = decodeAll<VersionRecord>(kv, objectSpace);
  const preparingVersions = preparing(kv);
  const garbageRecords = garbage(kv);
  for (const entry of kv.scan(objectSpace)) {
    const version = decodeRecord(entry.value) as VersionRecord;
    assert.equal(version.state, 'COMMITTED');
    assert.ok(buckets.has(version.bucket), `object ${version.key} lives in an existing bucket`);
    assert.equal(objectKeyName(version.bucket, entry.key), version.key);
    assert.deepEqual(versionIndex(kv, version.versionId), [version.bucket, version.key]);
  }
  const indexed = decodeAll<[string, string]>(kv, indexSpace);
  assert.equal(indexed.length, objects.length, 'one index entry per current version');
  for (const version of preparingVersions) {
    assert.equal(version.state, 'PREPARING');
    assert.ok(version.parts.length > 0);
  }
  for (const record of garbageRecords) assert.ok(record.parts.length > 0, 'garbage always has fragments');
  // No leaked fragments: every version that ever had parts is current,
  // preparing, queued as garbage, or was collected, and only one of them.
  const homes = new Map<string, number>();
  const count = (versionId: string): void => {
    homes.set(versionId, (homes.get(versionId) ?? 0) + 1);
  };
  objects.filter((version) => version.parts.length > 0).forEach((version) => {
    count(version.versionId);
  });
  preparingVersions.forEach((version) => {
    count(version.versionId);
  });
  garbageRecords.forEach((record) => {
    count(record.versionId);
  });
  for (const versionId of withFragments) {
    const places = (homes.get(versionId) ?? 0) + (collected.has(versionId) ? 1 : 0);
    assert.equal(places, 1, `version ${versionId} has ${places} homes`);
  }
  for (const versionId of homes.keys()) assert.ok(withFragments.has(versionId), `unexpected version ${versionId}`);
}

describe('MetaStateMachine: property', () => {
  it('random op sequences keep every invariant and leak no fragments', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 80, size: 'max' }), async (steps) => {
        const harness = new Harness();
        const withFragments = new Set<string>();
        const collected = new Set<string>();
        for (const [index, step] of steps.entries()) {
          const op = stepToOp(step, index, steps);
          if (op.type === 'garbage_collected') {
            for (const versionId of op.versionIds) if (harness.kv.get(garbageKey(versionId)) !== undefined) collected.add(versionId);
          }
          const result = await harness.apply(op);
          if (op.type === 'put_version' && op.version.parts.length > 0) withFragments.add(op.version.versionId);
          if (op.type === 'prepare_version' && result.status === 'ok') withFragments.add(op.version.versionId);
          checkInvariants(harness.kv, withFragments, collected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the state does not depend on how ops are grouped into transactions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 60, size: 'max' }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }),
        async (steps, groupSizes) => {
          const sequenced: SequencedOp[] = steps.map((step, index) => ({
            opNumber: index + 1,
            timestampMs: 1_000 + Math.floor(index / 3),
            op: stepToOp(step, index, steps),
          }));
          const one = new MemoryKvStore();
          const grouped = new MemoryKvStore();
          const stateMachine = new MetaStateMachine();
          const singleResults: MetaResult[] = [];
          for (const entry of sequenced) singleResults.push(await one.transact((transaction) => stateMachine.apply(transaction, entry)));
          const groupedResults: MetaResult[] = [];
          let at = 0;
          for (let group = 0; at < sequenced.length; group++) {
            const batch = sequenced.slice(at, at + groupSizes[group % groupSizes.length]!);
            at += batch.length;
            groupedResults.push(...(await grouped.transact((transaction) => batch.map((entry) => stateMachine.apply(transaction, entry)))));
          }
          assert.deepEqual(groupedResults, singleResults);
          const dump = (kv: MemoryKvStore): string[] => [...kv.scan({})].map((entry) => Buffer.from(entry.key).toString('hex') + '=' + Buffer.from(entry.value).toString('hex'));
          assert.deepEqual(dump(grouped), dump(one));
        },
      ),
      { numRuns: 150 },
    );
  });
});
