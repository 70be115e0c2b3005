// Healing and draining in a local cluster of real processes (`tessera cluster
// start`, 6 nodes in 3 zones, 4+2, the workers gateway on short intervals):
// objects written through S3, then `tessera cluster drive --node node-5
// --state draining` empties node-5's drives (its shards copied elsewhere, the
// old fragments deleted after GC's grace period; `cluster status` says
// "drained"), then node-4 is killed and marked failed and its shards are
// rebuilt from the others. Fragment files on disk are checked directly: every
// part keeps k+m fragments on distinct drives, at most m per zone, none on a
// drive that left; every object reads back byte-identical.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { versionIdOfFragment } from '../../src/gateway/ids.js';
import { filesUnder, makeTempDir, patternBytes, region } from '../helpers/server.js';

const run = promisify(execFile);
const tessera = path.resolve('bin/tessera.js');
const drivesPerNode = 2;
const zoneCount = 3;
const m = 2;

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [tessera, ...args], { timeout: 120_000 });
  return stdout;
}

function clientFor(output: string): S3Client {
  const endpoint = /endpoint:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
  const accessKeyId = /access key:\s+(\S+)/.exec(output)?.[1];
  const secretAccessKey = /secret key:\s+(\S+)/.exec(output)?.[1];
  assert.ok(endpoint !== undefined && accessKeyId !== undefined && secretAccessKey !== undefined, `start printed endpoint and keys:\n${output}`);
  return new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 3 });
}

const nodeOfDrive = (drive: number): number => Math.floor(drive / drivesPerNode);
const zoneOfDrive = (drive: number): number => nodeOfDrive(drive) % zoneCount;

/** Every fragment file of the cluster: drive id and fragment id (`<owner>-<part>-<shard>`). */
async function fragments(dir: string, nodeCount: number): Promise<{ drive: number; id: string }[]> {
  const found: { drive: number; id: string }[] = [];
  for (let node = 0; node < nodeCount; node++) {
    for (let slot = 0; slot < drivesPerNode; slot++) {
      const drive = node * drivesPerNode + slot;
      for (const file of await filesUnder(path.join(dir, `node-${node}`, 'data', 'drives', `drive-${drive}`, 'fragments'))) {
        found.push({ drive, id: path.basename(file) });
      }
    }
  }
  return found;
}

/** Fragments by part (owner and part number), each with its shard's drive. */
function byPart(found: readonly { drive: number; id: string }[], excluded: ReadonlySet<number>): Map<string, Map<number, number>> {
  const parts = new Map<string, Map<number, number>>();
  for (const { drive, id } of found) {
    if (excluded.has(drive)) continue;
    const match = /^(.*)-(\d+)-(\d+)$/.exec(id);
    assert.ok(match !== null && versionIdOfFragment(id) !== undefined, `${id} is a fragment id`);
    const key = `${match[1]!}-${match[2]!}`;
    const shards = parts.get(key) ?? new Map<number, number>();
    assert.ok(!shards.has(Number(match[3])), `shard ${id} stored twice`);
    shards.set(Number(match[3]), drive);
    parts.set(key, shards);
  }
  return parts;
}

/** Every part has all 6 shards on distinct drives outside `excluded`, at most m per zone. */
function wholeParts(found: readonly { drive: number; id: string }[], excluded: ReadonlySet<number>, expectedParts: number): string | undefined {
  const parts = byPart(found, excluded);
  if (parts.size !== expectedParts) return `${parts.size} parts seen, ${expectedParts} expected`;
  for (const [part, shards] of parts) {
    if (shards.size !== 6) return `part ${part} has ${shards.size} shards outside drives ${[...excluded].join(',')}`;
    const perZone = new Map<number, number>();
    for (const drive of shards.values()) perZone.set(zoneOfDrive(drive), (perZone.get(zoneOfDrive(drive)) ?? 0) + 1);
    assert.ok(Math.max(...perZone.values()) <= m, `part ${part}: more than ${m} shards in one zone (${[...shards.values()].join(',')})`);
  }
  return undefined;
}

