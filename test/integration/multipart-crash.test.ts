// Crash recovery of multipart uploads with the real CLI: each cycle uploads
// three striped parts, sends CompleteMultipartUpload (while another upload has
// a part in flight) and SIGKILLs `tessera server` a random few milliseconds
// later. After the restart the object either exists whole (byte-identical,
// MD5-of-MD5s ETag) and the upload is gone, or the object does not exist and
// the upload is still listed with its three parts and can be completed or
// aborted. A Complete that was acknowledged must have survived. The drives'
// tmp/ folders are empty and the fragment files on disk are exactly what the
// objects and the unfinished uploads reference: nothing leaked, nothing lost.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import {
  bodyOf,
  driveDirsOf,
  fragmentFiles,
  freePort,
  killCliServer,
  makeTempDir,
  patternBytes,
  referencedFragmentCount,
  startCliServer,
  temporaryFiles,
  seededRandom as prng,
} from '../helpers/server.js';
import type { CliServer, TestCredentials } from '../helpers/server.js';

const credentials: TestCredentials = { accessKeyId: 'AKIDMPCRASH', secretAccessKey: 'multipart/crash+key' };
const bucket = 'multipart-crash';
const KiB = 1024;
const MiB = 1024 * KiB;
/** CLI defaults: 6 drives, 4+2, 64 KiB inline, 5 MiB smallest part but the last. */
const shardCount = 6;
const cycleCount = 6;
/** The kill lands this many ms (at most) after Complete is sent. */
const killDelayMsMax = 25;

function md5(bytes: Uint8Array): Buffer {
  return createHash('md5').update(bytes).digest();
}

function multipartEtag(parts: readonly Uint8Array[]): string {
  return `"${md5(Buffer.concat(parts.map(md5))).toString('hex')}-${parts.length}"`;
}

async function uploadsOf(client: S3Client, key: string): Promise<string[]> {
  const output = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  return (output.Uploads ?? []).filter((upload) => upload.Key === key).map((upload) => upload.UploadId!);
}

async function objectExists(client: S3Client, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false;
    throw error;
  }
}

async function assertWhole(client: S3Client, key: string, parts: readonly Buffer[], context: string): Promise<void> {
  const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = await bodyOf(output);
  assert.equal(output.ETag, multipartEtag(parts), `${context}: ETag of ${key}`);
  assert.ok(bytes.equals(Buffer.concat(parts)), `${context}: ${key} reads back ${bytes.length} bytes that are not the uploaded body`);
}

