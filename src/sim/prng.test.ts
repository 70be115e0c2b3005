// The PRNG is the simulator's only randomness: same seed, same stream.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from './prng.js';

describe('Prng', () => {
  it('is reproducible from its seed and differs between seeds', () => {
    const take = (seed: number): number[] => {
      const prng = new Prng(seed);
      return Array.from({ length: 8 }, () => prng.uint32());
    };
    assert.deepEqual(take(1), take(1));
    assert.notDeepEqual(take(1), take(2));
  });

  it('stays in range and spreads over it', () => {
    const prng = new Prng(9);
    const counts = [0, 0, 0, 0];
    for (let index = 0; index < 4000; index++) {
      const value = prng.between(0, 3);
      assert.ok(value >= 0 && value <= 3);
      counts[value]!++;
    }
    assert.ok(counts.every((count) => count > 850 && count < 1150), counts.join(','));
  });
});
