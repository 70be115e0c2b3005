// Reed-Solomon coder: a thin promise wrapper over the native
// @ronomon/reed-solomon addon, which codes in the libuv threadpool. The addon
// aborts the whole process (C assert) on a zero-length buffer and rejects
// blocks that are not a multiple of 8 bytes, so every argument is asserted here
// before the call; nothing that reaches the addon can crash it.
//
// The addon wants all data blocks back to back in one buffer and all parity
// blocks back to back in another. encode() takes the data in that shape, so it
// copies nothing; reconstruct() must copy the present blocks into that shape
// (the one copy the API forces) and returns rebuilt blocks as views into it.
// Whatever buffer is handed in is read by a worker thread until the promise
// settles: the caller must not modify it meanwhile.

import { createRequire } from 'node:module';
import { assert } from '../stdx/assert.js';
import { blockAlignmentBytes, dataShardCountMax, parityShardCountMax } from './stripe-layout.js';

/** Keeps k * blockSizeBytes inside the addon's uint32 sizes (24 * 128 MiB = 3 GiB). */
export const blockSizeBytesMax = 128 * 1024 * 1024;

/** The subset of the addon's API used here (it ships no type definitions). */
interface NativeReedSolomon {
  readonly MAX_K: number;
  readonly MAX_M: number;
  create(k: number, m: number): Buffer;
  encode(
    context: Buffer,
    sources: number,
    targets: number,
    buffer: Buffer,
    bufferOffset: number,
    bufferSize: number,
    parity: Buffer,
    parityOffset: number,
    paritySize: number,
    callback: (error?: Error) => void,
  ): void;
}

const native = createRequire(import.meta.url)('@ronomon/reed-solomon') as NativeReedSolomon;
assert(native.MAX_K === dataShardCountMax && native.MAX_M === parityShardCountMax, 'addon limits changed');

/** Expected outcome, not a bug: too many shards are lost or unreadable. */
export class TooFewShardsError extends Error {
  override readonly name = 'TooFewShardsError';
  readonly code = 'too_few_shards';
  constructor(
    readonly presentCount: number,
    readonly neededCount: number,
  ) {
    super(`Cannot reconstruct: ${presentCount} shards present, ${neededCount} needed`);
  }
}

export class ReedSolomonCoder {
  readonly k: number;
  readonly m: number;
  /** The addon's encoding context; undefined when m = 0 (the addon needs m >= 1). */
  private readonly context: Buffer | undefined;

  constructor(k: number, m: number) {
    assert(Number.isInteger(k) && k >= 1 && k <= dataShardCountMax, `k ${k} must be in 1..${dataShardCountMax}`);
    assert(Number.isInteger(m) && m >= 0 && m <= parityShardCountMax, `m ${m} must be in 0..${parityShardCountMax}`);
    this.k = k;
    this.m = m;
    this.context = m === 0 ? undefined : native.create(k, m);
  }

  /** m parity blocks for k data blocks laid back to back in `data`. */
  encode(data: Buffer, blockSizeBytes: number): Promise<Buffer[]> {
    this.assertBlockSize(blockSizeBytes);
    assert(data.length === this.k * blockSizeBytes, `data is ${data.length} bytes, expected ${this.k} x ${blockSizeBytes}`);
    if (this.m === 0) return Promise.resolve([]);
    // Not zeroed: with every data shard a source, the addon's dot() starts each
    // w-chunk of every parity shard with a memcpy (every row of a nonzero GF
    // element's bit matrix has a 1) and its chunks tile the shard exactly, so
    // every parity byte is written (binding.c). reed-solomon.test.ts checks
    // this for every k+m the addon supports, on garbage-filled buffers.
    const parity = Buffer.allocUnsafe(this.m * blockSizeBytes);
    const sources = bitRange(0, this.k);
    const targets = bitRange(this.k, this.k + this.m);
    return this.runNative(sources, targets, data, parity).then(() => {
      const blocks = splitBlocks(parity, this.m, blockSizeBytes);
      assert(blocks.length === this.m);
      return blocks;
    });
  }

