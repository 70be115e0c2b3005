// Metadata partitioning with real processes: `tessera cluster start --nodes 3
// --zones 3 --meta-groups 2` (two VSR groups of 3 replicas; every node runs a
// replica of both, the groups' first primaries on different nodes). Buckets
// named so two fall in each group (by the partition table the cluster map
// holds): they land in their group and only there (asked of each group
// directly and through `cluster status`), and PUT, GET, list, multipart and
// delete work in each; ListBuckets shows them all. Then kill -9 of a node that
// runs a replica of each group (and the first primary of group 1): both groups
// elect or keep a primary and everything goes on working through the gateway.
// (Striped PUTs need all 3 zones with 2+1, so after the kill new objects are
// small; the striped ones written before read back from the other 2 zones.)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { RemoteMetaClient } from '../../src/gateway/remote-meta-client.js';
import { noFaults } from '../../src/io/env.js';
import { silentLogger } from '../../src/io/logger.js';
import { NodeClock } from '../../src/io/node/node-clock.js';
import { NodeDisk } from '../../src/io/node/node-disk.js';
import { NodeRandom } from '../../src/io/node/node-random.js';
import { TcpTransport } from '../../src/io/node/tcp-transport.js';
import { groupOfBucket, partitionTableOf } from '../../src/meta/partition-table.js';
import type { ClusterMapRecord, PartitionTable } from '../../src/meta/records.js';
import { makeTempDir, region, seededRandom } from '../helpers/server.js';

const run = promisify(execFile);
const tessera = path.resolve('bin/tessera.js');

interface ClusterRecord {
  readonly nodes: { name: string; roles: string[]; meta?: { group: number; replicaIndex: number }[]; pid: number | undefined }[];
  readonly cluster: { secret: string; meta: string[][] };
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [tessera, ...args], { timeout: 120_000 });
  return stdout;
}

function readRecord(dir: string): ClusterRecord {
  return JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as ClusterRecord;
}

async function bodyOf(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function keysOf(client: S3Client, bucket: string): Promise<string[]> {
  return ((await client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((entry) => entry.Key!);
}

/** A multipart upload of `parts`, completed; returns its ETag. */
async function multipart(client: S3Client, bucket: string, key: string, parts: readonly Buffer[]): Promise<string> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const etags: string[] = [];
  for (const [index, body] of parts.entries()) {
    etags.push((await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: body }))).ETag!);
  }
  const completed = await client.send(
    new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) } }),
  );
  return completed.ETag!;
}

/** The first `count` names `<stem>-<n>` whose bucket would live in `group`. */
function namesIn(table: PartitionTable, group: number, stem: string, count: number): string[] {
  const names: string[] = [];
  for (let index = 0; names.length < count; index++) if (groupOfBucket(table, `${stem}-${index}`) === group) names.push(`${stem}-${index}`);
  return names;
}

/** The `METADATA GROUP g (...)` section of `cluster status`: its heading and replica lines. */
function groupSection(status: string, group: number): string {
  const match = new RegExp(`METADATA GROUP ${group} \\(.*\\)\\n(  replica .*\\n?)+`).exec(status);
  assert.ok(match !== null, `status shows group ${group}:\n${status}`);
  return match[0];
}

