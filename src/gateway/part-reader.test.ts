// Part reads against an in-memory blob client whose drives can be made slow
// or broken: a slow data shard costs one hedge deadline, not its latency (the
// window is decoded from the other shards); too many slow shards to decode
// around wait for the direct read; without hedging a slow shard is waited for.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReedSolomonCoder } from '../erasure/reed-solomon.js';
import { NodeClock } from '../io/node/node-clock.js';
import type { PartRecord } from '../meta/records.js';
import type { BlobClient, FragmentWriter } from './clients.js';
import { readPartRange } from './part-reader.js';
import type { PartReadContext } from './part-reader.js';

const k = 4;
const m = 2;
const blockSizeBytes = 64;
const stripes = 3;
/** A well-formed version id (fragment ids are derived from it). */
const versionId = '0123456789abcdef0123456789ab';

/** Shard i lives on drive i; a drive may answer late or fail. */
class MemoryBlobs implements BlobClient {
  readonly shards: Buffer[][] = Array.from({ length: k + m }, () => []);
  readonly delayMs = new Map<number, number>();
  readonly broken = new Set<number>();
  reads = 0;

  createWriter(): Promise<FragmentWriter> {
    return Promise.reject(new Error('read-only'));
  }

  async readBlocks(driveId: number, _fragmentId: string, firstBlock: number, blockCount: number): Promise<Buffer[]> {
    this.reads++;
    const delay = this.delayMs.get(driveId) ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (this.broken.has(driveId)) throw new Error(`drive ${driveId} is broken`);
    return this.shards[driveId]!.slice(firstBlock, firstBlock + blockCount);
  }

  delete(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async *list(): AsyncIterable<string> {
    // Nothing stored by id here.
  }
}

async function makePart(): Promise<{ blobs: MemoryBlobs; part: PartRecord; bytes: Buffer; coder: ReedSolomonCoder }> {
  const coder = new ReedSolomonCoder(k, m);
  const bytes = Buffer.from(Array.from({ length: k * blockSizeBytes * stripes }, (_, index) => (index * 13 + 7) % 251));
  const blobs = new MemoryBlobs();
  for (let stripe = 0; stripe < stripes; stripe++) {
    const data = bytes.subarray(stripe * k * blockSizeBytes, (stripe + 1) * k * blockSizeBytes);
    const parity = await coder.encode(Buffer.from(data), blockSizeBytes);
    for (let shard = 0; shard < k; shard++) blobs.shards[shard]!.push(Buffer.from(data.subarray(shard * blockSizeBytes, (shard + 1) * blockSizeBytes)));
    parity.forEach((block, index) => blobs.shards[k + index]!.push(block));
  }
  const part: PartRecord = {
    partNumber: 1,
    sizeBytes: bytes.length,
    etag: '"x"',
    scheme: { k, m },
    blockSizeBytes,
    drives: Array.from({ length: k + m }, (_, shard) => shard),
    missingShards: [],
  };
  return { blobs, part, bytes, coder };
}

async function readAll(context: PartReadContext, part: PartRecord): Promise<{ bytes: Buffer; ms: number }> {
  const started = performance.now();
  const chunks: Uint8Array[] = [];
  for await (const chunk of readPartRange(context, part, 0, part.sizeBytes - 1)) chunks.push(chunk);
  return { bytes: Buffer.concat(chunks), ms: performance.now() - started };
}

describe('readPartRange', () => {
  it('hedged: a slow data shard costs one deadline; the window is decoded from the others', async () => {
    const { blobs, part, bytes, coder } = await makePart();
    blobs.delayMs.set(1, 1500);
    const context: PartReadContext = { blob: blobs, coder, versionId, onShardFailure: () => undefined, hedge: { clock: new NodeClock(), afterMs: 50 } };
    const { bytes: read, ms } = await readAll(context, part);
    assert.ok(read.equals(bytes));
    assert.ok(ms < 1000, `read took ${Math.round(ms)} ms with a 1500 ms shard`);
  });

  it('hedged: two slow shards (= m) are decoded around; three wait for the direct read', async () => {
    const { blobs, part, bytes, coder } = await makePart();
    const context: PartReadContext = { blob: blobs, coder, versionId, onShardFailure: () => undefined, hedge: { clock: new NodeClock(), afterMs: 30 } };
    blobs.delayMs.set(0, 800);
    blobs.delayMs.set(3, 800);
    const two = await readAll(context, part);
    assert.ok(two.bytes.equals(bytes));
    assert.ok(two.ms < 600, `two slow shards: ${Math.round(two.ms)} ms`);
    blobs.delayMs.set(2, 300);
    const three = await readAll(context, part);
    assert.ok(three.bytes.equals(bytes));
    assert.ok(three.ms >= 250, `three slow shards cannot be decoded around: ${Math.round(three.ms)} ms`);
  });

  it('hedged: a broken shard found by the direct read still decodes; a slow broken one too', async () => {
    const { blobs, part, bytes, coder } = await makePart();
    const failures: number[] = [];
    const context: PartReadContext = { blob: blobs, coder, versionId, onShardFailure: (failure) => failures.push(failure.shard), hedge: { clock: new NodeClock(), afterMs: 30 } };
    blobs.broken.add(2);
    assert.ok((await readAll(context, part)).bytes.equals(bytes));
    blobs.delayMs.set(2, 200);
    assert.ok((await readAll(context, part)).bytes.equals(bytes));
    assert.ok(failures.includes(2), 'the broken shard is reported for healing');
  });

  it('without hedging a slow data shard is waited for', async () => {
    const { blobs, part, bytes, coder } = await makePart();
    blobs.delayMs.set(1, 300);
    const context: PartReadContext = { blob: blobs, coder, versionId, onShardFailure: () => undefined };
    const { bytes: read, ms } = await readAll(context, part);
    assert.ok(read.equals(bytes));
    assert.ok(ms >= 280, `read took ${Math.round(ms)} ms`);
  });
});
