// The Clock seam for a node of the cluster simulation: timers are events on
// the simulation's queue, so time moves only as the queue runs and a seed
// replays exactly. Monotonic time is the queue's time; wall time is a fixed
// epoch plus it (every node shares one clock: the group simulator covers
// drift). A timer of a node that has crashed never fires.

import type { Clock, TimerHandle } from '../../io/clock.js';
import { assert } from '../../stdx/assert.js';
import type { EventQueue } from '../event-queue.js';
import type { Incarnation } from './incarnation.js';

/** Timers one node may have pending at once (a leak shows up as an assertion). */
const timersPendingMax = 1_000_000;

export class SimClock implements Clock {
  private nextTimerId = 1;
  private readonly pending = new Set<number>();

  constructor(
    private readonly queue: EventQueue,
    private readonly life: Incarnation,
    private readonly epochMs: number,
  ) {}

  nowMs(): number {
    return this.epochMs + this.queue.nowMs;
  }

  monotonicMs(): number {
    return this.queue.nowMs;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    assert(Number.isFinite(delayMs), `timer delay ${delayMs}`);
    const id = this.nextTimerId++;
    this.pending.add(id);
    assert(this.pending.size <= timersPendingMax, `${this.life.node}: more than ${timersPendingMax} timers pending`);
    this.queue.schedule(Math.max(0, delayMs), () => {
      if (!this.pending.delete(id) || !this.life.alive) return;
      callback();
    });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.pending.delete(handle.id);
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(delayMs, resolve));
  }
}
