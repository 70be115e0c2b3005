// What the gateway needs from the metadata and blob roles. The embedded node
// binds them to in-process objects (process/); the cluster binds them to
// network clients with the same shape.

import type { MetaOp, MetaResult } from '../meta/ops.js';
import type { ListObjectsQuery, ListObjectsResult } from '../meta/list-objects.js';
import type { AccessKeyRecord, BucketRecord, ClusterMapRecord, GarbageRecord, UploadPartRecord, UploadRecord, VersionRecord } from '../meta/records.js';

export interface MetaClient {
  submit(op: MetaOp): Promise<MetaResult>;
  getBucket(bucket: string): Promise<BucketRecord | undefined>;
  listBuckets(): Promise<BucketRecord[]>;
  getObject(bucket: string, key: string): Promise<VersionRecord | undefined>;
  /** A version by its S3 id ("null" included); in an unversioned bucket only "null" exists. */
  getVersion(bucket: string, key: string, s3VersionId: string): Promise<VersionRecord | undefined>;
  /** The newest version of a key in a versioned bucket (possibly a delete marker). */
  getLatestVersion(bucket: string, key: string): Promise<VersionRecord | undefined>;
  /** Versions of a versioned bucket by key then newest first, from `startKey` (inclusive) or past `afterPrefix`. */
  listVersions(
    bucket: string,
    options: { prefix: string; startKey?: string; afterPrefix?: string; afterVersion?: { key: string; sequence: number }; limit: number },
  ): Promise<VersionRecord[]>;
  listObjects(query: ListObjectsQuery): Promise<ListObjectsResult>;
  listPreparing(): Promise<VersionRecord[]>;
  listGarbage(limit: number): Promise<GarbageRecord[]>;
  getUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord | undefined>;
  /** Uploads of `bucket` under `prefix`, after (key, uploadId) when given, in key then id order. */
  listUploads(
    bucket: string,
    options: { prefix: string; after?: { key: string; uploadId?: string }; afterPrefix?: string; limit: number },
  ): Promise<UploadRecord[]>;
  /** Parts of upload `uploadId` of `bucket` (the bucket says which metadata group holds them). */
  listParts(bucket: string, uploadId: string): Promise<UploadPartRecord[]>;
  listAccessKeys(): Promise<AccessKeyRecord[]>;
  /** Whether any metadata still references fragments of `versionId`. */
  isVersionReferenced(versionId: string): Promise<boolean>;
  /** The cluster map (root group); undefined in the embedded node and before a cluster installs one. */
  getClusterMap(): Promise<ClusterMapRecord | undefined>;
}

export interface FragmentWriter {
  appendBlocks(blocks: readonly Uint8Array[]): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

export interface BlobClient {
  createWriter(driveId: number, fragmentId: string, blockSizeBytes: number): Promise<FragmentWriter>;
  readBlocks(driveId: number, fragmentId: string, firstBlock: number, blockCount: number): Promise<Buffer[]>;
  delete(driveId: number, fragmentId: string): Promise<boolean>;
  list(driveId: number): AsyncIterable<string>;
}
