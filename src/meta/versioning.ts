// Versioned buckets in the metadata state machine. Every version of a key,
// delete markers included, lives under v/<bucket><key>\0<inverted sequence>
// (newest first; the sequence is the op number that made it); o/<bucket><key>
// keeps mirroring the latest version that is not a delete marker, so GET and
// LIST read exactly as in unversioned buckets. Only versions removed from v/
// become garbage. Synchronous and deterministic like the rest of apply.

import type { KvReader, KvTransaction } from '../io/kv-store.js';
import { assert } from '../stdx/assert.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { bucketKey, keyVersionRange, objectKey, objectRange, versionIndexKey, versionKey } from './keys.js';
import type { MetaResult } from './ops.js';
import { recordFormatVersion, s3VersionId } from './records.js';
import type { BucketRecord, VersionRecord } from './records.js';
import type { MetaStateMachine } from './state-machine.js';

/** Versions of one key kept at most (a bound on the scans below). */
export const keyVersionsMax = 100_000;

export function isVersioned(bucket: BucketRecord): boolean {
  return bucket.versioning !== undefined;
}

export function readVersionAt(reader: KvReader, bucket: string, key: string, sequence: number): VersionRecord | undefined {
  const bytes = reader.get(versionKey(bucket, key, sequence));
  return bytes === undefined ? undefined : (decodeRecord(bytes) as VersionRecord);
}

/** Versions of `key`, newest first. */
export function keyVersions(reader: KvReader, bucket: string, key: string): VersionRecord[] {
  const versions = [...reader.scan({ ...keyVersionRange(bucket, key), limit: keyVersionsMax })].map((entry) => decodeRecord(entry.value) as VersionRecord);
  assert(versions.every((version) => version.key === key), 'a key range holds only that key');
  return versions;
}

/** The version S3 calls `s3Id` ("null" or an id we minted), in a versioned bucket. */
export function findVersion(reader: KvReader, bucket: string, key: string, s3Id: string): VersionRecord | undefined {
  if (s3Id === 'null') return keyVersions(reader, bucket, key).find((version) => version.isNullVersion === true);
  const bytes = reader.get(versionIndexKey(s3Id));
  if (bytes === undefined) return undefined;
  const [indexBucket, indexKey, sequence] = decodeRecord(bytes) as [string, string, number?];
  if (indexBucket !== bucket || indexKey !== key || sequence === undefined) return undefined;
  return readVersionAt(reader, bucket, key, sequence);
}

function putVersionEntry(transaction: KvTransaction, version: VersionRecord): void {
  assert(version.sequence !== undefined, 'a kept version has a sequence');
  transaction.put(versionKey(version.bucket, version.key, version.sequence), encodeRecord(version));
  transaction.put(versionIndexKey(version.versionId), encodeRecord([version.bucket, version.key, version.sequence]));
}

/** Removes one version from v/; its fragments become garbage. */
function removeVersionEntry(machine: MetaStateMachine, transaction: KvTransaction, version: VersionRecord, timestampMs: number): void {
  assert(version.sequence !== undefined, 'a kept version has a sequence');
  transaction.delete(versionKey(version.bucket, version.key, version.sequence));
  machine.dropVersionIndex(transaction, version);
  if (version.state !== 'DELETE_MARKER') machine.queueGarbage(transaction, version, timestampMs);
}

/** Makes o/ mirror the newest remaining version of the key that is not a marker. */
function refreshCurrent(transaction: KvTransaction, bucket: string, key: string): void {
  const latest = keyVersions(transaction, bucket, key)[0];
  if (latest === undefined || latest.state === 'DELETE_MARKER') transaction.delete(objectKey(bucket, key));
  else transaction.put(objectKey(bucket, key), encodeRecord(latest));
}

/** Suspended buckets keep one null version per key: a new one replaces it. */
function removeNullVersion(machine: MetaStateMachine, transaction: KvTransaction, bucket: string, key: string, timestampMs: number): string | undefined {
  const existing = keyVersions(transaction, bucket, key).find((version) => version.isNullVersion === true);
  if (existing === undefined) return undefined;
  removeVersionEntry(machine, transaction, existing, timestampMs);
  return existing.state === 'DELETE_MARKER' ? undefined : existing.versionId;
}

