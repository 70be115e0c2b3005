// Every metadata read as a plain, msgpack-serializable value (MetaQuery) and
// the one function that answers it from a KvReader (runMetaQuery). The
// embedded node runs queries against its own store (gateway/local-meta-client);
// a cluster gateway sends them to the group's primary, which runs the same
// function after confirming it is still the primary (vsr/kv-driver.ts `query`).
// So there is one implementation of every read, wherever the store lives.
//
// Queries from the network are checked by decodeMetaQuery before they run:
// a malformed one is refused with an error, never an assertion on a replica.

import type { KvReader } from '../io/kv-store.js';
import { decodeRecord } from '../stdx/codec.js';
import { accessKeyRange, bucketRange, clusterMapKey, garbageKey, garbageRange, preparingKey, preparingRange, uploadKey, uploadRange, versionIndexKey, versionKey, versionRange } from './keys.js';
import { listKeysMax, listObjects } from './list-objects.js';
import type { ListObjectsQuery, ListObjectsResult } from './list-objects.js';
import { readUpload, readUploadParts } from './multipart.js';
import type { AccessKeyRecord, BucketRecord, ClusterMapRecord, GarbageRecord, UploadPartRecord, UploadRecord, VersionRecord } from './records.js';
import { readBucket, readObject } from './state-machine.js';
import { findVersion, keyVersions } from './versioning.js';
import { getPartToRepair, listPartsToRepair, repairScanDrivesMax } from './shard-repair.js';
import type { RepairCandidate, RepairScanOptions, RepairScanPage } from './shard-repair.js';
import { fragmentReferenceIdsMax, fragmentReferenceOf } from './fragment-references.js';
import type { FragmentReference } from './fragment-references.js';

/** Versions of a versioned bucket by key then newest first, from `startKey` (inclusive) or past `afterPrefix` / `afterVersion`. */
export interface ListVersionsOptions {
  readonly prefix: string;
  readonly startKey?: string;
  readonly afterPrefix?: string;
  readonly afterVersion?: { readonly key: string; readonly sequence: number };
  readonly limit: number;
}

/** Uploads of a bucket under `prefix`, after (key, uploadId) when given, in key then id order. */
export interface ListUploadsOptions {
  readonly prefix: string;
  readonly after?: { readonly key: string; readonly uploadId?: string };
  readonly afterPrefix?: string;
  readonly limit: number;
}

export type MetaQuery =
  | { readonly type: 'get_bucket'; readonly bucket: string }
  | { readonly type: 'list_buckets' }
  | { readonly type: 'get_object'; readonly bucket: string; readonly key: string }
  | { readonly type: 'get_version'; readonly bucket: string; readonly key: string; readonly s3VersionId: string }
  | { readonly type: 'get_latest_version'; readonly bucket: string; readonly key: string }
  | { readonly type: 'list_versions'; readonly bucket: string; readonly options: ListVersionsOptions }
  | { readonly type: 'list_objects'; readonly query: ListObjectsQuery }
  | { readonly type: 'list_preparing' }
  | { readonly type: 'list_garbage'; readonly limit: number }
  | { readonly type: 'get_upload'; readonly bucket: string; readonly key: string; readonly uploadId: string }
  | { readonly type: 'list_uploads'; readonly bucket: string; readonly options: ListUploadsOptions }
  | { readonly type: 'list_parts'; readonly uploadId: string }
  | { readonly type: 'list_access_keys' }
  | { readonly type: 'is_version_referenced'; readonly versionId: string }
  | { readonly type: 'get_cluster_map' }
  /** A page of the healer's scan (meta/shard-repair.ts). */
  | ({ readonly type: 'list_parts_to_repair' } & RepairScanOptions)
  /** One part of a committed version as the healer plans from it. */
  | { readonly type: 'get_part_to_repair'; readonly versionId: string; readonly partNumber: number }
  /** Where this group references the fragments of each owner id (meta/fragment-references.ts), in the same order. */
  | { readonly type: 'get_fragment_references'; readonly ownerIds: readonly string[] };

export type MetaQueryType = MetaQuery['type'];

/** What each query answers. */
export interface MetaQueryResults {
  get_bucket: BucketRecord | undefined;
  list_buckets: BucketRecord[];
  get_object: VersionRecord | undefined;
  get_version: VersionRecord | undefined;
  get_latest_version: VersionRecord | undefined;
  list_versions: VersionRecord[];
  list_objects: ListObjectsResult;
  list_preparing: VersionRecord[];
  list_garbage: GarbageRecord[];
  get_upload: UploadRecord | undefined;
  list_uploads: UploadRecord[];
  list_parts: UploadPartRecord[];
  list_access_keys: AccessKeyRecord[];
  is_version_referenced: boolean;
  get_cluster_map: ClusterMapRecord | undefined;
  list_parts_to_repair: RepairScanPage;
  get_part_to_repair: RepairCandidate | undefined;
  get_fragment_references: FragmentReference[];
}

