// NodeRandom: the pool hands out each byte once, as copies (never views of the
// pool, never the wiped zeros), across refills; byte values look uniform; big
// requests and uint32 work. Statistical checks use loose bounds (> 6 sigma).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AssertionError } from '../../stdx/assert.js';
import { NodeRandom, randomPoolBytes, randomPooledRequestBytesMax } from './node-random.js';

describe('NodeRandom', () => {
  it('returns the asked length, pooled and not, and 0 bytes for 0', () => {
    const random = new NodeRandom();
    for (const length of [0, 1, 7, 8, 16, randomPooledRequestBytesMax, randomPooledRequestBytesMax + 1, 3 * randomPoolBytes]) {
      assert.equal(random.bytes(length).length, length);
    }
    assert.throws(() => random.bytes(-1), AssertionError);
    assert.throws(() => random.bytes(1.5), AssertionError);
  });

  it('never repeats a 16-byte draw across many refills, and draws are copies, not pool views', () => {
    const random = new NodeRandom();
    const seen = new Set<string>();
    const draws: Uint8Array[] = [];
    for (let index = 0; index < 20_000; index++) {
      const draw = random.bytes(16);
      const hex = Buffer.from(draw).toString('hex');
      assert.ok(!seen.has(hex), `draw ${index} repeats ${hex}`);
      seen.add(hex);
      if (index < 600) draws.push(draw);
    }
    // Refills (and wipes) since then must not have changed the early draws.
    for (const draw of draws) assert.ok(seen.has(Buffer.from(draw).toString('hex')));
  });

  it('byte values look uniform over pooled draws of odd sizes (the wipe never leaks zeros)', () => {
    const random = new NodeRandom();
    const counts = new Array<number>(256).fill(0);
    let total = 0;
    for (let index = 0; total < 1_000_000; index++) {
      const draw = random.bytes(1 + (index % 37));
      for (const byte of draw) counts[byte]! += 1;
      total += draw.length;
    }
    const expected = total / 256;
    const sigma = Math.sqrt(expected);
    for (const [value, count] of counts.entries()) {
      assert.ok(Math.abs(count - expected) < 6 * sigma, `byte ${value} seen ${count} times, expected about ${expected.toFixed(0)}`);
    }
  });

  it('uint32 covers [0, 2^32) with both halves about equally likely', () => {
    const random = new NodeRandom();
    let high = 0;
    const draws = 100_000;
    for (let index = 0; index < draws; index++) {
      const value = random.uint32();
      assert.ok(Number.isInteger(value) && value >= 0 && value < 2 ** 32);
      if (value >= 2 ** 31) high++;
    }
    assert.ok(Math.abs(high - draws / 2) < 6 * Math.sqrt(draws / 4), `${high} of ${draws} draws in the upper half`);
  });
});
