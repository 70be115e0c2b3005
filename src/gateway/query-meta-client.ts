// The read half of every MetaClient: each read is a MetaQuery (meta/meta-queries.ts)
// handed to `query`, which a subclass runs against its own store
// (LocalMetaClient) or on the metadata group's primary (RemoteMetaClient).
// One list of reads, so the two bindings cannot drift apart.

import type { ListObjectsQuery, ListObjectsResult } from '../meta/list-objects.js';
import type { ListUploadsOptions, ListVersionsOptions, MetaQueryOf, MetaQueryResults, MetaQueryType } from '../meta/meta-queries.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import type { RepairCandidate, RepairScanOptions, RepairScanPage } from '../meta/shard-repair.js';
import type { FragmentReference } from '../meta/fragment-references.js';
import type { AccessKeyRecord, BucketRecord, ClusterMapRecord, GarbageRecord, UploadPartRecord, UploadRecord, VersionRecord } from '../meta/records.js';
import type { MetaClient } from './clients.js';

export abstract class QueryMetaClient implements MetaClient {
  abstract submit(op: MetaOp): Promise<MetaResult>;

  /** Runs one read; its result is what runMetaQuery returns for it. */
  protected abstract query<T extends MetaQueryType>(query: MetaQueryOf<T>): Promise<MetaQueryResults[T]>;

  getBucket(bucket: string): Promise<BucketRecord | undefined> {
    return this.query({ type: 'get_bucket', bucket });
  }

  listBuckets(): Promise<BucketRecord[]> {
    return this.query({ type: 'list_buckets' });
  }

  getObject(bucket: string, key: string): Promise<VersionRecord | undefined> {
    return this.query({ type: 'get_object', bucket, key });
  }

  getVersion(bucket: string, key: string, s3VersionId: string): Promise<VersionRecord | undefined> {
    return this.query({ type: 'get_version', bucket, key, s3VersionId });
  }

  getLatestVersion(bucket: string, key: string): Promise<VersionRecord | undefined> {
    return this.query({ type: 'get_latest_version', bucket, key });
  }

  listVersions(bucket: string, options: ListVersionsOptions): Promise<VersionRecord[]> {
    return this.query({ type: 'list_versions', bucket, options });
  }

  listObjects(query: ListObjectsQuery): Promise<ListObjectsResult> {
    return this.query({ type: 'list_objects', query });
  }

  listPreparing(): Promise<VersionRecord[]> {
    return this.query({ type: 'list_preparing' });
  }

  listGarbage(limit: number): Promise<GarbageRecord[]> {
    return this.query({ type: 'list_garbage', limit });
  }

  getUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord | undefined> {
    return this.query({ type: 'get_upload', bucket, key, uploadId });
  }

  listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadRecord[]> {
    return this.query({ type: 'list_uploads', bucket, options });
  }

  /** Upload ids are unique, so the parts are found by id alone; the bucket only routes (PartitionedMetaClient). */
  listParts(_bucket: string, uploadId: string): Promise<UploadPartRecord[]> {
    return this.query({ type: 'list_parts', uploadId });
  }

  listAccessKeys(): Promise<AccessKeyRecord[]> {
    return this.query({ type: 'list_access_keys' });
  }

  isVersionReferenced(versionId: string): Promise<boolean> {
    return this.query({ type: 'is_version_referenced', versionId });
  }

  getClusterMap(): Promise<ClusterMapRecord | undefined> {
    return this.query({ type: 'get_cluster_map' });
  }

  /** A page of the healer's scan of this group (workers/rebalancer.ts); not on MetaClient, which may span groups. */
  listPartsToRepair(options: RepairScanOptions): Promise<RepairScanPage> {
    return this.query({ type: 'list_parts_to_repair', ...options });
  }

  /** One part of a committed version of this group, as the healer plans from it. */
  getPartToRepair(versionId: string, partNumber: number): Promise<RepairCandidate | undefined> {
    return this.query({ type: 'get_part_to_repair', versionId, partNumber });
  }

  /** Where this group references the fragments of each owner id, in order (the cluster orphan sweep asks every group). */
  getFragmentReferences(ownerIds: readonly string[]): Promise<FragmentReference[]> {
    return this.query({ type: 'get_fragment_references', ownerIds });
  }
}
