// Key encoding for the metadata KvStore. Keys sort in byte order, so all
// objects of a bucket are one contiguous range ordered by key: LIST is a scan.
//
//   b/<bucket>                      BucketRecord
//   o/<len u8><bucket><key>         current VersionRecord of a key
//   p/<versionId>                   PREPARING VersionRecord (invisible to reads)
//   x/<versionId>                   <bucket, key> of a committed version (orphan sweep)
//   g/<versionId>                   GarbageRecord: fragments to delete
//   u/, q/                          multipart uploads and their parts
//   v/                              versions of versioned buckets (newest first)
//   k/<accessKeyId>                 AccessKeyRecord
//   c/map                           the cluster map (root group)
//   c/group-size                    this metadata group's replica count (set_group_size)
//   r/...                           the VSR replica's own keys (vsr/kv-driver.ts)

import { assert } from '../stdx/assert.js';
import { prefixEnd, utf8 } from '../stdx/bytes.js';

const bucketPrefix = utf8('b/');
const objectPrefix = utf8('o/');
const preparingPrefix = utf8('p/');
const versionIndexPrefix = utf8('x/');
const garbagePrefix = utf8('g/');


function join(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

export function bucketKey(bucket: string): Uint8Array {
  return join(bucketPrefix, utf8(bucket));
}

export const bucketRange = { start: bucketPrefix, end: prefixEnd(bucketPrefix)! };

function objectBucketPrefix(bucket: string): Uint8Array {
  const name = utf8(bucket);
  assert(name.length > 0 && name.length < 256, `bucket name length ${name.length}`);
  return join(objectPrefix, Uint8Array.of(name.length), name);
}

export function objectKey(bucket: string, key: string): Uint8Array {
  return join(objectBucketPrefix(bucket), utf8(key));
}

/** The range of every object key in `bucket` that starts with `prefix`. */
export function objectRange(bucket: string, prefix = ''): { start: Uint8Array; end: Uint8Array } {
  const start = join(objectBucketPrefix(bucket), utf8(prefix));
  const end = prefixEnd(start);
  assert(end !== undefined, 'object range has an end');
  return { start, end };
}

/** The S3 key of an object key produced by objectKey(bucket, …). */
export function objectKeyName(bucket: string, storedKey: Uint8Array): string {
  const prefixLength = objectBucketPrefix(bucket).length;
  return Buffer.from(storedKey.buffer, storedKey.byteOffset + prefixLength, storedKey.length - prefixLength).toString('utf8');
}

export function preparingKey(versionId: string): Uint8Array {
  return join(preparingPrefix, utf8(versionId));
}

export const preparingRange = { start: preparingPrefix, end: prefixEnd(preparingPrefix)! };

export function versionIndexKey(versionId: string): Uint8Array {
  return join(versionIndexPrefix, utf8(versionId));
}

export function garbageKey(versionId: string): Uint8Array {
  return join(garbagePrefix, utf8(versionId));
}

export const garbageRange = { start: garbagePrefix, end: prefixEnd(garbagePrefix)! };

//   u/<len u8><bucket><key>\0<uploadId>   UploadRecord (multipart upload in progress)
//   q/<uploadId>/<partNumber u16 BE>     UploadPartRecord

const uploadPrefix = utf8('u/');
const uploadPartPrefix = utf8('q/');

function uploadBucketPrefix(bucket: string): Uint8Array {
  const name = utf8(bucket);
  assert(name.length > 0 && name.length < 256, `bucket name length ${name.length}`);
  return join(uploadPrefix, Uint8Array.of(name.length), name);
}

export function uploadKey(bucket: string, key: string, uploadId: string): Uint8Array {
  return join(uploadBucketPrefix(bucket), utf8(key), Uint8Array.of(0), utf8(uploadId));
}

/** Every upload of `bucket` whose key starts with `prefix`, ordered by key then upload id. */
export function uploadRange(bucket: string, prefix = ''): { start: Uint8Array; end: Uint8Array } {
  const start = join(uploadBucketPrefix(bucket), utf8(prefix));
  const end = prefixEnd(start);
  assert(end !== undefined, 'upload range has an end');
  return { start, end };
}

export function uploadPartKey(uploadId: string, partNumber: number): Uint8Array {
  assert(Number.isInteger(partNumber) && partNumber >= 1 && partNumber <= 10000, `part number ${partNumber}`);
  const number = Buffer.alloc(2);
  number.writeUInt16BE(partNumber);
  return join(uploadPartPrefix, utf8(uploadId), utf8('/'), number);
}

export function uploadPartRange(uploadId: string): { start: Uint8Array; end: Uint8Array } {
  const start = join(uploadPartPrefix, utf8(uploadId), utf8('/'));
  return { start, end: prefixEnd(start)! };
}

//   v/<len u8><bucket><key>\0<inverted sequence u64 BE>   VersionRecord (versioned buckets: every version, newest first)

const versionPrefix = utf8('v/');

function versionBucketPrefix(bucket: string): Uint8Array {
  const name = utf8(bucket);
  assert(name.length > 0 && name.length < 256, `bucket name length ${name.length}`);
  return join(versionPrefix, Uint8Array.of(name.length), name);
}

const sequenceMax = 2 ** 53 - 1;

export function versionKey(bucket: string, key: string, sequence: number): Uint8Array {
  assert(Number.isSafeInteger(sequence) && sequence > 0, `sequence ${sequence}`);
  const inverted = Buffer.alloc(8);
  inverted.writeBigUInt64BE(BigInt(sequenceMax - sequence));
  return join(versionBucketPrefix(bucket), utf8(key), Uint8Array.of(0), inverted);
}

/** Every version of exactly `key`, newest first. */
export function keyVersionRange(bucket: string, key: string): { start: Uint8Array; end: Uint8Array } {
  const start = join(versionBucketPrefix(bucket), utf8(key), Uint8Array.of(0));
  return { start, end: prefixEnd(start)! };
}

/** Every version of every key of `bucket` starting with `prefix`, by key then newest first. */
export function versionRange(bucket: string, prefix = ''): { start: Uint8Array; end: Uint8Array } {
  const start = join(versionBucketPrefix(bucket), utf8(prefix));
  const end = prefixEnd(start);
  assert(end !== undefined, 'version range has an end');
  return { start, end };
}

//   k/<accessKeyId>   AccessKeyRecord

/** The cluster map (root group only). */
export const clusterMapKey = utf8('c/map');
export const groupSizeKey = utf8('c/group-size');

const accessKeyPrefix = utf8('k/');

export function accessKeyKey(accessKeyId: string): Uint8Array {
  return join(accessKeyPrefix, utf8(accessKeyId));
}

export const accessKeyRange = { start: accessKeyPrefix, end: prefixEnd(accessKeyPrefix)! };
