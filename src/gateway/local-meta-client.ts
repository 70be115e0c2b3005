// MetaClient bound to an in-process MetaService: the embedded node's binding.
// The network client of the cluster issue implements the same interface.

import { garbageKey, preparingKey, versionIndexKey } from '../meta/keys.js';
import { listObjects } from '../meta/list-objects.js';
import type { ListObjectsQuery, ListObjectsResult } from '../meta/list-objects.js';
import type { MetaService } from '../meta/meta-service.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import type { BucketRecord, GarbageRecord, VersionRecord } from '../meta/records.js';
import type { MetaClient } from './clients.js';

export class LocalMetaClient implements MetaClient {
  constructor(private readonly service: MetaService) {}

  submit(op: MetaOp): Promise<MetaResult> {
    return this.service.submit(op);
  }

  getBucket(bucket: string): Promise<BucketRecord | undefined> {
    return Promise.resolve(this.service.getBucket(bucket));
  }

  listBuckets(): Promise<BucketRecord[]> {
    return Promise.resolve(this.service.listBuckets());
  }

  getObject(bucket: string, key: string): Promise<VersionRecord | undefined> {
    return Promise.resolve(this.service.getObject(bucket, key));
  }

  listObjects(query: ListObjectsQuery): Promise<ListObjectsResult> {
    return Promise.resolve(listObjects(this.service.reader, query));
  }

  listPreparing(): Promise<VersionRecord[]> {
    return Promise.resolve(this.service.listPreparing());
  }

  listGarbage(limit: number): Promise<GarbageRecord[]> {
    return Promise.resolve(this.service.listGarbage(limit));
  }

  isVersionReferenced(versionId: string): Promise<boolean> {
    const reader = this.service.reader;
    return Promise.resolve(
      reader.get(versionIndexKey(versionId)) !== undefined ||
        reader.get(preparingKey(versionId)) !== undefined ||
        reader.get(garbageKey(versionId)) !== undefined,
    );
  }
}
