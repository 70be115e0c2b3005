// Orphan sweep: deletes fragment files that no metadata references (neither a
// committed version, a PREPARING one, nor queued garbage). Run at start-up of
// the embedded node, before any writer exists, so nothing in flight can be
// mistaken for an orphan. Files whose names are not our fragment ids are left
// alone and reported.

import type { Env } from '../io/env.js';
import type { BlobClient, MetaClient } from '../gateway/clients.js';
import { versionIdOfFragment } from '../gateway/ids.js';

export interface OrphanSweepReport {
  readonly scanned: number;
  readonly deleted: number;
  readonly foreign: number;
}

export async function sweepOrphans(
  env: Env,
  meta: MetaClient,
  blob: BlobClient,
  driveIds: readonly number[],
): Promise<OrphanSweepReport> {
  let scanned = 0;
  let deleted = 0;
  let foreign = 0;
  const referenced = new Map<string, boolean>();
  for (const driveId of driveIds) {
    for await (const id of blob.list(driveId)) {
      scanned++;
      const versionId = versionIdOfFragment(id);
      if (versionId === undefined) {
        foreign++;
        continue;
      }
      let isReferenced = referenced.get(versionId);
      if (isReferenced === undefined) {
        isReferenced = await meta.isVersionReferenced(versionId);
        referenced.set(versionId, isReferenced);
      }
      if (!isReferenced && (await blob.delete(driveId, id))) deleted++;
    }
  }
  if (deleted > 0 || foreign > 0) env.logger.log('info', 'orphan sweep', { scanned, deleted, foreign });
  return { scanned, deleted, foreign };
}
