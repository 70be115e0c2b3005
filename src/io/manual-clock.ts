// A Clock that moves only when told to, for tests: timers fire in due order
// as `advance` (or `fireNext`, one at a time) passes them. Wall time is a
// fixed epoch plus the monotonic time.

import type { Clock, TimerHandle } from './clock.js';

export class ManualClock implements Clock {
  private monotonic: number;
  private nextTimerId = 1;
  private readonly timers = new Map<number, { dueMs: number; callback: () => void }>();

  constructor(options: { readonly startMs?: number; readonly epochMs?: number } = {}) {
    this.monotonic = options.startMs ?? 0;
    this.epochMs = options.epochMs ?? 1_800_000_000_000;
  }

  private readonly epochMs: number;

  get timersPending(): number {
    return this.timers.size;
  }

  nowMs(): number {
    return this.epochMs + this.monotonic;
  }

  monotonicMs(): number {
    return this.monotonic;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextTimerId++;
    this.timers.set(id, { dueMs: this.monotonic + delayMs, callback });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(delayMs, resolve));
  }

  /** Fires the earliest timer due at or before `untilMs` (time moves to it); false when none is. */
  fireNext(untilMs: number): boolean {
    const due = [...this.timers.entries()].filter(([, timer]) => timer.dueMs <= untilMs).sort((a, b) => a[1].dueMs - b[1].dueMs)[0];
    if (due === undefined) return false;
    this.timers.delete(due[0]);
    this.monotonic = Math.max(this.monotonic, due[1].dueMs);
    due[1].callback();
    return true;
  }

  /** Moves time forward by `deltaMs`, firing every timer it passes in due order. */
  advance(deltaMs: number): void {
    const targetMs = this.monotonic + deltaMs;
    while (this.fireNext(targetMs)) {
      // Each fired timer may set more; they fire too if due.
    }
    this.monotonic = targetMs;
  }
}
