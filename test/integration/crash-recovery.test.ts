// Crash recovery of the real CLI: `tessera server` is SIGKILLed in the middle
// of 32 concurrent PUTs, then restarted on the same data dir. Every PUT that
// was acknowledged must read back byte-identical, every key that exists must
// hold one whole body that was written to it (never half of one), the drives'
// tmp/ folders must be empty, and the fragment files on disk must be exactly
// k+m per striped object: nothing leaked, nothing lost. Repeated for several
// kill cycles on the same data dir, reusing keys so crashes also hit overwrites.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { bodyOf, driveDirsOf, fragmentFiles, freePort, killCliServer, makeTempDir, patternBytes, startCliServer, temporaryFiles, seededRandom as prng,
} from '../helpers/server.js';
import type { CliServer, TestCredentials } from '../helpers/server.js';

const credentials: TestCredentials = { accessKeyId: 'AKIDCRASH', secretAccessKey: 'crash/secret+key' };
const bucket = 'crash';
const KiB = 1024;
const MiB = 1024 * KiB;
/** CLI defaults: 6 drives, 4+2, bodies up to 64 KiB inline. */
const shardCount = 6;
const inlineBytesMax = 64 * KiB;
const putsPerCycle = 32;
const keyPoolSize = 44;
const cycleCount = 3;

function md5Etag(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

interface PlannedPut {
  readonly key: string;
  readonly body: Buffer;
}

function planPuts(random: () => number, cycle: number): PlannedPut[] {
  const pool = Array.from({ length: keyPoolSize }, (_, index) => `object-${String(index).padStart(2, '0')}`);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  // Distinct keys within a cycle (so "acknowledged" has one meaning); keys
  // repeat across cycles, so later crashes hit overwrites.
  return pool.slice(0, putsPerCycle).map((key, index) => {
    const inline = random() < 0.25;
    const sizeBytes = inline ? 1 * KiB + Math.floor(random() * 59 * KiB) : 200 * KiB + Math.floor(random() * (3 * MiB - 200 * KiB));
    return { key, body: patternBytes(sizeBytes, cycle * 1000 + index + 1) };
  });
}

async function listAll(client: S3Client): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const output = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...(token === undefined ? {} : { ContinuationToken: token }) }));
    for (const entry of output.Contents ?? []) sizes.set(entry.Key!, entry.Size!);
    if (output.IsTruncated !== true) return sizes;
    token = output.NextContinuationToken;
  }
  throw new Error('listing did not end');
}

describe('crash recovery: SIGKILL during concurrent PUTs', () => {
  let dataDir: string;
  let port: number;
  let server: CliServer | undefined;

  before(async () => {
    dataDir = await makeTempDir('crash');
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

  it(`${cycleCount} kill cycles: acknowledged PUTs survive, nothing is half-written, nothing leaks`, async (test) => {
    const seed = Number(process.env.TESSERA_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const context = `seed ${seed} (rerun with TESSERA_CRASH_SEED=${seed})`;
    server = await startCliServer(dataDir, port, credentials);
    await server.client.send(new CreateBucketCommand({ Bucket: bucket }));
    /** What each key held after the last verified restart (absent: never written or never survived). */
    const state = new Map<string, Buffer>();
    const driveDirs = driveDirsOf(dataDir, shardCount);
    let acknowledgedTotal = 0;
    let debrisTemporaryFiles = 0;
    let debrisFragmentFiles = 0;
    let recoveredFragmentFiles = 0;

    for (let cycle = 1; cycle <= cycleCount; cycle++) {
      const running: CliServer = server;
      const planned = planPuts(random, cycle);
      const killAfterMs = 300 + Math.floor(random() * 300);
      // On a fast box every PUT may finish within the timer; killing once a
      // random number of them are acknowledged makes sure the crash hits writes.
      const killAtAcknowledged = 4 + Math.floor(random() * (putsPerCycle - 8));
      const acknowledged = new Set<string>();
      const etags = new Map<string, string | undefined>();
      // Handlers attached at once: PUTs cut off by the kill reject while we wait.
      const puts = planned.map(({ key, body }) =>
        running.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })).then(
          (output) => {
            acknowledged.add(key);
            etags.set(key, output.ETag);
            if (acknowledged.size === killAtAcknowledged) running.child.kill('SIGKILL');
          },
          () => undefined,
        ),
      );
      await Promise.race([sleep(killAfterMs), running.exited]);
      await killCliServer(running);
      server = undefined;
      await Promise.all(puts);
      for (const { key, body } of planned) {
        if (acknowledged.has(key)) assert.equal(etags.get(key), md5Etag(body), `${context}: ETag of ${key}`);
      }
      acknowledgedTotal += acknowledged.size;
      // What the crash left for recovery to clean (reported, to show the sweep had work).
      debrisTemporaryFiles += (await temporaryFiles(driveDirs)).length;
      debrisFragmentFiles += (await fragmentFiles(driveDirs)).length;

      server = await startCliServer(dataDir, port, credentials);
      const listed = await listAll(server.client);
      for (const { key, body } of planned) {
        const before = state.get(key);
        const exists = listed.has(key);
        if (acknowledged.has(key)) {
          assert.ok(exists, `${context}, cycle ${cycle}: acknowledged PUT of ${key} (${body.length} bytes) is lost`);
        } else if (before !== undefined) {
          assert.ok(exists, `${context}, cycle ${cycle}: a failed overwrite of ${key} deleted the old object`);
        }
      }
      for (const [key, sizeBytes] of listed) {
        const candidates = [planned.find((put) => put.key === key)?.body, state.get(key)].filter((body) => body !== undefined);
        assert.ok(candidates.length > 0, `${context}, cycle ${cycle}: ${key} exists but was never written`);
        const output: GetObjectCommandOutput = await server.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = await bodyOf(output);
        assert.equal(bytes.length, sizeBytes, `${context}: listed size of ${key}`);
        assert.equal(output.ETag, md5Etag(bytes), `${context}: ETag of ${key}`);
        const wasAcknowledged = acknowledged.has(key);
        const expected = wasAcknowledged ? [planned.find((put) => put.key === key)!.body] : candidates;
        assert.ok(
          expected.some((body) => body.equals(bytes)),
          `${context}, cycle ${cycle}: ${key} reads back ${bytes.length} bytes matching no ${wasAcknowledged ? 'acknowledged ' : ''}body written to it`,
        );
        state.set(key, bytes);
      }
      for (const key of [...state.keys()]) if (!listed.has(key)) state.delete(key);

      assert.deepEqual(await temporaryFiles(driveDirs), [], `${context}, cycle ${cycle}: temp files left after restart`);
      const stripedCount = [...listed.values()].filter((sizeBytes) => sizeBytes > inlineBytesMax).length;
      const fragments = await fragmentFiles(driveDirs);
      recoveredFragmentFiles += fragments.length;
      assert.equal(
        fragments.length,
        shardCount * stripedCount,
        `${context}, cycle ${cycle}: ${fragments.length} fragment files for ${stripedCount} striped objects (want ${shardCount} each)`,
      );
    }
    // The kill timing is random: say how much of the claim was exercised.
    test.diagnostic(
      `${context}: ${acknowledgedTotal} of ${putsPerCycle * cycleCount} PUTs acknowledged before the kills; ` +
        `after the kills ${debrisTemporaryFiles} temp files and ${debrisFragmentFiles} fragment files, after recovery ${recoveredFragmentFiles} fragment files`,
    );
  });
});
