// The cluster's orphan sweep: deletes fragments that no metadata group
// references on the drive they lie on. The normal lifecycle leaks none, but
// a healer that crashed between writing a shard and its move_shards op, a
// garbage record lost by a bug or an operator, or a PREPARING record lost
// with a metadata disk leave fragment files nothing will ever delete.
//
// Unlike the embedded node's sweep (workers/orphan-sweep.ts, run at start-up
// with no writer alive), this one runs beside writers, so a fragment is
// deleted only when all of these hold:
//   - two passes: a fragment unreferenced on its drive becomes a suspect,
//     remembered with the time first seen; it is due only `graceMs` later,
//     and is checked against every group again just before its delete;
//   - the blob node's stat says the file was last written `graceMs` ago
//     or more (a writer rewriting the same id restarts its wait);
//   - no repair of its part runs on this gateway's healers (one per group).
// Other gateways' writes are covered by their PREPARING records (recorded
// before any fragment is written; `anywhere` below) and by the grace.
//
// References are asked per drive (meta/fragment-references.ts): a fragment
// of a live version on a drive its part does not list is an orphan there
// (the healer crash above), but an owner whose drives metadata does not pin
// (PREPARING, a multipart part's owner) is kept wherever it lies. A fragment
// id does not name its bucket, so every group is asked, one query per group
// for a page of ids; a group that fails the query ends the pass with nothing
// deleted from that page (never read as "unreferenced"), and the next pass
// retries the same page. A drive whose node does not answer is skipped for
// this round. Work is bounded: `pagesPerPass` list pages of `pageSize` ids a
// pass, a cursor (drive, last id) kept between passes, at most
// `suspectsMax` suspects remembered (more wait for the next round).
//
// Limits: suspects live in memory, so a gateway restart restarts every wait
// (late, never early). Between the last stat and the delete another gateway
// could still rewrite and record the same fragment; that takes a healer on
// another gateway repeating, after the grace, a repair to the very drive an
// earlier one crashed on, inside those milliseconds. The node's mtime is
// compared with this gateway's clock: skew eats into the grace.

import { FragmentError } from '../blob/fragment-error.js';
import { parseFragmentId } from '../gateway/ids.js';
import type { Env } from '../io/env.js';
import { fragmentReferenceIdsMax, isReferencedAt, mergeFragmentReferences } from '../meta/fragment-references.js';
import type { FragmentReference } from '../meta/fragment-references.js';
import { assert } from '../stdx/assert.js';
import { SingleFlight } from '../stdx/single-flight.js';

/** What the sweep needs of one metadata group (QueryMetaClient has it). */
export interface ReferenceMetaClient {
  getFragmentReferences(ownerIds: readonly string[]): Promise<FragmentReference[]>;
}

/** What the sweep needs of the blob nodes (RemoteBlobClient has it). */
export interface SweepBlobClient {
  listPage(driveId: number, after: string, limit: number): Promise<{ readonly fragmentIds: readonly string[]; readonly more: boolean }>;
  /** undefined when the fragment is not there; `modifiedMs` undefined when the node does not say. */
  statFragment(driveId: number, fragmentId: string): Promise<{ readonly modifiedMs?: number } | undefined>;
  delete(driveId: number, fragmentId: string): Promise<boolean>;
}

export interface ClusterOrphanSweepOptions {
  /** How long a fragment must stay unreferenced, and unwritten, before it is deleted. */
  readonly graceMs: number;
  /** The drives to sweep now (the cluster map's). */
  readonly drives: () => readonly number[];
  /** Whether this gateway is repairing the part now (its healers' lock). */
  readonly isRepairing: (versionId: string, partNumber: number) => boolean;
  /** Fragment ids per list page and per metadata query. Default 1000. */
  readonly pageSize?: number;
  /** List pages per pass. Default 8. */
  readonly pagesPerPass?: number;
  /** Suspects remembered at most. Default 100 000. */
  readonly suspectsMax?: number;
}

