// Placement for callers that see only a flat list of drives (the embedded
// server and its gateway): every drive is its own failure domain on one node,
// and the k+m shards go to the k+m best drives by weighted rendezvous hashing.
// A thin adapter over domain-placement.ts, so one algorithm places shards
// everywhere; the plan for a drive list is built once and cached per list.

import { assert } from '../stdx/assert.js';
import { planPlacement } from './domain-placement.js';
import type { DomainPlacement } from './domain-placement.js';
import type { ClusterLayout, Scheme } from './layout.js';

export type { Scheme } from './layout.js';

export interface PlacementDrive {
  readonly id: number;
  readonly weight: number;
  readonly state: 'active' | 'draining';
}

export type PlacementResult =
  | { readonly status: 'ok'; readonly drives: number[] }
  | { readonly status: 'not_enough_drives'; readonly needed: number; readonly available: number };

const plans = new WeakMap<readonly PlacementDrive[], Map<string, DomainPlacement | PlacementResult>>();

export function singleNodeLayout(drives: readonly PlacementDrive[]): ClusterLayout {
  return { level: 'drive', drives: drives.map((drive) => ({ ...drive, zone: 'local', rack: 'local', node: 'local' })) };
}

function planFor(scheme: Scheme, drives: readonly PlacementDrive[]): DomainPlacement | PlacementResult {
  let byScheme = plans.get(drives);
  if (byScheme === undefined) {
    byScheme = new Map();
    plans.set(drives, byScheme);
  }
  const key = `${scheme.k}+${scheme.m}`;
  const cached = byScheme.get(key);
  if (cached !== undefined) return cached;
  const planned = planPlacement(singleNodeLayout(drives), scheme);
  assert(planned.status === 'ok' || planned.status === 'not_enough_drives', `drive list is a valid layout: ${planned.status}`);
  const entry = planned.status === 'ok' ? planned.placement : { status: planned.status, needed: planned.needed, available: planned.available };
  byScheme.set(key, entry);
  return entry;
}

export function placePart(partId: string, scheme: Scheme, drives: readonly PlacementDrive[]): PlacementResult {
  const plan = planFor(scheme, drives);
  if (!('place' in plan)) return plan;
  return { status: 'ok', drives: plan.place(partId) };
}

/** What the layout survives: with one shard per drive, any m drives. */
export function describeProtection(scheme: Scheme, driveCount: number): string {
  if (scheme.m === 0) return `no parity: losing any drive loses data (${driveCount} drive(s), scheme ${scheme.k}+0)`;
  return `survives the loss of any ${scheme.m} of ${driveCount} drives (scheme ${scheme.k}+${scheme.m})`;
}
