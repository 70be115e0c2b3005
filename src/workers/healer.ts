// The healer: gives one erasure-coded part back its full protection. A part
// needs it when shards are missing (its write went on without them), when a
// read found a shard missing or corrupt (the gateway reports it, the healer
// re-reads the fragment to be sure), or when a shard lies on a drive the
// cluster map marks draining or failed (the rebalancer's scan finds those).
//
// Shards on active drives stay (a missing or corrupt one is rewritten in
// place); the others get drives from placement over the current layout
// (DomainPlacement.placeAround: same ranking as new parts, failure-domain
// caps kept alongside the shards that stay). A shard whose fragment is still
// readable (a draining drive) is copied block by block; the others are
// rebuilt: the part is read through the gateway's read path (readPartRange,
// which decodes around the shards it is told are unusable), cut into stripes
// again and re-encoded, and its MD5 must equal the part's ETag before any
// new fragment is finished. One move_shards op then records the new drives
// (compare-and-set) and queues the replaced fragments as garbage, which GC
// deletes after its grace period (a gateway may still read the old ones).
//
// Work on one part never overlaps, and each repair plans from a read of the
// part taken inside that lock, with the fragments earlier moves left for GC:
// only this healer queues those, so a shard is never written where GC is
// about to delete it (move_shards refuses such a move as a second guard).
// One healer runs per metadata group, like GC.

import { createHash } from 'node:crypto';
import { FragmentError } from '../blob/fragment-error.js';
import { CoderCache } from '../erasure/reed-solomon.js';
import { createStripeLayout, shardFileDataBytes, stripeBlockBytes, stripeCount, stripeDataBytes } from '../erasure/stripe-layout.js';
import type { StripeLayout } from '../erasure/stripe-layout.js';
import type { BlobClient, FragmentWriter } from '../gateway/clients.js';
import { fragmentId } from '../gateway/ids.js';
import { readPartRange } from '../gateway/part-reader.js';
import type { ShardFailure } from '../gateway/part-reader.js';
import type { Env } from '../io/env.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import { fragmentOwnerOf } from '../meta/records.js';
import type { PartRecord } from '../meta/records.js';
import type { RepairCandidate, RepairScanOptions, RepairScanPage } from '../meta/shard-repair.js';
import { alignToPrevious, planPlacement } from '../placement/domain-placement.js';
import type { PlanResult } from '../placement/domain-placement.js';
import type { ClusterLayout, DriveState, Scheme } from '../placement/layout.js';
import { assert } from '../stdx/assert.js';
import { SingleFlight } from '../stdx/single-flight.js';

/** A failed shard read as the gateway reports it, with the object it belongs to. */
export type ReportedShardFailure = ShardFailure & { readonly bucket: string; readonly key: string };

/** What the healer and the rebalancer need from one metadata group (QueryMetaClient has it). */
export interface RepairMetaClient {
  submit(op: MetaOp): Promise<MetaResult>;
  getPartToRepair(versionId: string, partNumber: number): Promise<RepairCandidate | undefined>;
  listPartsToRepair(options: RepairScanOptions): Promise<RepairScanPage>;
}

export interface HealerOptions {
  /** The cluster layout now: drive states say which shards must move; new drives are placed over it. */
  readonly layout: () => ClusterLayout;
  /** Garbage was queued (replaced or orphaned fragments): GC should run. */
  readonly onGarbage: () => void;
  /** Reported failures waiting at most; more are dropped (logged). */
  readonly reportsMax?: number;
  /** Blocks per read and per append when copying a fragment. */
  readonly copyBatchBlocks?: number;
}

export type RepairOutcome =
  | { readonly status: 'healthy' }
  /** Another repair of the part is running. */
  | { readonly status: 'busy' }
  /** The version is no longer COMMITTED (overwritten, deleted). */
  | { readonly status: 'gone' }
  /** `shardsLeft` still need work (a target failed, or GC must first collect an old fragment there). */
  | { readonly status: 'repaired'; readonly copied: number; readonly rebuilt: number; readonly bytesWritten: number; readonly shardsLeft: number }
  /** The part changed while the shards were written; they were queued as garbage. */
  | { readonly status: 'stale' }
  | { readonly status: 'failed'; readonly reason: string };