export interface OrphanSweepPassReport {
  /** Fragment ids listed. */
  readonly scanned: number;
  /** Fragments first seen unreferenced in this pass. */
  readonly suspected: number;
  readonly deleted: number;
  /** Due suspects kept: referenced again, rewritten within the grace, being repaired, or not dated by their node. */
  readonly kept: number;
  /** Ids that are not fragment ids of ours (left alone). */
  readonly foreign: number;
  /** Drives skipped because their node did not answer. */
  readonly drivesSkipped: number;
  /** The pass reached the end of the last drive (the next starts over). */
  readonly roundDone: boolean;
}

interface Counts {
  scanned: number;
  suspected: number;
  deleted: number;
  kept: number;
  foreign: number;
  drivesSkipped: number;
  roundDone: boolean;
}

/** A fragment id of ours on one drive. */
interface Listed {
  readonly fragmentId: string;
  readonly ownerId: string;
  readonly partNumber: number;
  readonly shard: number;
}

/** Where the next page starts: a drive and the last id done there. */
interface Cursor {
  driveId: number | undefined;
  after: string;
}

export class ClusterOrphanSweep {
  private readonly pageSize: number;
  private readonly pagesPerPass: number;
  private readonly suspectsMax: number;
  /** Per drive: fragment id → when it was first seen unreferenced there. */
  private readonly suspects = new Map<number, Map<string, number>>();
  private suspectCount = 0;
  private readonly cursor: Cursor = { driveId: undefined, after: '' };
  private readonly flight = new SingleFlight<OrphanSweepPassReport>();

  constructor(
    private readonly env: Env,
    private readonly groups: readonly ReferenceMetaClient[],
    private readonly blob: SweepBlobClient,
    private readonly options: ClusterOrphanSweepOptions,
  ) {
    this.pageSize = options.pageSize ?? 1000;
    this.pagesPerPass = options.pagesPerPass ?? 8;
    this.suspectsMax = options.suspectsMax ?? 100_000;
    assert(groups.length >= 1, 'the sweep asks at least one metadata group');
    assert(Number.isSafeInteger(options.graceMs) && options.graceMs >= 0, `orphan grace ${options.graceMs} ms`);
    assert(Number.isSafeInteger(this.pageSize) && this.pageSize >= 1 && this.pageSize <= fragmentReferenceIdsMax, `orphan sweep page size ${this.pageSize}`);
    assert(Number.isSafeInteger(this.pagesPerPass) && this.pagesPerPass >= 1, `orphan sweep pages per pass ${this.pagesPerPass}`);
    assert(Number.isSafeInteger(this.suspectsMax) && this.suspectsMax >= 1, `orphan sweep suspects max ${this.suspectsMax}`);
  }

  /** Suspects remembered now (tests, status). */
  get suspectsRemembered(): number {
    return this.suspectCount;
  }

  /** One bounded pass; passes never overlap (a call during one waits for it). */
  async runPass(): Promise<OrphanSweepPassReport> {
    return this.flight.run(() => this.pass());
  }

  private async pass(): Promise<OrphanSweepPassReport> {
    const drives = [...new Set(this.options.drives())].sort((a, b) => a - b);
    this.forgetDrivesNotIn(new Set(drives));
    const counts: Counts = { scanned: 0, suspected: 0, deleted: 0, kept: 0, foreign: 0, drivesSkipped: 0, roundDone: false };
    for (let page = 0; page < this.pagesPerPass && drives.length > 0 && !counts.roundDone; page++) {
      const driveId = this.currentDrive(drives);
      let listed: { readonly fragmentIds: readonly string[]; readonly more: boolean };
      try {
        listed = await this.blob.listPage(driveId, this.cursor.after, this.pageSize);
      } catch (error) {
        this.env.logger.log('warn', 'orphan sweep: cannot list a drive; skipped this round', { driveId, error: String(error) });
        counts.drivesSkipped++;
        counts.roundDone = this.nextDrive(drives, driveId);
        continue;
      }
      // A metadata failure throws out of the pass here: the cursor stays, the next pass retries this page.
      await this.sweepPage(driveId, listed.fragmentIds, listed.more, counts);
      if (listed.more && listed.fragmentIds.length > 0) this.cursor.after = listed.fragmentIds.at(-1)!;
      else counts.roundDone = this.nextDrive(drives, driveId);
    }
    const report: OrphanSweepPassReport = { ...counts };
    if (report.deleted > 0 || report.suspected > 0 || report.drivesSkipped > 0) this.env.logger.log('info', 'orphan sweep pass', { ...report, suspects: this.suspectCount });
    return report;
  }

