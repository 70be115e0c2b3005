// GC: deletes the fragments of versions that metadata has queued as garbage
// (overwritten, deleted, aborted, or shards a heal or move replaced), after a
// grace period and never while a gateway is still reading them, then records
// that with one metadata op. Resumable by construction: the queue is in
// metadata, deletes are idempotent. A record whose deletes fail (its blob
// node is down) stays queued for the next pass without holding up the rest.
// A fragment on a drive the cluster map marks failed is not deleted (its
// node may be gone for good: the delete would fail on every pass and hold
// the record forever); the healer rebuilds such shards elsewhere.

import type { Env } from '../io/env.js';
import type { BlobClient, MetaClient } from '../gateway/clients.js';
import { fragmentId } from '../gateway/ids.js';
import { fragmentOwnerOf } from '../meta/records.js';
import type { GarbageRecord } from '../meta/records.js';
import { SingleFlight } from '../stdx/single-flight.js';

export interface GarbageCollectorOptions {
  readonly graceMs: number;
  /** Garbage records taken per pass. */
  readonly batchMax: number;
  readonly isBeingRead: (versionId: string) => boolean;
  /** Whether the cluster map marks the drive failed (its fragments are skipped). None are when not given. */
  readonly isDriveFailed?: (driveId: number) => boolean;
}

export interface GcPassReport {
  readonly versions: number;
  readonly fragmentsDeleted: number;
  readonly deferred: number;
}

export class GarbageCollector {
  private readonly flight = new SingleFlight<GcPassReport>();
  private again = false;
  /** Versions the last pass skipped because a gateway was reading them. */
  private readonly deferred = new Set<string>();

  constructor(
    private readonly env: Env,
    private readonly meta: MetaClient,
    private readonly blob: BlobClient,
    private readonly options: GarbageCollectorOptions,
  ) {}

  /** Runs a pass soon; passes never overlap, a kick during one runs another after it. */
  kick(): void {
    if (this.flight.isRunning) {
      this.again = true;
      return;
    }
    void this.runPass().catch((error: unknown) => {
      this.env.logger.log('warn', 'gc pass failed', { error: String(error) });
    });
  }

  /** A gateway finished reading `versionId`: collect it now if a pass had to skip it. */
  readEnded(versionId: string): void {
    if (this.deferred.has(versionId)) this.kick();
  }

  async runPass(): Promise<GcPassReport> {
    const starts = !this.flight.isRunning; // Else this call joins the pass running.
    try {
      return await this.flight.run(() => this.pass());
    } finally {
      if (starts && this.again) {
        this.again = false;
        this.kick();
      }
    }
  }

  private async pass(): Promise<GcPassReport> {
    const now = this.env.clock.nowMs();
    const garbage = await this.meta.listGarbage(this.options.batchMax);
    const ready = garbage.filter((record) => record.queuedMs + this.options.graceMs <= now && !this.options.isBeingRead(readIdOf(record)));
    this.deferred.clear();
    for (const record of garbage) {
      if (this.options.isBeingRead(readIdOf(record))) this.deferred.add(readIdOf(record));
    }
    let fragmentsDeleted = 0;
    const collected: string[] = [];
    for (const record of ready) {
      try {
        fragmentsDeleted += await this.deleteFragments(record);
        collected.push(record.versionId);
      } catch (error) {
        this.env.logger.log('warn', 'gc: deleting fragments failed; kept for the next pass', { versionId: record.versionId, error: String(error) });
      }
    }
    if (collected.length > 0) {
      await this.meta.submit({ type: 'garbage_collected', versionIds: collected });
    }
    const report = { versions: collected.length, fragmentsDeleted, deferred: garbage.length - collected.length };
    if (ready.length > 0) this.env.logger.log('debug', 'gc pass', { ...report });
    return report;
  }

  private async deleteFragments(record: GarbageRecord): Promise<number> {
    const only = record.moved === undefined ? undefined : new Set(record.moved.shards);
    const deletions = record.parts.flatMap((part) =>
      part.drives.flatMap((driveId, shard) =>
        (only === undefined || only.has(shard)) && this.options.isDriveFailed?.(driveId) !== true ? [this.blob.delete(driveId, fragmentId(fragmentOwnerOf(record.versionId, part), part.partNumber, shard))] : [],
      ),
    );
    const results = await Promise.all(deletions);
    return results.filter(Boolean).length;
  }
}

/** The version a gateway reads these fragments as: a move's record names it, other records are keyed by it. */
function readIdOf(record: GarbageRecord): string {
  return record.moved?.versionId ?? record.versionId;
}
