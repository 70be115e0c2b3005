// Stripe math for an erasure-coded object part: which bytes of the object live
// in which block of which shard file. Pure functions over a small value so the
// write path, the read path and the healer all agree by construction and the
// math can be property tested without I/O.
//
// A full stripe holds k * blockSizeBytes bytes; data shard i of stripe s is
// block s of shard file i and holds bytes [offset(s) + i * block(s), +block(s)).
// Only the last stripe may be short: its R bytes are split over the k data
// shards with block(s) = roundUp(ceil(R / k), 8), zero padded. Every stripe but
// the last has block(s) = blockSizeBytes, so block s starts at s *
// blockSizeBytes in every shard file.

import { assert } from '../stdx/assert.js';

export const dataShardCountMax = 24;
export const parityShardCountMax = 6;
export const shardCountMax = 32;
/** The native coder works on 64-bit words: every block is a multiple of this. */
export const blockAlignmentBytes = 8;

export interface StripeLayout {
  readonly k: number;
  readonly m: number;
  readonly blockSizeBytes: number;
  readonly objectSizeBytes: number;
}

/** A byte slice of one data block: shard < k, never reaching into padding. */
export interface BlockSlice {
  readonly stripe: number;
  readonly shard: number;
  readonly offsetInBlock: number;
  readonly lengthBytes: number;
}

export interface StripeRange {
  readonly firstStripe: number;
  readonly lastStripe: number;
}

export function createStripeLayout(
  objectSizeBytes: number,
  k: number,
  m: number,
  blockSizeBytes: number,
): StripeLayout {
  assert(Number.isSafeInteger(objectSizeBytes) && objectSizeBytes >= 1, `objectSizeBytes ${objectSizeBytes} must be an integer >= 1`);
  assert(Number.isInteger(k) && k >= 1 && k <= dataShardCountMax, `k ${k} must be in 1..${dataShardCountMax}`);
  assert(Number.isInteger(m) && m >= 0 && m <= parityShardCountMax, `m ${m} must be in 0..${parityShardCountMax}`);
  assert(k + m <= shardCountMax, `k + m = ${k + m} exceeds ${shardCountMax}`);
  assert(isBlockSize(blockSizeBytes), `blockSizeBytes ${blockSizeBytes} must be a positive multiple of ${blockAlignmentBytes}`);
  assert(Number.isSafeInteger(k * blockSizeBytes), `stripe of ${k} x ${blockSizeBytes} bytes is too large`);
  return { k, m, blockSizeBytes, objectSizeBytes };
}

export function isBlockSize(blockSizeBytes: number): boolean {
  return Number.isSafeInteger(blockSizeBytes) && blockSizeBytes > 0 && blockSizeBytes % blockAlignmentBytes === 0;
}

export function stripeCount(layout: StripeLayout): number {
  const count = Math.ceil(layout.objectSizeBytes / fullStripeDataBytes(layout));
  assert(count >= 1);
  return count;
}

/** Bytes of real object data in `stripe` (padding excluded). */
export function stripeDataBytes(layout: StripeLayout, stripe: number): number {
  assertStripe(layout, stripe);
  const remainingBytes = layout.objectSizeBytes - stripeOffsetBytes(layout, stripe);
  const dataBytes = Math.min(remainingBytes, fullStripeDataBytes(layout));
  assert(dataBytes > 0 && dataBytes <= layout.k * stripeBlockBytes(layout, stripe));
  return dataBytes;
}

/** The per-shard block size of `stripe`, padding included. */
export function stripeBlockBytes(layout: StripeLayout, stripe: number): number {
  assertStripe(layout, stripe);
  const remainingBytes = layout.objectSizeBytes - stripeOffsetBytes(layout, stripe);
  if (remainingBytes >= fullStripeDataBytes(layout)) return layout.blockSizeBytes;
  const blockBytes = roundUp(Math.ceil(remainingBytes / layout.k), blockAlignmentBytes);
  assert(isBlockSize(blockBytes) && blockBytes <= layout.blockSizeBytes);
  return blockBytes;
}

/** The object byte offset where `stripe` starts. */
export function stripeOffsetBytes(layout: StripeLayout, stripe: number): number {
  assertStripe(layout, stripe);
  return stripe * fullStripeDataBytes(layout);
}

/** Where block `stripe` starts inside every shard file (data and parity alike). */
export function blockOffsetInShardFileBytes(layout: StripeLayout, stripe: number): number {
  assertStripe(layout, stripe);
  return stripe * layout.blockSizeBytes;
}

