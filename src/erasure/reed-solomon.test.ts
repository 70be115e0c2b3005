// Reed-Solomon coder tests: round trips with erased shards (random schemes and
// exhaustive erasure patterns for 4+2 and 10+4), the too-few-shards rejection,
// and the assertions that keep bad arguments away from the native addon.
// Corrupted (present but wrong) shards are out of scope: checksums catch those.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { AssertionError } from '../stdx/assert.js';
import { CoderCache, ReedSolomonCoder, TooFewShardsError } from './reed-solomon.js';

function patternBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

async function encodeShards(coder: ReedSolomonCoder, data: Buffer, blockSizeBytes: number): Promise<Buffer[]> {
  const parity = await coder.encode(data, blockSizeBytes);
  assert.equal(parity.length, coder.m);
  for (const block of parity) assert.equal(block.length, blockSizeBytes);
  const dataBlocks = [];
  for (let i = 0; i < coder.k; i++) dataBlocks.push(data.subarray(i * blockSizeBytes, (i + 1) * blockSizeBytes));
  return [...dataBlocks, ...parity];
}

async function assertRoundTrip(
  coder: ReedSolomonCoder,
  shards: readonly Buffer[],
  erased: ReadonlySet<number>,
  blockSizeBytes: number,
): Promise<void> {
  const given = shards.map((shard, index) => (erased.has(index) ? undefined : shard));
  const data = await coder.reconstruct(given, blockSizeBytes);
  assert.equal(data.length, coder.k);
  for (let i = 0; i < coder.k; i++) {
    assert.deepEqual(data[i], shards[i], `data shard ${i} with ${[...erased].join(',')} erased`);
    if (!erased.has(i)) assert.equal(data[i], given[i], 'a present data block is returned as-is');
  }
}

/** Every subset of 0..n-1 with exactly `size` members. */
function subsets(n: number, size: number): number[][] {
  const result: number[][] = [];
  for (let bits = 0; bits < 1 << n; bits++) {
    const members = [];
    for (let i = 0; i < n; i++) if (bits & (1 << i)) members.push(i);
    if (members.length === size) result.push(members);
  }
  return result;
}