export interface HealerStats {
  partsRepaired: number;
  shardsCopied: number;
  shardsRebuilt: number;
  bytesCopied: number;
  bytesRebuilt: number;
  staleMoves: number;
  failedRepairs: number;
}

/** Which shards move where, and what a decode may read. */
interface MovePlan {
  readonly targets: readonly number[];
  readonly moving: readonly number[];
  /** Moving shards whose old fragment can be copied. */
  readonly copyable: ReadonlySet<number>;
  /** Shards a decode must not read: missing, suspect, or on a failed drive. */
  readonly unusable: ReadonlySet<number>;
  /** Shards that need work but wait this round (GC must first delete an old fragment at their target). */
  readonly deferred: number;
  readonly stateOf: (drive: number) => DriveState;
}

export const reportsMaxDefault = 1024;
/** Parts being repaired at once (a bound on the in-flight set; callers bound their concurrency below it). */
export const repairsInFlightMax = 64;

const noSuspects: ReadonlySet<number> = new Set();

/** A copy failed reading its source (rebuild the shard instead), not writing its target. */
class CopySourceError extends Error {
  override readonly name = 'CopySourceError';
}

function unquotedMd5(etag: string): string | undefined {
  const match = /^"?([0-9a-f]{32})"?$/.exec(etag);
  return match?.[1];
}

export class Healer {
  readonly stats: HealerStats = { partsRepaired: 0, shardsCopied: 0, shardsRebuilt: 0, bytesCopied: 0, bytesRebuilt: 0, staleMoves: 0, failedRepairs: 0 };
  private readonly coders = new CoderCache();
  private readonly inFlight = new Set<string>();
  private readonly reports = new Map<string, ReportedShardFailure>();
  private readonly reportsMax: number;
  private readonly copyBatchBlocks: number;
  private plans: { readonly layout: ClusterLayout; readonly states: Map<number, DriveState>; readonly byScheme: Map<string, PlanResult> } | undefined;
  private readonly reportsFlight = new SingleFlight<number>();
  private reportsAgain = false;

  constructor(
    private readonly env: Env,
    private readonly meta: RepairMetaClient,
    private readonly blob: BlobClient,
    private readonly options: HealerOptions,
  ) {
    this.reportsMax = options.reportsMax ?? reportsMaxDefault;
    this.copyBatchBlocks = options.copyBatchBlocks ?? 16;
    assert(this.reportsMax >= 1 && this.copyBatchBlocks >= 1 && this.copyBatchBlocks <= 256, 'healer limits');
  }

  /**
   * A gateway read found a shard unreadable. Only a missing or corrupt
   * fragment is queued (an unreachable node is not a lost shard: marking its
   * drives failed is the operator's call); a pass runs soon.
   */
  report(failure: ReportedShardFailure): void {
    const error = failure.error;
    if (!(error instanceof FragmentError) || (error.code !== 'corrupt' && error.code !== 'not_found')) return;
    const key = `${failure.versionId}/${failure.partNumber}/${failure.shard}`;
    if (this.reports.has(key)) return;
    if (this.reports.size >= this.reportsMax) {
      this.env.logger.log('warn', 'healer: report queue full; dropped a shard failure', { ...failure, error: String(error) });
      return;
    }
    this.reports.set(key, failure);
    this.kick();
  }

  /** Whether a repair of the part is running now (it may be writing fragments move_shards has yet to record). */
  isRepairing(versionId: string, partNumber: number): boolean {
    return this.inFlight.has(`${versionId}/${partNumber}`);
  }

  get reportsQueued(): number {
    return this.reports.size;
  }

  /** Runs a reports pass soon; passes never overlap, a kick during one runs another after it. */
  kick(): void {
    if (this.reportsFlight.isRunning) {
      this.reportsAgain = true;
      return;
    }
    void this.runReports().catch((error: unknown) => {
      this.env.logger.log('warn', 'healer: reports pass failed', { error: String(error) });
    });
  }

