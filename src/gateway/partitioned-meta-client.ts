// PartitionedMetaClient: the gateway's MetaClient over several metadata
// groups. It holds one MetaClient per group (RemoteMetaClient in a cluster)
// and routes by bucket through the partition table of the cluster map
// (meta/partition-table.ts): every op and read that names a bucket goes to
// that bucket's group; access keys and the cluster map live in group 0, the
// root group. Since bucket → group is a function of the name and the table,
// the bucket's group alone decides whether a name is taken, and ListBuckets
// asks every group and merges by name.
//
// Ops are routed by an exhaustive switch over op types, so a new op does not
// compile until someone says where it goes. Calls that name no bucket:
//   listPreparing, listGarbage   every group, merged in key (version id) order
//   garbage_collected            every group (deleting a garbage record a group
//                                does not hold changes nothing; ids are unique)
//   isVersionReferenced          true when any group references the version
// The background workers do not rely on these fan-outs: a gateway with
// workers runs the janitor and GC once per group, each over `group(g)`, so
// one group being down stalls only its own garbage.
//
// A fan-out fails when any group fails (MetaUnavailableError → 503): a
// listing that silently left out a group's buckets would be wrong, not slow.

import type { Env } from '../io/env.js';
import type { NodeAddress } from '../io/transport.js';
import type { ListObjectsQuery, ListObjectsResult } from '../meta/list-objects.js';
import type { ListUploadsOptions, ListVersionsOptions } from '../meta/meta-queries.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import { groupOfBucket, partitionTableOf, partitionTableProblem } from '../meta/partition-table.js';
import type { AccessKeyRecord, BucketRecord, ClusterMapRecord, GarbageRecord, PartitionTable, UploadPartRecord, UploadRecord, VersionRecord } from '../meta/records.js';
import { assert, unreachable } from '../stdx/assert.js';
import type { MetaClient } from './clients.js';
import { RemoteMetaClient } from './remote-meta-client.js';
import type { RemoteMetaClientOptions } from './remote-meta-client.js';

/**
 * Where an op goes: the group of a bucket, the root group, every group, or
 * nowhere through this client (an op about one group itself, which its
 * sender must submit to that group's client).
 */
export type OpRoute =
  | { readonly kind: 'bucket'; readonly bucket: string }
  | { readonly kind: 'root' }
  | { readonly kind: 'every' }
  | { readonly kind: 'one_group'; readonly reason: string };

/** An op this client cannot route (it names no bucket and belongs to one group). */
export class MetaRouteError extends Error {
  override readonly name = 'MetaRouteError';
}

export function routeOf(op: MetaOp): OpRoute {
  switch (op.type) {
    case 'create_bucket':
    case 'delete_bucket':
    case 'commit_version':
    case 'abort_version':
    case 'delete_object':
    case 'update_bucket':
    case 'update_version':
    case 'set_versioning':
    case 'commit_part':
    case 'complete_upload':
    case 'abort_upload':
    case 'move_shards':
      return { kind: 'bucket', bucket: op.bucket };
    case 'put_version':
    case 'prepare_version':
      return { kind: 'bucket', bucket: op.version.bucket };
    case 'create_upload':
      return { kind: 'bucket', bucket: op.upload.bucket };
    case 'create_access_key':
    case 'delete_access_key':
    case 'set_cluster_map':
      return { kind: 'root' };
    case 'garbage_collected':
      return { kind: 'every' };
    case 'set_group_size':
      return { kind: 'one_group', reason: 'set_group_size resizes one metadata group: submit it to that group\'s client (group(g))' };
    default:
      return unreachable(op, 'an op with no route');
  }
}

/** A group's client; closed with the partitioned client when it can be. */
export type GroupClient = MetaClient & { close?(): void };

function byName(a: BucketRecord, b: BucketRecord): number {
  return Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8'));
}

function byVersionId<T extends { readonly versionId: string }>(a: T, b: T): number {
  return Buffer.compare(Buffer.from(a.versionId, 'utf8'), Buffer.from(b.versionId, 'utf8'));
}

/** `G`: what a group's client is (RemoteMetaClient in a cluster): `group(g)` hands it out whole, for the per-group workers. */
export class PartitionedMetaClient<G extends GroupClient = GroupClient> implements MetaClient {
  constructor(
    readonly table: PartitionTable,
    private readonly groups: readonly G[],
  ) {
    assert(groups.length >= 1, 'at least the root group');
    const problem = partitionTableProblem(table, groups.length);
    assert(problem === undefined, `partition table over ${groups.length} groups: ${problem ?? ''}`);
  }

  get groupCount(): number {
    return this.groups.length;
  }

  /** The client of group `index` (0: the root group): the per-group workers run over it. */
  group(index: number): G {
    const client = this.groups[index];
    assert(client !== undefined, `group ${index} of ${this.groups.length}`);
    return client;
  }

