// PartitionedMetaClient tests against real metadata groups: two VSR groups of
// 3 MetaService replicas on 127.0.0.1 over TCP, laid out as `tessera cluster
// start` lays them out (three "nodes", each one transport hosting a replica of
// both groups at two addresses). Every op and read lands in its bucket's group
// and nowhere else; access keys and the cluster map in group 0; ListBuckets
// and the garbage queue merge the groups; losing a node (a replica of each
// group) costs nothing; losing a group fails its buckets and the listings, and
// only those.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import { silentLogger } from '../io/logger.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { freePort } from '../io/node/free-port.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { TcpTransport } from '../io/node/tcp-transport.js';
import type { Transport } from '../io/transport.js';
import { MetaService } from '../meta/meta-service.js';
import type { MetaOp } from '../meta/ops.js';
import { balancedPartitionTable, groupOfBucket } from '../meta/partition-table.js';
import type { ClusterMapRecord, PartRecord } from '../meta/records.js';
import { createBucket, part, putVersion, versionRecord } from '../meta/test-support.js';
import { Janitor } from '../workers/janitor.js';
import { MetaRouteError, PartitionedMetaClient, connectPartitioned, routeOf } from './partitioned-meta-client.js';
import { MetaUnavailableError, RemoteMetaClient } from './remote-meta-client.js';

const clusterSecret = 'partitioned-meta-client-test-secret';
const table = balancedPartitionTable(64, 2);