  /** Verifies every queued report and repairs the parts with a shard really lost; returns the parts repaired. */
  async runReports(): Promise<number> {
    const starts = !this.reportsFlight.isRunning; // Else this call joins the pass running.
    try {
      return await this.reportsFlight.run(() => this.reportsPass());
    } finally {
      if (starts && this.reportsAgain) {
        this.reportsAgain = false;
        if (this.reports.size > 0) this.kick();
      }
    }
  }

  private async reportsPass(): Promise<number> {
    const byPart = new Map<string, ReportedShardFailure[]>();
    for (const [key, failure] of this.reports) {
      this.reports.delete(key);
      const partKey = `${failure.versionId}/${failure.partNumber}`;
      byPart.set(partKey, [...(byPart.get(partKey) ?? []), failure]);
    }
    let repaired = 0;
    for (const failures of byPart.values()) {
      const outcome = await this.verifyAndRepair(failures);
      if (outcome.status === 'busy') {
        // Repaired by someone else right now; check again on the next pass.
        for (const failure of failures) this.reports.set(`${failure.versionId}/${failure.partNumber}/${failure.shard}`, failure);
      }
      if (outcome.status === 'repaired') repaired++;
    }
    return repaired;
  }

  /** Re-reads each reported fragment; repairs the part if any is really missing or corrupt. */
  private async verifyAndRepair(failures: readonly ReportedShardFailure[]): Promise<RepairOutcome> {
    const { versionId, partNumber } = failures[0]!;
    const candidate = await this.meta.getPartToRepair(versionId, partNumber);
    if (candidate === undefined) return { status: 'gone' };
    const suspects = new Set<number>();
    for (const failure of failures) {
      // Moved since the read (its old fragment was deleted): nothing is lost.
      if (candidate.part.drives[failure.shard] !== failure.driveId) continue;
      if ((await this.checkFragment(candidate, failure.shard)) === 'bad') suspects.add(failure.shard);
    }
    if (suspects.size === 0) return { status: 'healthy' };
    this.env.logger.log('info', 'healer: reported shards confirmed lost', { versionId, partNumber, shards: [...suspects] });
    return this.repairPart(versionId, partNumber, suspects);
  }

  /** Reads the whole fragment (every block's checksum is verified by the blob store). */
  private async checkFragment(candidate: RepairCandidate, shard: number): Promise<'ok' | 'bad' | 'unknown'> {
    const { part } = candidate;
    const id = fragmentId(fragmentOwnerOf(candidate.versionId, part), part.partNumber, shard);
    const count = stripeCount(layoutOf(part));
    try {
      for (let first = 0; first < count; first += this.copyBatchBlocks) {
        await this.blob.readBlocks(part.drives[shard]!, id, first, Math.min(this.copyBatchBlocks, count - first));
      }
      return 'ok';
    } catch (error) {
      return error instanceof FragmentError && (error.code === 'corrupt' || error.code === 'not_found') ? 'bad' : 'unknown';
    }
  }

  /**
   * Repairs one part of a committed version: `suspects` are shards known to
   * be unreadable besides those the record says are missing. Never runs
   * twice at once for a part.
   */
  async repairPart(versionId: string, partNumber: number, suspects: ReadonlySet<number> = noSuspects): Promise<RepairOutcome> {
    const partKey = `${versionId}/${partNumber}`;
    if (this.inFlight.has(partKey)) return { status: 'busy' };
    assert(this.inFlight.size < repairsInFlightMax, `more than ${repairsInFlightMax} parts in repair`);
    this.inFlight.add(partKey);
    try {
      const candidate = await this.meta.getPartToRepair(versionId, partNumber);
      if (candidate === undefined) return { status: 'gone' };
      const plan = this.plan(candidate, suspects);
      if ('status' in plan) return plan;
      const outcome = await this.execute(candidate, plan);
      if (outcome.status === 'failed') this.stats.failedRepairs++;
      if (outcome.status === 'stale') this.stats.staleMoves++;
      return outcome;
    } finally {
      this.inFlight.delete(partKey);
    }
  }

  private placementFor(scheme: Scheme): { readonly plan: PlanResult; readonly states: Map<number, DriveState> } {
    const layout = this.options.layout();
    if (this.plans?.layout !== layout) {
      this.plans = { layout, states: new Map(layout.drives.map((drive) => [drive.id, drive.state])), byScheme: new Map() };
    }
    const name = `${scheme.k}+${scheme.m}`;
    let plan = this.plans.byScheme.get(name);
    if (plan === undefined) {
      plan = planPlacement(layout, scheme);
      this.plans.byScheme.set(name, plan);
    }
    return { plan, states: this.plans.states };
  }