/** install() for a versioned bucket: the new version joins the key's history. */
export function installVersioned(
  machine: MetaStateMachine,
  transaction: KvTransaction,
  bucket: BucketRecord,
  version: VersionRecord,
  timestampMs: number,
  opNumber: number,
): MetaResult {
  const suspended = bucket.versioning === 'Suspended';
  const replaced = suspended ? removeNullVersion(machine, transaction, version.bucket, version.key, timestampMs) : undefined;
  const kept: VersionRecord = { ...version, sequence: opNumber, ...(suspended ? { isNullVersion: true } : {}) };
  putVersionEntry(transaction, kept);
  transaction.put(objectKey(kept.bucket, kept.key), encodeRecord(kept));
  return { status: 'version_committed', version: kept, ...(replaced === undefined ? {} : { replacedVersionId: replaced }) };
}

/** DELETE without a version id in a versioned bucket: a delete marker becomes the latest version. */
export function deleteWithMarker(
  machine: MetaStateMachine,
  transaction: KvTransaction,
  bucket: BucketRecord,
  key: string,
  markerVersionId: string,
  timestampMs: number,
  opNumber: number,
): MetaResult {
  const suspended = bucket.versioning === 'Suspended';
  const replaced = suspended ? removeNullVersion(machine, transaction, bucket.name, key, timestampMs) : undefined;
  const marker: VersionRecord = {
    format: recordFormatVersion,
    bucket: bucket.name,
    key,
    versionId: markerVersionId,
    state: 'DELETE_MARKER',
    sizeBytes: 0,
    etag: '',
    contentType: '',
    headers: {},
    userMetadata: {},
    checksums: {},
    owner: bucket.owner,
    createdMs: timestampMs,
    parts: [],
    sequence: opNumber,
    ...(suspended ? { isNullVersion: true } : {}),
  };
  putVersionEntry(transaction, marker);
  transaction.delete(objectKey(bucket.name, key));
  return { status: 'object_deleted', s3VersionId: s3VersionId(marker), deleteMarker: true, ...(replaced === undefined ? {} : { deletedVersionId: replaced }) };
}

/** DELETE ?versionId=: removes exactly that version; the next newest becomes current. */
export function deleteOneVersion(
  machine: MetaStateMachine,
  transaction: KvTransaction,
  bucket: BucketRecord,
  key: string,
  s3Id: string,
  timestampMs: number,
): MetaResult {
  const version = findVersion(transaction, bucket.name, key, s3Id);
  if (version === undefined) return { status: 'object_deleted', s3VersionId: s3Id };
  removeVersionEntry(machine, transaction, version, timestampMs);
  refreshCurrent(transaction, bucket.name, key);
  return {
    status: 'object_deleted',
    s3VersionId: s3Id,
    ...(version.state === 'DELETE_MARKER' ? { deleteMarker: true } : { deletedVersionId: version.versionId }),
  };
}

/**
 * Turns versioning on (or suspends it). The first time, every existing object
 * becomes the key's null version in v/ (one pass over the bucket).
 */
export function setVersioning(
  transaction: KvTransaction,
  bucket: BucketRecord,
  status: 'Enabled' | 'Suspended',
  opNumber: number,
): MetaResult {
  if (!isVersioned(bucket)) {
    const existing = [...transaction.scan(objectRange(bucket.name))];
    for (const entry of existing) {
      const version = decodeRecord(entry.value) as VersionRecord;
      const kept: VersionRecord = { ...version, sequence: opNumber, isNullVersion: true };
      putVersionEntry(transaction, kept);
      transaction.put(entry.key, encodeRecord(kept));
    }
  }
  transaction.put(bucketKey(bucket.name), encodeRecord({ ...bucket, versioning: status }));
  return { status: 'ok' };
}
