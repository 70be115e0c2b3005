// Metadata records as stored (msgpack in the KvStore) and carried in ops. Every
// record has a format version so on-disk data can be migrated later.

export const recordFormatVersion = 1;

/** Who a grant is for: one account, or everyone / every authenticated account. */
export type Grantee =
  | { readonly kind: 'user'; readonly id: string }
  | { readonly kind: 'group'; readonly group: 'AllUsers' | 'AuthenticatedUsers' };

export type AclPermission = 'FULL_CONTROL' | 'READ' | 'WRITE' | 'READ_ACP' | 'WRITE_ACP';

/** An access control list beyond the owner, who always has full control. */
export interface Acl {
  readonly grants: readonly { readonly grantee: Grantee; readonly permission: AclPermission }[];
}

/** Tags of an object or bucket. */
export type TagSet = Readonly<Record<string, string>>;

/** An access key and the account it belongs to. */
export interface AccessKeyRecord {
  readonly format: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The account's canonical id (64 hex). */
  readonly userId: string;
  readonly displayName: string;
  readonly createdMs: number;
}

export interface BucketRecord {
  readonly format: number;
  readonly name: string;
  /** Random id, never reused, so fragment ids of a recreated bucket differ. */
  readonly bucketId: string;
  readonly owner: string;
  readonly region: string;
  readonly createdMs: number;
  /** Absent means never versioned; once Enabled it can only be Suspended, as S3. */
  readonly versioning?: 'Enabled' | 'Suspended';
  readonly acl?: Acl;
  readonly tags?: TagSet;
}

export type VersionState = 'PREPARING' | 'COMMITTED' | 'DELETE_MARKER';

export interface ErasureScheme {
  readonly k: number;
  readonly m: number;
}

/** One erasure-coded part: where its k+m shards live. */
export interface PartRecord {
  readonly partNumber: number;
  readonly sizeBytes: number;
  readonly etag: string;
  readonly scheme: ErasureScheme;
  readonly blockSizeBytes: number;
  /** Drive id holding shard i, for i in 0 … k+m-1. */
  readonly drives: readonly number[];
  /** Shards that could not be written (recorded for the healer). */
  readonly missingShards: readonly number[];
  /**
   * The id the part's fragments are stored under, when it is not the version's
   * own id: a multipart part keeps the id of its UploadPart.
   */
  readonly fragmentOwnerId?: string;
  /** Per-part checksums (multipart), by algorithm. */
  readonly checksums?: Readonly<Record<string, string>>;
  /** A small multipart part (at most the inline limit) kept in the record; then `drives` is empty. */
  readonly inline?: Uint8Array;
}

/** The id a part's fragments are stored under. */
export function fragmentOwnerOf(versionId: string, part: PartRecord): string {
  return part.fragmentOwnerId ?? versionId;
}

/**
 * Which metadata group holds each bucket. A bucket's slot is a pure function
 * of its name (meta/partition-table.ts: the first 32 bits of SHA-256 of the
 * name, scaled to `slots.length`, so slot i is the i-th equal range of the
 * hash space); `slots[i]` is the group of slot i. Fixed when the cluster is
 * created: changing an entry would hide the buckets of that slot until their
 * metadata moved, which nothing does yet.
 */
export interface PartitionTable {
  /** How a bucket name becomes a slot; one scheme so far. */
  readonly hash: 'sha256-prefix32';
  readonly slots: readonly number[];
}

/**
 * The cluster map, kept in metadata group 0 (the root group): every node with
 * its zone, rack, blob address and drives (weight, state), the erasure scheme
 * and failure-domain level, the metadata groups' replicas and the partition
 * table (bucket → group). Each change raises `epoch`; gateways cache the map
 * and follow the epoch.
 */