  /**
   * Shards on active drives stay (rewritten in place when missing or
   * suspect); the rest go where placement puts them around those. Shards
   * whose target holds an old fragment GC has yet to delete wait.
   */
  private plan(candidate: RepairCandidate, suspects: ReadonlySet<number>): MovePlan | RepairOutcome {
    const { part } = candidate;
    const { plan, states } = this.placementFor(part.scheme);
    if (plan.status !== 'ok') return { status: 'failed', reason: plan.message };
    const stateOf = (drive: number): DriveState => states.get(drive) ?? 'failed';
    const missing = new Set(part.missingShards);
    const needsWork = (shard: number): boolean => missing.has(shard) || suspects.has(shard) || stateOf(part.drives[shard]!) !== 'active';
    if (!part.drives.some((_, shard) => needsWork(shard))) return { status: 'healthy' };
    const partId = `${fragmentOwnerOf(candidate.versionId, part)}/${part.partNumber}`;
    const kept = part.drives.map((drive) => (stateOf(drive) === 'active' ? drive : undefined));
    const targets = plan.placement.placeAround(partId, kept) ?? alignToPrevious(part.drives, plan.placement.place(partId));
    const pending = new Set(candidate.pendingGarbage.map(([drive, shard]) => `${drive}/${shard}`));
    const wanted = part.drives.flatMap((drive, shard) => (needsWork(shard) || targets[shard] !== drive ? [shard] : []));
    const moving = wanted.filter((shard) => !pending.has(`${targets[shard]!}/${shard}`));
    const unusable = new Set(part.drives.flatMap((drive, shard) => (missing.has(shard) || suspects.has(shard) || stateOf(drive) === 'failed' ? [shard] : [])));
    const copyable = new Set(moving.filter((shard) => !unusable.has(shard) && targets[shard] !== part.drives[shard]));
    assert(moving.every((shard) => copyable.has(shard) || unusable.has(shard)), 'a shard rewritten in place is one that cannot be read');
    return { targets, moving, copyable, unusable, deferred: wanted.length - moving.length, stateOf };
  }


  private async openWriter(candidate: RepairCandidate, shard: number, driveId: number): Promise<FragmentWriter | undefined> {
    const { part } = candidate;
    try {
      return await this.blob.createWriter(driveId, fragmentId(fragmentOwnerOf(candidate.versionId, part), part.partNumber, shard), part.blockSizeBytes);
    } catch (error) {
      this.env.logger.log('warn', 'healer: cannot open a writer; shard left for a later pass', { versionId: candidate.versionId, shard, driveId, error: String(error) });
      return undefined;
    }
  }