/** Bytes of real object data in data block (stripe, shard); 0 for an all-padding block. */
export function blockDataBytes(layout: StripeLayout, stripe: number, shard: number): number {
  assert(Number.isInteger(shard) && shard >= 0 && shard < layout.k, `data shard ${shard} out of 0..${layout.k - 1}`);
  const blockBytes = stripeBlockBytes(layout, stripe);
  const dataBytes = stripeDataBytes(layout, stripe) - shard * blockBytes;
  return Math.max(0, Math.min(blockBytes, dataBytes));
}

/** Payload bytes in each shard file: the sum of the block sizes of all stripes. */
export function shardFileDataBytes(layout: StripeLayout): number {
  const lastStripe = stripeCount(layout) - 1;
  const bytes = blockOffsetInShardFileBytes(layout, lastStripe) + stripeBlockBytes(layout, lastStripe);
  assert(bytes * layout.k >= layout.objectSizeBytes);
  return bytes;
}

export function stripesForRange(layout: StripeLayout, firstByte: number, lastByteInclusive: number): StripeRange {
  assertRange(layout, firstByte, lastByteInclusive);
  const firstStripe = Math.floor(firstByte / fullStripeDataBytes(layout));
  const lastStripe = Math.floor(lastByteInclusive / fullStripeDataBytes(layout));
  assert(firstStripe <= lastStripe && lastStripe < stripeCount(layout));
  return { firstStripe, lastStripe };
}

/**
 * The data-block slices holding object bytes [firstByte, lastByteInclusive], in
 * object order: each touched block appears once and no slice covers padding.
 */
export function dataBlocksForRange(layout: StripeLayout, firstByte: number, lastByteInclusive: number): BlockSlice[] {
  const { firstStripe, lastStripe } = stripesForRange(layout, firstByte, lastByteInclusive);
  const slices: BlockSlice[] = [];
  for (let stripe = firstStripe; stripe <= lastStripe; stripe++) {
    appendStripeSlices(layout, stripe, firstByte, lastByteInclusive, slices);
  }
  assert(slices.length >= 1 && slices.length <= (lastStripe - firstStripe + 1) * layout.k);
  assert(sumLengths(slices) === lastByteInclusive - firstByte + 1);
  return slices;
}

function appendStripeSlices(
  layout: StripeLayout,
  stripe: number,
  firstByte: number,
  lastByteInclusive: number,
  slices: BlockSlice[],
): void {
  const stripeStart = stripeOffsetBytes(layout, stripe);
  const stripeLast = stripeStart + stripeDataBytes(layout, stripe) - 1;
  const blockBytes = stripeBlockBytes(layout, stripe);
  const rangeStart = Math.max(firstByte, stripeStart);
  const rangeLast = Math.min(lastByteInclusive, stripeLast);
  assert(rangeStart <= rangeLast);
  const firstShard = Math.floor((rangeStart - stripeStart) / blockBytes);
  const lastShard = Math.floor((rangeLast - stripeStart) / blockBytes);
  assert(firstShard <= lastShard && lastShard < layout.k);
  for (let shard = firstShard; shard <= lastShard; shard++) {
    const blockStart = stripeStart + shard * blockBytes;
    const sliceStart = Math.max(rangeStart, blockStart);
    const sliceLast = Math.min(rangeLast, blockStart + blockBytes - 1);
    const offsetInBlock = sliceStart - blockStart;
    const lengthBytes = sliceLast - sliceStart + 1;
    // rangeLast <= stripeLast, so the slice ends on real data, never padding.
    assert(lengthBytes > 0 && offsetInBlock + lengthBytes <= blockDataBytes(layout, stripe, shard));
    slices.push({ stripe, shard, offsetInBlock, lengthBytes });
  }
}

function fullStripeDataBytes(layout: StripeLayout): number {
  return layout.k * layout.blockSizeBytes;
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

function sumLengths(slices: readonly BlockSlice[]): number {
  let total = 0;
  for (const slice of slices) total += slice.lengthBytes;
  return total;
}

function assertStripe(layout: StripeLayout, stripe: number): void {
  const count = Math.ceil(layout.objectSizeBytes / fullStripeDataBytes(layout));
  assert(Number.isInteger(stripe) && stripe >= 0 && stripe < count, `stripe ${stripe} out of 0..${count - 1}`);
}

function assertRange(layout: StripeLayout, firstByte: number, lastByteInclusive: number): void {
  assert(
    Number.isSafeInteger(firstByte) && Number.isSafeInteger(lastByteInclusive) &&
      firstByte >= 0 && firstByte <= lastByteInclusive && lastByteInclusive < layout.objectSizeBytes,
    `range ${firstByte}-${lastByteInclusive} outside object of ${layout.objectSizeBytes} bytes`,
  );
}