describe('ReedSolomonCoder', () => {
  it('round trips random k+m with any m (or fewer) shards erased', async () => {
    const schemeArbitrary = fc
      .record({
        k: fc.integer({ min: 1, max: 10 }),
        m: fc.integer({ min: 0, max: 4 }),
        blockSizeBytes: fc.integer({ min: 1, max: 128 }).map((words) => words * 8),
        seed: fc.integer({ min: 1, max: 0x7fffffff }),
      })
      .chain((scheme) =>
        fc.record({
          scheme: fc.constant(scheme),
          erased: fc.uniqueArray(fc.nat({ max: scheme.k + scheme.m - 1 }), { maxLength: scheme.m }),
        }),
      );
    await fc.assert(
      fc.asyncProperty(schemeArbitrary, async ({ scheme, erased }) => {
        const { k, m, blockSizeBytes, seed } = scheme;
        const coder = new ReedSolomonCoder(k, m);
        const shards = await encodeShards(coder, patternBytes(k * blockSizeBytes, seed), blockSizeBytes);
        await assertRoundTrip(coder, shards, new Set(erased), blockSizeBytes);
      }),
      { numRuns: 300 },
    );
  });

  it('4+2: every pattern of up to 2 erasures, 64 KiB blocks', async () => {
    const blockSizeBytes = 64 * 1024;
    const coder = new ReedSolomonCoder(4, 2);
    const shards = await encodeShards(coder, patternBytes(4 * blockSizeBytes, 42), blockSizeBytes);
    for (const size of [0, 1, 2]) {
      for (const erased of subsets(6, size)) await assertRoundTrip(coder, shards, new Set(erased), blockSizeBytes);
    }
  });

  it('10+4: every pattern of exactly 4 erasures', async () => {
    const blockSizeBytes = 1024;
    const coder = new ReedSolomonCoder(10, 4);
    const shards = await encodeShards(coder, patternBytes(10 * blockSizeBytes, 7), blockSizeBytes);
    const patterns = subsets(14, 4);
    assert.equal(patterns.length, 1001);
    for (const erased of patterns) await assertRoundTrip(coder, shards, new Set(erased), blockSizeBytes);
  });

  it('10+4: 256 KiB blocks, four data shards lost', async () => {
    const blockSizeBytes = 256 * 1024;
    const coder = new ReedSolomonCoder(10, 4);
    const shards = await encodeShards(coder, patternBytes(10 * blockSizeBytes, 99), blockSizeBytes);
    await assertRoundTrip(coder, shards, new Set([0, 3, 7, 9]), blockSizeBytes);
  });

  it('parity is a pure function of the data', async () => {
    const coder = new ReedSolomonCoder(6, 3);
    const data = patternBytes(6 * 4096, 5);
    const first = await coder.encode(data, 4096);
    const second = await new ReedSolomonCoder(6, 3).encode(Buffer.from(data), 4096);
    assert.deepEqual(first, second);
  });

  it('m = 0: encode gives no parity; reconstruct needs every data shard', async () => {
    const coder = new ReedSolomonCoder(3, 0);
    const data = patternBytes(3 * 16, 3);
    assert.deepEqual(await coder.encode(data, 16), []);
    const shards = [data.subarray(0, 16), data.subarray(16, 32), data.subarray(32, 48)];
    const rebuilt = await coder.reconstruct(shards, 16);
    assert.ok(rebuilt.every((block, index) => block === shards[index]));
    await assert.rejects(coder.reconstruct([shards[0], undefined, shards[2]], 16), TooFewShardsError);
  });

  it('rejects with the present and needed counts when fewer than k shards remain', async () => {
    const coder = new ReedSolomonCoder(4, 2);
    const shards = await encodeShards(coder, patternBytes(4 * 64, 11), 64);
    const given = [shards[0], undefined, undefined, shards[3], undefined, shards[5]];
    await assert.rejects(coder.reconstruct(given, 64), (error: unknown) => {
      assert.ok(error instanceof TooFewShardsError);
      assert.equal(error.presentCount, 3);
      assert.equal(error.neededCount, 4);
      assert.match(error.message, /3 shards present, 4 needed/);
      return true;
    });
  });

  it('asserts on bad schemes, block sizes and shard shapes before reaching the addon', () => {
    assert.throws(() => new ReedSolomonCoder(0, 2), AssertionError);
    assert.throws(() => new ReedSolomonCoder(25, 2), AssertionError);
    assert.throws(() => new ReedSolomonCoder(4, 7), AssertionError);
    assert.throws(() => new ReedSolomonCoder(4, -1), AssertionError);
    const coder = new ReedSolomonCoder(4, 2);
    assert.throws(() => coder.encode(Buffer.alloc(0), 0), AssertionError);
    assert.throws(() => coder.encode(Buffer.alloc(4 * 12), 12), AssertionError);
    assert.throws(() => coder.encode(Buffer.alloc(4 * 8), 16), AssertionError);
    assert.throws(() => coder.encode(Buffer.alloc(4 * 8), -8), AssertionError);
    assert.throws(() => coder.encode(Buffer.alloc(4 * 8), 8.5), AssertionError);
    const block = Buffer.alloc(8);
    assert.throws(() => coder.reconstruct([block, block, block, block, block, block], 0), AssertionError);
    assert.throws(() => coder.reconstruct([block, block, block, block, block, block], 12), AssertionError);
    assert.throws(() => coder.reconstruct([block, block, block, block, block], 8), AssertionError);
    assert.throws(() => coder.reconstruct([block, block, block, Buffer.alloc(16), undefined, block], 8), AssertionError);
  });

  it('the addon writes every parity byte (why encode may use allocUnsafe): every k+m, garbage-filled parity', async () => {
    interface Native {
      create(k: number, m: number): Buffer;
      encode(...args: [Buffer, number, number, Buffer, number, number, Buffer, number, number, (error?: Error) => void]): void;
    }
    const native = createRequire(import.meta.url)('@ronomon/reed-solomon') as Native;
    const parityFilledWith = (k: number, m: number, data: Buffer, blockSizeBytes: number, fill: number): Promise<Buffer> => {
      const parity = Buffer.alloc(m * blockSizeBytes, fill);
      const sources = (1 << k) - 1;
      const targets = ((1 << m) - 1) << k;
      return new Promise((resolve, reject) => {
        native.encode(native.create(k, m), sources, targets, data, 0, data.length, parity, 0, parity.length, (error) => {
          if (error === undefined) resolve(parity);
          else reject(error);
        });
      });
    };
    const cases: [number, number, number][] = [];
    for (let k = 1; k <= 24; k++) for (let m = 1; m <= 6; m++) cases.push([k, m, 8 * (1 + ((k * 7 + m) % 40))]);
    // Large blocks, where the addon splits each shard into cache-sized chunks.
    cases.push([4, 2, 256 * 1024], [10, 4, 256 * 1024], [24, 6, 64 * 1024], [3, 1, 1024 * 1024 + 8]);
    for (const [k, m, blockSizeBytes] of cases) {
      const data = patternBytes(k * blockSizeBytes, k * 31 + m);
      const zeros = await parityFilledWith(k, m, data, blockSizeBytes, 0x00);
      const ones = await parityFilledWith(k, m, data, blockSizeBytes, 0xff);
      const pattern = await parityFilledWith(k, m, data, blockSizeBytes, 0x5a);
      assert.ok(zeros.equals(ones) && zeros.equals(pattern), `${k}+${m}, ${blockSizeBytes}-byte blocks: parity depends on what the buffer held`);
      assert.deepEqual(Buffer.concat(await new ReedSolomonCoder(k, m).encode(data, blockSizeBytes)), zeros);
    }
  });
});

describe('CoderCache', () => {
  it('makes one coder per k+m and hands the same one back', () => {
    const cache = new CoderCache();
    const first = cache.for({ k: 4, m: 2 });
    assert.equal(cache.for({ k: 4, m: 2 }), first);
    const other = cache.for({ k: 2, m: 1 });
    assert.notEqual(other, first);
    assert.deepEqual([other.k, other.m], [2, 1]);
  });
});