  /** Copies what can be copied, rebuilds the rest, then records the shards that became durable. */
  private async execute(candidate: RepairCandidate, plan: MovePlan): Promise<RepairOutcome> {
    const { part } = candidate;
    const unusable = new Set(plan.unusable);
    const copied = new Set<number>();
    const toRebuild: number[] = plan.moving.filter((shard) => !plan.copyable.has(shard));
    await Promise.all(
      [...plan.copyable].map(async (shard) => {
        const writer = await this.openWriter(candidate, shard, plan.targets[shard]!);
        if (writer === undefined) return;
        try {
          await this.copyShard(candidate, shard, writer);
          copied.add(shard);
        } catch (error) {
          await writer.abort().catch(() => undefined);
          const unreadable = error instanceof CopySourceError;
          this.env.logger.log('info', `healer: copy failed; ${unreadable ? 'rebuilding the shard instead' : 'shard left for a later pass'}`, {
            versionId: candidate.versionId,
            shard,
            error: String(error),
          });
          if (!unreadable) return;
          unusable.add(shard);
          toRebuild.push(shard);
        }
      }),
    );
    const width = part.scheme.k + part.scheme.m;
    let rebuilt = new Set<number>();
    let failure: string | undefined;
    if (toRebuild.length > 0) {
      if (width - unusable.size < part.scheme.k) {
        failure = `only ${width - unusable.size} of ${width} shards readable, ${part.scheme.k} needed`;
      } else {
        try {
          rebuilt = await this.rebuildShards(candidate, toRebuild, unusable, plan.targets);
        } catch (error) {
          failure = String(error);
        }
      }
    }
    if (failure !== undefined) this.env.logger.log('error', 'healer: cannot rebuild shards', { versionId: candidate.versionId, partNumber: part.partNumber, shards: toRebuild, reason: failure });
    if (copied.size + rebuilt.size === 0) return { status: 'failed', reason: failure ?? 'no shard could be written' };
    const outcome = await this.commit(candidate, plan, new Set([...copied, ...rebuilt]));
    if (outcome !== 'shards_moved') return { status: 'stale' };
    const shardBytes = shardFileDataBytes(layoutOf(part));
    this.stats.partsRepaired++;
    this.stats.shardsCopied += copied.size;
    this.stats.shardsRebuilt += rebuilt.size;
    this.stats.bytesCopied += copied.size * shardBytes;
    this.stats.bytesRebuilt += rebuilt.size * shardBytes;
    const shardsLeft = plan.moving.length - copied.size - rebuilt.size + plan.deferred;
    return { status: 'repaired', copied: copied.size, rebuilt: rebuilt.size, bytesWritten: (copied.size + rebuilt.size) * shardBytes, shardsLeft };
  }

  /** Copies shard `shard` from its drive, block by block, checking each block's size against the layout. */
  private async copyShard(candidate: RepairCandidate, shard: number, writer: FragmentWriter): Promise<void> {
    const { part } = candidate;
    const layout = layoutOf(part);
    const id = fragmentId(fragmentOwnerOf(candidate.versionId, part), part.partNumber, shard);
    const count = stripeCount(layout);
    for (let first = 0; first < count; first += this.copyBatchBlocks) {
      let blocks: Buffer[];
      try {
        blocks = await this.blob.readBlocks(part.drives[shard]!, id, first, Math.min(this.copyBatchBlocks, count - first));
      } catch (error) {
        throw new CopySourceError(`reading ${id} from drive ${part.drives[shard]!}: ${String(error)}`, { cause: error });
      }
      blocks.forEach((block, index) => {
        const expected = stripeBlockBytes(layout, first + index);
        if (block.length !== expected) throw new CopySourceError(`${id} block ${first + index} is ${block.length} bytes, the part's layout says ${expected}`);
      });
      await writer.appendBlocks(blocks);
    }
    await writer.finish();
  }

  /**
   * Rebuilds `shards` in one pass over the part: readPartRange decodes
   * around `unusable`, each stripe is re-encoded when a parity shard is
   * wanted, and each wanted block is appended to its new fragment. The
   * fragments are finished only if the part's bytes hash to its ETag.
   * Returns the shards that became durable.
   */
  private async rebuildShards(candidate: RepairCandidate, shards: readonly number[], unusable: ReadonlySet<number>, targets: readonly number[]): Promise<Set<number>> {
    const { part } = candidate;
    const writers = new Map<number, FragmentWriter>();
    for (const shard of shards) {
      const writer = await this.openWriter(candidate, shard, targets[shard]!);
      if (writer !== undefined) writers.set(shard, writer);
    }
    try {
      const md5 = await this.streamStripes(candidate, unusable, writers);
      const expected = unquotedMd5(part.etag);
      if (expected !== undefined && md5 !== expected) throw new Error(`rebuilt bytes hash to ${md5}, the part's ETag is ${part.etag}`);
      const finished = await Promise.all(
        [...writers].map(async ([shard, writer]) => {
          try {
            await writer.finish();
            return [shard];
          } catch (error) {
            this.env.logger.log('warn', 'healer: finishing a rebuilt fragment failed', { versionId: candidate.versionId, shard, error: String(error) });
            return [];
          }
        }),
      );
      return new Set(finished.flat());
    } finally {
      // Unfinished writers (a failure above) leave nothing behind; abort is a no-op after finish.
      await Promise.all([...writers.values()].map((writer) => writer.abort().catch(() => undefined)));
    }
  }

