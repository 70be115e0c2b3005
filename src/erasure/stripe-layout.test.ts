// Stripe layout tests: a reference layout written straight from the spec (a
// cursor walking the object, one block per data shard per stripe) is checked
// against the layout functions, and range slices read from the reference
// blocks must reproduce the requested bytes without touching padding.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AssertionError } from '../stdx/assert.js';
import {
  blockDataBytes,
  blockOffsetInShardFileBytes,
  createStripeLayout,
  dataBlocksForRange,
  shardFileDataBytes,
  stripeBlockBytes,
  stripeCount,
  stripeDataBytes,
  stripeOffsetBytes,
  stripesForRange,
  type StripeLayout,
} from './stripe-layout.js';

interface ReferenceBlock {
  readonly bytes: Buffer; // block size, zero padded
  readonly dataBytes: number;
}

/** blocks[stripe][shard], laid out from the spec alone. */
function referenceLayout(object: Buffer, k: number, blockSizeBytes: number): ReferenceBlock[][] {
  const stripes: ReferenceBlock[][] = [];
  let cursor = 0;
  while (cursor < object.length) {
    const remaining = object.length - cursor;
    const blockBytes = remaining >= k * blockSizeBytes ? blockSizeBytes : Math.ceil(Math.ceil(remaining / k) / 8) * 8;
    const blocks: ReferenceBlock[] = [];
    for (let shard = 0; shard < k; shard++) {
      const start = Math.min(cursor + shard * blockBytes, object.length);
      const end = Math.min(cursor + (shard + 1) * blockBytes, object.length);
      const bytes = Buffer.alloc(blockBytes);
      object.copy(bytes, 0, start, end);
      blocks.push({ bytes, dataBytes: end - start });
    }
    stripes.push(blocks);
    cursor += Math.min(remaining, k * blockBytes);
  }
  return stripes;
}

const layoutArbitrary = fc
  .record({
    k: fc.integer({ min: 1, max: 24 }),
    m: fc.integer({ min: 0, max: 6 }),
    blockSizeBytes: fc.integer({ min: 1, max: 32 }).map((words) => words * 8),
    stripes: fc.integer({ min: 0, max: 4 }),
    extraBytes: fc.nat(),
  })
  .map(({ k, m, blockSizeBytes, stripes, extraBytes }) => {
    // Any size in [1, (stripes + 1) * k * blockSizeBytes]: exact multiples and ragged tails alike.
    const objectSizeBytes = 1 + ((stripes * k * blockSizeBytes + extraBytes) % ((stripes + 1) * k * blockSizeBytes));
    return createStripeLayout(objectSizeBytes, k, m, blockSizeBytes);
  });

const layoutAndRangeArbitrary = layoutArbitrary.chain((layout) =>
  fc
    .tuple(fc.nat({ max: layout.objectSizeBytes - 1 }), fc.nat({ max: layout.objectSizeBytes - 1 }))
    .map(([a, b]) => ({ layout, firstByte: Math.min(a, b), lastByte: Math.max(a, b) })),
);

function objectBytes(layout: StripeLayout): Buffer {
  const object = Buffer.alloc(layout.objectSizeBytes);
  for (let i = 0; i < object.length; i++) object[i] = (i * 131 + 7) % 251;
  return object;
}

