// BUGGIFY for the simulator (FoundationDB's name): the fault points that
// production code asks about through Env.faults fire here, each by its own
// rate, for the points this seed switched on. Which points are on, and every
// firing, come from the simulation's PRNG, so a seed replays exactly.

import type { FaultPoints } from '../io/env.js';
import type { Prng } from './prng.js';
import type { TraceHash } from './trace-hash.js';

/** Firing rate per call of each known point (calls come per tick, per request, per repair). */
export const faultPointRates: Readonly<Record<string, number>> = {
  'vsr.primary_abdicates': 0.0005,
  'vsr.drop_request': 0.02,
  'vsr.repair_one_entry': 0.3,
  'vsr.checkpoint_for_repair': 0.2,
};

export class SimFaultPoints implements FaultPoints {
  /** Off: nothing fires (the quiet phase of a run). */
  enabled = true;
  /** Firings so far, by point. */
  readonly fired = new Map<string, number>();
  private readonly on: ReadonlySet<string>;

  constructor(
    private readonly prng: Prng,
    private readonly trace: TraceHash,
  ) {
    // Each point is on in about half the seeds: a point always on would hide
    // the behaviour of runs without it.
    this.on = new Set(Object.keys(faultPointRates).filter(() => prng.chance(0.5)));
  }

  /** The points this seed switched on. */
  get points(): readonly string[] {
    return [...this.on];
  }

  fire(name: string): boolean {
    if (!this.enabled || !this.on.has(name)) return false;
    if (!this.prng.chance(faultPointRates[name] ?? 0)) return false;
    this.fired.set(name, (this.fired.get(name) ?? 0) + 1);
    this.trace.mix('buggify', name);
    return true;
  }
}
