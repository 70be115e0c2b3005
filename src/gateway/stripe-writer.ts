// Cuts a byte stream into stripes, erasure codes each one and appends its k+m
// blocks to the shard writers. Two stripe buffers alternate: one fills while
// the other is encoded (libuv threadpool) and written, so memory stays at
// 2 × (k+m) × blockSize whatever the object size, and hashing, coding and disk
// writes overlap.

import type { ReedSolomonCoder } from '../erasure/reed-solomon.js';
import type { Logger } from '../io/logger.js';
import { assert } from '../stdx/assert.js';
import type { FragmentWriter } from './clients.js';

export class ShardQuorumError extends Error {
  override readonly name = 'ShardQuorumError';
}

export function roundUp8(value: number): number {
  return Math.ceil(value / 8) * 8;
}

export class StripeWriter {
  private buffers: [Buffer, Buffer];
  private filledBytes = 0;
  private inFlight: Promise<void> | undefined;
  private readonly alive: (FragmentWriter | undefined)[];
  private totalBytes = 0;

  constructor(
    private readonly coder: ReedSolomonCoder,
    /** One per shard; undefined for a shard whose writer could not be opened (missing from the start). */
    writers: readonly (FragmentWriter | undefined)[],
    private readonly k: number,
    private readonly m: number,
    private readonly blockSizeBytes: number,
    private readonly logger: Logger,
  ) {
    assert(writers.length === k + m, `${writers.length} writers for ${k}+${m}`);
    assert(blockSizeBytes > 0 && blockSizeBytes % 8 === 0, `block size ${blockSizeBytes}`);
    this.alive = [...writers];
    assert(this.alive.filter((writer) => writer !== undefined).length >= this.quorum, 'a stripe writer starts with a write quorum');
    const stripeBytes = k * blockSizeBytes;
    this.buffers = [Buffer.allocUnsafe(stripeBytes), Buffer.allocUnsafe(stripeBytes)];
  }

  get sizeBytes(): number {
    return this.totalBytes;
  }

  /** Shards whose writes failed (recorded as missing for the healer). */
  get missingShards(): number[] {
    return this.alive.flatMap((writer, shard) => (writer === undefined ? [shard] : []));
  }

  private get quorum(): number {
    return this.m === 0 ? this.k : this.k + 1;
  }

  async push(chunk: Uint8Array): Promise<void> {
    const stripeBytes = this.k * this.blockSizeBytes;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(stripeBytes - this.filledBytes, chunk.length - offset);
      this.buffers[0].set(chunk.subarray(offset, offset + take), this.filledBytes);
      this.filledBytes += take;
      offset += take;
      if (this.filledBytes === stripeBytes) await this.emit(this.blockSizeBytes);
    }
    this.totalBytes += chunk.length;
  }

  /** Writes the last (short) stripe and waits for every block to be written. */
  async end(): Promise<void> {
    if (this.filledBytes > 0) {
      const blockBytes = roundUp8(Math.ceil(this.filledBytes / this.k));
      this.buffers[0].fill(0, this.filledBytes, this.k * blockBytes);
      await this.emit(blockBytes);
    }
    await this.inFlight;
    this.inFlight = undefined;
  }

  private async emit(blockBytes: number): Promise<void> {
    await this.inFlight;
    const stripe = this.buffers[0].subarray(0, this.k * blockBytes);
    const written = this.encodeAndWrite(stripe, blockBytes);
    // Marked handled now; the error still surfaces at the next await of inFlight.
    written.catch(() => undefined);
    this.inFlight = written;
    this.buffers = [this.buffers[1], this.buffers[0]];
    this.filledBytes = 0;
  }

  private async encodeAndWrite(stripe: Buffer, blockBytes: number): Promise<void> {
    const parity = await this.coder.encode(stripe, blockBytes);
    assert(parity.length === this.m, 'one parity block per parity shard');
    const blocks = [...Array.from({ length: this.k }, (_, i) => stripe.subarray(i * blockBytes, (i + 1) * blockBytes)), ...parity];
    await Promise.all(blocks.map((block, shard) => this.writeShard(shard, block)));
    const written = this.alive.filter((writer) => writer !== undefined).length;
    if (written < this.quorum) {
      throw new ShardQuorumError(`only ${written} of ${this.k + this.m} shards writable, need ${this.quorum}`);
    }
  }

  private async writeShard(shard: number, block: Uint8Array): Promise<void> {
    const writer = this.alive[shard];
    if (writer === undefined) return;
    try {
      await writer.appendBlocks([block]);
    } catch (error) {
      this.logger.log('warn', 'shard write failed; continuing without it', { shard, error: String(error) });
      this.alive[shard] = undefined;
      await writer.abort().catch(() => undefined);
    }
  }

  /** Makes every surviving shard durable; shards that fail here become missing. */
  async finish(): Promise<void> {
    assert(this.inFlight === undefined, 'finish after end');
    await Promise.all(
      this.alive.map(async (writer, shard) => {
        if (writer === undefined) return;
        try {
          await writer.finish();
        } catch (error) {
          this.logger.log('warn', 'shard finish failed', { shard, error: String(error) });
          this.alive[shard] = undefined;
          await writer.abort().catch(() => undefined);
        }
      }),
    );
    const written = this.alive.filter((writer) => writer !== undefined).length;
    if (written < this.quorum) throw new ShardQuorumError(`only ${written} shards durable, need ${this.quorum}`);
  }

  async abort(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
    const writers = this.alive.filter((writer) => writer !== undefined);
    await Promise.all(writers.map((writer) => writer.abort().catch(() => undefined)));
  }
}