export interface ClusterMapRecord {
  readonly epoch: number;
  readonly scheme: ErasureScheme;
  readonly level: 'drive' | 'node' | 'rack' | 'zone';
  readonly nodes: readonly {
    readonly name: string;
    readonly zone: string;
    readonly rack: string;
    readonly blob?: string;
    readonly drives: readonly { readonly id: number; readonly weight: number; readonly state: 'active' | 'draining' | 'failed' }[];
  }[];
  /** Every metadata group by number (group 0, the root group, first), with its replica addresses by replica index. */
  readonly metaGroups: readonly { readonly group: number; readonly replicas: readonly string[] }[];
  /** Absent in maps written before partitioning: every bucket is in group 0. */
  readonly partitions?: PartitionTable;
}

/** A multipart upload in progress. */
export interface UploadRecord {
  readonly format: number;
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  readonly owner: string;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly userMetadata: Readonly<Record<string, string>>;
  readonly checksumAlgorithm?: string;
  /** COMPOSITE (checksum of part checksums) or FULL_OBJECT (CRC of the whole, combined from parts). */
  readonly checksumType?: 'COMPOSITE' | 'FULL_OBJECT';
  readonly createdMs: number;
  /** ACL and tags the completed object gets. */
  readonly acl?: Acl;
  readonly tags?: TagSet;
}

/** One uploaded part of a multipart upload (its PartRecord: striped or inline). */
export interface UploadPartRecord {
  readonly format: number;
  readonly uploadId: string;
  readonly part: PartRecord;
  readonly createdMs: number;
}

export interface VersionRecord {
  readonly format: number;
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string;
  readonly state: VersionState;
  readonly sizeBytes: number;
  /** Quoted hex MD5, as S3 returns it. */
  readonly etag: string;
  readonly contentType: string;
  /** Standard content headers kept verbatim (cache-control, content-disposition, …). */
  readonly headers: Readonly<Record<string, string>>;
  /** `x-amz-meta-*` values, keys lower-cased without the prefix. */
  readonly userMetadata: Readonly<Record<string, string>>;
  /** `x-amz-checksum-*` values by algorithm (base64), when the client sent one. */
  readonly checksums: Readonly<Record<string, string>>;
  readonly owner: string;
  /** Set by the metadata service when the version is committed (Last-Modified). */
  readonly createdMs: number;
  /** Whole body for small objects, replicated with the metadata. */
  readonly inline?: Uint8Array;
  readonly parts: readonly PartRecord[];
  /**
   * In a versioned bucket: the op number that created the version, which
   * orders a key's versions newest first. Absent for unversioned buckets.
   */
  readonly sequence?: number;
  /** The S3 "null" version (written while versioning was off or suspended). */
  readonly isNullVersion?: boolean;
  /** The multipart upload this version completed (a retried Complete must name it). */
  readonly uploadId?: string;
  readonly acl?: Acl;
  readonly tags?: TagSet;
}

/** The version id S3 clients see. */
export function s3VersionId(version: VersionRecord): string {
  return version.isNullVersion === true || version.sequence === undefined ? 'null' : version.versionId;
}

/** Fragments waiting to be deleted, with when they became garbage. */
export interface GarbageRecord {
  readonly format: number;
  /** The version (or upload part) whose fragments these are: the key of the record. */
  readonly versionId: string;
  readonly parts: readonly PartRecord[];
  readonly queuedMs: number;
  /**
   * Set on the record a shard move leaves (meta/shard-repair.ts): `parts` is
   * the one part, `drives` where the fragments lie, and only `shards` are
   * garbage. `versionId` is the version readers know them by (GC waits while
   * it is being read); the record's own key is unique per move.
   */
  readonly moved?: { readonly versionId: string; readonly shards: readonly number[] };
}

/** Conditions checked atomically inside the state machine (S3 conditional writes). */
export interface WriteConditions {
  /** `If-None-Match: *`: the key must not exist; `If-None-Match: <etag>`: its etag must differ. */
  readonly ifNoneMatch?: string;
  /** `If-Match: <etag>`: the current version must have this etag. */
  readonly ifMatch?: string;
}
