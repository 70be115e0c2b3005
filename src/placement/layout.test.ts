// Layout index tests: invalid layouts are refused with a message naming the
// value, names are scoped by their parent, and only active drives with a
// positive weight are placeable.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { indexLayout } from './layout.js';
import type { ClusterLayout, LayoutDrive } from './layout.js';

function drive(id: number, zone: string, rack: string, node: string, extra: Partial<LayoutDrive> = {}): LayoutDrive {
  return { id, weight: 1, state: 'active', zone, rack, node, ...extra };
}

function indexed(layout: ClusterLayout) {
  const result = indexLayout(layout);
  assert.equal(result.status, 'ok');
  assert.ok(result.status === 'ok');
  return result.tree;
}

describe('indexLayout', () => {
  it('numbers domains per level, a name scoped by its parent', () => {
    const tree = indexed({
      level: 'rack',
      drives: [drive(3, 'a', 'r1', 'n1'), drive(1, 'a', 'r1', 'n1'), drive(2, 'b', 'r1', 'n1'), drive(4, 'b', 'r2', 'n1')],
    });
    assert.deepEqual(tree.driveIds, [1, 2, 3, 4]);
    assert.deepEqual(tree.levels.map((level) => level.count), [4, 3, 3, 2]);
    assert.deepEqual(Array.from(tree.levels[3]!.driveCount), [2, 2]);
    assert.deepEqual(Array.from(tree.levels[2]!.driveCount), [2, 1, 1]);
    assert.equal(tree.levels[1]!.names[2], 'zone b / rack r2 / node n1');
  });

  it('leaves out draining, failed and zero-weight drives', () => {
    const tree = indexed({
      level: 'node',
      drives: [drive(1, 'a', 'r', 'n'), drive(2, 'a', 'r', 'n', { state: 'draining' }), drive(3, 'a', 'r', 'm', { state: 'failed' }), drive(4, 'a', 'r', 'n', { weight: 0 })],
    });
    assert.deepEqual(tree.driveIds, [1]);
    assert.equal(tree.levels[1]!.count, 1);
  });

  it('refuses duplicate ids, bad weights and empty names, naming the drive', () => {
    const refused = (drives: LayoutDrive[]): string => {
      const result = indexLayout({ level: 'drive', drives });
      assert.equal(result.status, 'invalid_layout');
      return result.status === 'invalid_layout' ? result.message : '';
    };
    assert.match(refused([drive(1, 'a', 'r', 'n'), drive(1, 'a', 'r', 'm')]), /drive id 1 appears twice/);
    assert.match(refused([drive(2, 'a', 'r', 'n', { weight: -1 })]), /drive 2 has weight -1/);
    assert.match(refused([drive(3, 'a', 'r', 'n', { weight: Number.NaN })]), /drive 3 has weight NaN/);
    assert.match(refused([drive(1.5, 'a', 'r', 'n')]), /drive id 1.5/);
    assert.match(refused([drive(4, 'a', '', 'n')]), /drive 4 has an empty/);
  });
});
