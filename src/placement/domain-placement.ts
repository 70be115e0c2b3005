// Placement of a part's k+m shards over a cluster layout with failure domains:
// constrained-greedy weighted rendezvous hashing.
//
// Every placeable drive gets a key -ln(u)/weight from u = unitScore(part,
// drive) (an exponential race: the smallest key wins, drive i first with
// probability weight_i / Σ weights, which is weighted rendezvous hashing with
// score -weight/ln(u)). Drives are taken in key order, skipping any drive
// whose node, rack or zone is already at its cap (domain-caps.ts), until k+m
// are chosen. The caps form a laminar matroid, so this greedy is the
// maximum-score basis: it always finds k+m drives when the plan exists, and a
// part's drives change only when a change in the layout reaches its top
// candidates, so adding a node moves about its capacity share of shards.
//
// Chosen over hierarchical rendezvous (pick a zone, then a rack, then a node,
// as CRUSH's straw2 buckets do): there, growing a rack re-draws the node for
// every part that moves into it, so adding one node to a rack of ten moves
// 2.0× the optimal share (simulated: 100 racks of 10 nodes, one shard per
// part); the flat scan moves 1.07× (domain-placement-scale.test.ts). Its cost
// is a scan of every drive per part, kept cheap by the integer hash and by
// computing the logarithm only for drives that can still beat the current
// top candidates. Math.log and Math.exp are V8's own fdlibm ports, the same
// on every platform; a pinned-placement test catches any drift.

import { assert } from '../stdx/assert.js';
import { domainCaps } from './domain-caps.js';
import type { PlacementRefusal } from './domain-caps.js';
import { indexLayout, levelIndex } from './layout.js';
import type { ClusterLayout, DomainTree, FailureDomainLevel, Scheme } from './layout.js';
import { driveHash, partHash, scoreHigh, scoreLow, unitFromWords } from './placement-hash.js';

export type PlanResult = { readonly status: 'ok'; readonly placement: DomainPlacement } | PlacementRefusal;

interface WeightClass {
  readonly start: number;
  readonly end: number;
  readonly weight: number;
}

/**
 * u ≤ (high + 1) / 2^32, so a drive with high + 1 ≤ exp(-key·weight)·2^32·(1 − 2^-40)
 * certainly has a key above `key`, whatever the rounding of exp and log.
 */
function screenFor(key: number, weight: number): number {
  return Math.exp(-key * weight) * 2 ** 32 * (1 - 2 ** -40);
}

export class DomainPlacement {
  readonly scheme: Scheme;
  readonly level: FailureDomainLevel;
  readonly tree: DomainTree;
  /** caps[l][domain] for 1 ≤ l ≤ level (see domain-caps.ts). */
  readonly caps: readonly Int32Array[];
  // Candidates in (weight, id) order, so a weight class is a contiguous run.
  private readonly ids: Float64Array;
  private readonly hashHigh: Uint32Array;
  private readonly hashLow: Uint32Array;
  private readonly classes: readonly WeightClass[];
  /** domainOf[l][candidate] for 1 ≤ l ≤ level. */
  private readonly domainOf: readonly Int32Array[];
  /** Shards per domain for the part being placed; all zero between calls. */
  private readonly counts: readonly Int32Array[];
  /** Drive id → candidate index, built on the first placeAround. */
  private candidateById: Map<number, number> | undefined;

  constructor(scheme: Scheme, level: FailureDomainLevel, tree: DomainTree, caps: readonly Int32Array[]) {
    this.scheme = scheme;
    this.level = level;
    this.tree = tree;
    this.caps = caps;
    const order = tree.driveIds.map((_, index) => index).sort((a, b) => tree.weights[a]! - tree.weights[b]! || tree.driveIds[a]! - tree.driveIds[b]!);
    this.ids = Float64Array.from(order, (index) => tree.driveIds[index]!);
    const hashes = order.map((index) => driveHash(tree.driveIds[index]!));
    this.hashHigh = Uint32Array.from(hashes, (hash) => hash.high);
    this.hashLow = Uint32Array.from(hashes, (hash) => hash.low);
    const classes: WeightClass[] = [];
    order.forEach((index, position) => {
      const weight = tree.weights[index]!;
      const last = classes.at(-1);
      if (last?.weight === weight) classes[classes.length - 1] = { ...last, end: position + 1 };
      else classes.push({ start: position, end: position + 1, weight });
    });
    this.classes = classes;
    const top = levelIndex(level);
    const domainOf: Int32Array[] = [new Int32Array(0)];
    const counts: Int32Array[] = [new Int32Array(0)];
    let current = Int32Array.from(order);
    for (let l = 1; l <= top; l++) {
      const parent = tree.levels[l - 1]!.parent;
      current = current.map((domain) => parent[domain]!);
      domainOf.push(current);
      counts.push(new Int32Array(tree.levels[l]!.count));
      assert(caps[l]?.length === tree.levels[l]!.count, `a cap for every ${l}-level domain`);
    }
    this.domainOf = domainOf;
    this.counts = counts;
  }

