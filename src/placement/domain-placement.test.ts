// Placement properties on random layouts (fast-check): k+m distinct active
// drives, no domain over its cap and none at the configured level over m,
// the same answer from any copy of the layout, and a refusal exactly when no
// placement can keep every domain within m. Also pinned placements, weights,
// the small-cluster balance, shard alignment and the flat-list adapter.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { alignToPrevious, planPlacement } from './domain-placement.js';
import type { DomainPlacement } from './domain-placement.js';
import { placePart } from './drive-placement.js';
import { failureDomainLevels, levelIndex } from './layout.js';
import { driveHash, partHash, unitScore } from './placement-hash.js';
import type { ClusterLayout, DriveState, FailureDomainLevel, LayoutDrive, Scheme } from './layout.js';

interface DriveSpec {
  readonly weight: number;
  readonly state: DriveState;
}

/** zones → racks → nodes → drives, as nested arrays (irregular shapes). */
function nestedLayout(level: FailureDomainLevel, zones: readonly (readonly (readonly (readonly DriveSpec[])[])[])[]): ClusterLayout {
  const drives: LayoutDrive[] = [];
  zones.forEach((racks, zone) => {
    racks.forEach((nodes, rack) => {
      nodes.forEach((specs, node) => {
        for (const spec of specs) drives.push({ id: drives.length * 7 + 3, ...spec, zone: `z${zone}`, rack: `r${rack}`, node: `n${node}` });
      });
    });
  });
  return { level, drives };
}

function grid(level: FailureDomainLevel, zones: number, racks: number, nodes: number, drives: number): ClusterLayout {
  const spec: DriveSpec = { weight: 1, state: 'active' };
  return nestedLayout(level, Array.from({ length: zones }, () => Array.from({ length: racks }, () => Array.from({ length: nodes }, () => Array.from({ length: drives }, () => spec)))));
}