async function waitFor(what: string, deadlineMs: number, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let last: string | undefined = 'not checked';
  while (Date.now() < deadline) {
    last = await check();
    if (last === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`${what} within ${deadlineMs} ms: ${last}`);
}

describe('cluster healing and draining (real processes)', { timeout: 300_000 }, () => {
  let dir: string;
  let client: S3Client;
  const objects = new Map<string, Buffer>();
  let stripedParts = 0;

  before(async () => {
    dir = await makeTempDir('cluster-heal');
    const output = await cli('cluster', 'start', '--nodes', '6', '--zones', String(zoneCount), '--ec', '4+2', '--worker-interval-ms', '200', '--gc-grace-ms', '300', '--dir', dir);
    client = clientFor(output);
    await client.send(new CreateBucketCommand({ Bucket: 'heal' }));
    for (let index = 0; index < 10; index++) {
      const body = patternBytes(index < 2 ? 100 + index : 200 * 1024 + index * 97 * 1024, index + 1);
      await client.send(new PutObjectCommand({ Bucket: 'heal', Key: `object-${index}`, Body: body }));
      objects.set(`object-${index}`, body);
      if (index >= 2) stripedParts++;
    }
    // A multipart object: its parts' fragments are stored under their upload parts' ids.
    const upload = await client.send(new CreateMultipartUploadCommand({ Bucket: 'heal', Key: 'multipart' }));
    const partBodies = [patternBytes(5 * 1024 * 1024, 90), patternBytes(300 * 1024, 91)];
    const etags = [];
    for (const [index, partBody] of partBodies.entries()) {
      const uploaded = await client.send(new UploadPartCommand({ Bucket: 'heal', Key: 'multipart', UploadId: upload.UploadId, PartNumber: index + 1, Body: partBody }));
      etags.push({ PartNumber: index + 1, ETag: uploaded.ETag });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: 'heal', Key: 'multipart', UploadId: upload.UploadId, MultipartUpload: { Parts: etags } }));
    objects.set('multipart', Buffer.concat(partBodies));
    stripedParts += 2;
  });

  after(async () => {
    await cli('cluster', 'stop', '--dir', dir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  async function assertObjects(): Promise<void> {
    for (const [key, body] of objects) {
      const response = await client.send(new GetObjectCommand({ Bucket: 'heal', Key: key }));
      assert.ok(Buffer.from(await response.Body!.transformToByteArray()).equals(body), `${key} reads back byte-identical`);
    }
  }

  it('draining a node moves every shard off its drives and deletes the old fragments; status says drained', async () => {
    const drained = new Set([10, 11]);
    const before = await fragments(dir, 6);
    assert.equal(wholeParts(before, new Set(), stripedParts), undefined);
    const onNode = before.filter((fragment) => drained.has(fragment.drive)).length;
    assert.ok(onNode > 0, 'node-5 holds shards before the drain');
    assert.match(await cli('cluster', 'drive', '--dir', dir, '--node', 'node-5', '--state', 'draining'), /2 drive\(s\) now draining \(10, 11\)/);
    const started = Date.now();
    await waitFor('node-5 drained', 30_000, async () => {
      const left = (await fragments(dir, 6)).filter((fragment) => drained.has(fragment.drive)).length;
      return left === 0 ? undefined : `${left} fragments left on drives 10, 11`;
    });
    process.stdout.write(`# drained ${onNode} fragments off node-5 in ${Date.now() - started} ms (map follow ≤ 2 s, GC grace 0.3 s)\n`);
    assert.equal(wholeParts(await fragments(dir, 6), drained, stripedParts), undefined);
    const status = await cli('cluster', 'status', '--dir', dir);
    assert.match(status, /10:ok \(draining\) drained, /);
    assert.match(status, /11:ok \(draining\) drained, /);
    await assertObjects();
  });

  it('a node killed and marked failed: its shards are rebuilt from the others', async () => {
    const record = JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as { nodes: { name: string; pid?: number }[] };
    const victim = record.nodes.find((node) => node.name === 'node-4')!;
    process.kill(victim.pid!, 'SIGKILL');
    const gone = new Set([8, 9, 10, 11]);
    const lost = (await fragments(dir, 6)).filter((fragment) => fragment.drive === 8 || fragment.drive === 9).length;
    assert.ok(lost > 0, 'node-4 held shards');
    assert.match(await cli('cluster', 'drive', '--dir', dir, '--node', 'node-4', '--state', 'failed'), /2 drive\(s\) now failed \(8, 9\)/);
    const started = Date.now();
    await waitFor('node-4 shards rebuilt', 30_000, async () => wholeParts(await fragments(dir, 6), gone, stripedParts));
    process.stdout.write(`# rebuilt ${lost} shards of the failed node-4 in ${Date.now() - started} ms\n`);
    await assertObjects();
  });
});