  /** The drive the cursor is on, or the next one the layout still has. */
  private currentDrive(drives: readonly number[]): number {
    const current = this.cursor.driveId;
    if (current !== undefined && drives.includes(current)) return current;
    const next = drives.find((driveId) => current === undefined || driveId > current) ?? drives[0]!;
    this.cursor.driveId = next;
    this.cursor.after = '';
    return next;
  }

  /** Moves the cursor past `driveId`; true when that ended a round over every drive. */
  private nextDrive(drives: readonly number[], driveId: number): boolean {
    const next = drives.find((candidate) => candidate > driveId);
    this.cursor.driveId = next ?? drives[0];
    this.cursor.after = '';
    return next === undefined;
  }

  private async sweepPage(driveId: number, fragmentIds: readonly string[], more: boolean, counts: Counts): Promise<void> {
    const after = this.cursor.after;
    const listed: Listed[] = [];
    for (const fragmentId of fragmentIds) {
      const parsed = parseFragmentId(fragmentId);
      if (parsed === undefined) counts.foreign++;
      else listed.push({ fragmentId, ...parsed });
    }
    counts.scanned += fragmentIds.length;
    const references = await this.references(listed);
    const suspects = this.suspectsOf(driveId);
    this.forgetGone(suspects, after, more ? fragmentIds.at(-1) : undefined, new Set(fragmentIds));
    const now = this.env.clock.nowMs();
    const due: Listed[] = [];
    for (const fragment of listed) {
      if (isReferencedAt(references.get(fragment.ownerId)!, fragment.partNumber, fragment.shard, driveId)) {
        this.forget(suspects, fragment.fragmentId);
        continue;
      }
      const firstSeenMs = suspects.get(fragment.fragmentId);
      if (firstSeenMs === undefined) {
        if (this.remember(suspects, fragment.fragmentId, now)) counts.suspected++;
      } else if (firstSeenMs + this.options.graceMs <= now) {
        due.push(fragment);
      }
    }
    if (due.length > 0) await this.deleteDue(driveId, due, counts);
  }

  /**
   * Deletes the due suspects that are still orphans: asked again of every
   * group (a failure throws, deleting nothing), not being repaired here, and
   * last written a grace period ago by their node's stat.
   */
  private async deleteDue(driveId: number, due: readonly Listed[], counts: Counts): Promise<void> {
    const suspects = this.suspectsOf(driveId);
    const references = await this.references(due);
    for (const fragment of due) {
      const { fragmentId, ownerId, partNumber, shard } = fragment;
      if (isReferencedAt(references.get(ownerId)!, partNumber, shard, driveId)) {
        this.forget(suspects, fragmentId);
        counts.kept++;
        continue;
      }
      if (this.options.isRepairing(ownerId, partNumber)) {
        counts.kept++;
        continue;
      }
      const outcome = await this.deleteIfOld(driveId, fragmentId, suspects);
      if (outcome === 'deleted') counts.deleted++;
      if (outcome === 'kept') counts.kept++;
    }
  }

