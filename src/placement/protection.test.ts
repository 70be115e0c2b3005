// Protection analysis tests: the issue's examples ("10+4 over 3 zones cannot
// survive a zone; 6+3 can"), the sentences `cluster status` shows, and two
// properties on random small layouts: the analysis is exact (brute force over
// every placement the caps allow finds the same worst losses) and sound for
// the placements actually made.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planPlacement } from './domain-placement.js';
import type { DomainPlacement } from './domain-placement.js';
import { failureDomainLevels } from './layout.js';
import type { ClusterLayout, FailureDomainLevel, LayoutDrive, Scheme } from './layout.js';
import { analyzeProtection, validateScheme } from './protection.js';
import type { ProtectionReport } from './protection.js';

function grid(level: FailureDomainLevel, zones: number, racks: number, nodes: number, drives: number): ClusterLayout {
  const list: LayoutDrive[] = [];
  for (let zone = 0; zone < zones; zone++) {
    for (let rack = 0; rack < racks; rack++) {
      for (let node = 0; node < nodes; node++) {
        for (let drive = 0; drive < drives; drive++) list.push({ id: list.length, weight: 1, state: 'active', zone: `z${zone}`, rack: `r${rack}`, node: `n${node}` });
      }
    }
  }
  return { level, drives: list };
}

function report(layout: ClusterLayout, scheme: Scheme): ProtectionReport {
  const result = validateScheme(layout, scheme);
  assert.equal(result.status, 'ok', result.status === 'ok' ? '' : result.message);
  assert.ok(result.status === 'ok');
  return result.report;
}

function refusal(layout: ClusterLayout, scheme: Scheme): string {
  const result = validateScheme(layout, scheme);
  assert.equal(result.status, 'refused');
  return result.status === 'refused' ? result.message : '';
}

function lost(entry: ProtectionReport, level: FailureDomainLevel): number {
  return entry.levels.find((candidate) => candidate.level === level)!.domainsLost;
}