describe('a cluster with two metadata groups, real processes', { timeout: 300_000 }, () => {
  let dir: string;
  let client: S3Client;
  let record: ClusterRecord;
  let transport: TcpTransport;
  /** One client per group, straight to its replicas (not through the router). */
  let groups: RemoteMetaClient[];
  /** The partition table of the cluster map, and two bucket names in each group by it. */
  let table: PartitionTable;
  let buckets: string[][];
  const random = seededRandom(5);
  const large = Buffer.from(Array.from({ length: 300 * 1024 + 11 }, () => Math.floor(random() * 256)));
  const partOne = Buffer.alloc(5 * 1024 * 1024, 7);
  const partTwo = Buffer.from('the last part may be small');

  before(async () => {
    dir = await makeTempDir('cluster-partitioned');
    const output = await cli('cluster', 'start', '--nodes', '3', '--zones', '3', '--ec', '2+1', '--meta-groups', '2', '--dir', dir);
    assert.match(output, /3 nodes over 3 zones, 2 metadata groups of 3 replicas/);
    const endpoint = /endpoint:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    const accessKeyId = /access key:\s+(\S+)/.exec(output)?.[1];
    const secretAccessKey = /secret key:\s+(\S+)/.exec(output)?.[1];
    assert.ok(endpoint !== undefined && accessKeyId !== undefined && secretAccessKey !== undefined, output);
    // Retries (the SDK's default 3) ride out the view change after the kill; every answer is still checked.
    client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    record = readRecord(dir);
    transport = new TcpTransport({ clusterSecret: record.cluster.secret });
    const env = { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
    groups = record.cluster.meta.map((replicas) => new RemoteMetaClient(env, { localAddress: 'test', replicas }));
    const map: ClusterMapRecord | undefined = await groups[0]!.getClusterMap();
    assert.ok(map !== undefined, 'the gateway installed the cluster map');
    table = partitionTableOf(map);
    assert.equal(table.slots.length, 64);
    buckets = [0, 1].map((group) => namesIn(table, group, 'part', 2));
  });

  after(async () => {
    for (const group of groups) group.close();
    await transport.close();
    await cli('cluster', 'stop', '--dir', dir).catch(() => undefined);
  });

  it('lays the groups over the nodes: every node a replica of both, the first primaries on different nodes', () => {
    assert.deepEqual(record.cluster.meta.map((replicas) => replicas.length), [3, 3]);
    for (const node of record.nodes) assert.deepEqual(node.meta?.map((role) => role.group).sort(), [0, 1], `${node.name} runs a replica of each group`);
    const firstPrimary = (group: number): string | undefined => record.nodes.find((node) => node.meta?.some((role) => role.group === group && role.replicaIndex === 0))?.name;
    assert.notEqual(firstPrimary(0), firstPrimary(1));
  });

  it('buckets land in their group only; PUT, GET, list, multipart and delete work in each; ListBuckets shows all', async () => {
    for (const name of buckets.flat()) await client.send(new CreateBucketCommand({ Bucket: name }));
    for (const [group, names] of buckets.entries()) {
      assert.deepEqual((await groups[group]!.listBuckets()).map((bucket) => bucket.name), [...names].sort(), `group ${group} holds exactly its buckets`);
    }
    for (const name of buckets.flat()) {
      await client.send(new PutObjectCommand({ Bucket: name, Key: 'small', Body: `small in ${name}` }));
      await client.send(new PutObjectCommand({ Bucket: name, Key: 'large', Body: large }));
      await client.send(new PutObjectCommand({ Bucket: name, Key: 'doomed', Body: 'soon gone' }));
      const etag = await multipart(client, name, 'multi', [partOne, partTwo]);
      assert.match(etag, /-2"$/);
      assert.equal((await bodyOf(client, name, 'small')).toString(), `small in ${name}`);
      assert.ok((await bodyOf(client, name, 'large')).equals(large));
      assert.ok((await bodyOf(client, name, 'multi')).equals(Buffer.concat([partOne, partTwo])));
      await client.send(new DeleteObjectCommand({ Bucket: name, Key: 'doomed' }));
      assert.deepEqual(await keysOf(client, name), ['large', 'multi', 'small']);
    }
    // The objects are in their bucket's group, not the other.
    const [zero, one] = [buckets[0]![0]!, buckets[1]![0]!];
    assert.equal((await groups[0]!.getObject(zero, 'large'))?.parts.length, 1);
    assert.equal(await groups[1]!.getObject(zero, 'large'), undefined);
    assert.equal((await groups[1]!.getObject(one, 'multi'))?.parts.length, 2);
    assert.equal(await groups[0]!.getObject(one, 'multi'), undefined);
    const listed = (await client.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name);
    assert.deepEqual(listed, buckets.flat().sort());
    const status = await cli('cluster', 'status', '--dir', dir);
    assert.match(groupSection(status, 0), /^METADATA GROUP 0 \(root: cluster map, users and keys; 32 of 64 slots; 2 buckets\)/);
    assert.match(groupSection(status, 1), /^METADATA GROUP 1 \(32 of 64 slots; 2 buckets\)/);
    for (const group of [0, 1]) assert.equal(groupSection(status, group).match(/PRIMARY/g)?.length, 1, `one primary in group ${group}`);
    assert.match(status, /PARTITION TABLE: 64 slots by SHA-256 of the bucket name; group 0: 32, group 1: 32/);
    assert.match(status, /CLUSTER MAP: epoch 1, 3 nodes \(in metadata group 0\)/);
  });

  it('kill -9 of a node running a replica of each group (group 1\'s primary): every bucket keeps working', async () => {
    const victim = record.nodes.find((node) => node.meta?.some((role) => role.group === 1 && role.replicaIndex === 0))!;
    assert.ok(!victim.roles.includes('gateway'), 'the victim is not the gateway');
    process.kill(victim.pid!, 'SIGKILL');
    const startedMs = Date.now();
    for (const name of buckets.flat()) {
      await client.send(new PutObjectCommand({ Bucket: name, Key: 'after', Body: `after the kill in ${name}` }));
      assert.equal((await bodyOf(client, name, 'after')).toString(), `after the kill in ${name}`);
      assert.ok((await bodyOf(client, name, 'large')).equals(large), 'a striped object decodes without the dead node');
      assert.ok((await bodyOf(client, name, 'multi')).equals(Buffer.concat([partOne, partTwo])));
      await multipart(client, name, 'multi-after', [partTwo]);
      assert.ok((await bodyOf(client, name, 'multi-after')).equals(partTwo));
      await client.send(new DeleteObjectCommand({ Bucket: name, Key: 'small' }));
      assert.deepEqual(await keysOf(client, name), ['after', 'large', 'multi', 'multi-after']);
    }
    const fresh = [0, 1].flatMap((group) => namesIn(table, group, 'fresh', 1));
    for (const name of fresh) await client.send(new CreateBucketCommand({ Bucket: name }));
    assert.deepEqual((await client.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name), [...buckets.flat(), ...fresh].sort());
    for (const name of fresh) await client.send(new DeleteBucketCommand({ Bucket: name }));
    const status = await cli('cluster', 'status', '--dir', dir);
    for (const group of [0, 1]) {
      const section = groupSection(status, group);
      assert.match(section, new RegExp(`replica \\d ${victim.name}\\s+\\S+\\s+unreachable`), `group ${group} shows the dead replica`);
      assert.equal(section.match(/PRIMARY/g)?.length, 1, `group ${group} has a primary:\n${section}`);
    }
    process.stdout.write(`# partitioned: both groups served every bucket within ${Date.now() - startedMs} ms of the kill\n`);
  });
});
