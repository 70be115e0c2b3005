// The periodic background work of a gateway with workers: every interval, a
// janitor pass (stale PREPARING versions), stale multipart uploads, then a GC
// pass, then (in a cluster) a healer/rebalancer pass, which runs even when
// the ones before it failed. Passes never overlap: the next is scheduled when
// one ends. Returns the function that stops the schedule. schedulePass runs
// one other pass on its own interval the same way (the cluster orphan sweep,
// once per gateway rather than per group).

import type { Env } from '../io/env.js';
import type { GarbageCollector } from './garbage-collector.js';
import type { Janitor } from './janitor.js';
import type { Rebalancer } from './rebalancer.js';

export function scheduleBackgroundPasses(env: Env, janitor: Janitor, gc: GarbageCollector, intervalMs: number, rebalancer?: Rebalancer): () => void {
  let stopped = false;
  const schedule = (): void => {
    env.clock.setTimer(intervalMs, () => {
      if (stopped) return;
      void janitor
        .runPass()
        .then(() => janitor.abortStaleUploads())
        .then(() => gc.runPass())
        .catch((error: unknown) => {
          env.logger.log('warn', 'background pass failed', { error: String(error) });
        })
        .then(() => rebalancer?.runPass())
        .catch((error: unknown) => {
          env.logger.log('warn', 'healer/rebalancer pass failed', { error: String(error) });
        })
        .finally(schedule);
    });
  };
  schedule();
  return () => {
    stopped = true;
  };
}

/** Runs `pass` every `intervalMs` (after the previous one ended), logging its failure under `name`; returns the stop function. */
export function schedulePass(env: Env, name: string, intervalMs: number, pass: () => Promise<unknown>): () => void {
  let stopped = false;
  const schedule = (): void => {
    env.clock.setTimer(intervalMs, () => {
      if (stopped) return;
      void pass()
        .catch((error: unknown) => {
          env.logger.log('warn', `${name} pass failed`, { error: String(error) });
        })
        .finally(schedule);
    });
  };
  schedule();
  return () => {
    stopped = true;
  };
}
