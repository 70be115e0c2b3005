// Ids the gateway mints: version ids (time-ordered, random tail) and fragment
// ids derived from them. Neither ever contains user input.

import type { Clock } from '../io/clock.js';
import type { Random } from '../io/random.js';
import { assert } from '../stdx/assert.js';
import { bytesToHex } from '../stdx/bytes.js';

/** 28 hex chars: 48-bit milliseconds then 64 random bits. */
export function newVersionId(clock: Clock, random: Random): string {
  const time = Math.max(0, Math.floor(clock.nowMs()));
  const head = Buffer.alloc(6);
  head.writeUIntBE(time % 2 ** 48, 0, 6);
  return bytesToHex(head) + bytesToHex(random.bytes(8));
}

/** 16 hex chars of randomness: bucket ids. */
export function newBucketId(random: Random): string {
  return bytesToHex(random.bytes(8));
}

const versionIdPattern = /^[0-9a-f]{28}$/;

export function fragmentId(versionId: string, partNumber: number, shard: number): string {
  assert(versionIdPattern.test(versionId), `version id "${versionId}"`);
  assert(Number.isInteger(partNumber) && partNumber >= 1 && partNumber <= 10000, `part ${partNumber}`);
  assert(Number.isInteger(shard) && shard >= 0 && shard < 32, `shard ${shard}`);
  // Random tail first: the blob store files fragments under their first two
  // characters, and the time-ordered head would put them all in one folder.
  return `${versionId.slice(12)}${versionId.slice(0, 12)}-${partNumber}-${shard}`;
}

/** The owner (version) id, part number and shard a fragment id was derived from, or undefined if it is not one of ours. */
export function parseFragmentId(id: string): { readonly ownerId: string; readonly partNumber: number; readonly shard: number } | undefined {
  const match = /^([0-9a-f]{16})([0-9a-f]{12})-(\d{1,5})-(\d{1,2})$/.exec(id);
  return match === null ? undefined : { ownerId: `${match[2]!}${match[1]!}`, partNumber: Number(match[3]), shard: Number(match[4]) };
}

/** The version id a fragment id was derived from, or undefined if it is not one of ours. */
export function versionIdOfFragment(id: string): string | undefined {
  return parseFragmentId(id)?.ownerId;
}
