// PendingRestarts: the earliest due time, due restarts taken out latest
// scheduled first (the order recorded seeds replay with), and removal.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PendingRestarts } from './pending-restarts.js';

describe('PendingRestarts', () => {
  it('wakes at the earliest, takes out what is due latest scheduled first, and leaves the rest', () => {
    const restarts = new PendingRestarts<{ readonly name: string; readonly atMs: number }>();
    assert.equal(restarts.nextMs(), Number.POSITIVE_INFINITY);
    for (const [name, atMs] of [['a', 30], ['b', 10], ['c', 50], ['d', 20]] as const) restarts.add({ name, atMs });
    assert.equal(restarts.nextMs(), 10);
    assert.deepEqual(restarts.takeDue(30).map((restart) => restart.name), ['d', 'b', 'a']);
    assert.equal(restarts.size, 1);
    assert.equal(restarts.nextMs(), 50);
    assert.deepEqual(restarts.takeDue(49), []);
    assert.equal(restarts.some((restart) => restart.name === 'c'), true);
    restarts.removeFirst((restart) => restart.name === 'c');
    assert.equal(restarts.size, 0);
    restarts.add({ name: 'e', atMs: 5 });
    restarts.clear();
    assert.deepEqual(restarts.takeDue(100), []);
  });
});
