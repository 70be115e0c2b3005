// Waiting in tests that run real timers: until a condition holds, within a
// deadline that fails the test with what was awaited.

import assert from 'node:assert/strict';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every `stepMs` until it holds; fails naming `what` after `timeoutMs` of real time. */
export async function eventually(condition: () => boolean, what: string, { timeoutMs = 5000, stepMs = 10 }: { timeoutMs?: number; stepMs?: number } = {}): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    assert.ok(performance.now() < deadline, `timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(stepMs);
  }
}
