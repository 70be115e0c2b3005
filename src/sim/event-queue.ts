// The simulator's event loop: events ordered by simulated time, then by the
// order they were scheduled, in a binary heap. Same schedule, same order: the
// root of reproducibility.

import { assert } from '../stdx/assert.js';

interface Event {
  readonly timeMs: number;
  readonly sequence: number;
  readonly run: () => void;
}

export class EventQueue {
  private readonly heap: Event[] = [];
  private sequence = 0;
  private nowMsValue = 0;

  constructor(private readonly eventsMax: number) {}

  get nowMs(): number {
    return this.nowMsValue;
  }

  get size(): number {
    return this.heap.length;
  }

  schedule(delayMs: number, run: () => void): void {
    assert(delayMs >= 0 && Number.isFinite(delayMs), `event delay ${delayMs}`);
    assert(this.heap.length < this.eventsMax, `event queue full (${this.eventsMax} events)`);
    this.heap.push({ timeMs: this.nowMsValue + delayMs, sequence: this.sequence++, run });
    this.siftUp(this.heap.length - 1);
  }

  /** When the next event is due, or undefined when none is queued. */
  get nextEventMs(): number | undefined {
    return this.heap[0]?.timeMs;
  }

  /**
   * Runs the earliest event alone (time moves to it); false when none is
   * queued. For a caller that must do work between events (the cluster
   * simulation drains the microtasks each event starts).
   */
  runNext(): boolean {
    if (this.heap.length === 0) return false;
    const event = this.pop();
    assert(event.timeMs >= this.nowMsValue, 'time never goes back');
    this.nowMsValue = event.timeMs;
    event.run();
    return true;
  }

  /** Runs events in order until the next one is later than `timeMs`; time ends at `timeMs`. */
  runUntil(timeMs: number): void {
    while (this.heap.length > 0 && this.heap[0]!.timeMs <= timeMs) {
      const event = this.pop();
      assert(event.timeMs >= this.nowMsValue, 'time never goes back');
      this.nowMsValue = event.timeMs;
      event.run();
    }
    this.nowMsValue = Math.max(this.nowMsValue, timeMs);
  }

  private pop(): Event {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private before(a: Event, b: Event): boolean {
    return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.sequence < b.sequence);
  }

  private siftUp(start: number): void {
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.before(this.heap[index]!, this.heap[parent]!)) return;
      [this.heap[index], this.heap[parent]] = [this.heap[parent]!, this.heap[index]!];
      index = parent;
    }
  }

  private siftDown(start: number): void {
    let index = start;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < this.heap.length && this.before(this.heap[left]!, this.heap[smallest]!)) smallest = left;
      if (right < this.heap.length && this.before(this.heap[right]!, this.heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      [this.heap[index], this.heap[smallest]] = [this.heap[smallest]!, this.heap[index]!];
      index = smallest;
    }
  }
}
