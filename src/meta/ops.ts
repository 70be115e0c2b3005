// Metadata ops: the only way metadata changes. Each op is serializable
// (msgpack), carried in the VSR log, and applied synchronously by
// MetaStateMachine. The primary stamps every log entry with a timestamp when
// it prepares it; apply reads time only from there, never from a clock.

import type { AccessKeyRecord, Acl, ClusterMapRecord, BucketRecord, PartRecord, TagSet, UploadRecord, VersionRecord, WriteConditions } from './records.js';

export type MetaOp =
  | {
      readonly type: 'create_bucket';
      readonly bucket: string;
      readonly bucketId: string;
      readonly owner: string;
      readonly region: string;
      readonly acl?: Acl;
    }
  | { readonly type: 'delete_bucket'; readonly bucket: string }
  /** Commits a complete version in one op (inline objects, copies of inline objects). */
  | { readonly type: 'put_version'; readonly version: VersionRecord; readonly conditions?: WriteConditions }
  /** Records a PREPARING version with its placements before any shard is written. */
  | { readonly type: 'prepare_version'; readonly version: VersionRecord }
  /**
   * Flips a PREPARING version to COMMITTED with its final size, etag and parts.
   * `bucket` is the version's (it routes the op to the bucket's metadata group);
   * a version of another bucket is refused as no_such_preparing_version.
   */
  | {
      readonly type: 'commit_version';
      readonly bucket: string;
      readonly versionId: string;
      readonly sizeBytes: number;
      readonly etag: string;
      readonly parts: readonly PartRecord[];
      readonly checksums: Readonly<Record<string, string>>;
      readonly conditions?: WriteConditions;
    }
  /** Drops a PREPARING version of `bucket` and hands its fragments to GC. */
  | { readonly type: 'abort_version'; readonly bucket: string; readonly versionId: string }
  /**
   * Deletes a key (a delete marker in a versioned bucket, with the id minted by
   * the gateway) or, with `s3VersionId`, exactly one version.
   */
  | {
      readonly type: 'delete_object';
      readonly bucket: string;
      readonly key: string;
      readonly conditions?: WriteConditions;
      readonly markerVersionId?: string;
      readonly s3VersionId?: string;
    }
  /** Replaces the ACL and/or tags of a bucket (`null` tags: remove them). */
  | { readonly type: 'update_bucket'; readonly bucket: string; readonly acl?: Acl; readonly tags?: TagSet | null }
  /** Replaces the ACL and/or tags of the current version, or of one version. */
  | {
      readonly type: 'update_version';
      readonly bucket: string;
      readonly key: string;
      readonly s3VersionId?: string;
      readonly acl?: Acl;
      readonly tags?: TagSet | null;
    }
  | { readonly type: 'create_access_key'; readonly key: AccessKeyRecord }
  | { readonly type: 'delete_access_key'; readonly accessKeyId: string }
  | { readonly type: 'set_versioning'; readonly bucket: string; readonly status: 'Enabled' | 'Suspended' }
  | { readonly type: 'create_upload'; readonly upload: UploadRecord }
  /**
   * Records an uploaded part. `preparedId` names the PREPARING record of a
   * striped part (its fragment owner); inline parts have none.
   */
  | {
      readonly type: 'commit_part';
      readonly bucket: string;
      readonly key: string;
      readonly uploadId: string;
      readonly preparedId?: string;
      readonly part: PartRecord;
    }
  /** Validates the part list and commits the object made of those parts (no data copied). */
  | {
      readonly type: 'complete_upload';
      readonly bucket: string;
      readonly key: string;
      readonly uploadId: string;
      readonly versionId: string;
      readonly parts: readonly { readonly partNumber: number; readonly etag: string }[];
      /** Every part but the last must be at least this big (S3: 5 MiB). */
      readonly partBytesMin: number;
      readonly conditions?: WriteConditions;
      /** The object's checksums (composite over the parts), computed by the gateway. */
      readonly checksums?: Readonly<Record<string, string>>;
    }
  | { readonly type: 'abort_upload'; readonly bucket: string; readonly key: string; readonly uploadId: string }
  /** GC deleted these versions' fragments. */
  | { readonly type: 'garbage_collected'; readonly versionIds: readonly string[] }
  /**
   * The healer or rebalancer wrote shards of a committed version's part to
   * new drives (meta/shard-repair.ts): applied only while the part is still
   * exactly `fromDrives` / `fromMissingShards` (compare-and-set). The old
   * fragments of `garbageShards` become garbage; when the op is stale, the
   * fragments it names at `toDrives` do instead.
   */
  | {
      readonly type: 'move_shards';
      readonly bucket: string;
      readonly key: string;
      readonly versionId: string;
      readonly partNumber: number;
      /** The id the part's fragments are stored under (the version's own, or its multipart upload part's). */
      readonly fragmentOwnerId: string;
      readonly fromDrives: readonly number[];
      readonly fromMissingShards: readonly number[];
      readonly toDrives: readonly number[];
      readonly toMissingShards: readonly number[];
      /** Moved shards whose old fragment is to be deleted (those on failed drives are left). */
      readonly garbageShards: readonly number[];
    }
  /**
   * Installs a cluster map whose epoch is above the current one (the first
   * install included). Its partition table must route buckets as the installed
   * one does: buckets do not move between groups.
   */
  | { readonly type: 'set_cluster_map'; readonly map: ClusterMapRecord }
  /**
   * Resizes this metadata group (VSR reconfiguration): the replica ends its
   * epoch when the op commits; the state machine records the size.
   */
  | { readonly type: 'set_group_size'; readonly replicaCount: number };

