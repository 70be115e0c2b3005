// Reads a byte range of one erasure-coded part. Only the data blocks the range
// needs are read (a 1-byte range touches one block of one shard). Reads go in
// windows of a few stripes, the next window fetched while the current one is
// consumed. If any data shard of a window is missing or corrupt, the window is
// re-read from every other shard and decoded; failures are reported to the
// healer hook. Every block is checksum-verified by the blob store first.
// Hedged reads: when the data shards of a window have not all answered within
// a deadline, the other shards are read too and the window decoded without the
// slow ones; whichever finishes first is used (a slow drive or node costs one
// deadline, not its whole latency).

import type { ReedSolomonCoder } from '../erasure/reed-solomon.js';
import type { Clock } from '../io/clock.js';
import { createStripeLayout, dataBlocksForRange, stripeBlockBytes } from '../erasure/stripe-layout.js';
import type { BlockSlice, StripeLayout } from '../erasure/stripe-layout.js';
import { fragmentOwnerOf } from '../meta/records.js';
import type { PartRecord } from '../meta/records.js';
import { assert } from '../stdx/assert.js';
import type { BlobClient } from './clients.js';
import { fragmentId } from './ids.js';

export const windowStripesMax = 4;

export interface ShardFailure {
  readonly versionId: string;
  readonly partNumber: number;
  readonly shard: number;
  readonly driveId: number;
  readonly error: unknown;
}

export interface PartReadContext {
  readonly blob: BlobClient;
  readonly coder: ReedSolomonCoder;
  readonly versionId: string;
  readonly onShardFailure: (failure: ShardFailure) => void;
  /** Hedge a window's data-shard reads after `afterMs` (off when absent). */
  readonly hedge?: { readonly clock: Clock; readonly afterMs: number };
}

type Window = { readonly slices: BlockSlice[]; readonly firstStripe: number; readonly lastStripe: number };

function windows(slices: BlockSlice[]): Window[] {
  const result: Window[] = [];
  for (const slice of slices) {
    const current = result.at(-1);
    if (current !== undefined && slice.stripe < current.firstStripe + windowStripesMax) {
      current.slices.push(slice);
      (current as { lastStripe: number }).lastStripe = slice.stripe;
    } else {
      result.push({ slices: [slice], firstStripe: slice.stripe, lastStripe: slice.stripe });
    }
  }
  return result;
}

/** Yields bytes [firstByte, lastByteInclusive] of the part, in order. */
export async function* readPartRange(
  context: PartReadContext,
  part: PartRecord,
  firstByte: number,
  lastByteInclusive: number,
): AsyncGenerator<Uint8Array> {
  if (part.inline !== undefined) {
    yield part.inline.subarray(firstByte, lastByteInclusive + 1);
    return;
  }
  const layout = createStripeLayout(part.sizeBytes, part.scheme.k, part.scheme.m, part.blockSizeBytes);
  const plan = windows(dataBlocksForRange(layout, firstByte, lastByteInclusive));
  const missing = new Set(part.missingShards);
  let next = plan.length > 0 ? readWindow(context, part, layout, plan[0]!, missing) : undefined;
  for (let index = 0; index < plan.length; index++) {
    const blocks = await next!;
    next = index + 1 < plan.length ? readWindow(context, part, layout, plan[index + 1]!, missing) : undefined;
    // Keep a prefetch failure from being reported as unhandled before it is awaited.
    next?.catch(() => undefined);
    for (const slice of plan[index]!.slices) {
      const block = blocks.get(blockKey(slice.stripe, slice.shard));
      assert(block !== undefined, `block ${slice.stripe}/${slice.shard} was read`);
      yield block.subarray(slice.offsetInBlock, slice.offsetInBlock + slice.lengthBytes);
    }
  }
}

function blockKey(stripe: number, shard: number): string {
  return `${stripe}/${shard}`;
}

/** Reads one window: the needed data blocks, or, on any failure, a decode. */
async function readWindow(
  context: PartReadContext,
  part: PartRecord,
  layout: StripeLayout,
  window: Window,
  missing: Set<number>,
): Promise<Map<string, Buffer>> {
  const shards = [...new Set(window.slices.map((slice) => slice.shard))];
  if (shards.some((shard) => missing.has(shard))) return decodeWindow(context, part, layout, window, missing);
  const hedge = context.hedge;
  if (hedge !== undefined && layout.m > 0) return readHedged(context, part, layout, window, shards, missing, hedge);
  return directOrDecode(context, part, layout, window, missing, readShards(context, part, window, shards));
}