describe('protection: examples', () => {
  it('10+4 over 3 zones cannot survive a zone; 6+3 can', () => {
    const zones = grid('zone', 3, 2, 2, 4);
    assert.match(
      refusal(zones, { k: 10, m: 4 }),
      /^Scheme 10\+4 cannot survive the loss of a zone: its 14 shards over 3 zones put at least 5 in one zone, more than its 4 parity shards\. It needs 4 zones, the layout has 3; over 3 zones, 4 parity shards allow at most k = 8 \(8\+4\)$/,
    );
    const sixThree = report(zones, { k: 6, m: 3 });
    assert.equal(sixThree.survivesLevel, 'zone');
    assert.equal(lost(sixThree, 'zone'), 1);
    assert.equal(sixThree.levels[3]!.shardsLostMax[1], 3, '3 shards per zone');
    assert.equal(report(grid('zone', 3, 1, 2, 4), { k: 8, m: 4 }).survivesLevel, 'zone', 'the largest k the message offers works');
  });

  it('4+2 over 3 zones: any 1 zone, or any 2 nodes, or any 2 drives', () => {
    assert.equal(report(grid('zone', 3, 1, 2, 4), { k: 4, m: 2 }).sentence, '4+2 over 3 zones: survives the loss of any 1 zone, or any 2 nodes, or any 2 drives');
    assert.equal(
      report(grid('zone', 3, 2, 2, 4), { k: 4, m: 2 }).sentence,
      '4+2 over 3 zones: survives the loss of any 1 zone, or any 2 racks, or any 2 nodes, or any 2 drives',
    );
  });

  it('3 nodes, 4+2 at node level: 2 shards per node, survives any 1 node; 2 nodes cannot', () => {
    const three = report(grid('node', 1, 1, 3, 4), { k: 4, m: 2 });
    assert.equal(three.sentence, '4+2 over 3 nodes: survives the loss of any 1 node, or any 2 drives');
    assert.equal(three.survivesLevel, 'node');
    assert.deepEqual(three.levels[1]!.shardsLostMax, [0, 2, 4, 6]);
    assert.match(refusal(grid('node', 1, 1, 2, 4), { k: 4, m: 2 }), /4\+2 cannot survive the loss of a node: its 6 shards over 2 nodes put at least 3 in one node.*It needs 3 nodes, the layout has 2/);
  });

  it('2 nodes spread at drive level survive drives only', () => {
    const drives = report(grid('drive', 1, 1, 2, 4), { k: 4, m: 2 });
    assert.equal(drives.sentence, '4+2 over 8 drives: survives the loss of any 2 drives');
    assert.equal(drives.survivesLevel, 'drive');
    assert.equal(lost(drives, 'node'), 0);
  });

  it('more layouts: 10 zones, 6 racks, a single node, no parity', () => {
    assert.equal(report(grid('zone', 10, 10, 10, 12), { k: 4, m: 2 }).sentence, '4+2 over 10 zones: survives the loss of any 2 zones, or any 2 racks, or any 2 nodes, or any 2 drives');
    // Racks are spread 2 per rack over 6 racks; a zone of 2 racks then holds 4 = m, so a zone is survivable too.
    assert.equal(report(grid('rack', 3, 2, 2, 12), { k: 8, m: 4 }).sentence, '8+4 over 6 racks: survives the loss of any 1 zone, or any 2 racks, or any 4 nodes, or any 4 drives');
    assert.equal(report(grid('drive', 1, 1, 1, 12), { k: 8, m: 4 }).sentence, '8+4 over 12 drives: survives the loss of any 4 drives');
    assert.match(refusal(grid('drive', 1, 1, 1, 4), { k: 4, m: 0 }), /4\+0 cannot survive the loss of a drive: it has no parity shards/);
    const unprotected = analyzeProtection(grid('drive', 1, 1, 1, 4), { k: 4, m: 0 });
    assert.ok(unprotected.status === 'ok');
    assert.equal(unprotected.report.sentence, '4+0 over 4 drives: no protection, losing any drive can lose data');
    assert.equal(unprotected.report.survivesLevel, undefined);
    assert.match(refusal(grid('node', 1, 1, 4, 4), { k: 4, m: 0 }), /no parity shards/);
    assert.match(refusal(grid('node', 1, 1, 4, 1), { k: 4, m: 2 }), /needs 6 active drives, layout has 4/);
  });

  it('uneven domains: caps rise toward m so a small zone does not block the layout', () => {
    // Zones of 1, 6 and 6 drives; 3+3 over zones: an even 2 per zone cannot fit in the small zone, 3 per zone can.
    const layout: ClusterLayout = {
      level: 'zone',
      drives: [1, 6, 6].flatMap((size, zone) => Array.from({ length: size }, (_, index) => ({ id: zone * 10 + index, weight: 1, state: 'active' as const, zone: `z${zone}`, rack: 'r', node: `n${index}` }))),
    };
    const uneven = report(layout, { k: 3, m: 3 });
    assert.deepEqual(uneven.levels[3]!.shardsLostMax, [0, 3, 6, 6]);
    assert.equal(lost(uneven, 'zone'), 1);
  });
});

/** Every placement the caps allow, as tree drive indexes (small layouts only). */
function allowedSets(placement: DomainPlacement): number[][] {
  const { tree, caps } = placement;
  const width = placement.scheme.k + placement.scheme.m;
  const sets: number[][] = [];
  const chosen: number[] = [];
  const within = (): boolean => {
    for (let l = 1; l < caps.length; l++) {
      const counts = new Map<number, number>();
      for (const drive of chosen) {
        let domain = drive;
        for (let up = 0; up < l; up++) domain = tree.levels[up]!.parent[domain]!;
        counts.set(domain, (counts.get(domain) ?? 0) + 1);
        if (counts.get(domain)! > caps[l]![domain]!) return false;
      }
    }
    return true;
  };
  const walk = (next: number): void => {
    if (!within()) return;
    if (chosen.length === width) {
      sets.push([...chosen]);
      return;
    }
    for (let drive = next; drive < tree.driveIds.length; drive++) {
      chosen.push(drive);
      walk(drive + 1);
      chosen.pop();
    }
  };
  walk(0);
  return sets;
}