describe('stripe layout', () => {
  it('matches the reference layout: counts, offsets, block sizes, data bytes', () => {
    fc.assert(
      fc.property(layoutArbitrary, (layout) => {
        const reference = referenceLayout(objectBytes(layout), layout.k, layout.blockSizeBytes);
        assert.equal(stripeCount(layout), reference.length);
        let offset = 0;
        let shardFileBytes = 0;
        reference.forEach((blocks, stripe) => {
          assert.equal(stripeOffsetBytes(layout, stripe), offset);
          assert.equal(blockOffsetInShardFileBytes(layout, stripe), shardFileBytes);
          assert.equal(stripeBlockBytes(layout, stripe), blocks[0]!.bytes.length);
          blocks.forEach((block, shard) => {
            assert.equal(blockDataBytes(layout, stripe, shard), block.dataBytes);
          });
          offset += stripeDataBytes(layout, stripe);
          shardFileBytes += stripeBlockBytes(layout, stripe);
        });
        assert.equal(offset, layout.objectSizeBytes);
        assert.equal(shardFileDataBytes(layout), shardFileBytes);
      }),
    );
  });

  it('stripes sum to the object size and blocks are positive multiples of 8', () => {
    fc.assert(
      fc.property(layoutArbitrary, (layout) => {
        let total = 0;
        for (let stripe = 0; stripe < stripeCount(layout); stripe++) {
          const blockBytes = stripeBlockBytes(layout, stripe);
          assert.ok(blockBytes > 0 && blockBytes % 8 === 0 && blockBytes <= layout.blockSizeBytes);
          assert.ok(stripeDataBytes(layout, stripe) <= layout.k * blockBytes);
          // Padding is less than one 8-byte word per shard plus the unused shards' blocks.
          assert.ok(layout.k * blockBytes - stripeDataBytes(layout, stripe) < layout.k * 8);
          if (stripe < stripeCount(layout) - 1) assert.equal(blockBytes, layout.blockSizeBytes);
          total += stripeDataBytes(layout, stripe);
        }
        assert.equal(total, layout.objectSizeBytes);
      }),
    );
  });

  it('range slices read from the reference blocks reproduce the range', () => {
    fc.assert(
      fc.property(layoutAndRangeArbitrary, ({ layout, firstByte, lastByte }) => {
        const object = objectBytes(layout);
        const reference = referenceLayout(object, layout.k, layout.blockSizeBytes);
        const parts = dataBlocksForRange(layout, firstByte, lastByte).map((slice) => {
          const block = reference[slice.stripe]![slice.shard]!;
          assert.ok(slice.lengthBytes > 0);
          assert.ok(slice.offsetInBlock + slice.lengthBytes <= block.dataBytes, 'slice reaches into padding');
          return block.bytes.subarray(slice.offsetInBlock, slice.offsetInBlock + slice.lengthBytes);
        });
        assert.deepEqual(Buffer.concat(parts), object.subarray(firstByte, lastByte + 1));
      }),
    );
  });

  it('range slices touch exactly the blocks holding bytes of the range, in order, once each', () => {
    fc.assert(
      fc.property(layoutAndRangeArbitrary, ({ layout, firstByte, lastByte }) => {
        const slices = dataBlocksForRange(layout, firstByte, lastByte);
        const touched = slices.map((slice) => `${slice.stripe}/${slice.shard}`);
        const needed: string[] = [];
        for (let stripe = 0; stripe < stripeCount(layout); stripe++) {
          const blockBytes = stripeBlockBytes(layout, stripe);
          for (let shard = 0; shard < layout.k; shard++) {
            const start = stripeOffsetBytes(layout, stripe) + shard * blockBytes;
            const last = start + blockDataBytes(layout, stripe, shard) - 1;
            if (start <= last && start <= lastByte && last >= firstByte) needed.push(`${stripe}/${shard}`);
          }
        }
        assert.deepEqual(touched, needed);
        const { firstStripe, lastStripe } = stripesForRange(layout, firstByte, lastByte);
        assert.equal(slices[0]!.stripe, firstStripe);
        assert.equal(slices.at(-1)!.stripe, lastStripe);
        for (const slice of slices) assert.ok(slice.shard < layout.k);
      }),
    );
  });

  it('short last stripe: 1 byte over 4+2 puts the byte in shard 0 and pads the rest', () => {
    const layout = createStripeLayout(1, 4, 2, 1024);
    assert.equal(stripeCount(layout), 1);
    assert.equal(stripeBlockBytes(layout, 0), 8);
    assert.equal(shardFileDataBytes(layout), 8);
    assert.deepEqual([0, 1, 2, 3].map((shard) => blockDataBytes(layout, 0, shard)), [1, 0, 0, 0]);
    assert.deepEqual(dataBlocksForRange(layout, 0, 0), [{ stripe: 0, shard: 0, offsetInBlock: 0, lengthBytes: 1 }]);
  });

  it('a range inside one block yields one slice', () => {
    const layout = createStripeLayout(10 * 4096 + 100, 4, 2, 1024);
    // Stripe 2 starts at 8192; shard 1 of it covers 9216..10239.
    assert.deepEqual(dataBlocksForRange(layout, 9300, 9400), [{ stripe: 2, shard: 1, offsetInBlock: 84, lengthBytes: 101 }]);
    // The tail: 100 bytes over 4 shards, block roundUp(25, 8) = 32.
    assert.equal(stripeBlockBytes(layout, 10), 32);
    assert.deepEqual(dataBlocksForRange(layout, 40960 + 90, 40960 + 99), [
      { stripe: 10, shard: 2, offsetInBlock: 26, lengthBytes: 6 },
      { stripe: 10, shard: 3, offsetInBlock: 0, lengthBytes: 4 },
    ]);
  });

  it('stays exact for a 5 GiB part with 1 MiB blocks (beyond 32-bit)', () => {
    const gib = 1024 ** 3;
    const layout = createStripeLayout(5 * gib + 3, 10, 4, 1024 * 1024);
    const fullStripes = Math.floor((5 * gib) / (10 * 1024 * 1024));
    assert.equal(stripeCount(layout), fullStripes + 1);
    const last = stripeCount(layout) - 1;
    assert.equal(stripeDataBytes(layout, last), 5 * gib + 3 - fullStripes * 10 * 1024 * 1024);
    const slices = dataBlocksForRange(layout, 5 * gib - 1, 5 * gib + 2);
    assert.equal(slices.reduce((total, slice) => total + slice.lengthBytes, 0), 4);
    assert.ok(slices.every((slice) => slice.stripe >= last - 1));
  });

  it('asserts on programming errors', () => {
    assert.throws(() => createStripeLayout(0, 4, 2, 1024), AssertionError);
    assert.throws(() => createStripeLayout(1, 0, 2, 1024), AssertionError);
    assert.throws(() => createStripeLayout(1, 25, 2, 1024), AssertionError);
    assert.throws(() => createStripeLayout(1, 4, 7, 1024), AssertionError);
    assert.throws(() => createStripeLayout(1, 4, -1, 1024), AssertionError);
    assert.throws(() => createStripeLayout(1, 4, 2, 0), AssertionError);
    assert.throws(() => createStripeLayout(1, 4, 2, 1020), AssertionError);
    assert.throws(() => createStripeLayout(1.5, 4, 2, 1024), AssertionError);
    const layout = createStripeLayout(100, 4, 2, 8);
    assert.throws(() => dataBlocksForRange(layout, 0, 100), AssertionError);
    assert.throws(() => dataBlocksForRange(layout, 5, 4), AssertionError);
    assert.throws(() => dataBlocksForRange(layout, -1, 4), AssertionError);
    assert.throws(() => stripeBlockBytes(layout, stripeCount(layout)), AssertionError);
    assert.throws(() => blockDataBytes(layout, 0, 4), AssertionError);
  });
});
