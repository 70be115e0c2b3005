// NodeRandom cost per call for the sizes Tessera asks for (version ids take 8
// bytes, request ids and secrets 16-32), best of several rounds.
// Run: npm run build && node dist/bench/random.js

import { performance } from 'node:perf_hooks';
import { NodeRandom } from '../src/io/node/node-random.js';

const iterations = 200_000;
const rounds = 5;

function bestNanoseconds(body: () => void): number {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let index = 0; index < iterations; index++) body();
    best = Math.min(best, ((performance.now() - start) * 1e6) / iterations);
  }
  return best;
}

const random = new NodeRandom();
for (const length of [8, 16, 32, 256, 4096]) {
  console.log(`bytes(${length})`.padEnd(12), `${bestNanoseconds(() => random.bytes(length)).toFixed(0).padStart(6)} ns/call`);
}
console.log('uint32()'.padEnd(12), `${bestNanoseconds(() => random.uint32()).toFixed(0).padStart(6)} ns/call`);