  /** Streams the part's bytes into stripes and appends the wanted blocks; returns the bytes' MD5 (hex). */
  private async streamStripes(candidate: RepairCandidate, unusable: ReadonlySet<number>, writers: Map<number, FragmentWriter>): Promise<string> {
    const { part } = candidate;
    const { k } = part.scheme;
    const layout = layoutOf(part);
    const coder = this.coders.for(part.scheme);
    const needParity = [...writers.keys()].some((shard) => shard >= k);
    const stripe = Buffer.alloc(k * part.blockSizeBytes);
    const md5 = createHash('md5');
    let index = 0;
    let filled = 0;
    const emit = async (): Promise<void> => {
      const blockBytes = stripeBlockBytes(layout, index);
      stripe.fill(0, filled, k * blockBytes);
      const data = stripe.subarray(0, k * blockBytes);
      const parity = needParity ? await coder.encode(data, blockBytes) : [];
      await Promise.all(
        [...writers].map(async ([shard, writer]) => {
          const block = shard < k ? data.subarray(shard * blockBytes, (shard + 1) * blockBytes) : parity[shard - k]!;
          try {
            await writer.appendBlocks([block]);
          } catch (error) {
            writers.delete(shard);
            await writer.abort().catch(() => undefined);
            this.env.logger.log('warn', 'healer: writing a rebuilt shard failed', { versionId: candidate.versionId, shard, error: String(error) });
          }
        }),
      );
      index++;
      filled = 0;
    };
    const context = {
      blob: this.blob,
      coder,
      versionId: candidate.versionId,
      onShardFailure: (failure: ShardFailure) => {
        this.report({ ...failure, bucket: candidate.bucket, key: candidate.key });
      },
    };
    const readable: PartRecord = { ...part, missingShards: [...unusable] };
    for await (const chunk of readPartRange(context, readable, 0, part.sizeBytes - 1)) {
      md5.update(chunk);
      for (let offset = 0; offset < chunk.length; ) {
        const take = Math.min(stripeDataBytes(layout, index) - filled, chunk.length - offset);
        stripe.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === stripeDataBytes(layout, index)) await emit();
      }
      if (writers.size === 0) throw new Error('every target of the rebuild failed');
    }
    assert(index === stripeCount(layout) && filled === 0, `rebuilt ${index} of ${stripeCount(layout)} stripes`);
    return md5.digest('hex');
  }

  /** One move_shards op for the shards now durable at their targets. */
  private async commit(candidate: RepairCandidate, plan: MovePlan, written: ReadonlySet<number>): Promise<'shards_moved' | 'stale_part'> {
    const { part } = candidate;
    const toDrives = part.drives.map((drive, shard) => (written.has(shard) ? plan.targets[shard]! : drive));
    const result = await this.meta.submit({
      type: 'move_shards',
      bucket: candidate.bucket,
      key: candidate.key,
      versionId: candidate.versionId,
      partNumber: part.partNumber,
      fragmentOwnerId: fragmentOwnerOf(candidate.versionId, part),
      fromDrives: part.drives,
      fromMissingShards: part.missingShards,
      toDrives,
      toMissingShards: part.missingShards.filter((shard) => !written.has(shard)),
      // A failed drive's fragments cannot be deleted (GC would retry them forever).
      garbageShards: [...written].filter((shard) => toDrives[shard] !== part.drives[shard] && plan.stateOf(part.drives[shard]!) !== 'failed'),
    });
    assert(result.status === 'shards_moved' || result.status === 'stale_part', `move_shards answered ${result.status}`);
    this.options.onGarbage();
    this.env.logger.log(result.status === 'shards_moved' ? 'info' : 'warn', `healer: ${result.status === 'shards_moved' ? 'moved' : 'stale, dropped'} shards`, {
      versionId: candidate.versionId,
      partNumber: part.partNumber,
      shards: [...written].map((shard) => `${shard}:${part.drives[shard]}→${toDrives[shard]}`),
    });
    return result.status;
  }
}

function layoutOf(part: PartRecord): StripeLayout {
  return createStripeLayout(part.sizeBytes, part.scheme.k, part.scheme.m, part.blockSizeBytes);
}
