// What the worker tests (healer, orphan sweep) share: a clock whose wall time
// a test moves past a grace period while its timers stay real, and one temp
// folder per test case, kept alive for the file's tests.

import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../io/clock.js';
import { NodeClock } from '../io/node/node-clock.js';

/** Real timers, wall time that a test can move forward (`offsetMs`: a grace period passing). */
export class WallClock implements Clock {
  private readonly clock = new NodeClock();
  offsetMs = 0;
  nowMs(): number {
    return this.clock.nowMs() + this.offsetMs;
  }
  monotonicMs(): number {
    return this.clock.monotonicMs();
  }
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    return this.clock.setTimer(delayMs, callback);
  }
  clearTimer(handle: TimerHandle): void {
    this.clock.clearTimer(handle);
  }
  sleep(delayMs: number): Promise<void> {
    return this.clock.sleep(delayMs);
  }
}

/**
 * Registers before/after hooks for a test file: a temp folder removed at the
 * end, and a ref'd interval meanwhile (NodeClock's timers do not keep the
 * process alive; a test waiting only on them, a replica's tick or a writer's
 * retry, would end with its promise pending). Returns the function that gives
 * each test case a fresh folder under it.
 */
export function caseFolders(prefix: string): () => string {
  let root = '';
  let next = 0;
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  before(() => {
    root = mkdtempSync(join(tmpdir(), prefix));
    keepAlive = setInterval(() => undefined, 50);
  });
  after(() => {
    clearInterval(keepAlive);
    rmSync(root, { recursive: true, force: true });
  });
  return () => join(root, `case-${next++}`);
}