  /**
   * All k data blocks, given k + m shards with undefined for missing ones.
   * Present data blocks are returned as they are; missing ones are rebuilt.
   * Rejects with TooFewShardsError when fewer than k shards are present.
   */
  reconstruct(shards: ReadonlyArray<Buffer | undefined>, blockSizeBytes: number): Promise<Buffer[]> {
    this.assertBlockSize(blockSizeBytes);
    assert(shards.length === this.k + this.m, `${shards.length} shards given, expected ${this.k}+${this.m}`);
    let presentCount = 0;
    for (const [index, shard] of shards.entries()) {
      if (shard === undefined) continue;
      assert(shard.length === blockSizeBytes, `shard ${index} is ${shard.length} bytes, expected ${blockSizeBytes}`);
      presentCount++;
    }
    if (presentCount < this.k) return Promise.reject(new TooFewShardsError(presentCount, this.k));
    const dataShards = shards.slice(0, this.k);
    if (dataShards.every((shard) => shard !== undefined)) return Promise.resolve(dataShards);
    return this.rebuildData(shards, blockSizeBytes);
  }

  private rebuildData(shards: ReadonlyArray<Buffer | undefined>, blockSizeBytes: number): Promise<Buffer[]> {
    const data = Buffer.alloc(this.k * blockSizeBytes);
    const parity = Buffer.alloc(this.m * blockSizeBytes);
    let sources = 0;
    let targets = 0;
    for (const [index, shard] of shards.entries()) {
      if (shard === undefined) {
        // Missing parity is neither source nor target: the addon rebuilds it anyway.
        if (index < this.k) targets |= 1 << index;
        continue;
      }
      // Every present shard is a source: a present parity block the addon may use
      // costs one copy, where leaving it out would make the addon re-encode it.
      sources |= 1 << index;
      if (index < this.k) shard.copy(data, index * blockSizeBytes);
      else shard.copy(parity, (index - this.k) * blockSizeBytes);
    }
    assert(targets !== 0 && bitCount(targets) <= this.m && (sources & targets) === 0);
    return this.runNative(sources, targets, data, parity).then(() => {
      const rebuilt = splitBlocks(data, this.k, blockSizeBytes);
      const blocks = rebuilt.map((block, index) => shards[index] ?? block);
      assert(blocks.length === this.k);
      return blocks;
    });
  }

  private runNative(sources: number, targets: number, data: Buffer, parity: Buffer): Promise<void> {
    const context = this.context;
    assert(context !== undefined, 'the addon is only called when m >= 1');
    // Zero-length buffers abort the process inside the addon.
    const blockSizeBytes = data.length / this.k;
    this.assertBlockSize(blockSizeBytes);
    assert(data.length > 0 && parity.length === this.m * blockSizeBytes);
    assert(bitCount(sources) >= this.k && bitCount(targets) >= 1 && bitCount(targets) <= this.m);
    return new Promise((resolve, reject) => {
      native.encode(context, sources, targets, data, 0, data.length, parity, 0, parity.length, (error) => {
        if (error === undefined) resolve();
        else reject(error);
      });
    });
  }

  private assertBlockSize(blockSizeBytes: number): void {
    assert(
      Number.isInteger(blockSizeBytes) && blockSizeBytes > 0 && blockSizeBytes <= blockSizeBytesMax &&
        blockSizeBytes % blockAlignmentBytes === 0,
      `blockSizeBytes ${blockSizeBytes} must be a multiple of ${blockAlignmentBytes} in 8..${blockSizeBytesMax}`,
    );
  }
}

/** Views (no copies) of `count` consecutive blocks of `buffer`. */
function splitBlocks(buffer: Buffer, count: number, blockSizeBytes: number): Buffer[] {
  assert(buffer.length === count * blockSizeBytes);
  const blocks: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    blocks.push(buffer.subarray(index * blockSizeBytes, (index + 1) * blockSizeBytes));
  }
  return blocks;
}

/** Bits [from, to) set; to <= 30 so the result stays a positive int32. */
function bitRange(from: number, to: number): number {
  assert(from >= 0 && from < to && to <= dataShardCountMax + parityShardCountMax);
  let bits = 0;
  for (let bit = from; bit < to; bit++) bits |= 1 << bit;
  return bits;
}

function bitCount(bits: number): number {
  let count = 0;
  for (let rest = bits; rest !== 0; rest >>>= 1) count += rest & 1;
  return count;
}

/**
 * One coder per k+m, made on first use: a gateway or healer keeps reading
 * parts written under an older scheme after the cluster's scheme changed.
 */
export class CoderCache {
  private readonly coders = new Map<string, ReedSolomonCoder>();

  for(scheme: { readonly k: number; readonly m: number }): ReedSolomonCoder {
    const name = `${scheme.k}+${scheme.m}`;
    let coder = this.coders.get(name);
    if (coder === undefined) {
      coder = new ReedSolomonCoder(scheme.k, scheme.m);
      this.coders.set(name, coder);
    }
    return coder;
  }
}