  get width(): number {
    return this.scheme.k + this.scheme.m;
  }

  /** The k+m drive ids for a part, best first: shard i goes to drives[i]. */
  place(partId: string): number[] {
    const hash = partHash(partId);
    const total = this.ids.length;
    let candidateCount = Math.min(total, 2 * this.width + 8);
    for (;;) {
      const ranked = this.topCandidates(hash.high, hash.low, candidateCount);
      const chosen = this.takeWithinCaps(ranked);
      if (chosen.length === this.width) {
        assert(new Set(chosen).size === chosen.length, 'placement picks distinct drives');
        return chosen;
      }
      assert(candidateCount < total, `caps admit ${this.width} drives, greedy over all ${total} found ${chosen.length}`);
      candidateCount = Math.min(total, candidateCount * 4);
    }
  }

  /**
   * The healer's and rebalancer's placement: shard i stays on `kept[i]`
   * where that is a drive; every other index gets the best-ranked drive (the
   * same ranking as place) that fits the caps alongside the kept drives, in
   * rank order over the free indexes. With nothing kept this is place().
   * Undefined when a kept drive is not placeable in this layout or the kept
   * drives already break a cap: then the part must be placed afresh
   * (alignToPrevious).
   */
  placeAround(partId: string, kept: readonly (number | undefined)[]): number[] | undefined {
    assert(kept.length === this.width, `${kept.length} shard slots for a part of width ${this.width}`);
    this.candidateById ??= new Map(Array.from(this.ids, (id, candidate): [number, number] => [id, candidate]));
    const keptCandidates: number[] = [];
    for (const drive of kept) {
      if (drive === undefined) continue;
      const candidate = this.candidateById.get(drive);
      if (candidate === undefined) return undefined;
      keptCandidates.push(candidate);
    }
    assert(new Set(keptCandidates).size === keptCandidates.length, `kept drives of ${partId} are distinct`);
    const top = this.domainOf.length - 1;
    const free = this.width - keptCandidates.length;
    try {
      for (const candidate of keptCandidates) {
        for (let l = 1; l <= top; l++) this.counts[l]![this.domainOf[l]![candidate]!]! += 1;
      }
      for (let l = 1; l <= top; l++) {
        if (this.counts[l]!.some((count, domain) => count > this.caps[l]![domain]!)) return undefined;
      }
      const hash = partHash(partId);
      const total = this.ids.length;
      let candidateCount = Math.min(total, 2 * this.width + 8);
      for (;;) {
        const chosen = this.takeAround(this.topCandidates(hash.high, hash.low, candidateCount), new Set(keptCandidates), free);
        if (chosen.length === free) {
          const result = kept.map((drive) => drive ?? chosen.shift()!);
          assert(chosen.length === 0 && new Set(result).size === this.width, 'placeAround fills every free index with a distinct drive');
          return result;
        }
        if (candidateCount >= total) return undefined;
        candidateCount = Math.min(total, candidateCount * 4);
      }
    } finally {
      for (const candidate of keptCandidates) {
        for (let l = 1; l <= top; l++) this.counts[l]![this.domainOf[l]![candidate]!]! -= 1;
      }
    }
  }

  /** Up to `count` drive ids from `ranked`, skipping `taken` and full domains; counts are restored. */
  private takeAround(ranked: readonly number[], taken: ReadonlySet<number>, count: number): number[] {
    const top = this.domainOf.length - 1;
    const chosen: number[] = [];
    const added: number[] = [];
    for (const candidate of ranked) {
      if (chosen.length === count) break;
      if (taken.has(candidate)) continue;
      let fits = true;
      for (let l = 1; l <= top && fits; l++) fits = this.counts[l]![this.domainOf[l]![candidate]!]! < this.caps[l]![this.domainOf[l]![candidate]!]!;
      if (!fits) continue;
      for (let l = 1; l <= top; l++) this.counts[l]![this.domainOf[l]![candidate]!]! += 1;
      added.push(candidate);
      chosen.push(this.ids[candidate]!);
    }
    for (const candidate of added) {
      for (let l = 1; l <= top; l++) this.counts[l]![this.domainOf[l]![candidate]!]! -= 1;
    }
    return chosen;
  }

  /** The `count` candidates with the smallest (key, id), smallest first. */
  private topCandidates(partHigh: number, partLow: number, count: number): number[] {
    const heap = new WorstFirstHeap(count, this.ids);
    const hashHigh = this.hashHigh;
    const hashLow = this.hashLow;
    for (const { start, end, weight } of this.classes) {
      // A drive whose high word is below `screen` has u < exp(-worst key · weight): it cannot enter.
      let screen = heap.full() ? screenFor(heap.worstKey(), weight) : 0;
      for (let candidate = start; candidate < end; candidate++) {
        const high = scoreHigh(partHigh, partLow, hashHigh[candidate]!, hashLow[candidate]!);
        if (high + 1 <= screen) continue;
        const u = unitFromWords(high, scoreLow(high, partLow, hashLow[candidate]!));
        if (heap.offer(-Math.log(u) / weight, candidate) && heap.full()) screen = screenFor(heap.worstKey(), weight);
      }
    }
    return heap.sorted();
  }

