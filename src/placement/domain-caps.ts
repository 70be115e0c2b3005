// How many shards of one part each failure domain may hold: the rule that
// placement enforces and protection analysis reasons about. Computed once per
// (layout, scheme), not per part.
//
// At the configured level L every domain gets the same cap c: the smallest
// value from ceil((k+m)/domains) up to m at which the domains can still hold
// k+m shards (Σ min(c, drives in domain) ≥ k+m). So shards spread as evenly as
// the layout allows, and never more than m per domain, or the layout is
// refused. Below L, each domain splits its target min(cap, drives) evenly over
// its children the same way (a child cap from ceil(target/children) upward
// until the children can hold the target), so 4+2 over 3 zones also puts at
// most one shard per node when a zone has two nodes or more. A drive holds at
// most one shard. Levels above L are not constrained: weights decide there.
//
// These caps form a laminar family (every domain's drives are nested in its
// parent's), so the shard sets they allow are the independent sets of a
// laminar matroid: greedy selection in score order never gets stuck, and the
// capacity of a domain (its matroid rank) is min(cap, Σ children's capacity).

import { assert } from '../stdx/assert.js';
import { childrenOf, failureDomainLevels, levelIndex, pluralLevel } from './layout.js';
import type { DomainTree, FailureDomainLevel, Scheme } from './layout.js';

export type PlacementRefusal =
  | { readonly status: 'not_enough_drives'; readonly needed: number; readonly available: number; readonly message: string }
  | { readonly status: 'no_parity'; readonly level: FailureDomainLevel; readonly message: string }
  | { readonly status: 'not_enough_domains'; readonly level: FailureDomainLevel; readonly needed: number; readonly available: number; readonly message: string }
  | { readonly status: 'domains_too_small'; readonly level: FailureDomainLevel; readonly needed: number; readonly placeable: number; readonly message: string }
  | { readonly status: 'invalid_layout'; readonly message: string };

export type DomainCapsResult = { readonly status: 'ok'; readonly caps: readonly Int32Array[] } | PlacementRefusal;

export const schemeWidthMax = 256;

function smallestCapThatFits(target: number, lower: number, childDrives: readonly number[]): number {
  for (let cap = lower; cap < target; cap++) {
    let held = 0;
    for (const drives of childDrives) held += Math.min(cap, drives);
    if (held >= target) return cap;
  }
  return target;
}

function topLevelCap(tree: DomainTree, scheme: Scheme, level: FailureDomainLevel): PlacementRefusal | number {
  const width = scheme.k + scheme.m;
  const { count, driveCount } = tree.levels[levelIndex(level)]!;
  const name = `Scheme ${scheme.k}+${scheme.m} cannot survive the loss of a ${level}`;
  if (scheme.m === 0) {
    return { status: 'no_parity', level, message: `${name}: it has no parity shards, so every ${level} holds shards no other ${level} can rebuild` };
  }
  const evenCap = Math.ceil(width / count);
  if (evenCap > scheme.m) {
    const needed = Math.ceil(width / scheme.m);
    const kMax = (count - 1) * scheme.m;
    const advice = kMax >= 1 ? `; over ${count} ${pluralLevel(level, count)}, ${scheme.m} parity shards allow at most k = ${kMax} (${kMax}+${scheme.m})` : '';
    const message =
      `${name}: its ${width} shards over ${count} ${pluralLevel(level, count)} put at least ${evenCap} in one ${level}, ` +
      `more than its ${scheme.m} parity shards. It needs ${needed} ${pluralLevel(level, needed)}, the layout has ${count}${advice}`;
    return { status: 'not_enough_domains', level, needed, available: count, message };
  }
  const sizes = Array.from(driveCount);
  const cap = smallestCapThatFits(width, evenCap, sizes);
  const placeable = sizes.reduce((sum, drives) => sum + Math.min(cap, drives), 0);
  if (cap > scheme.m || placeable < width) {
    const fit = sizes.reduce((sum, drives) => sum + Math.min(scheme.m, drives), 0);
    const message =
      `${name}: with at most ${scheme.m} shards per ${level}, its ${count} ${pluralLevel(level, count)} hold only ${fit} of the ` +
      `${width} shards (too few drives in the smaller ${pluralLevel(level, 2)})`;
    return { status: 'domains_too_small', level, needed: width, placeable: fit, message };
  }
  return cap;
}

/** caps[l][domain] for 1 ≤ l ≤ L; caps[0] is empty (a drive holds at most one shard); levels above L are absent. */
export function domainCaps(tree: DomainTree, scheme: Scheme, level: FailureDomainLevel): DomainCapsResult {
  assert(Number.isInteger(scheme.k) && Number.isInteger(scheme.m) && scheme.k >= 1 && scheme.m >= 0, `scheme ${scheme.k}+${scheme.m} is valid`);
  const width = scheme.k + scheme.m;
  assert(width <= schemeWidthMax, `scheme width ${width} ≤ ${schemeWidthMax}`);
  const available = tree.driveIds.length;
  if (available < width) {
    return {
      status: 'not_enough_drives',
      needed: width,
      available,
      message: `Scheme ${scheme.k}+${scheme.m} needs ${width} active drives, layout has ${available}`,
    };
  }
  const top = levelIndex(level);
  const caps: Int32Array[] = [new Int32Array(0)];
  if (top === 0) return { status: 'ok', caps };
  const topCap = topLevelCap(tree, scheme, level);
  if (typeof topCap !== 'number') return topCap;
  for (let l = 1; l <= top; l++) caps.push(new Int32Array(tree.levels[l]!.count));
  caps[top]!.fill(topCap);
  for (let l = top; l >= 2; l--) {
    const children = childrenOf(tree, l);
    const below = tree.levels[l - 1]!;
    children.forEach((list, domain) => {
      const target = Math.min(caps[l]![domain]!, tree.levels[l]!.driveCount[domain]!);
      const sizes = list.map((child) => below.driveCount[child]!);
      const childCap = smallestCapThatFits(target, Math.ceil(target / list.length), sizes);
      for (const child of list) caps[l - 1]![child] = childCap;
    });
  }
  assert(caps[top]!.every((cap) => cap >= 1 && cap <= scheme.m), `caps at the ${failureDomainLevels[top]} level are within 1…m`);
  return { status: 'ok', caps };
}