const driveSpec = fc.record({
  weight: fc.constantFrom(0, 1, 1, 1, 2, 3, 0.5),
  state: fc.constantFrom<DriveState>('active', 'active', 'active', 'active', 'draining', 'failed'),
});
const arbitraryLayout = fc
  .tuple(fc.constantFrom(...failureDomainLevels), fc.array(fc.array(fc.array(fc.array(driveSpec, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }))
  .map(([level, zones]) => nestedLayout(level, zones));
const arbitraryScheme = fc.record({ k: fc.integer({ min: 1, max: 8 }), m: fc.integer({ min: 0, max: 4 }) });

/** The path of every drive at each level, for counting shards per domain. */
function domainKey(drive: LayoutDrive, level: FailureDomainLevel): string {
  const path = [drive.zone, drive.rack, drive.node, String(drive.id)];
  return path.slice(0, 4 - levelIndex(level)).join('/');
}

function placeable(layout: ClusterLayout): LayoutDrive[] {
  return layout.drives.filter((drive) => drive.state === 'active' && drive.weight > 0);
}

/** Whether some set of k+m distinct placeable drives keeps every domain at the level within m. */
function placementExists(layout: ClusterLayout, scheme: Scheme): boolean {
  const width = scheme.k + scheme.m;
  const drives = placeable(layout);
  if (drives.length < width) return false;
  if (layout.level === 'drive') return true;
  const perDomain = new Map<string, number>();
  for (const drive of drives) perDomain.set(domainKey(drive, layout.level), (perDomain.get(domainKey(drive, layout.level)) ?? 0) + 1);
  return [...perDomain.values()].reduce((sum, count) => sum + Math.min(scheme.m, count), 0) >= width;
}

function plan(layout: ClusterLayout, scheme: Scheme): DomainPlacement {
  const result = planPlacement(layout, scheme);
  assert.equal(result.status, 'ok', result.status === 'ok' ? '' : result.message);
  assert.ok(result.status === 'ok');
  return result.placement;
}

describe('domain placement: properties', () => {
  it('k+m distinct active drives, caps kept, ≤ m per domain at the level, deterministic', () => {
    fc.assert(
      fc.property(arbitraryLayout, arbitraryScheme, fc.array(fc.string(), { minLength: 1, maxLength: 10 }), (layout, scheme, partIds) => {
        const result = planPlacement(layout, scheme);
        const exists = placementExists(layout, scheme) && (scheme.m > 0 || layout.level === 'drive');
        assert.equal(result.status === 'ok', exists, result.status === 'ok' ? 'placed' : result.message);
        if (result.status !== 'ok') return;
        const copy = plan({ level: layout.level, drives: [...layout.drives].reverse() }, scheme);
        const byId = new Map(layout.drives.map((drive) => [drive.id, drive]));
        const width = scheme.k + scheme.m;
        for (const partId of partIds) {
          const drives = result.placement.place(partId);
          assert.equal(drives.length, width);
          assert.equal(new Set(drives).size, width);
          assert.deepEqual(result.placement.place(partId), drives, 'same plan, same answer');
          assert.deepEqual(copy.place(partId), drives, 'any copy of the layout, same answer');
          const chosen = drives.map((id) => byId.get(id)!);
          assert.ok(chosen.every((drive) => drive.state === 'active' && drive.weight > 0));
          if (layout.level !== 'drive') {
            const counts = new Map<string, number>();
            for (const drive of chosen) counts.set(domainKey(drive, layout.level), (counts.get(domainKey(drive, layout.level)) ?? 0) + 1);
            const most = Math.max(...counts.values());
            assert.ok(most <= scheme.m, `${most} shards in one ${layout.level}, m = ${scheme.m}`);
          }
          assertWithinCaps(result.placement, drives);
          assert.deepEqual(referencePlace(result.placement, partId), drives, 'the fast scan equals the definition');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses with a structured result naming the numbers', () => {
    const tooFew = planPlacement(grid('drive', 1, 1, 1, 4), { k: 4, m: 2 });
    assert.deepEqual(tooFew.status === 'not_enough_drives' && [tooFew.needed, tooFew.available], [6, 4]);
    const zones = planPlacement(grid('zone', 3, 1, 2, 4), { k: 10, m: 4 });
    assert.equal(zones.status, 'not_enough_domains');
    assert.ok(zones.status === 'not_enough_domains');
    assert.deepEqual([zones.needed, zones.available], [4, 3]);
    assert.match(zones.message, /10\+4 cannot survive the loss of a zone: its 14 shards over 3 zones put at least 5 in one zone/);
    const lopsided = nestedLayout('zone', [[[[{ weight: 1, state: 'active' }]]], [[[...Array<DriveSpec>(8).fill({ weight: 1, state: 'active' })]]]]);
    const small = planPlacement(lopsided, { k: 2, m: 2 });
    assert.equal(small.status, 'domains_too_small');
    assert.ok(small.status === 'domains_too_small');
    assert.match(small.message, /hold only 3 of the 4 shards/);
  });

  it('pins placements: the same drives in every process and version', () => {
    const layout: ClusterLayout = {
      level: 'zone',
      drives: [0, 1, 2].flatMap((zone) =>
        [0, 1].flatMap((node) => [0, 1, 2, 3].map((index) => ({ id: zone * 100 + node * 10 + index, weight: 1 + (index % 2), state: 'active' as const, zone: `z${zone}`, rack: 'r', node: `n${node}` }))),
      ),
    };
    const placement = plan(layout, { k: 4, m: 2 });
    assert.deepEqual(placement.place('a'), [211, 11, 201, 102, 113, 3]);
    assert.deepEqual(placement.place('b'), [203, 111, 3, 211, 102, 13]);
    assert.deepEqual(placement.place('part-42/3'), [202, 11, 110, 213, 3, 103]);
  });
});

function assertWithinCaps(placement: DomainPlacement, drives: readonly number[]): void {
  const { tree, caps } = placement;
  for (let l = 1; l < caps.length; l++) {
    const counts = new Map<number, number>();
    for (const id of drives) {
      let domain = tree.driveIds.indexOf(id);
      for (let up = 0; up < l; up++) domain = tree.levels[up]!.parent[domain]!;
      counts.set(domain, (counts.get(domain) ?? 0) + 1);
      assert.ok(counts.get(domain)! <= caps[l]![domain]!, `${tree.levels[l]!.names[domain]} over its cap ${caps[l]![domain]}`);
    }
  }
}

/** The definition, slowly: every drive's key, a full sort by (key, id), then greedy within the caps. */
function referencePlace(placement: DomainPlacement, partId: string): number[] {
  const { tree, caps } = placement;
  const part = partHash(partId);
  const keyed = tree.driveIds.map((id, index) => {
    const drive = driveHash(id);
    return { id, index, key: -Math.log(unitScore(part.high, part.low, drive.high, drive.low)) / tree.weights[index]! };
  });
  keyed.sort((a, b) => a.key - b.key || a.id - b.id);
  const counts = caps.map((levelCaps) => new Int32Array(levelCaps.length));
  const chosen: number[] = [];
  for (const { id, index } of keyed) {
    const domains: number[] = [index];
    for (let l = 1; l < caps.length; l++) domains.push(tree.levels[l - 1]!.parent[domains[l - 1]!]!);
    if (domains.some((domain, l) => l >= 1 && counts[l]![domain]! >= caps[l]![domain]!)) continue;
    domains.forEach((domain, l) => (counts[l]![domain]! += 1));
    chosen.push(id);
    if (chosen.length === placement.width) break;
  }
  return chosen;
}

function fill(placement: DomainPlacement, parts: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let part = 0; part < parts; part++) {
    for (const id of placement.place(`part-${part}`)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('domain placement: the candidate scan', () => {
  it('widens its candidate list when the top candidates crowd into few domains, and still equals the definition', () => {
    // One zone of 2000 drives and six zones of one drive: 5+2 over zones needs every small zone,
    // whose drives are rarely among the first candidates.
    const big = Array.from({ length: 2000 }, (_, index): LayoutDrive => ({ id: index, weight: 1, state: 'active', zone: 'big', rack: 'r', node: `n${index % 50}` }));
    const small = Array.from({ length: 6 }, (_, index): LayoutDrive => ({ id: 5000 + index, weight: 1, state: 'active', zone: `small-${index}`, rack: 'r', node: 'n' }));
    const placement = plan({ level: 'zone', drives: [...big, ...small] }, { k: 5, m: 2 });
    for (let part = 0; part < 60; part++) {
      const drives = placement.place(`p${part}`);
      assert.equal(drives.filter((id) => id >= 5000).length, 6);
      assert.deepEqual(referencePlace(placement, `p${part}`), drives);
    }
  });
});

describe('domain placement: balance and weights', () => {
  it('48 drives, 300k shards at node level: drive fill max/mean ≤ 1.05', () => {
    const layout = grid('node', 1, 2, 2, 12);
    const counts = fill(plan(layout, { k: 4, m: 2 }), 50_000);
    const values = layout.drives.map((drive) => counts.get(drive.id) ?? 0);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    assert.equal(mean, 6250);
    assert.ok(Math.max(...values) / mean <= 1.05, `max/mean ${Math.max(...values) / mean}`);
    assert.ok(Math.min(...values) / mean >= 0.95, `min/mean ${Math.min(...values) / mean}`);
  });

  it('a drive of weight 2 gets about twice the shards of a drive of weight 1', () => {
    const ratioOf = (layout: ClusterLayout, parts: number): number => {
      const counts = fill(plan(layout, { k: 4, m: 2 }), parts);
      const average = (weight: number): number => {
        const drives = layout.drives.filter((drive) => drive.weight === weight);
        return drives.reduce((sum, drive) => sum + (counts.get(drive.id) ?? 0), 0) / drives.length;
      };
      return average(2) / average(1);
    };
    const mixed = (nodes: number, drives: number, heavy: (drive: number) => boolean): ClusterLayout =>
      nestedLayout('node', [[Array.from({ length: nodes }, () => Array.from({ length: drives }, (_, drive) => ({ weight: heavy(drive) ? 2 : 1, state: 'active' as const })))]]);
    // Inside a node the race is exact: the node's shard goes to drive i with probability weight_i / node weight.
    const withinNodes = ratioOf(mixed(8, 10, (drive) => drive % 2 === 0), 40_000);
    assert.ok(withinNodes > 1.95 && withinNodes < 2.05, `within nodes: ${withinNodes}`);
    // Flat, 20 heavy drives of 200: picking 6 without replacement shaves a little off the heavy ones.
    const flat = ratioOf({ ...mixed(1, 200, (drive) => drive < 20), level: 'drive' }, 40_000);
    assert.ok(flat > 1.9 && flat < 2.1, `flat: ${flat}`);
  });

  it('even spread wins over weights where a cap binds (the documented trade-off)', () => {
    // 8 nodes, half with 3× the capacity; 4+2 at node level caps every node at 1 shard per part.
    const layout = nestedLayout('node', [[Array.from({ length: 8 }, (_, node) => Array.from({ length: node % 2 === 0 ? 30 : 10 }, () => ({ weight: 1, state: 'active' as const })))]]);
    const counts = fill(plan(layout, { k: 4, m: 2 }), 10_000);
    const perNode = (heavy: boolean): number =>
      layout.drives.filter((drive) => (Number(drive.node.slice(1)) % 2 === 0) === heavy).reduce((sum, drive) => sum + (counts.get(drive.id) ?? 0), 0) / 4;
    // Heavy nodes hold at most one shard of each part, so light nodes hold at least 2 of 6 between four: ≤ 2×, never 3×.
    assert.ok(perNode(true) <= 10_000, 'a heavy node holds at most one shard per part');
    assert.ok(perNode(false) >= 5_000, 'light nodes hold the shards heavy ones cannot');
    assert.ok(perNode(true) / perNode(false) > 1.2, `heavy nodes still fill faster: ${perNode(true) / perNode(false)}`);
  });

  it('a draining or failed drive gets no new shards', () => {
    const layout = grid('node', 1, 1, 4, 3);
    const changed: ClusterLayout = {
      level: 'node',
      drives: layout.drives.map((drive, index) => (index === 0 ? { ...drive, state: 'draining' } : index === 1 ? { ...drive, state: 'failed' } : drive)),
    };
    const counts = fill(plan(changed, { k: 2, m: 1 }), 2000);
    assert.equal(counts.get(layout.drives[0]!.id), undefined);
    assert.equal(counts.get(layout.drives[1]!.id), undefined);
  });
});

describe('alignToPrevious', () => {
  it('keeps shards on drives that stay, new drives take the freed indexes', () => {
    assert.deepEqual(alignToPrevious([1, 2, 3, 4], [9, 1, 3, 4]), [1, 9, 3, 4]);
    assert.deepEqual(alignToPrevious([1, 2, 3, 4], [8, 9, 4, 1]), [1, 8, 9, 4]);
    assert.deepEqual(alignToPrevious([1, 2], [1, 2]), [1, 2]);
  });
});

function breaksCaps(placement: DomainPlacement, drives: readonly number[]): boolean {
  try {
    assertWithinCaps(placement, drives);
    return false;
  } catch {
    return true;
  }
}

describe('placeAround (the healer and rebalancer)', () => {
  it('keeps the kept shards in place, fills the rest within the caps; nothing kept is place()', () => {
    fc.assert(
      fc.property(arbitraryLayout, arbitraryScheme, fc.string(), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), (layout, scheme, partId, freed) => {
        const before = planPlacement(layout, scheme);
        if (before.status !== 'ok') return;
        const drives = before.placement.place(partId);
        assert.deepEqual(before.placement.placeAround(partId, drives.map(() => undefined)), drives);
        // The drives of freed shards go draining: the new layout must place around the rest.
        const leaving = new Set(drives.filter((_, shard) => freed[shard]));
        const changed = { level: layout.level, drives: layout.drives.map((drive) => (leaving.has(drive.id) ? { ...drive, state: 'draining' as const } : drive)) };
        const after = planPlacement(changed, scheme);
        if (after.status !== 'ok') return;
        const kept = drives.map((drive) => (leaving.has(drive) ? undefined : drive));
        const moved = after.placement.placeAround(partId, kept);
        // The kept drives were within the old caps; the new caps may be tighter, and only then is there no answer.
        if (moved === undefined) {
          assert.ok(breaksCaps(after.placement, kept.filter((drive) => drive !== undefined)), 'kept drives within the caps can always be completed');
          return;
        }
        assert.equal(new Set(moved).size, moved.length);
        kept.forEach((drive, shard) => {
          if (drive !== undefined) assert.equal(moved[shard], drive, `shard ${shard} stays`);
          else assert.ok(!leaving.has(moved[shard]!), `shard ${shard} leaves its draining drive`);
        });
        assertWithinCaps(after.placement, moved);
      }),
      { numRuns: 300 },
    );
  });

  it('one drive of 4+2 over 3 zones drains: only its shard moves, to the zone with room', () => {
    const layout = grid('zone', 3, 1, 2, 2);
    const before = plan(layout, { k: 4, m: 2 });
    const drives = before.place('part-7');
    const leaving = drives[3]!;
    const after = plan({ level: 'zone', drives: layout.drives.map((drive) => (drive.id === leaving ? { ...drive, state: 'draining' } : drive)) }, { k: 4, m: 2 });
    const moved = after.placeAround('part-7', drives.map((drive) => (drive === leaving ? undefined : drive)))!;
    assert.deepEqual(moved.filter((drive, shard) => drive !== drives[shard]).length, 1);
    assert.notEqual(moved[3], leaving);
    assertWithinCaps(after, moved);
    assert.equal(after.placeAround('part-7', [...drives.slice(0, 3), undefined, undefined, 999]), undefined, 'a kept drive outside the layout');
  });
});

describe('placePart (flat drive list adapter)', () => {
  it('places on the best active drives, refuses too few, and answers the same for the same part', () => {
    const drives = Array.from({ length: 8 }, (_, id) => ({ id, weight: 1, state: id === 7 ? ('draining' as const) : ('active' as const) }));
    const placed = placePart('v/1', { k: 4, m: 2 }, drives);
    assert.equal(placed.status, 'ok');
    assert.ok(placed.status === 'ok');
    assert.equal(new Set(placed.drives).size, 6);
    assert.ok(!placed.drives.includes(7));
    assert.deepEqual(placePart('v/1', { k: 4, m: 2 }, [...drives]), placed);
    assert.deepEqual(placePart('v/1', { k: 6, m: 2 }, drives), { status: 'not_enough_drives', needed: 8, available: 7 });
    assert.equal(placePart('v/1', { k: 1, m: 0 }, drives).status, 'ok');
  });
});
