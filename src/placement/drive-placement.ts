// Placement of a part's k+m shards on drives by weighted rendezvous hashing:
// every drive gets a score from hash(part id, drive id) and its weight; the
// k+m best distinct drives hold shards 0 … k+m-1. Stable (the same part always
// maps to the same drives while the drive set is unchanged) and balanced.
// Failure domains above the drive (node, rack, zone) come with the cluster
// issue; the embedded node has one node, so each drive is its own domain.

import { createHash } from 'node:crypto';
import { assert } from '../stdx/assert.js';

export interface PlacementDrive {
  readonly id: number;
  readonly weight: number;
  readonly state: 'active' | 'draining';
}

export interface Scheme {
  readonly k: number;
  readonly m: number;
}

export type PlacementResult =
  | { readonly status: 'ok'; readonly drives: number[] }
  | { readonly status: 'not_enough_drives'; readonly needed: number; readonly available: number };

function score(partId: string, driveId: number, weight: number): number {
  const digest = createHash('sha256').update(partId).update(`/${driveId}`).digest();
  // 53 random bits → u in (0, 1); weighted rendezvous: -weight / ln(u).
  const u = (digest.readUIntBE(0, 6) * 32 + (digest[6]! >>> 3) + 1) / (2 ** 53 + 2);
  return -weight / Math.log(u);
}

export function placePart(partId: string, scheme: Scheme, drives: readonly PlacementDrive[]): PlacementResult {
  const width = scheme.k + scheme.m;
  const candidates = drives.filter((drive) => drive.state === 'active' && drive.weight > 0);
  if (candidates.length < width) return { status: 'not_enough_drives', needed: width, available: candidates.length };
  const ranked = candidates
    .map((drive) => ({ id: drive.id, score: score(partId, drive.id, drive.weight) }))
    .sort((a, b) => b.score - a.score || a.id - b.id);
  const chosen = ranked.slice(0, width).map((entry) => entry.id);
  assert(new Set(chosen).size === width, 'placement picks distinct drives');
  return { status: 'ok', drives: chosen };
}

/** What the layout survives: with one shard per drive, any m drives. */
export function describeProtection(scheme: Scheme, driveCount: number): string {
  if (scheme.m === 0) return `no parity: losing any drive loses data (${driveCount} drive(s), scheme ${scheme.k}+0)`;
  return `survives the loss of any ${scheme.m} of ${driveCount} drives (scheme ${scheme.k}+${scheme.m})`;
}
