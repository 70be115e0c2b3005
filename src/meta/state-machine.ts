// The metadata state machine: applies sequenced ops to a KvTransaction,
// synchronously and deterministically (same ops, same state, on every replica).
// Time comes from the op's timestamp; ids come from the op. No I/O, no clock.
// This is the interface the VSR replica will drive (DESIGN.md §6).

import type { KvReader, KvTransaction } from '../io/kv-store.js';
import { assert, unreachable } from '../stdx/assert.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { bucketKey, clusterMapKey, garbageKey, groupSizeKey, objectKey, objectRange, preparingKey, uploadRange, versionIndexKey, versionRange } from './keys.js';
import { deleteOneVersion, deleteWithMarker, installVersioned, isVersioned, setVersioning } from './versioning.js';
import type { MetaOp, MetaResult, SequencedOp } from './ops.js';
import { abortUpload, commitPart, completeUpload, createUpload } from './multipart.js';
import { partitionTableOf, samePartitions } from './partition-table.js';
import { moveShards } from './shard-repair.js';
import { createAccessKey, deleteAccessKey, updateBucket, updateVersion } from './attributes.js';
import type { BucketRecord, ClusterMapRecord, GarbageRecord, PartRecord, UploadRecord, VersionRecord, WriteConditions } from './records.js';
import { recordFormatVersion } from './records.js';

export function readBucket(reader: KvReader, bucket: string): BucketRecord | undefined {
  const bytes = reader.get(bucketKey(bucket));
  return bytes === undefined ? undefined : (decodeRecord(bytes) as BucketRecord);
}

export function readObject(reader: KvReader, bucket: string, key: string): VersionRecord | undefined {
  const bytes = reader.get(objectKey(bucket, key));
  return bytes === undefined ? undefined : (decodeRecord(bytes) as VersionRecord);
}

export function readPreparing(reader: KvReader, versionId: string): VersionRecord | undefined {
  const bytes = reader.get(preparingKey(versionId));
  return bytes === undefined ? undefined : (decodeRecord(bytes) as VersionRecord);
}

function etagEquals(condition: string, etag: string): boolean {
  return condition === etag || `"${condition}"` === etag;
}

/** What the conditions say of `current`: ok, or the failure to answer. */
export function checkConditions(
  current: VersionRecord | undefined,
  conditions: WriteConditions | undefined,
): 'ok' | 'precondition_failed' | 'no_such_key' {
  if (conditions?.ifMatch !== undefined && current === undefined) return 'no_such_key';
  return conditionsHold(current, conditions) ? 'ok' : 'precondition_failed';
}

function conditionsHold(current: VersionRecord | undefined, conditions: WriteConditions | undefined): boolean {
  if (conditions === undefined) return true;
  if (conditions.ifNoneMatch !== undefined && current !== undefined) {
    if (conditions.ifNoneMatch === '*' || etagEquals(conditions.ifNoneMatch, current.etag)) return false;
  }
  if (conditions.ifMatch !== undefined) {
    if (current === undefined) return false;
    if (conditions.ifMatch !== '*' && !etagEquals(conditions.ifMatch, current.etag)) return false;
  }
  return true;
}

export class MetaStateMachine {
  /** The op being applied: its number orders versions in versioned buckets. */
  private opNumber = 0;

  /**
   * Applies one op. A result never carries object bodies: a version in it has
   * its inline bytes dropped (the caller wrote them; they are in the state),
   * because results are kept in the replica's client table and on its disk.
   */
  apply(transaction: KvTransaction, sequenced: SequencedOp): MetaResult {
    return withoutBodies(this.applyOp(transaction, sequenced));
  }

