// Conditional writes under contention: many writers racing with If-None-Match: *
// (create-if-absent) or If-Match: <etag> (compare-and-swap) on one key.
// Exactly one wins each round, because the check runs inside the metadata
// state machine in the same op as the write, never as check-then-act. S3
// leases and leader election are built on this.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, CreateMultipartUploadCommand, CompleteMultipartUploadCommand, GetObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { bodyOf, drainGarbage, fragmentFiles, patternBytes, referencedFragmentCount, s3ErrorOf, startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const bucket = 'races';
const writers = 32;

describe('conditional writes under contention', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer('races');
    await t.client.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  after(async () => {
    await t.close();
  });

  /** Bodies differ per writer and per round: equal bytes would keep the ETag and let a second CAS pass. */
  const bodySeed = (round: number, writer: number): number => round * 1000 + writer + 1;

  async function race(
    key: string,
    sizeBytes: number,
    condition: { IfNoneMatch?: string; IfMatch?: string },
    round = 0,
  ): Promise<{ winners: number[]; losers: number }> {
    const attempts = await Promise.allSettled(
      Array.from({ length: writers }, (_, writer) =>
        t.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: patternBytes(sizeBytes, bodySeed(round, writer)), ...condition })),
      ),
    );
    const winners: number[] = [];
    let losers = 0;
    for (const [writer, attempt] of attempts.entries()) {
      if (attempt.status === 'fulfilled') {
        winners.push(writer);
        continue;
      }
      const failure = await s3ErrorOf(Promise.reject(attempt.reason as Error));
      assert.equal(failure.status, 412, `writer ${writer}: ${failure.code}`);
      assert.equal(failure.code, 'PreconditionFailed');
      losers++;
    }
    return { winners, losers };
  }

  for (const [label, sizeBytes] of [
    ['inline', 1000],
    ['striped', 300 * 1024],
  ] as const) {
    it(`If-None-Match: * with ${writers} concurrent ${label} creators: exactly one wins and its bytes are stored`, async () => {
      const key = `create-${label}`;
      const { winners, losers } = await race(key, sizeBytes, { IfNoneMatch: '*' });
      assert.equal(winners.length, 1);
      assert.equal(losers, writers - 1);
      const stored = await bodyOf(await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
      assert.ok(stored.equals(patternBytes(sizeBytes, bodySeed(0, winners[0]!))), 'the winner is what is stored');
    });

    it(`If-Match compare-and-swap with ${writers} concurrent ${label} writers: one wins per round, ten rounds`, async () => {
      const key = `swap-${label}`;
      let etag = (await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'generation 0' }))).ETag!;
      for (let round = 0; round < 10; round++) {
        const { winners } = await race(key, sizeBytes, { IfMatch: etag }, round + 1);
        assert.equal(winners.length, 1, `round ${round}`);
        const head = await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const stored = await bodyOf(head);
        assert.ok(stored.equals(patternBytes(sizeBytes, bodySeed(round + 1, winners[0]!))), `round ${round}: the winner is stored`);
        etag = head.ETag!;
      }
    });
  }

  it('CompleteMultipartUpload with If-None-Match: * loses to a racing PutObject that got there first', async () => {
    const key = 'multipart-create';
    const upload = await t.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const part = await t.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId, PartNumber: 1, Body: patternBytes(200 * 1024, 7) }));
    await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first', IfNoneMatch: '*' }));
    const failure = await s3ErrorOf(
      t.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: upload.UploadId,
          IfNoneMatch: '*',
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      ),
    );
    assert.equal(failure.status, 412);
    assert.equal((await bodyOf(await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: key })))).toString(), 'first');
  });

  it('losing writers leave no fragments behind', async () => {
    await drainGarbage(t.server);
    assert.equal((await fragmentFiles(t.server.driveDirs)).length, await referencedFragmentCount(t.client));
  });
});
