// Changes to what surrounds data rather than the data: bucket and object ACLs
// and tags, and access keys. Each is one op applied synchronously, in place:
// an object's ACL or tags change without a new version (as in S3).

import type { KvReader, KvTransaction } from '../io/kv-store.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { accessKeyKey, bucketKey, objectKey, versionKey } from './keys.js';
import type { MetaOp, MetaResult } from './ops.js';
import type { AccessKeyRecord, Acl, TagSet, VersionRecord } from './records.js';
import { readBucket, readObject } from './state-machine.js';
import { findVersion } from './versioning.js';

function withAttributes<T extends { readonly acl?: Acl; readonly tags?: TagSet }>(record: T, acl: Acl | undefined, tags: TagSet | null | undefined): T {
  const updated = { ...record, ...(acl === undefined ? {} : { acl }) };
  if (tags === undefined) return updated;
  if (tags === null) {
    const { tags: _removed, ...rest } = updated;
    return rest as T;
  }
  return { ...updated, tags };
}

export function updateBucket(transaction: KvTransaction, op: Extract<MetaOp, { type: 'update_bucket' }>): MetaResult {
  const bucket = readBucket(transaction, op.bucket);
  if (bucket === undefined) return { status: 'no_such_bucket' };
  transaction.put(bucketKey(op.bucket), encodeRecord(withAttributes(bucket, op.acl, op.tags)));
  return { status: 'ok' };
}

export function updateVersion(transaction: KvTransaction, op: Extract<MetaOp, { type: 'update_version' }>): MetaResult {
  const bucket = readBucket(transaction, op.bucket);
  if (bucket === undefined) return { status: 'no_such_bucket' };
  const current = readObject(transaction, op.bucket, op.key);
  let version: VersionRecord | undefined;
  if (op.s3VersionId === undefined) version = current;
  else if (bucket.versioning === undefined) version = op.s3VersionId === 'null' ? current : undefined;
  else version = findVersion(transaction, op.bucket, op.key, op.s3VersionId);
  if (version === undefined) return op.s3VersionId === undefined ? { status: 'no_such_key' } : { status: 'no_such_version' };
  if (version.state === 'DELETE_MARKER') return { status: 'no_such_version' };
  const updated = withAttributes(version, op.acl, op.tags);
  if (current?.versionId === version.versionId) transaction.put(objectKey(op.bucket, op.key), encodeRecord(updated));
  if (version.sequence !== undefined) transaction.put(versionKey(op.bucket, op.key, version.sequence), encodeRecord(updated));
  return { status: 'version_updated', version: updated };
}

export function readAccessKey(reader: KvReader, accessKeyId: string): AccessKeyRecord | undefined {
  const bytes = reader.get(accessKeyKey(accessKeyId));
  return bytes === undefined ? undefined : (decodeRecord(bytes) as AccessKeyRecord);
}

export function createAccessKey(transaction: KvTransaction, key: AccessKeyRecord, timestampMs: number): MetaResult {
  if (readAccessKey(transaction, key.accessKeyId) !== undefined) return { status: 'access_key_exists' };
  transaction.put(accessKeyKey(key.accessKeyId), encodeRecord({ ...key, createdMs: timestampMs }));
  return { status: 'ok' };
}

export function deleteAccessKey(transaction: KvTransaction, accessKeyId: string): MetaResult {
  if (readAccessKey(transaction, accessKeyId) === undefined) return { status: 'no_such_access_key' };
  transaction.delete(accessKeyKey(accessKeyId));
  return { status: 'ok' };
}
