// Rendezvous hash tests: pinned values (placement must be the same in every
// process, on every platform, in every later version, or recorded placements
// and rebalancing plans disagree), and a uniformity check of the unit score.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { driveHash, mix32, partHash, unitScore } from './placement-hash.js';

describe('placement hash', () => {
  it('is pinned: these values never change', () => {
    assert.equal(mix32(0), 0);
    assert.equal(mix32(1), 0x514e28b7); // murmur3 fmix32(1)
    assert.equal(mix32(0xdeadbeef), 233162409);
    assert.deepEqual(partHash('v1/1'), { high: 882704705, low: 4088315146 });
    assert.deepEqual(driveHash(7), { high: 1977744079, low: 3200232947 });
    const part = partHash('v1/1');
    const drive = driveHash(7);
    assert.equal(unitScore(part.high, part.low, drive.high, drive.low), 0.7539823025793216);
    assert.equal(unitScore(0, 0, 0, 0), 2 ** -53);
  });

  it('gives a u strictly inside (0, 1) for any words', () => {
    const word = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(word, word, word, word, (a, b, c, d) => {
        const u = unitScore(a, b, c, d);
        return u > 0 && u < 1;
      }),
    );
  });

  it('is uniform over drives for one part, and over parts for one drive (chi-square, 20 buckets)', () => {
    const buckets = 20;
    const samples = 40_000;
    const chiSquare = (counts: number[]): number => counts.reduce((sum, count) => sum + (count - samples / buckets) ** 2 / (samples / buckets), 0);
    const overDrives = new Array<number>(buckets).fill(0);
    const overParts = new Array<number>(buckets).fill(0);
    const part = partHash('one part');
    const drive = driveHash(1);
    for (let index = 0; index < samples; index++) {
      const other = driveHash(index);
      overDrives[Math.floor(unitScore(part.high, part.low, other.high, other.low) * buckets)]! += 1;
      const otherPart = partHash(`part-${index}`);
      overParts[Math.floor(unitScore(otherPart.high, otherPart.low, drive.high, drive.low) * buckets)]! += 1;
    }
    // 19 degrees of freedom: the 99.9th percentile is 43.8.
    assert.ok(chiSquare(overDrives) < 43.8, `over drives: ${chiSquare(overDrives)}`);
    assert.ok(chiSquare(overParts) < 43.8, `over parts: ${chiSquare(overParts)}`);
  });
});