  private applyOp(transaction: KvTransaction, sequenced: SequencedOp): MetaResult {
    const { op, timestampMs } = sequenced;
    this.opNumber = sequenced.opNumber;
    assert(Number.isSafeInteger(sequenced.opNumber) && sequenced.opNumber > 0, 'op number');
    assert(Number.isFinite(timestampMs) && timestampMs > 0, 'op timestamp');
    switch (op.type) {
      case 'create_bucket':
        return this.createBucket(transaction, op, timestampMs);
      case 'delete_bucket':
        return this.deleteBucket(transaction, op.bucket, timestampMs);
      case 'put_version':
        return this.putVersion(transaction, op.version, op.conditions, timestampMs);
      case 'prepare_version':
        return this.prepareVersion(transaction, { ...op.version, createdMs: timestampMs });
      case 'commit_version':
        return this.commitVersion(transaction, op, timestampMs);
      case 'abort_version':
        return this.abortVersion(transaction, op.bucket, op.versionId, timestampMs);
      case 'delete_object':
        return this.deleteObject(transaction, op, timestampMs);
      case 'update_bucket':
        return updateBucket(transaction, op);
      case 'update_version':
        return updateVersion(transaction, op);
      case 'create_access_key':
        return createAccessKey(transaction, op.key, timestampMs);
      case 'delete_access_key':
        return deleteAccessKey(transaction, op.accessKeyId);
      case 'set_versioning': {
        const bucket = readBucket(transaction, op.bucket);
        if (bucket === undefined) return { status: 'no_such_bucket' };
        return setVersioning(transaction, bucket, op.status, this.opNumber);
      }
      case 'create_upload':
        return createUpload(transaction, op.upload, timestampMs);
      case 'commit_part':
        return commitPart(this, transaction, op, timestampMs);
      case 'complete_upload':
        return completeUpload(this, transaction, op, timestampMs);
      case 'abort_upload':
        return abortUpload(this, transaction, op, timestampMs);
      case 'garbage_collected':
        for (const versionId of op.versionIds) transaction.delete(garbageKey(versionId));
        return { status: 'ok' };
      case 'move_shards':
        return moveShards(transaction, op, timestampMs, this.opNumber);
      case 'set_cluster_map':
        return setClusterMap(transaction, op.map);
      case 'set_group_size':
        transaction.put(groupSizeKey, encodeRecord(op.replicaCount));
        return { status: 'ok' };
      default:
        return unreachable(op, 'unknown meta op');
    }
  }

  private createBucket(
    transaction: KvTransaction,
    op: Extract<MetaOp, { type: 'create_bucket' }>,
    timestampMs: number,
  ): MetaResult {
    const existing = readBucket(transaction, op.bucket);
    if (existing !== undefined) return { status: 'bucket_exists', owner: existing.owner };
    const bucket: BucketRecord = {
      format: recordFormatVersion,
      name: op.bucket,
      bucketId: op.bucketId,
      owner: op.owner,
      region: op.region,
      createdMs: timestampMs,
      ...(op.acl === undefined ? {} : { acl: op.acl }),
    };
    transaction.put(bucketKey(op.bucket), encodeRecord(bucket));
    return { status: 'bucket_created', bucket };
  }

  private deleteBucket(transaction: KvTransaction, bucket: string, timestampMs: number): MetaResult {
    if (readBucket(transaction, bucket) === undefined) return { status: 'no_such_bucket' };
    for (const range of [objectRange(bucket), versionRange(bucket)]) {
      for (const entry of transaction.scan({ ...range, limit: 1 })) {
        assert(entry.key.length > 0);
        return { status: 'bucket_not_empty' };
      }
    }
    // Unfinished multipart uploads go with the bucket; their parts become garbage.
    const uploads = [...transaction.scan(uploadRange(bucket))].map((entry) => decodeRecord(entry.value) as UploadRecord);
    for (const upload of uploads) abortUpload(this, transaction, { type: 'abort_upload', bucket, key: upload.key, uploadId: upload.uploadId }, timestampMs);
    transaction.delete(bucketKey(bucket));
    return { status: 'ok' };
  }