export type MetaQueryOf<T extends MetaQueryType> = Extract<MetaQuery, { readonly type: T }>;

/** Rows one list query may return; a bound on the reply a replica builds. */
export const queryRowsMax = 10_000;

function decodeAll<T>(reader: KvReader, range: { start: Uint8Array; end: Uint8Array; limit?: number }): T[] {
  return [...reader.scan(range)].map((entry) => decodeRecord(entry.value) as T);
}

function listVersions(reader: KvReader, bucket: string, options: ListVersionsOptions): VersionRecord[] {
  const range = versionRange(bucket, options.prefix);
  let start = range.start;
  const from =
    options.afterVersion !== undefined
      ? Buffer.concat([versionKey(bucket, options.afterVersion.key, options.afterVersion.sequence), Uint8Array.of(0)])
      : options.afterPrefix !== undefined
        ? versionRange(bucket, options.afterPrefix).end
        : options.startKey !== undefined
          ? versionRange(bucket, options.startKey).start
          : undefined;
  if (from !== undefined && Buffer.compare(from, start) > 0) start = from;
  if (Buffer.compare(start, range.end) >= 0) return [];
  return decodeAll<VersionRecord>(reader, { start, end: range.end, limit: options.limit });
}

function listUploads(reader: KvReader, bucket: string, options: ListUploadsOptions): UploadRecord[] {
  const range = uploadRange(bucket, options.prefix);
  let start = range.start;
  if (options.afterPrefix !== undefined) {
    // Past every upload whose key starts with afterPrefix (a common prefix already listed).
    const past = uploadRange(bucket, options.afterPrefix).end;
    if (Buffer.compare(past, start) > 0) start = past;
  }
  if (options.after !== undefined) {
    // Past every upload of the marker key, or past one upload id of it.
    const marker =
      options.after.uploadId === undefined
        ? Buffer.concat([uploadKey(bucket, options.after.key, ''), Uint8Array.of(0xff)])
        : Buffer.concat([uploadKey(bucket, options.after.key, options.after.uploadId), Uint8Array.of(0)]);
    if (Buffer.compare(marker, start) > 0) start = marker;
  }
  if (Buffer.compare(start, range.end) >= 0) return [];
  return decodeAll<UploadRecord>(reader, { start, end: range.end, limit: options.limit });
}

function getVersion(reader: KvReader, bucket: string, key: string, s3VersionId: string): VersionRecord | undefined {
  const record = readBucket(reader, bucket);
  if (record === undefined) return undefined;
  // In an unversioned bucket only the "null" version exists: the current object.
  if (record.versioning === undefined) return s3VersionId === 'null' ? readObject(reader, bucket, key) : undefined;
  return findVersion(reader, bucket, key, s3VersionId);
}

function isVersionReferenced(reader: KvReader, versionId: string): boolean {
  return (
    reader.get(versionIndexKey(versionId)) !== undefined || reader.get(preparingKey(versionId)) !== undefined || reader.get(garbageKey(versionId)) !== undefined
  );
}

type Handlers = { readonly [T in MetaQueryType]: (reader: KvReader, query: MetaQueryOf<T>) => MetaQueryResults[T] };

const handlers: Handlers = {
  get_bucket: (reader, query) => readBucket(reader, query.bucket),
  list_buckets: (reader) => decodeAll<BucketRecord>(reader, bucketRange),
  get_object: (reader, query) => readObject(reader, query.bucket, query.key),
  get_version: (reader, query) => getVersion(reader, query.bucket, query.key, query.s3VersionId),
  get_latest_version: (reader, query) => keyVersions(reader, query.bucket, query.key)[0],
  list_versions: (reader, query) => listVersions(reader, query.bucket, query.options),
  list_objects: (reader, query) => listObjects(reader, query.query),
  list_preparing: (reader) => decodeAll<VersionRecord>(reader, preparingRange),
  list_garbage: (reader, query) => decodeAll<GarbageRecord>(reader, { ...garbageRange, limit: query.limit }),
  get_upload: (reader, query) => readUpload(reader, query.bucket, query.key, query.uploadId),
  list_uploads: (reader, query) => listUploads(reader, query.bucket, query.options),
  list_parts: (reader, query) => readUploadParts(reader, query.uploadId),
  list_access_keys: (reader) => decodeAll<AccessKeyRecord>(reader, accessKeyRange),
  is_version_referenced: (reader, query) => isVersionReferenced(reader, query.versionId),
  get_cluster_map: (reader) => {
    const bytes = reader.get(clusterMapKey);
    return bytes === undefined ? undefined : (decodeRecord(bytes) as ClusterMapRecord);
  },
  list_parts_to_repair: (reader, query) => listPartsToRepair(reader, { after: query.after, limit: query.limit, drives: query.drives }),
  get_part_to_repair: (reader, query) => getPartToRepair(reader, query.versionId, query.partNumber),
  get_fragment_references: (reader, query) => query.ownerIds.map((ownerId) => fragmentReferenceOf(reader, ownerId)),
};