  private takeWithinCaps(ranked: readonly number[]): number[] {
    const top = this.domainOf.length - 1;
    const chosen: number[] = [];
    const taken: number[] = [];
    for (const candidate of ranked) {
      let fits = true;
      for (let l = 1; l <= top && fits; l++) {
        const domain = this.domainOf[l]![candidate]!;
        fits = this.counts[l]![domain]! < this.caps[l]![domain]!;
      }
      if (!fits) continue;
      for (let l = 1; l <= top; l++) this.counts[l]![this.domainOf[l]![candidate]!]! += 1;
      taken.push(candidate);
      chosen.push(this.ids[candidate]!);
      if (chosen.length === this.width) break;
    }
    for (const candidate of taken) {
      for (let l = 1; l <= top; l++) this.counts[l]![this.domainOf[l]![candidate]!]! -= 1;
    }
    return chosen;
  }
}

/** A bounded max-heap of (key, candidate) ordered by key then drive id: the root is the worst kept. */
class WorstFirstHeap {
  private readonly keys: Float64Array;
  private readonly candidates: Int32Array;
  private size = 0;

  constructor(
    private readonly capacity: number,
    private readonly ids: Float64Array,
  ) {
    assert(capacity >= 1, 'heap capacity ≥ 1');
    this.keys = new Float64Array(capacity);
    this.candidates = new Int32Array(capacity);
  }

  full(): boolean {
    return this.size === this.capacity;
  }

  worstKey(): number {
    assert(this.size > 0, 'heap is not empty');
    return this.keys[0]!;
  }

  private worse(a: number, b: number): boolean {
    const keyA = this.keys[a]!;
    const keyB = this.keys[b]!;
    return keyA > keyB || (keyA === keyB && this.ids[this.candidates[a]!]! > this.ids[this.candidates[b]!]!);
  }

  /** Keeps the candidate if it beats the worst kept one; says whether it did. */
  offer(key: number, candidate: number): boolean {
    if (this.size < this.capacity) {
      this.keys[this.size] = key;
      this.candidates[this.size] = candidate;
      this.siftUp(this.size++);
      return true;
    }
    const worst = this.keys[0]!;
    if (key > worst || (key === worst && this.ids[candidate]! > this.ids[this.candidates[0]!]!)) return false;
    this.keys[0] = key;
    this.candidates[0] = candidate;
    this.siftDown(0);
    return true;
  }

  sorted(): number[] {
    const order = Array.from({ length: this.size }, (_, index) => index);
    order.sort((a, b) => (this.worse(a, b) ? 1 : this.worse(b, a) ? -1 : 0));
    return order.map((index) => this.candidates[index]!);
  }

  private swap(a: number, b: number): void {
    const key = this.keys[a]!;
    const candidate = this.candidates[a]!;
    this.keys[a] = this.keys[b]!;
    this.candidates[a] = this.candidates[b]!;
    this.keys[b] = key;
    this.candidates[b] = candidate;
  }

  private siftUp(start: number): void {
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.worse(index, parent)) return;
      this.swap(index, parent);
      index = parent;
    }
  }

  private siftDown(start: number): void {
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= this.size) return;
      const right = left + 1;
      const child = right < this.size && this.worse(right, left) ? right : left;
      if (!this.worse(child, index)) return;
      this.swap(index, child);
      index = child;
    }
  }
}

/** Validates the layout and the scheme against it once; the result places any number of parts. */
export function planPlacement(layout: ClusterLayout, scheme: Scheme): PlanResult {
  const indexed = indexLayout(layout);
  if (indexed.status !== 'ok') return indexed;
  const caps = domainCaps(indexed.tree, scheme, layout.level);
  if (caps.status !== 'ok') return caps;
  return { status: 'ok', placement: new DomainPlacement(scheme, layout.level, indexed.tree, caps.caps) };
}

/**
 * Moving a part to a new placement: drives it keeps stay at their shard
 * index, new drives fill the freed indexes in rank order. Only shards on
 * drives that left the set move (the rebalancer's unit of work).
 */
export function alignToPrevious(previous: readonly number[], next: readonly number[]): number[] {
  assert(previous.length === next.length, `placements of one scheme have one width (${previous.length} vs ${next.length})`);
  const nextSet = new Set(next);
  const previousSet = new Set(previous);
  const arriving = next.filter((drive) => !previousSet.has(drive));
  const aligned = previous.map((drive) => (nextSet.has(drive) ? drive : arriving.shift()!));
  assert(arriving.length === 0 && new Set(aligned).size === next.length, 'alignment is a permutation of the new placement');
  return aligned;
}
