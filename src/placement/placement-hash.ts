// The rendezvous hash: a uniform number u in (0, 1) for every (part, drive).
// SHA-256 of the part id and of the drive id are taken once each (per part,
// per layout) and truncated to 64 bits; the per-pair value folds their XOR to
// 32 bits and puts it through murmur3's finalizer (a second mix gives 20 more
// bits), so every output bit depends on every input bit. A flat rendezvous
// scan scores every drive for every part, so the per-pair step must be a few
// integer multiplications, not a SHA-256: 12,000 drives cost ~70 µs per part
// (≈ 4.5 ns a drive, ~14k placements/s, domain-placement-scale.test.ts) where
// a SHA-256 a pair (~1 µs) would cost ~12 ms. Only 32-bit integer arithmetic
// (Math.imul, shifts) and exact double conversions are used, so the value is
// the same on every platform and in every process; the tests pin values.

import { createHash } from 'node:crypto';

export interface Hash64 {
  readonly high: number;
  readonly low: number;
}

export function hash64(text: string): Hash64 {
  const digest = createHash('sha256').update(text).digest();
  return { high: digest.readUInt32BE(0), low: digest.readUInt32BE(4) };
}

export function partHash(partId: string): Hash64 {
  return hash64(`part:${partId}`);
}

export function driveHash(driveId: number): Hash64 {
  return hash64(`drive:${driveId}`);
}

/** murmur3's 32-bit finalizer: a bijection with full avalanche. */
export function mix32(value: number): number {
  let x = value | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

const twoPow20 = 2 ** 20;
const twoPow52 = 2 ** 52;

/**
 * The high 32 bits of the pair's value, from all 64 bits of both hashes:
 * the low words are folded in by a multiply, the sum then gets the full
 * finalizer. The placement scan screens drives on this word alone.
 */
export function scoreHigh(partHigh: number, partLow: number, driveHigh: number, driveLow: number): number {
  const low = partLow ^ driveLow;
  return mix32(partHigh ^ driveHigh ^ Math.imul(low ^ (low >>> 16), 0x9e3779b1));
}

/** The remaining 20 bits, only needed for drives that pass the screen. */
export function scoreLow(high: number, partLow: number, driveLow: number): number {
  return mix32(partLow ^ driveLow ^ Math.imul(high, 0x27d4eb2f)) >>> 12;
}

/** u in (0, 1) on a grid of 2^52 points (x + 0.5) / 2^52, exact in a double, never 0 or 1. */
export function unitFromWords(high: number, low20: number): number {
  return (high * twoPow20 + low20 + 0.5) / twoPow52;
}

/** u in (0, 1) for one (part, drive) pair, uniform over parts and drives. */
export function unitScore(partHigh: number, partLow: number, driveHigh: number, driveLow: number): number {
  const high = scoreHigh(partHigh, partLow, driveHigh, driveLow);
  return unitFromWords(high, scoreLow(high, partLow, driveLow));
}