function makeEnv(transport: Transport): Env {
  return { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
}

/** The first `count` names of the form `<stem>-<n>` that live in `group`. */
function namesIn(group: number, count: number, stem: string): string[] {
  const names: string[] = [];
  for (let index = 0; names.length < count; index++) {
    const name = `${stem}-${index}`;
    if (groupOfBucket(table, name) === group) names.push(name);
  }
  return names;
}

function preparing(bucket: string, versionId: string, parts: readonly PartRecord[] = [part(1)]): MetaOp {
  return { type: 'prepare_version', version: versionRecord({ bucket, key: 'big', versionId, state: 'PREPARING', etag: '', parts }) };
}

describe('PartitionedMetaClient over two VSR groups on TCP', { timeout: 120_000 }, () => {
  /** Node n's transport and the replicas it hosts: services[n][g] is replica n of group g. */
  const nodeTransports: TcpTransport[] = [];
  const services: (MetaService | undefined)[][] = [];
  let groupAddresses: string[][];
  let clientTransport: TcpTransport;
  let groups: RemoteMetaClient[];
  let client: PartitionedMetaClient;
  let keepAlive: ReturnType<typeof setInterval>;
  const [inZero, inOne] = [namesIn(0, 2, 'bucket'), namesIn(1, 2, 'bucket')];

  before(async () => {
    keepAlive = setInterval(() => undefined, 50); // NodeClock's timers are unref'd
    groupAddresses = await Promise.all([0, 1].map(() => Promise.all([0, 1, 2].map(async () => `127.0.0.1:${await freePort()}`))));
    for (let node = 0; node < 3; node++) {
      const transport = new TcpTransport({ clusterSecret });
      nodeTransports.push(transport);
      services.push([]);
      for (let group = 0; group < 2; group++) {
        services[node]![group] = await MetaService.open(makeEnv(transport), new MemoryKvStore(), { replicaIndex: node, addresses: groupAddresses[group]!, tickMs: 5 });
        await transport.listening(groupAddresses[group]![node]!);
      }
    }
    clientTransport = new TcpTransport({ clusterSecret });
    groups = groupAddresses.map((replicas) => new RemoteMetaClient(makeEnv(clientTransport), { localAddress: 'gateway', replicas, deadlineMs: 1500 }));
    client = new PartitionedMetaClient(table, groups);
  });

  after(async () => {
    client.close();
    for (const replicas of services) for (const service of replicas) await service?.close();
    await Promise.all([...nodeTransports, clientTransport].map((transport) => transport.close()));
    clearInterval(keepAlive);
  });

  it('routes every op by its bucket, or to the root group, or to every group; an op about one group is refused', async () => {
    assert.deepEqual(routeOf(createBucket('x')), { kind: 'bucket', bucket: 'x' });
    assert.deepEqual(routeOf(putVersion({ bucket: 'y', versionId: 'v' })), { kind: 'bucket', bucket: 'y' });
    assert.deepEqual(routeOf({ type: 'abort_version', bucket: 'z', versionId: 'v' }), { kind: 'bucket', bucket: 'z' });
    assert.deepEqual(routeOf({ type: 'delete_access_key', accessKeyId: 'AK' }), { kind: 'root' });
    assert.deepEqual(routeOf({ type: 'garbage_collected', versionIds: ['v'] }), { kind: 'every' });
    await assert.rejects(client.submit({ type: 'set_group_size', replicaCount: 5 }), MetaRouteError);
  });

  it('buckets, objects, versions and uploads live in their bucket\'s group only', async () => {
    for (const name of [...inZero, ...inOne]) assert.equal((await client.submit(createBucket(name))).status, 'bucket_created');
    assert.equal((await client.submit(createBucket(inOne[0]!))).status, 'bucket_exists', 'the owning group refuses a taken name');
    for (const [group, names] of [inZero, inOne].entries()) {
      assert.deepEqual((await groups[group]!.listBuckets()).map((bucket) => bucket.name).sort(), [...names].sort(), `group ${group} holds its buckets`);
    }
    for (const name of [inZero[0]!, inOne[0]!]) {
      const inline = await client.submit(putVersion({ bucket: name, key: 'small', versionId: `v-small-${name}`, inline: Buffer.from(name) }));
      assert.equal(inline.status, 'version_committed');
      assert.equal((await client.submit(preparing(name, `v-big-${name}`))).status, 'ok');
      const committed = await client.submit({ type: 'commit_version', bucket: name, versionId: `v-big-${name}`, sizeBytes: 1024, etag: '"e"', parts: [part(1)], checksums: {} });
      assert.equal(committed.status, 'version_committed');
      assert.equal((await client.submit({ type: 'set_versioning', bucket: name, status: 'Enabled' })).status, 'ok');
      const upload = { format: 1, bucket: name, key: 'multi', uploadId: `u-${name}`, owner: 'alice', contentType: 'a/b', headers: {}, userMetadata: {}, createdMs: 0 };
      assert.equal((await client.submit({ type: 'create_upload', upload })).status, 'upload_created');
      const inlinePart: PartRecord = { ...part(1), drives: [], inline: Buffer.from('part one') };
      assert.equal((await client.submit({ type: 'commit_part', bucket: name, key: 'multi', uploadId: upload.uploadId, part: inlinePart })).status, 'part_committed');
      assert.deepEqual((await client.listParts(name, upload.uploadId)).map((record) => record.part.partNumber), [1]);
      assert.equal((await client.getUpload(name, 'multi', upload.uploadId))?.uploadId, upload.uploadId);
      assert.equal((await client.listUploads(name, { prefix: '', limit: 10 })).length, 1);
      const completed = await client.submit({
        type: 'complete_upload',
        bucket: name,
        key: 'multi',
        uploadId: upload.uploadId,
        versionId: `v-multi-${name}`,
        parts: [{ partNumber: 1, etag: inlinePart.etag }],
        partBytesMin: 5 * 1024 * 1024,
      });
      assert.equal(completed.status, 'version_committed');
      const listed = await client.listObjects({ bucket: name, prefix: '', maxKeys: 100 });
      assert.deepEqual(listed.contents.map((version) => version.key), ['big', 'multi', 'small']);
      assert.equal((await client.getObject(name, 'small'))?.versionId, `v-small-${name}`);
      assert.equal((await client.getVersion(name, 'multi', `v-multi-${name}`))?.uploadId, upload.uploadId);
      assert.equal((await client.getLatestVersion(name, 'multi'))?.versionId, `v-multi-${name}`);
      const deleted = await client.submit({ type: 'delete_object', bucket: name, key: 'multi', markerVersionId: `m-${name}` });
      assert.equal(deleted.status, 'object_deleted');
      assert.equal((await client.listVersions(name, { prefix: 'multi', limit: 10 })).length, 2, 'the version and its delete marker');
    }
    // Each group holds its own bucket's objects and not the other's.
    assert.equal((await groups[0]!.getObject(inZero[0]!, 'small'))?.versionId, `v-small-${inZero[0]}`);
    assert.equal(await groups[1]!.getObject(inZero[0]!, 'small'), undefined);
    assert.equal(await groups[0]!.getBucket(inOne[0]!), undefined);
    assert.equal((await client.getBucket(inOne[0]!))?.name, inOne[0]);
  });

  it('ListBuckets merges the groups by name; a stray record in a group that does not own the name is not listed', async () => {
    const all = [...inZero, ...inOne].sort();
    assert.deepEqual((await client.listBuckets()).map((bucket) => bucket.name), all);
    // Written past the router, into the wrong group: getBucket would never find it there, so neither does the listing.
    const stray = namesIn(1, 1, 'stray')[0]!;
    assert.equal((await groups[0]!.submit(createBucket(stray))).status, 'bucket_created');
    assert.deepEqual((await client.listBuckets()).map((bucket) => bucket.name), all);
    assert.equal(await client.getBucket(stray), undefined);
  });

  it('access keys and the cluster map live in group 0', async () => {
    const key = { format: 1, accessKeyId: 'AKROOT', secretAccessKey: 's', userId: 'c'.repeat(64), displayName: 'dora', createdMs: 0 };
    assert.equal((await client.submit({ type: 'create_access_key', key })).status, 'ok');
    const map: ClusterMapRecord = {
      epoch: 1,
      scheme: { k: 2, m: 1 },
      level: 'node',
      nodes: [],
      metaGroups: groupAddresses.map((replicas, group) => ({ group, replicas })),
      partitions: table,
    };
    assert.equal((await client.submit({ type: 'set_cluster_map', map })).status, 'ok');
    assert.deepEqual((await client.listAccessKeys()).map((record) => record.accessKeyId), ['AKROOT']);
    assert.deepEqual(await groups[1]!.listAccessKeys(), []);
    assert.equal((await client.getClusterMap())?.epoch, 1);
    assert.equal(await groups[1]!.getClusterMap(), undefined);
    // A client built from the map routes as this one does.
    const fromMap = connectPartitioned(makeEnv(clientTransport), map, groups[0]!, { localAddress: 'gateway-2' });
    assert.equal(fromMap.groupCount, 2);
    assert.equal((await fromMap.getBucket(inOne[1]!))?.name, inOne[1]);
    fromMap.group(1).close?.();
  });

  it('preparing versions and garbage merge over the groups; garbage_collected reaches every group; the janitor runs per group', async () => {
    const [zero, one] = [inZero[1]!, inOne[1]!];
    for (const [bucket, versionId] of [[zero, 'p-0'], [one, 'p-1'], [zero, 'p-2']] as const) {
      assert.equal((await client.submit(preparing(bucket, versionId, [part(1, 4)]))).status, 'ok');
    }
    assert.deepEqual((await client.listPreparing()).map((version) => version.versionId), ['p-0', 'p-1', 'p-2']);
    assert.equal(await client.isVersionReferenced('p-1'), true);
    assert.equal(await client.isVersionReferenced('p-none'), false);
    // abort_version carries the bucket: it reaches the group that holds the version.
    assert.equal((await client.submit({ type: 'abort_version', bucket: one, versionId: 'p-1' })).status, 'ok');
    assert.equal((await client.submit({ type: 'abort_version', bucket: zero, versionId: 'p-2' })).status, 'ok');
    // The janitor over group 0's client aborts group 0's last preparing version (all: as at an embedded start).
    assert.equal(await new Janitor(makeEnv(clientTransport), client.group(0), 60_000).runPass({ all: true }), 1);
    assert.deepEqual(await client.listPreparing(), []);
    assert.deepEqual((await client.listGarbage(100)).map((record) => record.versionId), ['p-0', 'p-1', 'p-2'], 'both groups\' garbage, merged');
    assert.deepEqual((await client.listGarbage(2)).map((record) => record.versionId), ['p-0', 'p-1'], 'the limit holds over the merge');
    assert.deepEqual((await groups[1]!.listGarbage(100)).map((record) => record.versionId), ['p-1'], 'group 1 holds only its own');
    assert.deepEqual(await client.submit({ type: 'garbage_collected', versionIds: ['p-0', 'p-1', 'p-2'] }), { status: 'ok' });
    assert.deepEqual(await client.listGarbage(100), []);
  });

  it('a node down (one replica of each group): both groups keep serving', async () => {
    for (const service of services[2]!) await service?.close();
    services[2] = [];
    for (const name of [inZero[0]!, inOne[0]!]) {
      assert.equal((await client.submit(putVersion({ bucket: name, key: 'after-node-loss', versionId: `v-after-${name}`, inline: Buffer.from('x') }))).status, 'version_committed');
    }
    assert.equal((await client.listBuckets()).length, 4);
  });

  it('a group down: its buckets and the listings fail with MetaUnavailableError; the other group\'s buckets keep working', async () => {
    for (const service of services.map((replicas) => replicas[1])) await service?.close();
    for (const replicas of services) replicas[1] = undefined;
    await assert.rejects(client.getBucket(inOne[0]!), MetaUnavailableError);
    await assert.rejects(client.listBuckets(), MetaUnavailableError);
    assert.equal((await client.getObject(inZero[0]!, 'small'))?.versionId, `v-small-${inZero[0]}`);
    assert.equal((await client.submit(createBucket(namesIn(0, 1, 'later')[0]!))).status, 'bucket_created');
  });
});
