// Where one metadata group references the fragments stored under an owner id
// (a version id, or the id a multipart part's fragments are stored under):
// the question the cluster orphan sweep (workers/cluster-orphan-sweep.ts)
// asks every group about a page of fragment ids found on a drive. A fragment
// id names its owner, part and shard but not its bucket, so not its group.
//
// The answer is per drive where metadata pins the drives, so a fragment of a
// live version on a drive its part does not list (a healer that wrote a new
// shard and crashed before move_shards) counts as unreferenced there:
//   none       nothing in this group names the owner
//   anywhere   referenced, but the drives are not pinned here: a PREPARING
//              version (its writer is placing shards now), a multipart
//              part's owner (x/ names the upload's key, not the version)
//   at         the [part, shard, drive] of every fragment the group
//              references: the parts of the COMMITTED version, the whole
//              garbage record keyed by the owner, the shards move records
//              left for GC (meta/shard-repair.ts)
// Over-answering is safe (a fragment is kept); under-answering would delete
// data, so every case this file cannot pin exactly says `anywhere`.

import type { KvReader } from '../io/kv-store.js';
import { prefixEnd } from '../stdx/bytes.js';
import { decodeRecord } from '../stdx/codec.js';
import { garbageKey, preparingKey, versionIndexKey } from './keys.js';
import { fragmentOwnerOf } from './records.js';
import type { GarbageRecord, PartRecord } from './records.js';
import { movedGarbageIdPrefix, pendingMovesMax, readCommittedVersion } from './shard-repair.js';

/** Owner ids one query may name (a bound on the reply a replica builds). */
export const fragmentReferenceIdsMax = 1000;

/** [partNumber, shard, driveId] of one referenced fragment. */
export type FragmentLocation = readonly [number, number, number];

export type FragmentReference =
  | { readonly kind: 'none' }
  | { readonly kind: 'anywhere'; readonly reason: 'preparing' | 'not_a_version' | 'many_moves' }
  | { readonly kind: 'at'; readonly locations: readonly FragmentLocation[] };

const none: FragmentReference = { kind: 'none' };

function isStriped(part: PartRecord): boolean {
  return part.inline === undefined && part.drives.length > 0;
}

/** The fragments of `parts` stored under `ownerId` (only `shards` when given), as locations. */
function locationsOf(ownerId: string, recordId: string, parts: readonly PartRecord[], shards?: readonly number[]): FragmentLocation[] {
  const only = shards === undefined ? undefined : new Set(shards);
  return parts.flatMap((part) =>
    isStriped(part) && fragmentOwnerOf(recordId, part) === ownerId
      ? part.drives.flatMap((drive, shard) => (only === undefined || only.has(shard) ? [[part.partNumber, shard, drive] as const] : []))
      : [],
  );
}

/** What this group references of the fragments stored under `ownerId`. */
export function fragmentReferenceOf(reader: KvReader, ownerId: string): FragmentReference {
  if (reader.get(preparingKey(ownerId)) !== undefined) return { kind: 'anywhere', reason: 'preparing' };
  const locations: FragmentLocation[] = [];
  let referenced = false;
  if (reader.get(versionIndexKey(ownerId)) !== undefined) {
    const version = readCommittedVersion(reader, ownerId);
    if (version === undefined) return { kind: 'anywhere', reason: 'not_a_version' };
    referenced = true;
    locations.push(...locationsOf(ownerId, ownerId, version.parts));
  }
  const garbage = reader.get(garbageKey(ownerId));
  if (garbage !== undefined) {
    referenced = true;
    const record = decodeRecord(garbage) as GarbageRecord;
    locations.push(...locationsOf(ownerId, record.versionId, record.parts));
  }
  const movesStart = garbageKey(movedGarbageIdPrefix(ownerId));
  let moves = 0;
  for (const entry of reader.scan({ start: movesStart, end: prefixEnd(movesStart)!, limit: pendingMovesMax })) {
    moves++;
    referenced = true;
    const record = decodeRecord(entry.value) as GarbageRecord;
    locations.push(...locationsOf(ownerId, ownerId, record.parts, record.moved?.shards ?? []));
  }
  if (moves >= pendingMovesMax) return { kind: 'anywhere', reason: 'many_moves' };
  return referenced ? { kind: 'at', locations } : none;
}

/** The answer of several groups about one owner: `anywhere` wins, locations add up. */
export function mergeFragmentReferences(answers: readonly FragmentReference[]): FragmentReference {
  const locations: FragmentLocation[] = [];
  let referenced = false;
  for (const answer of answers) {
    if (answer.kind === 'anywhere') return answer;
    if (answer.kind === 'at') {
      referenced = true;
      locations.push(...answer.locations);
    }
  }
  return referenced ? { kind: 'at', locations } : none;
}

/** Whether `reference` covers shard `shard` of part `partNumber` on drive `driveId`. */
export function isReferencedAt(reference: FragmentReference, partNumber: number, shard: number, driveId: number): boolean {
  if (reference.kind !== 'at') return reference.kind === 'anywhere';
  return reference.locations.some(([part, at, drive]) => part === partNumber && at === shard && drive === driveId);
}
