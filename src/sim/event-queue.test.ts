// Events run in (time, scheduling order): ties never depend on the heap.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventQueue } from './event-queue.js';

describe('EventQueue', () => {
  it('runs events by time, then in the order they were scheduled', () => {
    const queue = new EventQueue(100);
    const seen: string[] = [];
    queue.schedule(5, () => seen.push('b'));
    queue.schedule(1, () => seen.push('a'));
    queue.schedule(5, () => seen.push('c'));
    queue.schedule(5, () => {
      seen.push('d');
      queue.schedule(0, () => seen.push('e'));
    });
    queue.schedule(9, () => seen.push('late'));
    queue.runUntil(5);
    assert.deepEqual(seen, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(queue.nowMs, 5);
    assert.equal(queue.size, 1);
  });
});
