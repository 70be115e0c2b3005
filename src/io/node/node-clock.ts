// The real Clock: Date.now, performance.now and Node timers. Only process/,
// cli/ and tests construct it.

import type { Clock, TimerHandle } from '../clock.js';

export class NodeClock implements Clock {
  private nextTimerId = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  nowMs(): number {
    return Date.now();
  }

  monotonicMs(): number {
    return performance.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextTimerId++;
    const timer = setTimeout(() => {
      this.timers.delete(id);
      callback();
    }, delayMs);
    timer.unref();
    this.timers.set(id, timer);
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    const timer = this.timers.get(handle.id);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.timers.delete(handle.id);
    }
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.setTimer(delayMs, resolve);
    });
  }
}