describe('crash recovery: SIGKILL during CompleteMultipartUpload', () => {
  let dataDir: string;
  let port: number;
  let server: CliServer | undefined;

  before(async () => {
    dataDir = await makeTempDir('multipart-crash');
    port = await freePort();
  });

  after(async () => {
    if (server !== undefined) {
      server.child.kill('SIGTERM');
      await server.exited;
      server.client.destroy();
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it(`${cycleCount} kill cycles: the object is whole or the upload survives; no fragment leaks`, async (test) => {
    const seed = Number(process.env.TESSERA_MULTIPART_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const context = `seed ${seed} (rerun with TESSERA_MULTIPART_CRASH_SEED=${seed})`;
    const driveDirs = driveDirsOf(dataDir, shardCount);
    server = await startCliServer(dataDir, port, credentials);
    await server.client.send(new CreateBucketCommand({ Bucket: bucket }));
    /** Objects that exist, by key, with their part bodies. */
    const objects = new Map<string, Buffer[]>();
    const outcomes = { acknowledged: 0, wholeUnacknowledged: 0, uploadSurvived: 0, completedAfter: 0, abortedAfter: 0 };
    /** Fragment files right after each kill → after recovery (reported, to show the sweep had work). */
    const fragmentCounts: string[] = [];
    let temporaryAfterKill = 0;

    for (let cycle = 1; cycle <= cycleCount; cycle++) {
      const running: CliServer = server;
      const key = `object-${cycle}`;
      const parts = [patternBytes(5 * MiB, cycle * 10 + 1), patternBytes(5 * MiB, cycle * 10 + 2), patternBytes(200 * KiB + cycle, cycle * 10 + 3)];
      const uploadId = (await running.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId!;
      const completed: CompletedPart[] = [];
      for (const [index, body] of parts.entries()) {
        const output = await running.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: index + 1, Body: body }));
        completed.push({ PartNumber: index + 1, ETag: output.ETag! });
      }
      // Another upload has a part in flight when the kill lands (100 KiB to 1 MiB, so the kill
      // falls before, during or after its fragments are written): what it leaves must go too.
      const spareId = (await running.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `spare-${cycle}` }))).UploadId!;
      const spare = running.client
        .send(new UploadPartCommand({ Bucket: bucket, Key: `spare-${cycle}`, UploadId: spareId, PartNumber: 1, Body: patternBytes(100 * KiB + Math.floor(random() * 900 * KiB), cycle * 10 + 4) }))
        .then(() => undefined, () => undefined);
      let acknowledged = false;
      const completing = running.client
        .send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: completed } }))
        .then(
          (output) => {
            acknowledged = true;
            assert.equal(output.ETag, multipartEtag(parts), `${context}: acknowledged ETag`);
          },
          () => undefined,
        );
      await sleep(Math.floor(random() * killDelayMsMax));
      await killCliServer(running);
      server = undefined;
      await Promise.all([completing, spare]);
      const fragmentsAfterKill = (await fragmentFiles(driveDirs)).length;
      temporaryAfterKill += (await temporaryFiles(driveDirs)).length;

      server = await startCliServer(dataDir, port, credentials);
      const client = server.client;
      const where = `${context}, cycle ${cycle}`;
      assert.deepEqual(await temporaryFiles(driveDirs), [], `${where}: temp files left after restart`);
      const fragmentsOnDisk = (await fragmentFiles(driveDirs)).length;
      fragmentCounts.push(`${fragmentsAfterKill}→${fragmentsOnDisk}`);
      assert.equal(fragmentsOnDisk, await referencedFragmentCount(client, shardCount), `${where}: fragment files on disk vs referenced by metadata`);

      const exists = await objectExists(client, key);
      const uploads = await uploadsOf(client, key);
      if (acknowledged) assert.ok(exists, `${where}: an acknowledged Complete was lost`);
      if (exists) {
        assert.deepEqual(uploads, [], `${where}: the object exists and its upload is still listed`);
        await assertWhole(client, key, parts, where);
        objects.set(key, parts);
        if (acknowledged) outcomes.acknowledged++;
        else outcomes.wholeUnacknowledged++;
      } else {
        outcomes.uploadSurvived++;
        assert.deepEqual(uploads, [uploadId], `${where}: neither the object nor its upload survived`);
        const listed = await client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
        assert.deepEqual(
          listed.Parts?.map((part) => [part.PartNumber, part.ETag, part.Size]),
          completed.map((part, index) => [part.PartNumber, part.ETag, parts[index]!.length]),
          `${where}: the surviving upload lists its three parts`,
        );
        if (random() < 0.5) {
          const output = await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: completed } }));
          assert.equal(output.ETag, multipartEtag(parts));
          await assertWhole(client, key, parts, `${where}, completed after restart`);
          objects.set(key, parts);
          outcomes.completedAfter++;
        } else {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
          assert.deepEqual(await uploadsOf(client, key), []);
          assert.equal(await objectExists(client, key), false);
          outcomes.abortedAfter++;
        }
      }
      // The spare upload survived the crash (with or without its part): abort it.
      for (const id of await uploadsOf(client, `spare-${cycle}`)) {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: `spare-${cycle}`, UploadId: id }));
      }
      // Earlier objects are untouched.
      for (const [earlierKey, earlierParts] of objects) {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: earlierKey }));
        assert.equal(head.ETag, multipartEtag(earlierParts), `${where}: ${earlierKey} changed`);
      }
    }

    // A clean restart: recovery drains what the aborts queued; the count must still match.
    await killCliServer(server);
    server = await startCliServer(dataDir, port, credentials);
    const finalFragments = (await fragmentFiles(driveDirs)).length;
    assert.equal(finalFragments, await referencedFragmentCount(server.client, shardCount), `${context}: final fragment count`);
    assert.equal(finalFragments, objects.size * 3 * shardCount, `${context}: ${objects.size} objects of 3 striped parts`);
    for (const [key, parts] of objects) await assertWhole(server.client, key, parts, `${context}, final`);
    // The kill timing is random: say how much of the claim was exercised.
    test.diagnostic(`${context}: ${JSON.stringify(outcomes)}; temp files after the kills ${temporaryAfterKill}; fragment files after each kill → after recovery: ${fragmentCounts.join(', ')}`);
  });
});
