// `tessera cluster start` lays metadata groups over the nodes: each group's
// replicas on distinct nodes in distinct zones (when there are enough zones),
// replicas (within each zone) and first primaries spread evenly.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { placeMetaGroups } from './cluster.js';

/** `count` nodes dealt round-robin over `zones` zones, as `cluster start` makes them. */
function nodes(count: number, zones: number): { zone: string }[] {
  return Array.from({ length: count }, (_, index) => ({ zone: `zone-${index % zones}` }));
}

function check(count: number, zones: number, groups: number, replicas: number): number[][] {
  const layout = nodes(count, zones);
  const placement = placeMetaGroups(layout, groups, replicas);
  assert.equal(placement.length, groups);
  const hosted = layout.map(() => 0);
  const leading = layout.map(() => 0);
  for (const chosen of placement) {
    assert.equal(chosen.length, replicas);
    assert.equal(new Set(chosen).size, replicas, `distinct nodes: ${chosen.join(', ')}`);
    if (zones >= replicas) assert.equal(new Set(chosen.map((index) => layout[index]!.zone)).size, replicas, `distinct zones: ${chosen.join(', ')}`);
    for (const index of chosen) hosted[index]! += 1;
    leading[chosen[0]!]! += 1;
  }
  // Every group needs a replica in each of `replicas` zones, so a zone of few nodes carries more: balance holds within a zone.
  for (const zone of new Set(layout.map((node) => node.zone))) {
    const inZone = hosted.filter((_, index) => layout[index]!.zone === zone);
    assert.ok(Math.max(...inZone) - Math.min(...inZone) <= 1, `replicas per node of ${zone}: ${inZone.join(', ')}`);
  }
  assert.ok(Math.max(...leading) - Math.min(...leading) <= 1, `first primaries per node ${leading.join(', ')}`);
  return placement;
}

describe('placeMetaGroups', () => {
  it('6 nodes in 3 zones, 2 groups: each group on 3 nodes of its own', () => {
    assert.deepEqual(check(6, 3, 2, 3), [
      [0, 1, 2],
      [3, 4, 5],
    ]);
  });

  it('3 nodes in 3 zones, 2 groups: every node a replica of both, the first primaries apart', () => {
    const placement = check(3, 3, 2, 3);
    assert.notEqual(placement[0]![0], placement[1]![0]);
  });

  it('uneven layouts stay in distinct zones and balanced', () => {
    // Zones 1 and 2 have one node each: those two nodes hold a replica of every group.
    assert.deepEqual(check(4, 3, 3, 3), [
      [0, 1, 2],
      [3, 1, 2],
      [1, 0, 2],
    ]);
    check(7, 3, 5, 3);
    check(12, 4, 8, 3);
    check(5, 5, 4, 5);
  });

  it('fewer zones than replicas: distinct nodes; one node: groups of 1', () => {
    check(3, 1, 2, 3);
    assert.deepEqual(check(1, 1, 2, 1), [[0], [0]]);
  });
});
