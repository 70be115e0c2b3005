// MetaClient bound to an in-process MetaService: the embedded node's binding.
// Ops go through the service's client sessions; every read is a MetaQuery run
// against the service's own store by runMetaQuery, the same function a
// cluster's primary runs for gateway/remote-meta-client.ts. The store holds
// every acknowledged op, so a read after an acknowledged op sees it.

import type { ListObjectsQuery, ListObjectsResult } from '../meta/list-objects.js';
import { runMetaQuery } from '../meta/meta-queries.js';
import type { ListUploadsOptions, ListVersionsOptions, MetaQueryOf, MetaQueryResults, MetaQueryType } from '../meta/meta-queries.js';
import type { MetaService } from '../meta/meta-service.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import type { AccessKeyRecord, BucketRecord, GarbageRecord, UploadPartRecord, UploadRecord, VersionRecord } from '../meta/records.js';
import type { MetaClient } from './clients.js';

export class LocalMetaClient implements MetaClient {
  constructor(private readonly service: MetaService) {}

  submit(op: MetaOp): Promise<MetaResult> {
    return this.service.submit(op);
  }

  private query<T extends MetaQueryType>(query: MetaQueryOf<T>): Promise<MetaQueryResults[T]> {
    try {
      return Promise.resolve(runMetaQuery(this.service.reader, query));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

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

  listParts(uploadId: string): Promise<UploadPartRecord[]> {
    return this.query({ type: 'list_parts', uploadId });
  }

  listAccessKeys(): Promise<AccessKeyRecord[]> {
    return this.query({ type: 'list_access_keys' });
  }

  isVersionReferenced(versionId: string): Promise<boolean> {
    return this.query({ type: 'is_version_referenced', versionId });
  }
}