  /** The group that holds `bucket`. */
  groupOf(bucket: string): number {
    return groupOfBucket(this.table, bucket);
  }

  private of(bucket: string): MetaClient {
    return this.group(this.groupOf(bucket));
  }

  private get root(): MetaClient {
    return this.group(0);
  }

  async submit(op: MetaOp): Promise<MetaResult> {
    const route = routeOf(op);
    switch (route.kind) {
      case 'bucket':
        return this.of(route.bucket).submit(op);
      case 'root':
        return this.root.submit(op);
      case 'every': {
        const results = await Promise.all(this.groups.map((client) => client.submit(op)));
        assert(results.every((result) => result.status === 'ok'), `${op.type} answers ok in every group`);
        return { status: 'ok' };
      }
      case 'one_group':
        throw new MetaRouteError(route.reason);
      default:
        return unreachable(route, 'op route');
    }
  }

  getBucket(bucket: string): Promise<BucketRecord | undefined> {
    return this.of(bucket).getBucket(bucket);
  }

  /** Every group's buckets, by name. A record in a group that does not own its name is not listed: getBucket would not find it either. */
  async listBuckets(): Promise<BucketRecord[]> {
    const perGroup = await Promise.all(this.groups.map((client) => client.listBuckets()));
    return perGroup.flatMap((buckets, group) => buckets.filter((bucket) => this.groupOf(bucket.name) === group)).sort(byName);
  }

  getObject(bucket: string, key: string): Promise<VersionRecord | undefined> {
    return this.of(bucket).getObject(bucket, key);
  }

  getVersion(bucket: string, key: string, s3VersionId: string): Promise<VersionRecord | undefined> {
    return this.of(bucket).getVersion(bucket, key, s3VersionId);
  }

  getLatestVersion(bucket: string, key: string): Promise<VersionRecord | undefined> {
    return this.of(bucket).getLatestVersion(bucket, key);
  }

  listVersions(bucket: string, options: ListVersionsOptions): Promise<VersionRecord[]> {
    return this.of(bucket).listVersions(bucket, options);
  }

  listObjects(query: ListObjectsQuery): Promise<ListObjectsResult> {
    return this.of(query.bucket).listObjects(query);
  }

  async listPreparing(): Promise<VersionRecord[]> {
    const perGroup = await Promise.all(this.groups.map((client) => client.listPreparing()));
    return perGroup.flat().sort(byVersionId);
  }

  /** The first `limit` garbage records of all groups in version id order (each group's first `limit` hold them). */
  async listGarbage(limit: number): Promise<GarbageRecord[]> {
    const perGroup = await Promise.all(this.groups.map((client) => client.listGarbage(limit)));
    return perGroup.flat().sort(byVersionId).slice(0, limit);
  }

  getUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord | undefined> {
    return this.of(bucket).getUpload(bucket, key, uploadId);
  }

  listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadRecord[]> {
    return this.of(bucket).listUploads(bucket, options);
  }

  listParts(bucket: string, uploadId: string): Promise<UploadPartRecord[]> {
    return this.of(bucket).listParts(bucket, uploadId);
  }

  listAccessKeys(): Promise<AccessKeyRecord[]> {
    return this.root.listAccessKeys();
  }

  async isVersionReferenced(versionId: string): Promise<boolean> {
    const perGroup = await Promise.all(this.groups.map((client) => client.isVersionReferenced(versionId)));
    return perGroup.some(Boolean);
  }

  getClusterMap(): Promise<ClusterMapRecord | undefined> {
    return this.root.getClusterMap();
  }

  /** Closes every group's client that can be closed. */
  close(): void {
    for (const client of this.groups) client.close?.();
  }
}

/**
 * A PartitionedMetaClient over the groups of `map`: `root` (already talking
 * to the root group) for group 0, a new RemoteMetaClient for each other group.
 */
export function connectPartitioned(
  env: Env,
  map: ClusterMapRecord,
  root: RemoteMetaClient,
  options: { readonly localAddress: NodeAddress } & Omit<RemoteMetaClientOptions, 'localAddress' | 'replicas'>,
): PartitionedMetaClient<RemoteMetaClient> {
  const groups = [...map.metaGroups].sort((a, b) => a.group - b.group);
  assert(
    groups.every((entry, index) => entry.group === index),
    `the cluster map numbers its metadata groups 0..${groups.length - 1}: ${groups.map((entry) => entry.group).join(', ')}`,
  );
  const clients = groups.map((entry) => (entry.group === 0 ? root : new RemoteMetaClient(env, { ...options, replicas: entry.replicas })));
  return new PartitionedMetaClient(partitionTableOf(map), clients);
}
