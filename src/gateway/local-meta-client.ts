// MetaClient bound to an in-process MetaService: the embedded node's binding.
// The network client of the cluster issue implements the same interface.

import { accessKeyRange, garbageKey, preparingKey, uploadKey, uploadRange, versionIndexKey, versionKey, versionRange } from '../meta/keys.js';
import { findVersion, keyVersions } from '../meta/versioning.js';
import { listObjects } from '../meta/list-objects.js';
import type { ListObjectsQuery, ListObjectsResult } from '../meta/list-objects.js';
import type { MetaService } from '../meta/meta-service.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import { readUpload, readUploadParts } from '../meta/multipart.js';
import type { AccessKeyRecord, BucketRecord, GarbageRecord, UploadPartRecord, UploadRecord, VersionRecord } from '../meta/records.js';
import { decodeRecord } from '../stdx/codec.js';
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

  getVersion(bucket: string, key: string, s3Id: string): Promise<VersionRecord | undefined> {
    const reader = this.service.reader;
    const record = this.service.getBucket(bucket);
    if (record === undefined) return Promise.resolve(undefined);
    if (record.versioning === undefined) return Promise.resolve(s3Id === 'null' ? this.service.getObject(bucket, key) : undefined);
    return Promise.resolve(findVersion(reader, bucket, key, s3Id));
  }

  getLatestVersion(bucket: string, key: string): Promise<VersionRecord | undefined> {
    return Promise.resolve(keyVersions(this.service.reader, bucket, key)[0]);
  }

  listVersions(
    bucket: string,
    options: { prefix: string; startKey?: string; afterPrefix?: string; afterVersion?: { key: string; sequence: number }; limit: number },
  ): Promise<VersionRecord[]> {
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
    if (Buffer.compare(start, range.end) >= 0) return Promise.resolve([]);
    return Promise.resolve([...this.service.reader.scan({ start, end: range.end, limit: options.limit })].map((entry) => decodeRecord(entry.value) as VersionRecord));
  }

  getUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord | undefined> {
    return Promise.resolve(readUpload(this.service.reader, bucket, key, uploadId));
  }

  listUploads(
    bucket: string,
    options: { prefix: string; after?: { key: string; uploadId?: string }; afterPrefix?: string; limit: number },
  ): Promise<UploadRecord[]> {
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
    if (Buffer.compare(start, range.end) >= 0) return Promise.resolve([]);
    const uploads = [...this.service.reader.scan({ start, end: range.end, limit: options.limit })].map(
      (entry) => decodeRecord(entry.value) as UploadRecord,
    );
    return Promise.resolve(uploads);
  }

  listAccessKeys(): Promise<AccessKeyRecord[]> {
    return Promise.resolve([...this.service.reader.scan(accessKeyRange)].map((entry) => decodeRecord(entry.value) as AccessKeyRecord));
  }

  listParts(uploadId: string): Promise<UploadPartRecord[]> {
    return Promise.resolve(readUploadParts(this.service.reader, uploadId));
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