/** The replica count a `set_group_size` op asks for (the VSR replica's reconfiguration hook). */
export function groupSizeOf(op: MetaOp): number | undefined {
  return op.type === 'set_group_size' ? op.replicaCount : undefined;
}

export type MetaOpType = MetaOp['type'];

export type MetaResult =
  | { readonly status: 'ok' }
  | { readonly status: 'bucket_created'; readonly bucket: BucketRecord }
  | { readonly status: 'version_committed'; readonly version: VersionRecord; readonly replacedVersionId?: string }
  | {
      readonly status: 'object_deleted';
      /** Internal id of the version whose fragments became garbage, if any. */
      readonly deletedVersionId?: string;
      /** The S3 version id deleted or created (a delete marker), in versioned buckets. */
      readonly s3VersionId?: string;
      readonly deleteMarker?: boolean;
    }
  | { readonly status: 'bucket_exists'; readonly owner: string }
  | { readonly status: 'no_such_bucket' }
  | { readonly status: 'bucket_not_empty' }
  | { readonly status: 'no_such_preparing_version' }
  | { readonly status: 'precondition_failed' }
  /** If-Match named a key that does not exist (S3: 404 NoSuchKey, not 412). */
  | { readonly status: 'no_such_key' }
  | { readonly status: 'upload_created'; readonly upload: UploadRecord }
  | { readonly status: 'version_updated'; readonly version: VersionRecord }
  | { readonly status: 'no_such_version' }
  | { readonly status: 'access_key_exists' }
  | { readonly status: 'no_such_access_key' }
  | { readonly status: 'part_committed'; readonly part: PartRecord; readonly replaced: boolean }
  | { readonly status: 'no_such_upload' }
  | { readonly status: 'invalid_part'; readonly partNumber: number }
  | { readonly status: 'invalid_part_order' }
  /** A cluster map at this epoch or a newer one is installed already. */
  | { readonly status: 'stale_cluster_map'; readonly epoch: number }
  /** A cluster map whose partition table or metadata groups differ from the installed one's (they are fixed at creation). */
  | { readonly status: 'partitions_fixed' }
  | { readonly status: 'entity_too_small'; readonly partNumber: number }
  /** move_shards recorded the new drives. */
  | { readonly status: 'shards_moved' }
  /** move_shards found the part changed, gone or not COMMITTED; the shards it wrote were queued as garbage. */
  | { readonly status: 'stale_part' };

/** An op as sequenced by the metadata service: op number and timestamp assigned. */
export interface SequencedOp {
  readonly opNumber: number;
  readonly timestampMs: number;
  readonly op: MetaOp;
}