/** Most shards f whole domains at `level` hold in this set of drive indexes, f = 0 … limit. */
function lossBySet(placement: DomainPlacement, drives: readonly number[], level: number, limit: number): number[] {
  const counts = new Map<number, number>();
  for (const drive of drives) {
    let domain = drive;
    for (let up = 0; up < level; up++) domain = placement.tree.levels[up]!.parent[domain]!;
    counts.set(domain, (counts.get(domain) ?? 0) + 1);
  }
  const sorted = [...counts.values()].sort((a, b) => b - a);
  const total = Math.min(limit, placement.tree.levels[level]!.count);
  return Array.from({ length: total + 1 }, (_, f) => sorted.slice(0, f).reduce((sum, count) => sum + count, 0));
}

const smallLayout = fc
  .tuple(
    fc.constantFrom(...failureDomainLevels),
    fc.array(fc.record({ zone: fc.integer({ min: 0, max: 2 }), rack: fc.integer({ min: 0, max: 1 }), node: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 10 }),
  )
  .map(([level, paths]): ClusterLayout => ({
    level,
    drives: paths.map((path, id) => ({ id, weight: 1, state: 'active', zone: `z${path.zone}`, rack: `r${path.rack}`, node: `n${path.node}` })),
  }));
const smallScheme = fc.record({ k: fc.integer({ min: 1, max: 5 }), m: fc.integer({ min: 0, max: 3 }) });

describe('protection: properties', () => {
  it('is exact: brute force over every allowed placement finds the same worst loss per level', () => {
    fc.assert(
      fc.property(smallLayout, smallScheme, (layout, scheme) => {
        const planned = planPlacement(layout, scheme);
        const analysis = analyzeProtection(layout, scheme);
        assert.equal(analysis.status, planned.status);
        if (planned.status !== 'ok' || analysis.status !== 'ok') return;
        const sets = allowedSets(planned.placement);
        assert.ok(sets.length > 0);
        analysis.report.levels.forEach((entry, level) => {
          const worst = entry.shardsLostMax.map((_, f) => Math.max(...sets.map((set) => lossBySet(planned.placement, set, level, scheme.m + 1)[f]!)));
          assert.deepEqual(entry.shardsLostMax, worst, `${entry.level}: analysis ${entry.shardsLostMax.join(',')} vs brute force ${worst.join(',')}`);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('is sound for the placements made: f lost domains never hold more than shardsLostMax[f]', () => {
    fc.assert(
      fc.property(smallLayout, smallScheme, fc.array(fc.string(), { minLength: 1, maxLength: 20 }), (layout, scheme, partIds) => {
        const planned = planPlacement(layout, scheme);
        const analysis = analyzeProtection(layout, scheme);
        if (planned.status !== 'ok' || analysis.status !== 'ok') return;
        const indexOf = new Map(planned.placement.tree.driveIds.map((id, index) => [id, index]));
        for (const partId of partIds) {
          const drives = planned.placement.place(partId).map((id) => indexOf.get(id)!);
          analysis.report.levels.forEach((entry, level) => {
            const losses = lossBySet(planned.placement, drives, level, scheme.m + 1);
            losses.forEach((loss, f) => {
              assert.ok(loss <= entry.shardsLostMax[f]!, `${entry.level}, ${f} lost: ${loss} > ${entry.shardsLostMax[f]}`);
            });
            assert.ok(losses[entry.domainsLost]! <= scheme.m, 'the domains it claims to survive lose at most m');
          });
        }
      }),
      { numRuns: 300 },
    );
  });
});
