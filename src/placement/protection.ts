// What a layout survives under the placement rule, for `cluster status`, and
// the check that refuses a scheme the layout cannot protect.
//
// For each level (drive, node, rack, zone) and f = 0 … m+1 it computes the
// most shards of one part that f whole domains of that level can hold at
// once, over every placement the caps allow (domain-caps.ts). Those sets are
// the independent sets of a laminar matroid, whose rank is computed bottom-up
// (a domain holds min(cap, Σ what its children hold)); the worst f domains
// are found by a knapsack over the tree (max-plus merge of children, clamped
// by each ancestor's cap). Losing f domains is survivable when that number is
// ≤ m. Exact, not a bound: any allowed set is some part's placement (give
// its drives the top scores), so with many parts the worst case occurs.

import { assert } from '../stdx/assert.js';
import { domainCaps } from './domain-caps.js';
import type { PlacementRefusal } from './domain-caps.js';
import { childrenOf, failureDomainLevels, indexLayout, levelIndex, pluralLevel } from './layout.js';
import type { ClusterLayout, DomainTree, FailureDomainLevel, Scheme } from './layout.js';

export interface LevelProtection {
  readonly level: FailureDomainLevel;
  /** Domains of this level holding placeable drives. */
  readonly domains: number;
  /** Any this many whole domains can be lost at once without losing a part. */
  readonly domainsLost: number;
  /** shardsLostMax[f]: most shards of one part that f domains can hold (f = 0 … m+1, capped at the domain count). */
  readonly shardsLostMax: readonly number[];
}

export interface ProtectionReport {
  readonly scheme: Scheme;
  /** The level the layout spreads over. */
  readonly level: FailureDomainLevel;
  /** Lowest level first. */
  readonly levels: readonly LevelProtection[];
  /** The largest level one whole domain of which can be lost; undefined when not even a drive can. */
  readonly survivesLevel: FailureDomainLevel | undefined;
  /** For `cluster status`: "4+2 over 3 zones: survives the loss of any 1 zone, or any 2 nodes, or any 2 drives". */
  readonly sentence: string;
}

export type ProtectionResult = { readonly status: 'ok'; readonly report: ProtectionReport } | PlacementRefusal;

export type SchemeValidation =
  | { readonly status: 'ok'; readonly report: ProtectionReport }
  | { readonly status: 'refused'; readonly reason: PlacementRefusal['status'] | 'unprotected'; readonly message: string };

/** Most shards each domain can hold: rank[l][domain] of the laminar matroid truncated to k+m. */
function domainRanks(tree: DomainTree, caps: readonly Int32Array[], width: number): Int32Array[] {
  const ranks = [new Int32Array(tree.levels[0]!.count).fill(1)];
  for (let l = 1; l < tree.levels.length; l++) {
    const level = tree.levels[l]!;
    const rank = new Int32Array(level.count);
    const below = tree.levels[l - 1]!;
    for (let child = 0; child < below.count; child++) rank[below.parent[child]!]! += ranks[l - 1]![child]!;
    for (let domain = 0; domain < level.count; domain++) rank[domain] = Math.min(rank[domain]!, caps[l]?.[domain] ?? width);
    ranks.push(rank);
  }
  return ranks;
}

/** best[f] = max over splits of Σ children's best, for f = 0 … limit. */
function mergeChildren(children: readonly (readonly number[])[], limit: number): number[] {
  let merged = [0];
  for (const child of children) {
    const next = new Array<number>(Math.min(limit, merged.length - 1 + child.length - 1) + 1).fill(-1);
    merged.forEach((left, a) => {
      child.forEach((right, b) => {
        if (a + b <= limit) next[a + b] = Math.max(next[a + b]!, left + right);
      });
    });
    merged = next;
  }
  return merged;
}

/** shardsLostMax[f] for f whole domains at `level`, f = 0 … min(m+1, domains). */
function worstLoss(tree: DomainTree, caps: readonly Int32Array[], ranks: readonly Int32Array[], level: number, scheme: Scheme): number[] {
  const width = scheme.k + scheme.m;
  const limit = scheme.m + 1;
  let best: number[][] = Array.from(ranks[level]!, (rank) => [0, rank]);
  for (let l = level + 1; l < tree.levels.length; l++) {
    best = childrenOf(tree, l).map((list, domain) => {
      const cap = caps[l]?.[domain] ?? width;
      return mergeChildren(list.map((child) => best[child]!), limit).map((held) => Math.min(held, cap));
    });
  }
  return mergeChildren(best, limit).map((held) => Math.min(held, width));
}

function describe(scheme: Scheme, level: FailureDomainLevel, levels: readonly LevelProtection[]): string {
  const over = `${scheme.k}+${scheme.m} over ${levels[levelIndex(level)]!.domains} ${pluralLevel(level, levels[levelIndex(level)]!.domains)}`;
  const clauses: string[] = [];
  for (let l = levels.length - 1; l >= 0; l--) {
    const entry = levels[l]!;
    // A level whose domains are the ones above it (one rack per zone) is the same failure: say it once.
    const sameAsAbove = l + 1 < levels.length && levels[l + 1]!.domains === entry.domains;
    if (entry.domainsLost >= 1 && !sameAsAbove) clauses.push(`any ${entry.domainsLost} ${pluralLevel(entry.level, entry.domainsLost)}`);
  }
  if (clauses.length === 0) return `${over}: no protection, losing any drive can lose data`;
  return `${over}: survives the loss of ${clauses.join(', or ')}`;
}

export function analyzeProtection(layout: ClusterLayout, scheme: Scheme): ProtectionResult {
  const indexed = indexLayout(layout);
  if (indexed.status !== 'ok') return indexed;
  const { tree } = indexed;
  const capsResult = domainCaps(tree, scheme, layout.level);
  if (capsResult.status !== 'ok') return capsResult;
  const ranks = domainRanks(tree, capsResult.caps, scheme.k + scheme.m);
  const levels = failureDomainLevels.map((level, l): LevelProtection => {
    const shardsLostMax = worstLoss(tree, capsResult.caps, ranks, l, scheme);
    let domainsLost = 0;
    while (domainsLost + 1 < shardsLostMax.length && shardsLostMax[domainsLost + 1]! <= scheme.m) domainsLost++;
    return { level, domains: tree.levels[l]!.count, domainsLost, shardsLostMax };
  });
  assert(
    scheme.m === 0 || levels[levelIndex(layout.level)]!.domainsLost >= 1,
    `caps at the ${layout.level} level keep every ${layout.level} within m = ${scheme.m}`,
  );
  const surviving = levels.filter((entry) => entry.domainsLost >= 1);
  return {
    status: 'ok',
    report: { scheme, level: layout.level, levels, survivesLevel: surviving.at(-1)?.level, sentence: describe(scheme, layout.level, levels) },
  };
}

/** Refuses a scheme the layout cannot protect at its level: "10+4 over 3 zones cannot survive a zone; 6+3 can". */
export function validateScheme(layout: ClusterLayout, scheme: Scheme): SchemeValidation {
  const analysis = analyzeProtection(layout, scheme);
  if (analysis.status !== 'ok') return { status: 'refused', reason: analysis.status, message: analysis.message };
  const { report } = analysis;
  if (report.levels[levelIndex(layout.level)]!.domainsLost === 0) {
    const message = `Scheme ${scheme.k}+${scheme.m} cannot survive the loss of a ${layout.level}: it has no parity shards`;
    return { status: 'refused', reason: 'unprotected', message };
  }
  return { status: 'ok', report };
}
