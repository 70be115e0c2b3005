// A local cluster of real processes, through the CLI a user runs:
// `tessera cluster start --nodes 6 --zones 3 --meta-groups 1` (one metadata
// group of 3 replicas in three zones, 6 blob nodes of 2 drives, two gateways;
// several groups are cluster-partitioned.test.ts's), S3 through @aws-sdk/client-s3,
// `cluster status`, and `cluster stop` / `start` again. Then chaos under
// continuous PUT/GET load: kill -9 up to m blob nodes and one metadata replica
// at random moments, restart them, repeat. Every read during the run must be
// the right bytes or a clean retryable error (503 / 500), never wrong bytes;
// at the end every acknowledged object reads back byte-identical, also after
// the whole cluster is stopped and started again.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client, CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { RemoteMetaClient } from '../../src/gateway/remote-meta-client.js';
import { noFaults } from '../../src/io/env.js';
import { silentLogger } from '../../src/io/logger.js';
import { NodeClock } from '../../src/io/node/node-clock.js';
import { NodeDisk } from '../../src/io/node/node-disk.js';
import { NodeRandom } from '../../src/io/node/node-random.js';
import { TcpTransport } from '../../src/io/node/tcp-transport.js';
import { makeTempDir, region, seededRandom } from '../helpers/server.js';

const run = promisify(execFile);
const tessera = path.resolve('bin/tessera.js');

interface ClusterRecord {
  readonly nodes: { name: string; config: string; log: string; roles: string[]; pid: number | undefined }[];
  readonly cluster: { meta: string[][] };
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [tessera, ...args], { timeout: 120_000 });
  return stdout;
}

function readRecord(dir: string): ClusterRecord {
  return JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as ClusterRecord;
}