  private putVersion(
    transaction: KvTransaction,
    version: VersionRecord,
    conditions: WriteConditions | undefined,
    timestampMs: number,
  ): MetaResult {
    assert(version.state === 'COMMITTED', 'put_version commits a COMMITTED version');
    if (readBucket(transaction, version.bucket) === undefined) {
      this.queueGarbage(transaction, version, timestampMs);
      return { status: 'no_such_bucket' };
    }
    const current = readObject(transaction, version.bucket, version.key);
    const verdict = checkConditions(current, conditions);
    if (verdict !== 'ok') {
      this.queueGarbage(transaction, version, timestampMs);
      return { status: verdict };
    }
    return this.install(transaction, { ...version, createdMs: timestampMs }, current, timestampMs);
  }

  private prepareVersion(transaction: KvTransaction, version: VersionRecord): MetaResult {
    assert(version.state === 'PREPARING', 'prepare_version records a PREPARING version');
    assert(version.parts.length > 0 && version.inline === undefined, 'a preparing version has parts');
    assert(readPreparing(transaction, version.versionId) === undefined, `version ${version.versionId} prepared twice`);
    if (readBucket(transaction, version.bucket) === undefined) return { status: 'no_such_bucket' };
    transaction.put(preparingKey(version.versionId), encodeRecord(version));
    return { status: 'ok' };
  }

  private commitVersion(
    transaction: KvTransaction,
    op: Extract<MetaOp, { type: 'commit_version' }>,
    timestampMs: number,
  ): MetaResult {
    const preparing = readPreparing(transaction, op.versionId);
    // A version of another bucket is not the one the caller means (its group routed by the wrong bucket).
    if (preparing === undefined || preparing.bucket !== op.bucket) return { status: 'no_such_preparing_version' };
    transaction.delete(preparingKey(op.versionId));
    const version: VersionRecord = {
      ...preparing,
      state: 'COMMITTED',
      sizeBytes: op.sizeBytes,
      etag: op.etag,
      parts: op.parts,
      checksums: op.checksums,
      createdMs: timestampMs,
    };
    if (readBucket(transaction, version.bucket) === undefined) {
      this.queueGarbage(transaction, version, timestampMs);
      return { status: 'no_such_bucket' };
    }
    const current = readObject(transaction, version.bucket, version.key);
    const verdict = checkConditions(current, op.conditions);
    if (verdict !== 'ok') {
      this.queueGarbage(transaction, version, timestampMs);
      return { status: verdict };
    }
    return this.install(transaction, version, current, timestampMs);
  }

  /** Removes the fragment-owner index entries of a version that stops being referenced. */
  dropVersionIndex(transaction: KvTransaction, version: VersionRecord): void {
    transaction.delete(versionIndexKey(version.versionId));
    for (const part of version.parts) {
      if (part.fragmentOwnerId !== undefined) transaction.delete(versionIndexKey(part.fragmentOwnerId));
    }
  }

  /**
   * Makes `version` the current version of its key. Unversioned: the replaced
   * one becomes garbage. Versioned: it joins the key's history.
   */
  install(
    transaction: KvTransaction,
    version: VersionRecord,
    current: VersionRecord | undefined,
    timestampMs: number,
  ): MetaResult {
    const bucket = readBucket(transaction, version.bucket);
    assert(bucket !== undefined, `install into missing bucket ${version.bucket}`);
    if (isVersioned(bucket)) return installVersioned(this, transaction, bucket, version, timestampMs, this.opNumber);
    transaction.put(objectKey(version.bucket, version.key), encodeRecord(version));
    transaction.put(versionIndexKey(version.versionId), encodeRecord([version.bucket, version.key]));
    if (current === undefined) return { status: 'version_committed', version };
    assert(current.versionId !== version.versionId, 'a version replaces itself');
    this.dropVersionIndex(transaction, current);
    this.queueGarbage(transaction, current, timestampMs);
    return { status: 'version_committed', version, replacedVersionId: current.versionId };
  }

