// The cluster layout as placement sees it: drives with a capacity weight, a
// state and a failure-domain path zone → rack → node → drive, plus the level
// the cluster spreads shards over. `indexLayout` validates it and numbers the
// domains of every level once, so placement and protection analysis work on
// flat typed arrays instead of strings. Only drives that can take new shards
// (active, weight > 0) enter the index: failed and draining drives hold no
// new shards, so they change neither placement nor what new parts survive.

import { assert } from '../stdx/assert.js';

export interface Scheme {
  readonly k: number;
  readonly m: number;
}

/** Lowest first: a level's index is its position here. */
export const failureDomainLevels = ['drive', 'node', 'rack', 'zone'] as const;
export type FailureDomainLevel = (typeof failureDomainLevels)[number];

export type DriveState = 'active' | 'draining' | 'failed';

export interface LayoutDrive {
  /** Cluster-unique; what a PartRecord stores in `drives`. */
  readonly id: number;
  /** Capacity weight (e.g. TB); 0 takes no new shards. */
  readonly weight: number;
  readonly state: DriveState;
  /** Failure-domain path. A name is scoped by its parent: rack "r1" of zone "a" is not rack "r1" of zone "b". */
  readonly zone: string;
  readonly rack: string;
  readonly node: string;
}

export interface ClusterLayout {
  /** No domain at this level may hold more than m shards of a part. */
  readonly level: FailureDomainLevel;
  readonly drives: readonly LayoutDrive[];
}

export interface DomainLevel {
  readonly count: number;
  /** Domain index at the level above (-1 above zone: the cluster). */
  readonly parent: Int32Array;
  /** Placeable drives under each domain. */
  readonly driveCount: Int32Array;
  /** Human names for messages: "zone a / rack r1". */
  readonly names: readonly string[];
}

export interface DomainTree {
  /** Placeable drives, sorted by id; position i is drive index i at level 0. */
  readonly driveIds: readonly number[];
  readonly weights: readonly number[];
  /** Indexed by failureDomainLevels position: 0 drive, 1 node, 2 rack, 3 zone. */
  readonly levels: readonly DomainLevel[];
}

export type IndexLayoutResult = { readonly status: 'ok'; readonly tree: DomainTree } | { readonly status: 'invalid_layout'; readonly message: string };

export const driveCountMax = 1_000_000;

export function levelIndex(level: FailureDomainLevel): number {
  return failureDomainLevels.indexOf(level);
}

export function pluralLevel(level: FailureDomainLevel, count: number): string {
  return count === 1 ? level : `${level}s`;
}

function checkDrives(drives: readonly LayoutDrive[]): string | undefined {
  if (drives.length > driveCountMax) return `layout has ${drives.length} drives, more than ${driveCountMax}`;
  const seen = new Set<number>();
  for (const drive of drives) {
    if (!Number.isSafeInteger(drive.id) || drive.id < 0) return `drive id ${drive.id} is not a non-negative integer`;
    if (seen.has(drive.id)) return `drive id ${drive.id} appears twice in the layout`;
    seen.add(drive.id);
    if (!Number.isFinite(drive.weight) || drive.weight < 0) return `drive ${drive.id} has weight ${drive.weight}; weights are finite and ≥ 0`;
    if (drive.zone === '' || drive.rack === '' || drive.node === '') return `drive ${drive.id} has an empty zone, rack or node name`;
  }
  return undefined;
}

/** Numbers the domains of one level, given each member's parent index and name. */
function numberDomains(parents: readonly number[], names: readonly string[], parentNames: readonly string[], label: string) {
  const indexOfKey = new Map<string, number>();
  const parentOfDomain: number[] = [];
  const domainNames: string[] = [];
  const memberDomain = parents.map((parent, member) => {
    const key = `${parent}/${names[member]!}`;
    let domain = indexOfKey.get(key);
    if (domain === undefined) {
      domain = parentOfDomain.length;
      indexOfKey.set(key, domain);
      parentOfDomain.push(parent);
      const prefix = parent >= 0 ? `${parentNames[parent]!} / ` : '';
      domainNames.push(`${prefix}${label} ${names[member]!}`);
    }
    return domain;
  });
  return { memberDomain, parentOfDomain, domainNames };
}

export function indexLayout(layout: ClusterLayout): IndexLayoutResult {
  assert(failureDomainLevels.includes(layout.level), `unknown failure-domain level ${layout.level}`);
  const problem = checkDrives(layout.drives);
  if (problem !== undefined) return { status: 'invalid_layout', message: `Invalid layout: ${problem}` };
  const placeable = layout.drives.filter((drive) => drive.state === 'active' && drive.weight > 0).sort((a, b) => a.id - b.id);
  // Top-down: zones under the cluster, racks under zones, nodes under racks.
  const zones = numberDomains(placeable.map(() => -1), placeable.map((drive) => drive.zone), [], 'zone');
  const racks = numberDomains(zones.memberDomain, placeable.map((drive) => drive.rack), zones.domainNames, 'rack');
  const nodes = numberDomains(racks.memberDomain, placeable.map((drive) => drive.node), racks.domainNames, 'node');
  const drivesLevel = {
    parentOfDomain: nodes.memberDomain,
    domainNames: placeable.map((drive, index) => `${nodes.domainNames[nodes.memberDomain[index]!]!} / drive ${drive.id}`),
  };
  const numbered = [drivesLevel, nodes, racks, zones];
  const levels = numbered.map((level) => ({
    count: level.parentOfDomain.length,
    parent: Int32Array.from(level.parentOfDomain),
    driveCount: new Int32Array(level.parentOfDomain.length),
    names: level.domainNames,
  }));
  for (let drive = 0; drive < placeable.length; drive++) {
    let domain = drive;
    for (const level of levels) {
      level.driveCount[domain]! += 1;
      domain = level.parent[domain]!;
    }
    assert(domain === -1, 'every drive path ends at the cluster');
  }
  return { status: 'ok', tree: { driveIds: placeable.map((drive) => drive.id), weights: placeable.map((drive) => drive.weight), levels } };
}

/** Children of every domain at `level` (drives when level is 1), as index lists. */
export function childrenOf(tree: DomainTree, level: number): number[][] {
  assert(level >= 1 && level < tree.levels.length, `level ${level} has children`);
  const children: number[][] = Array.from({ length: tree.levels[level]!.count }, () => []);
  const below = tree.levels[level - 1]!;
  for (let child = 0; child < below.count; child++) children[below.parent[child]!]!.push(child);
  return children;
}