function kill9(dir: string, name: string): void {
  const record = readRecord(dir);
  const node = record.nodes.find((candidate) => candidate.name === name)!;
  if (node.pid !== undefined) {
    try {
      process.kill(node.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Starts one node again from its config, as `cluster start` does, and records its pid. */
function restartNode(dir: string, name: string): void {
  const record = readRecord(dir);
  const node = record.nodes.find((candidate) => candidate.name === name)!;
  const log = openSync(node.log, 'a');
  const child = spawn(process.execPath, [tessera, 'node', '--config', node.config], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  node.pid = child.pid;
  writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify(record, null, 2) + '\n');
}

function clientFor(output: string, gateway = 0): S3Client {
  const endpoint = [...output.matchAll(/endpoint:\s+(http:\/\/127\.0\.0\.1:\d+)/g)][gateway]?.[1];
  const accessKeyId = /access key:\s+(\S+)/.exec(output)?.[1];
  const secretAccessKey = /secret key:\s+(\S+)/.exec(output)?.[1];
  assert.ok(endpoint !== undefined && accessKeyId !== undefined && secretAccessKey !== undefined, `start printed endpoint and keys:\n${output}`);
  return new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
}

async function bodyOf(client: S3Client, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: 'chaos', Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

/** A retryable S3 error: what a client may see while nodes die, never wrong bytes. */
function retryable(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === 503 || status === 500 || (error as { code?: string }).code === 'ECONNRESET';
}

describe('local cluster of real processes', { timeout: 600_000 }, () => {
  let dir: string;
  let client: S3Client;
  /** The second gateway: the same cluster through another process. */
  let second: S3Client;

  before(async () => {
    dir = await makeTempDir('cluster');
    const output = await cli('cluster', 'start', '--nodes', '6', '--zones', '3', '--ec', '4+2', '--gateways', '2', '--meta-groups', '1', '--dir', dir);
    client = clientFor(output);
    second = clientFor(output, 1);
    assert.match(output, /protection:\s+4\+2 over 3 zones: survives the loss of any 1 zone/);
  });

  after(async () => {
    await cli('cluster', 'stop', '--dir', dir).catch(() => undefined);
  });

  it('refuses a scheme the layout cannot protect, saying why', async () => {
    const other = await makeTempDir('cluster-refused');
    await assert.rejects(cli('cluster', 'start', '--nodes', '6', '--zones', '3', '--drives-per-node', '4', '--ec', '10+4', '--dir', other), /cannot survive the loss of a zone/);
  });

  it('serves S3, shows its state, and keeps every object across a full stop and start', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'chaos' }));
    const random = seededRandom(7);
    const small = Buffer.from('hello cluster');
    const large = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 17 }, () => Math.floor(random() * 256)));
    await client.send(new PutObjectCommand({ Bucket: 'chaos', Key: 'small', Body: small }));
    await client.send(new PutObjectCommand({ Bucket: 'chaos', Key: 'large', Body: large }));
    assert.ok((await bodyOf(client, 'large')).equals(large));
    assert.ok((await bodyOf(second, 'large')).equals(large), 'the second gateway reads what the first wrote');
    await second.send(new PutObjectCommand({ Bucket: 'chaos', Key: 'via-second', Body: small }));
    assert.ok((await bodyOf(client, 'via-second')).equals(small), 'and the first reads what the second wrote');
    const status = await cli('cluster', 'status', '--dir', dir);
    assert.match(status, /PRIMARY/);
    assert.match(status, /zone-2/);
    assert.match(status, /PROTECTION: 4\+2 over 3 zones/);
    assert.match(status, /CLUSTER MAP: epoch 1, 6 nodes \(in metadata group 0\)/);
    await cli('cluster', 'stop', '--dir', dir);
    assert.ok(readRecord(dir).nodes.every((node) => node.pid === undefined));
    const restarted = await cli('cluster', 'start', '--dir', dir);
    client = clientFor(restarted);
    second = clientFor(restarted, 1);
    assert.ok((await bodyOf(client, 'small')).equals(small));
    assert.ok((await bodyOf(client, 'large')).equals(large));
  });

  it('draining a node is a new cluster map epoch: gateways follow it and new parts avoid its drives', async () => {
    const drained = await cli('cluster', 'drive', '--dir', dir, '--node', 'node-5', '--state', 'draining');
    assert.match(drained, /cluster map epoch 2: 2 drive\(s\) now draining \(10, 11\)/);
    await new Promise((resolve) => setTimeout(resolve, 2500)); // Gateways poll the map every 2 s.
    const body = Buffer.alloc(400 * 1024, 9);
    for (let index = 0; index < 6; index++) await client.send(new PutObjectCommand({ Bucket: 'chaos', Key: `drained-${index}`, Body: body }));
    const record = JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as { cluster: { secret: string; meta: string[][] } };
    const transport = new TcpTransport({ clusterSecret: record.cluster.secret });
    const env = { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
    const meta = new RemoteMetaClient(env, { localAddress: 'test', replicas: record.cluster.meta[0]! });
    try {
      for (let index = 0; index < 6; index++) {
        const version = await meta.getObject('chaos', `drained-${index}`);
        assert.ok(version !== undefined);
        for (const part of version.parts) assert.ok(part.drives.every((drive) => drive !== 10 && drive !== 11), `drained-${index} has a shard on node-5`);
      }
      assert.equal((await meta.getClusterMap())?.epoch, 2);
    } finally {
      meta.close();
      await transport.close();
    }
    const drainedStatus = await cli('cluster', 'status', '--dir', dir);
    assert.match(drainedStatus, /CLUSTER MAP: epoch 2/);
    assert.match(drainedStatus, /10:ok \(draining\)/);
    assert.match(await cli('cluster', 'drive', '--dir', dir, '--node', 'node-5', '--state', 'active'), /epoch 3/);
    await assert.rejects(cli('cluster', 'drive', '--dir', dir, '--node', 'node-4', '--state', 'failed', '--drive', '3'), /either --node NAME or --drive ID/);
  });

  it('chaos: kill -9 up to m blob nodes and a metadata replica under load; no wrong bytes, nothing acknowledged lost', async () => {
    const random = seededRandom(11);
    const acknowledged = new Map<string, Buffer>();
    let reads = 0;
    let retryableErrors = 0;
    let stop = false;
    const worker = async (id: number): Promise<void> => {
      // Half the workers go through each gateway: both serve the same cluster.
      const via = id % 2 === 0 ? client : second;
      for (let round = 0; !stop; round++) {
        const key = `w${id}-${round}`;
        const size = round % 3 === 0 ? 300 * 1024 + round : 1000 + round;
        const body = Buffer.alloc(size, (id * 31 + round) & 0xff);
        try {
          await via.send(new PutObjectCommand({ Bucket: 'chaos', Key: key, Body: body }));
          acknowledged.set(key, body);
        } catch (error) {
          if (!retryable(error)) throw error;
          retryableErrors++;
        }
        const keys = [...acknowledged.keys()];
        if (keys.length === 0) continue;
        const probe = keys[Math.floor(random() * keys.length)]!;
        try {
          const got = await bodyOf(via, probe);
          reads++;
          assert.ok(got.equals(acknowledged.get(probe)!), `GET ${probe} returned wrong bytes`);
        } catch (error) {
          if (error instanceof assert.AssertionError || !retryable(error)) throw error;
          retryableErrors++;
        }
      }
    };
    const load = Promise.all([0, 1, 2, 3].map((id) => worker(id)));
    const record = readRecord(dir);
    const blobOnly = record.nodes.filter((node) => !node.roles.includes('gateway')).map((node) => node.name);
    const metaNodes = record.nodes.filter((node) => node.roles.includes('meta') && !node.roles.includes('gateway')).map((node) => node.name);
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const victims = [...blobOnly].sort(() => random() - 0.5).slice(0, 1 + (round % 2));
      const metaVictim = metaNodes[Math.floor(random() * metaNodes.length)]!;
      if (!victims.includes(metaVictim)) victims.push(metaVictim);
      for (const victim of victims.slice(0, 2)) kill9(dir, victim);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      for (const victim of victims.slice(0, 2)) restartNode(dir, victim);
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
    stop = true;
    await load;
    assert.ok(acknowledged.size > 20, `${acknowledged.size} objects acknowledged under chaos`);
    assert.ok(reads > 20, `${reads} reads under chaos`);
    // Everything acknowledged reads back, also after a full stop and start.
    for (const [key, body] of acknowledged) assert.ok((await bodyOf(client, key)).equals(body), `${key} after chaos`);
    await cli('cluster', 'stop', '--dir', dir);
    client = clientFor(await cli('cluster', 'start', '--dir', dir));
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'chaos', Prefix: 'w' }));
    assert.ok((listed.KeyCount ?? 0) >= Math.min(acknowledged.size, 1000));
    for (const [key, body] of acknowledged) assert.ok((await bodyOf(client, key)).equals(body), `${key} after restart`);
    process.stdout.write(`# chaos: ${acknowledged.size} objects acknowledged, ${reads} reads verified, ${retryableErrors} retryable errors\n`);
  });
});