  private abortVersion(transaction: KvTransaction, bucket: string, versionId: string, timestampMs: number): MetaResult {
    const preparing = readPreparing(transaction, versionId);
    if (preparing === undefined || preparing.bucket !== bucket) return { status: 'no_such_preparing_version' };
    transaction.delete(preparingKey(versionId));
    this.queueGarbage(transaction, preparing, timestampMs);
    return { status: 'ok' };
  }

  private deleteObject(transaction: KvTransaction, op: Extract<MetaOp, { type: 'delete_object' }>, timestampMs: number): MetaResult {
    const { key, conditions } = op;
    const bucketRecord = readBucket(transaction, op.bucket);
    if (bucketRecord === undefined) return { status: 'no_such_bucket' };
    const bucket = bucketRecord.name;
    const current = readObject(transaction, bucket, key);
    const verdict = checkConditions(current, conditions);
    if (verdict !== 'ok') return { status: verdict };
    if (isVersioned(bucketRecord)) {
      if (op.s3VersionId !== undefined) return deleteOneVersion(this, transaction, bucketRecord, key, op.s3VersionId, timestampMs);
      assert(op.markerVersionId !== undefined, 'a delete in a versioned bucket brings the marker id');
      return deleteWithMarker(this, transaction, bucketRecord, key, op.markerVersionId, timestampMs, this.opNumber);
    }
    if (op.s3VersionId !== undefined && op.s3VersionId !== 'null') return { status: 'object_deleted', s3VersionId: op.s3VersionId };
    if (current === undefined) return { status: 'object_deleted' };
    transaction.delete(objectKey(bucket, key));
    this.dropVersionIndex(transaction, current);
    this.queueGarbage(transaction, current, timestampMs);
    return { status: 'object_deleted', deletedVersionId: current.versionId };
  }

  queueGarbage(transaction: KvTransaction, version: VersionRecord, timestampMs: number): void {
    this.queueGarbageParts(transaction, version.versionId, version.parts, timestampMs);
  }

  /** Queues the fragments of `parts` (stored under `ownerId` unless a part names its own owner). */
  queueGarbageParts(transaction: KvTransaction, ownerId: string, parts: readonly PartRecord[], timestampMs: number): void {
    const striped = parts.filter((part) => part.inline === undefined && part.drives.length > 0);
    if (striped.length === 0) return;
    assert(transaction.get(garbageKey(ownerId)) === undefined, `garbage for ${ownerId} queued twice`);
    const garbage: GarbageRecord = { format: recordFormatVersion, versionId: ownerId, parts: striped, queuedMs: timestampMs };
    transaction.put(garbageKey(ownerId), encodeRecord(garbage));
  }
}

/**
 * Installs `map` above the current epoch. The partition table and the number
 * of metadata groups never change (a bucket would become invisible in the
 * group it left): such a map is refused, the installed one kept.
 */
function setClusterMap(transaction: KvTransaction, map: ClusterMapRecord): MetaResult {
  const bytes = transaction.get(clusterMapKey);
  const current = bytes === undefined ? undefined : (decodeRecord(bytes) as ClusterMapRecord);
  const epoch = current?.epoch ?? 0;
  if (map.epoch <= epoch) return { status: 'stale_cluster_map', epoch };
  if (current !== undefined) {
    const sameGroups = map.metaGroups.length === current.metaGroups.length;
    if (!sameGroups || !samePartitions(partitionTableOf(map), partitionTableOf(current))) return { status: 'partitions_fixed' };
  }
  transaction.put(clusterMapKey, encodeRecord(map));
  return { status: 'ok' };
}

function withoutBodies(result: MetaResult): MetaResult {
  if (!('version' in result)) return result;
  const { version } = result;
  if (version.inline === undefined && version.parts.every((part) => part.inline === undefined)) return result;
  const { inline: _inline, ...rest } = version;
  const parts = version.parts.map((part) => {
    if (part.inline === undefined) return part;
    const { inline: _partInline, ...partRest } = part;
    return partRest;
  });
  return { ...result, version: { ...rest, parts } };
}