type ShardsRead = { blocks: Map<string, Buffer>; failed: number[] };

/** The direct read's blocks, or, if any shard failed, a decode that knows every failure. */
async function directOrDecode(
  context: PartReadContext,
  part: PartRecord,
  layout: StripeLayout,
  window: Window,
  missing: Set<number>,
  direct: Promise<ShardsRead>,
): Promise<Map<string, Buffer>> {
  const result = await direct;
  if (result.failed.length === 0) return result.blocks;
  for (const shard of result.failed) missing.add(shard);
  return decodeWindow(context, part, layout, window, missing);
}

/**
 * The data shards are read; if they have not all answered after the deadline,
 * the window is also decoded without the slow ones. The first complete answer
 * wins; a failed direct read waits for the decode (or starts one).
 */
async function readHedged(
  context: PartReadContext,
  part: PartRecord,
  layout: StripeLayout,
  window: Window,
  shards: readonly number[],
  missing: Set<number>,
  hedge: { readonly clock: Clock; readonly afterMs: number },
): Promise<Map<string, Buffer>> {
  const settled = new Set<number>();
  const direct = readShards(context, part, window, shards, (shard) => settled.add(shard));
  const late = await Promise.race([direct.then(() => false), hedge.clock.sleep(hedge.afterMs).then(() => true)]);
  const without = new Set([...missing, ...shards.filter((shard) => !settled.has(shard))]);
  // In time, or too many slow shards to decode around them: the direct read decides.
  if (!late || without.size > layout.m) return directOrDecode(context, part, layout, window, missing, direct);
  const decoded = decodeWindow(context, part, layout, window, without);
  const directDone = direct.then((result) => (result.failed.length === 0 ? result.blocks : Promise.reject(new Error('direct read failed'))));
  try {
    return await Promise.any([directDone, decoded]);
  } catch {
    // Both failed: a decode that knows every failure is the last resort.
    return directOrDecode(context, part, layout, window, missing, direct);
  }
}

async function readShards(
  context: PartReadContext,
  part: PartRecord,
  window: Window,
  shards: readonly number[],
  onSettled?: (shard: number) => void,
): Promise<ShardsRead> {
  const blocks = new Map<string, Buffer>();
  const failed: number[] = [];
  const count = window.lastStripe - window.firstStripe + 1;
  await Promise.all(
    shards.map(async (shard) => {
      const driveId = part.drives[shard]!;
      try {
        const owner = fragmentOwnerOf(context.versionId, part);
        const read = await context.blob.readBlocks(driveId, fragmentId(owner, part.partNumber, shard), window.firstStripe, count);
        assert(read.length === count, `read ${read.length} of ${count} blocks`);
        read.forEach((block, index) => blocks.set(blockKey(window.firstStripe + index, shard), block));
      } catch (error) {
        failed.push(shard);
        context.onShardFailure({ versionId: context.versionId, partNumber: part.partNumber, shard, driveId, error });
      } finally {
        onSettled?.(shard);
      }
    }),
  );
  return { blocks, failed };
}

async function decodeWindow(
  context: PartReadContext,
  part: PartRecord,
  layout: StripeLayout,
  window: Window,
  missing: Set<number>,
): Promise<Map<string, Buffer>> {
  const width = layout.k + layout.m;
  const candidates = Array.from({ length: width }, (_, shard) => shard).filter((shard) => !missing.has(shard));
  const read = await readShards(context, part, window, candidates);
  for (const shard of read.failed) missing.add(shard);
  const blocks = new Map<string, Buffer>();
  for (let stripe = window.firstStripe; stripe <= window.lastStripe; stripe++) {
    const present = Array.from({ length: width }, (_, shard) => read.blocks.get(blockKey(stripe, shard)));
    const data = await context.coder.reconstruct(present, stripeBlockBytes(layout, stripe));
    assert(data.length === layout.k, 'reconstruct returns k data blocks');
    data.forEach((block, shard) => blocks.set(blockKey(stripe, shard), block));
  }
  return blocks;
}