  private async deleteIfOld(driveId: number, fragmentId: string, suspects: Map<string, number>): Promise<'deleted' | 'kept' | 'gone'> {
    const now = this.env.clock.nowMs();
    const firstSeenMs = suspects.get(fragmentId)!;
    try {
      const stat = await this.blob.statFragment(driveId, fragmentId);
      if (stat === undefined) {
        this.forget(suspects, fragmentId);
        return 'gone';
      }
      if (stat.modifiedMs === undefined) {
        this.env.logger.log('warn', 'orphan sweep: the blob node does not say when a fragment was written; kept', { driveId, fragmentId });
        return 'kept';
      }
      if (stat.modifiedMs + this.options.graceMs > now) {
        // Written again since it was first seen: its wait starts over.
        suspects.set(fragmentId, now);
        return 'kept';
      }
      const deleted = await this.blob.delete(driveId, fragmentId);
      this.forget(suspects, fragmentId);
      if (!deleted) return 'gone';
      this.env.logger.log('info', 'orphan sweep deleted a fragment no metadata references on its drive', { driveId, fragmentId, firstSeenMs, modifiedMs: stat.modifiedMs });
      return 'deleted';
    } catch (error) {
      if (!(error instanceof FragmentError)) throw error;
      // A corrupt or unreachable fragment stays a suspect: tried again next round.
      this.env.logger.log('warn', 'orphan sweep: cannot stat or delete a fragment; kept for the next round', { driveId, fragmentId, error: String(error) });
      return 'kept';
    }
  }

  /** Every group's answer for the owners of `fragments`, merged per owner; throws if any group fails. */
  private async references(fragments: readonly Listed[]): Promise<Map<string, FragmentReference>> {
    const ownerIds = [...new Set(fragments.map((fragment) => fragment.ownerId))];
    const merged = new Map<string, FragmentReference>();
    if (ownerIds.length === 0) return merged;
    assert(ownerIds.length <= fragmentReferenceIdsMax, `${ownerIds.length} owners in one reference query`);
    const answers = await Promise.all(this.groups.map((group) => group.getFragmentReferences(ownerIds)));
    for (const [group, answer] of answers.entries()) {
      if (answer.length !== ownerIds.length) throw new Error(`metadata group ${group} answered ${answer.length} references for ${ownerIds.length} owners`);
    }
    ownerIds.forEach((ownerId, index) => merged.set(ownerId, mergeFragmentReferences(answers.map((answer) => answer[index]!))));
    return merged;
  }

  private suspectsOf(driveId: number): Map<string, number> {
    let suspects = this.suspects.get(driveId);
    if (suspects === undefined) {
      suspects = new Map();
      this.suspects.set(driveId, suspects);
    }
    return suspects;
  }

  /** Remembers a new suspect; false when the limit is reached (it is found again next round). */
  private remember(suspects: Map<string, number>, fragmentId: string, nowMs: number): boolean {
    if (this.suspectCount >= this.suspectsMax) return false;
    suspects.set(fragmentId, nowMs);
    this.suspectCount++;
    assert(this.suspectCount <= this.suspectsMax, 'suspects bounded');
    return true;
  }

  private forget(suspects: Map<string, number>, fragmentId: string): void {
    if (suspects.delete(fragmentId)) this.suspectCount--;
    assert(this.suspectCount >= 0, 'suspect count');
  }

  /** Suspects in (after, last] (to the end when `last` is undefined) that the page did not list are gone. */
  private forgetGone(suspects: Map<string, number>, after: string, last: string | undefined, listed: ReadonlySet<string>): void {
    for (const fragmentId of [...suspects.keys()]) {
      if (fragmentId > after && (last === undefined || fragmentId <= last) && !listed.has(fragmentId)) this.forget(suspects, fragmentId);
    }
  }

  private forgetDrivesNotIn(drives: ReadonlySet<number>): void {
    for (const [driveId, suspects] of this.suspects) {
      if (drives.has(driveId)) continue;
      this.suspectCount -= suspects.size;
      this.suspects.delete(driveId);
    }
    assert(this.suspectCount >= 0, 'suspect count');
  }
}