/** Answers `query` from `reader`: the same code for the embedded node and a cluster's primary. */
export function runMetaQuery<T extends MetaQueryType>(reader: KvReader, query: MetaQueryOf<T>): MetaQueryResults[T] {
  const handler = handlers[query.type] as (reader: KvReader, query: MetaQueryOf<T>) => MetaQueryResults[T];
  return handler(reader, query);
}

/** A query that came over the network is not trusted to be well formed. */
export class MetaQueryError extends Error {
  override readonly name = 'MetaQueryError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const strings = (...names: string[]) => names.map((name) => [name, 'string'] as const);

/** The fields each query must carry, by type ('string', 'limit', 'object', 'drives': a list of drive ids, or 'ids': a list of strings). */
const shapes: { readonly [T in MetaQueryType]: readonly (readonly [string, 'string' | 'limit' | 'object' | 'drives' | 'ids'])[] } = {
  get_bucket: strings('bucket'),
  list_buckets: [],
  get_object: strings('bucket', 'key'),
  get_version: strings('bucket', 'key', 's3VersionId'),
  get_latest_version: strings('bucket', 'key'),
  list_versions: [...strings('bucket'), ['options', 'object']],
  list_objects: [['query', 'object']],
  list_preparing: [],
  list_garbage: [['limit', 'limit']],
  get_upload: strings('bucket', 'key', 'uploadId'),
  list_uploads: [...strings('bucket'), ['options', 'object']],
  list_parts: strings('uploadId'),
  list_access_keys: [],
  is_version_referenced: strings('versionId'),
  get_cluster_map: [],
  list_parts_to_repair: [['after', 'string'], ['limit', 'limit'], ['drives', 'drives']],
  get_part_to_repair: [['versionId', 'string'], ['partNumber', 'limit']],
  get_fragment_references: [['ownerIds', 'ids']],
};

function isDriveList(value: unknown): boolean {
  return Array.isArray(value) && value.length <= repairScanDrivesMax && value.every((drive) => Number.isSafeInteger(drive) && (drive as number) >= 0);
}

function isIdList(value: unknown): boolean {
  return Array.isArray(value) && value.length <= fragmentReferenceIdsMax && value.every((id) => typeof id === 'string');
}

function isLimit(value: unknown, max: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max;
}

/** Checks a query decoded from the network; throws MetaQueryError naming what is wrong. */
export function decodeMetaQuery(value: unknown): MetaQuery {
  if (!isRecord(value) || typeof value.type !== 'string' || !Object.hasOwn(shapes, value.type)) {
    throw new MetaQueryError(`not a metadata query: ${JSON.stringify(isRecord(value) ? value.type : value)}`);
  }
  const type = value.type as MetaQueryType;
  for (const [name, kind] of shapes[type]) {
    const field = value[name];
    const ok =
      kind === 'string'
        ? typeof field === 'string'
        : kind === 'limit'
          ? isLimit(field, queryRowsMax)
          : kind === 'drives'
            ? isDriveList(field)
            : kind === 'ids'
              ? isIdList(field)
              : isRecord(field);
    if (!ok) throw new MetaQueryError(`query "${type}": field "${name}" is not a ${kind}`);
  }
  const nested = type === 'list_objects' ? value.query : type === 'list_versions' || type === 'list_uploads' ? value.options : undefined;
  if (isRecord(nested)) {
    const limit = type === 'list_objects' ? nested.maxKeys : nested.limit;
    if (!isLimit(limit, type === 'list_objects' ? listKeysMax : queryRowsMax)) throw new MetaQueryError(`query "${type}": limit ${String(limit)} out of range`);
    if (typeof nested.prefix !== 'string') throw new MetaQueryError(`query "${type}": prefix is not a string`);
    if (type === 'list_objects' && typeof nested.bucket !== 'string') throw new MetaQueryError(`query "${type}": bucket is not a string`);
  }
  return value as MetaQuery;
}
