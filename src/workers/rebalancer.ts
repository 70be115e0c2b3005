// The rebalancer: the scan that keeps every part where the record and the
// cluster map say it should be. Each pass continues a paged scan of the
// metadata group's committed versions (meta/shard-repair.ts) from where the
// last one stopped, asking for the parts with missing shards or with shards
// on drives the map marks draining or failed, and hands each to the healer,
// which copies or rebuilds those shards onto drives placement allows and
// records them. A pass is bounded (pages, parts), so a big backlog drains
// over several passes; the cursor lives in memory, so a restarted gateway
// starts the scan over (repairs are idempotent: a part already moved is not a
// candidate any more).
//
// A draining drive is empty once a whole scan cycle finds nothing on it and
// GC has deleted the fragments the moves replaced (after its grace period);
// `drainedDrives` says which draining drives the last full cycle left with
// no shard.

import type { Env } from '../io/env.js';
import type { ClusterLayout } from '../placement/layout.js';
import { assert } from '../stdx/assert.js';
import type { Healer, RepairMetaClient, RepairOutcome } from './healer.js';
import { SingleFlight } from '../stdx/single-flight.js';

export interface RebalancerOptions {
  readonly layout: () => ClusterLayout;
  /** Index entries one scan page examines. */
  readonly pageEntries?: number;
  /** Pages one pass reads at most. */
  readonly pagesPerPassMax?: number;
  /** Parts one pass repairs at most (the pass ends after the page that reaches it). */
  readonly repairsPerPassMax?: number;
  /** Parts repaired at once. */
  readonly repairsInFlightMax?: number;
}

export interface RebalancePassReport {
  readonly pages: number;
  readonly candidates: number;
  readonly repaired: number;
  readonly stale: number;
  readonly failed: number;
  /** Parts that still need work after this pass (targets down, GC to run first, busy). */
  readonly pending: number;
  /** True when this pass reached the end of the scan (the next one starts over). */
  readonly cycleDone: boolean;
  readonly reportsRepaired: number;
}

export class Rebalancer {
  private cursor = '';
  /** The draining and failed drives the current cycle scans for; a change starts a new cycle. */
  private cycleDrives = '';
  /** Moving drives that held a shard at some point of the current cycle. */
  private seenThisCycle = new Set<number>();
  private lastDrained = new Set<number>();
  private readonly pageEntries: number;
  private readonly pagesPerPassMax: number;
  private readonly repairsPerPassMax: number;
  private readonly repairsInFlightMax: number;
  private readonly flight = new SingleFlight<RebalancePassReport>();

  constructor(
    private readonly env: Env,
    private readonly meta: RepairMetaClient,
    private readonly healer: Healer,
    private readonly options: RebalancerOptions,
  ) {
    this.pageEntries = options.pageEntries ?? 1000;
    this.pagesPerPassMax = options.pagesPerPassMax ?? 10;
    this.repairsPerPassMax = options.repairsPerPassMax ?? 256;
    this.repairsInFlightMax = options.repairsInFlightMax ?? 2;
    assert(this.pageEntries >= 1 && this.pageEntries <= 10_000, `page of ${this.pageEntries} entries`);
    assert(this.pagesPerPassMax >= 1 && this.repairsPerPassMax >= 1, 'a pass does some work');
    assert(this.repairsInFlightMax >= 1 && this.repairsInFlightMax <= 16, `${this.repairsInFlightMax} repairs in flight`);
  }

  /** Draining drives the last complete scan cycle found no shard on (empty once GC has run). */
  get drainedDrives(): ReadonlySet<number> {
    return this.lastDrained;
  }

  /** One bounded pass: queued failure reports first, then the next pages of the scan. Passes never overlap. */
  async runPass(): Promise<RebalancePassReport> {
    return this.flight.run(() => this.pass());
  }

  private async pass(): Promise<RebalancePassReport> {
    const reportsRepaired = await this.healer.runReports();
    const layout = this.options.layout();
    const moving = layout.drives.filter((drive) => drive.state !== 'active').map((drive) => drive.id).sort((a, b) => a - b);
    if (moving.join(',') !== this.cycleDrives) {
      // A new map: parts scanned so far were not checked against these drives.
      this.cycleDrives = moving.join(',');
      this.cursor = '';
      this.seenThisCycle = new Set();
    }
    const counts = { pages: 0, candidates: 0, repaired: 0, stale: 0, failed: 0, pending: 0 };
    let cycleDone = false;
    while (counts.pages < this.pagesPerPassMax && counts.repaired + counts.failed < this.repairsPerPassMax) {
      const page = await this.meta.listPartsToRepair({ after: this.cursor, limit: this.pageEntries, drives: moving });
      counts.pages++;
      counts.candidates += page.candidates.length;
      for (const candidate of page.candidates) {
        for (const drive of candidate.part.drives) if (moving.includes(drive)) this.seenThisCycle.add(drive);
      }
      await forEachBounded(page.candidates, this.repairsInFlightMax, async (candidate) => {
        tally(counts, await this.repairOne(candidate.versionId, candidate.part.partNumber));
      });
      this.cursor = page.done ? '' : page.next;
      if (page.done) {
        cycleDone = true;
        const drained = layout.drives.filter((drive) => drive.state === 'draining' && !this.seenThisCycle.has(drive.id)).map((drive) => drive.id);
        if (drained.some((drive) => !this.lastDrained.has(drive))) {
          this.env.logger.log('info', 'rebalancer: draining drives hold no more shards (empty once GC has run)', { drives: drained });
        }
        this.lastDrained = new Set(drained);
        this.seenThisCycle = new Set();
        break;
      }
    }
    const report = { ...counts, cycleDone, reportsRepaired };
    if (counts.candidates > 0 || reportsRepaired > 0) this.env.logger.log('info', 'rebalancer pass', { ...report, movingDrives: moving.length });
    return report;
  }

  private async repairOne(versionId: string, partNumber: number): Promise<RepairOutcome> {
    try {
      return await this.healer.repairPart(versionId, partNumber);
    } catch (error) {
      // The metadata group or a blob node did not answer: the next cycle finds the part again.
      this.env.logger.log('warn', 'rebalancer: repair failed', { versionId, partNumber, error: String(error) });
      return { status: 'failed', reason: String(error) };
    }
  }
}

function tally(counts: { repaired: number; stale: number; failed: number; pending: number }, outcome: RepairOutcome): void {
  switch (outcome.status) {
    case 'repaired':
      counts.repaired++;
      if (outcome.shardsLeft > 0) counts.pending++;
      return;
    case 'stale':
      counts.stale++;
      counts.pending++;
      return;
    case 'failed':
      counts.failed++;
      counts.pending++;
      return;
    case 'busy':
      counts.pending++;
      return;
    case 'healthy':
    case 'gone':
      return;
  }
}

/** Runs `body` over `items`, at most `limit` at once. */
async function forEachBounded<T>(items: readonly T[], limit: number, body: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await body(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
