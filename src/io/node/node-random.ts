// The real Random: the operating system's CSPRNG (OpenSSL's, via node:crypto).
//
// Small requests (ids: 8-16 bytes per request) are served from a 4 KiB pool
// filled with one randomFillSync call, instead of one randomBytes call each:
// about 1.5 µs per call became ~0.1 µs. Still a CSPRNG: every pool byte comes
// from the same generator, is handed out at most once (the read position only
// moves forward until a refill overwrites the whole pool) and is wiped from
// the pool as it is handed out. Larger requests go to randomBytes directly.

import { randomBytes, randomFillSync } from 'node:crypto';
import { assert } from '../../stdx/assert.js';
import type { Random } from '../random.js';

/** Bytes fetched from the CSPRNG at once. */
export const randomPoolBytes = 4096;
/** Largest request served from the pool; larger ones call randomBytes. */
export const randomPooledRequestBytesMax = 256;

export class NodeRandom implements Random {
  private readonly pool = Buffer.allocUnsafeSlow(randomPoolBytes);
  /** Bytes before this offset have been handed out (and wiped). */
  private used = randomPoolBytes;

  bytes(length: number): Uint8Array {
    assert(Number.isSafeInteger(length) && length >= 0, `random.bytes(${length})`);
    if (length > randomPooledRequestBytesMax) return randomBytes(length);
    const out = Buffer.allocUnsafe(length);
    this.take(length).copy(out);
    this.wipeTaken(length);
    return out;
  }

  uint32(): number {
    const value = this.take(4).readUInt32LE(0);
    this.wipeTaken(4);
    return value;
  }

  /** A view of the next `length` unused pool bytes; refills first when too few are left. */
  private take(length: number): Buffer {
    assert(length <= randomPoolBytes);
    if (this.used + length > randomPoolBytes) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    const view = this.pool.subarray(this.used, this.used + length);
    this.used += length;
    assert(this.used <= randomPoolBytes);
    return view;
  }

  /** Zeroes the `length` bytes just taken, so the pool holds no copy of what it handed out. */
  private wipeTaken(length: number): void {
    this.pool.fill(0, this.used - length, this.used);
  }
}
