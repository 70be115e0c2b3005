// The gateway's object paths (DESIGN.md §3–4). Write: small bodies inline in
// one metadata op; larger ones PREPARE (placement recorded) → stream stripes to
// k+m shard writers → COMMIT, so an object is visible only once durable. Read:
// locate, then fetch data shards of the needed stripes, decoding only on
// failure. Whatever a write leaves behind on failure is handed to GC.

import { createHash } from 'node:crypto';
import { CoderCache } from '../erasure/reed-solomon.js';
import type { Env } from '../io/env.js';
import type { MetaResult } from '../meta/ops.js';
import type { Acl, PartRecord, TagSet, VersionRecord, WriteConditions } from '../meta/records.js';
import { recordFormatVersion } from '../meta/records.js';
import { placePart } from '../placement/drive-placement.js';
import type { PlacementDrive, Scheme } from '../placement/drive-placement.js';
import { planPlacement } from '../placement/domain-placement.js';
import type { DomainPlacement } from '../placement/domain-placement.js';
import type { ClusterLayout } from '../placement/layout.js';
import { assert } from '../stdx/assert.js';
import type { BlobClient, MetaClient } from './clients.js';
import { fragmentId, newVersionId } from './ids.js';
import { readPartRange } from './part-reader.js';
import type { ShardFailure } from './part-reader.js';
import { StripeWriter } from './stripe-writer.js';

export interface GatewayOptions {
  readonly scheme: Scheme;
  readonly blockSizeBytes: number;
  /** Bodies up to this size are stored inline in the metadata record. */
  readonly inlineBytesMax: number;
  /** Largest single-PUT body (S3: 5 GiB). */
  readonly objectBytesMax: number;
  readonly drives: readonly PlacementDrive[];
  /**
   * A cluster's layout (drives in nodes, racks and zones): parts are placed
   * so that no failure domain at its level holds more than m shards. Absent:
   * every drive is its own domain (the embedded node).
   */
  readonly layout?: ClusterLayout;
  /** A window's data shards not all read after this long are also decoded from the others (hedged reads); off when absent. */
  readonly hedgeAfterMs?: number;
}

export interface PutObjectInput extends VersionFields {
  readonly body: AsyncIterable<Uint8Array>;
  readonly conditions?: WriteConditions;
  /** Content-MD5 (raw 16 bytes) to verify against the body. */
  readonly contentMd5?: Uint8Array;
  /** Checksums to store, read once the body has been fully consumed (and verified). */
  readonly checksums?: () => Readonly<Record<string, string>>;
}

/** The object fields a version record takes from a request. */
export interface VersionFields {
  readonly bucket: string;
  readonly key: string;
  readonly owner: string;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly userMetadata: Readonly<Record<string, string>>;
  readonly acl?: Acl;
  readonly tags?: TagSet;
}

interface BodyInput extends VersionFields {
  readonly body: AsyncIterable<Uint8Array>;
  readonly contentMd5?: Uint8Array;
  readonly partNumber: number;
  readonly sizeBytesMax: number;
}

/** What writing a body produced: kept inline, striped under a PREPARING record, or refused. */
type BodyWrite =
  | { readonly kind: 'inline'; readonly bytes: Buffer; readonly etag: string }
  | { readonly kind: 'striped'; readonly ownerId: string; readonly part: PartRecord }
  | { readonly kind: 'failed'; readonly outcome: 'no_such_bucket' | 'too_large' | 'bad_digest' };

export interface UploadPartInput {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  readonly partNumber: number;
  readonly owner: string;
  readonly body: AsyncIterable<Uint8Array>;
  readonly contentMd5?: Uint8Array;
  readonly checksums?: () => Readonly<Record<string, string>>;
}

export type UploadPartOutcome =
  | { readonly status: 'ok'; readonly part: PartRecord }
  | { readonly status: 'no_such_upload' }
  | { readonly status: 'no_such_bucket' }
  | { readonly status: 'bad_digest' }
  | { readonly status: 'too_large' };

export type PutObjectOutcome =
  | { readonly status: 'ok'; readonly version: VersionRecord }
  | { readonly status: 'no_such_bucket' }
  | { readonly status: 'precondition_failed' }
  | { readonly status: 'no_such_key' }
  | { readonly status: 'bad_digest' }
  | { readonly status: 'too_large' };

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
}

/** Hooks for background work the gateway triggers. */
export interface GatewayHooks {
  /** New garbage was queued (an overwrite, delete or failed write). */
  onGarbage(): void;
  /** A shard read failed; the bucket and key let the healer find the version (and its metadata group). */
  onShardFailure(failure: ShardFailure & { readonly bucket: string; readonly key: string }): void;
  /** The last read of a version ended (GC may have skipped it meanwhile). */
  onReadEnded(versionId: string): void;
}

export class Gateway {
  private readonly coders = new CoderCache();
  /** Versions being read: GC leaves their fragments alone until the reads end. */
  private readonly activeReads = new Map<string, number>();

  constructor(
    private readonly env: Env,
    readonly meta: MetaClient,
    private readonly blob: BlobClient,
    private readonly options: GatewayOptions,
    private readonly hooks: GatewayHooks,
  ) {
    const { k, m } = options.scheme;
    assert(options.inlineBytesMax >= 0 && options.inlineBytesMax < options.objectBytesMax, 'inline limit');
    assert(options.drives.length >= k + m, `scheme ${k}+${m} needs ${k + m} drives, have ${options.drives.length}`);
    assert(options.hedgeAfterMs === undefined || options.hedgeAfterMs > 0, `hedge deadline ${options.hedgeAfterMs} ms`);
    if (options.layout !== undefined) this.useLayout(options.layout);
  }

  private domainPlacement: DomainPlacement | undefined;

  /**
   * Places new parts over `layout` from now on (a cluster map with a newer
   * epoch). Parts already written keep their drives: placements are recorded
   * in metadata. A layout the scheme cannot be placed on is refused and the
   * current one kept.
   */
  useLayout(layout: ClusterLayout): void {
    const { k, m } = this.options.scheme;
    const plan = planPlacement(layout, this.options.scheme);
    if (plan.status !== 'ok') throw new GatewayError(`Cannot place ${k}+${m} on this layout: ${plan.message}`);
    this.domainPlacement = plan.placement;
  }


  /** Tells GC that metadata queued garbage outside the write path (a delete). */
  notifyGarbage(): void {
    this.hooks.onGarbage();
  }

  isBeingRead(versionId: string): boolean {
    return (this.activeReads.get(versionId) ?? 0) > 0;
  }

  async putObject(input: PutObjectInput): Promise<PutObjectOutcome> {
    const written = await this.writeBody({ ...input, partNumber: 1, sizeBytesMax: this.options.objectBytesMax });
    if (written.kind === 'failed') return { status: written.outcome };
    const checksums = input.checksums?.() ?? {};
    if (written.kind === 'inline') {
      const version: VersionRecord = {
        ...this.baseVersion(input, newVersionId(this.env.clock, this.env.random)),
        state: 'COMMITTED',
        sizeBytes: written.bytes.length,
        etag: written.etag,
        checksums,
        inline: written.bytes,
      };
      return this.outcome(await this.meta.submit({ type: 'put_version', version, ...conditions(input) }));
    }
    const result = await this.meta.submit({
      type: 'commit_version',
      bucket: input.bucket,
      versionId: written.ownerId,
      sizeBytes: written.part.sizeBytes,
      etag: written.part.etag,
      parts: [written.part],
      checksums,
      ...conditions(input),
    });
    if (result.status === 'no_such_preparing_version') {
      throw new GatewayError(`version ${written.ownerId} was aborted while it was being written (janitor timeout?)`);
    }
    return this.outcome(result);
  }

  /** UploadPart: the part is written like an object body, then recorded under the upload. */
  async uploadPart(input: UploadPartInput): Promise<UploadPartOutcome> {
    const written = await this.writeBody({
      ...input,
      contentType: '',
      headers: {},
      userMetadata: {},
      sizeBytesMax: this.options.objectBytesMax,
    });
    if (written.kind === 'failed') return { status: written.outcome };
    const checksums = input.checksums?.() ?? {};
    const part: PartRecord =
      written.kind === 'inline'
        ? {
            partNumber: input.partNumber,
            sizeBytes: written.bytes.length,
            etag: written.etag,
            scheme: this.options.scheme,
            blockSizeBytes: this.options.blockSizeBytes,
            drives: [],
            missingShards: [],
            checksums,
            inline: written.bytes,
          }
        : { ...written.part, fragmentOwnerId: written.ownerId, checksums };
    const result = await this.meta.submit({
      type: 'commit_part',
      bucket: input.bucket,
      key: input.key,
      uploadId: input.uploadId,
      ...(written.kind === 'striped' ? { preparedId: written.ownerId } : {}),
      part,
    });
    switch (result.status) {
      case 'part_committed':
        if (result.replaced) this.hooks.onGarbage();
        return { status: 'ok', part };
      case 'no_such_upload':
        this.hooks.onGarbage();
        return { status: 'no_such_upload' };
      default:
        throw new GatewayError(`commit_part answered ${result.status}`);
    }
  }

  private baseVersion(input: VersionFields, versionId: string): VersionRecord {
    return {
      format: recordFormatVersion,
      bucket: input.bucket,
      key: input.key,
      versionId,
      state: 'PREPARING',
      sizeBytes: 0,
      etag: '',
      contentType: input.contentType,
      headers: input.headers,
      userMetadata: input.userMetadata,
      checksums: {},
      owner: input.owner,
      createdMs: 0,
      parts: [],
      ...(input.acl === undefined ? {} : { acl: input.acl }),
      ...(input.tags === undefined ? {} : { tags: input.tags }),
    };
  }

  /**
   * Writes a body: up to the inline limit it is only buffered; beyond, it is
   * placed, PREPAREd and striped to k+m durable fragments. Nothing is visible
   * until the caller commits what this returns.
   */
  private async writeBody(input: BodyInput): Promise<BodyWrite> {
    const md5 = createHash('md5');
    const iterator = input.body[Symbol.asyncIterator]();
    const head: Uint8Array[] = [];
    let headBytes = 0;
    while (headBytes <= this.options.inlineBytesMax) {
      const next = await iterator.next();
      if (next.done === true) {
        const digest = md5.digest();
        if (input.contentMd5 !== undefined && !digest.equals(input.contentMd5)) return { kind: 'failed', outcome: 'bad_digest' };
        return { kind: 'inline', bytes: Buffer.concat(head, headBytes), etag: `"${digest.toString('hex')}"` };
      }
      head.push(next.value);
      headBytes += next.value.length;
      md5.update(next.value);
    }
    return this.writeStriped(input, head, iterator, md5);
  }

  private async writeStriped(
    input: BodyInput,
    head: Uint8Array[],
    rest: AsyncIterator<Uint8Array>,
    md5: ReturnType<typeof createHash>,
  ): Promise<BodyWrite> {
    const { k, m } = this.options.scheme;
    const ownerId = newVersionId(this.env.clock, this.env.random);
    const partId = `${ownerId}/${input.partNumber}`;
    const placement = this.domainPlacement !== undefined ? { status: 'ok' as const, drives: this.domainPlacement.place(partId) } : placePart(partId, this.options.scheme, this.options.drives);
    if (placement.status !== 'ok') {
      throw new GatewayError(`Cannot place part of ${ownerId}: scheme ${k}+${m} needs ${placement.needed} drives, ${placement.available} available`);
    }
    const planned: PartRecord = {
      partNumber: input.partNumber,
      sizeBytes: 0,
      etag: '',
      scheme: { k, m },
      blockSizeBytes: this.options.blockSizeBytes,
      drives: placement.drives,
      missingShards: [],
    };
    const prepared = await this.meta.submit({ type: 'prepare_version', version: { ...this.baseVersion(input, ownerId), parts: [planned] } });
    if (prepared.status === 'no_such_bucket') return { kind: 'failed', outcome: 'no_such_bucket' };
    assert(prepared.status === 'ok', `prepare_version answered ${prepared.status}`);
    let stripes: StripeWriter | undefined;
    try {
      stripes = await this.openStripes(ownerId, planned);
      for (const chunk of head) await stripes.push(chunk);
      for (;;) {
        const next = await rest.next();
        if (next.done === true) break;
        md5.update(next.value);
        await stripes.push(next.value);
        if (stripes.sizeBytes > input.sizeBytesMax) {
          await this.abandon(input.bucket, ownerId, stripes);
          return { kind: 'failed', outcome: 'too_large' };
        }
      }
      await stripes.end();
      await stripes.finish();
    } catch (error) {
      await this.abandon(input.bucket, ownerId, stripes);
      throw error;
    }
    const digest = md5.digest();
    if (input.contentMd5 !== undefined && !digest.equals(input.contentMd5)) {
      await this.abandon(input.bucket, ownerId, undefined);
      return { kind: 'failed', outcome: 'bad_digest' };
    }
    const etag = `"${digest.toString('hex')}"`;
    return { kind: 'striped', ownerId, part: { ...planned, sizeBytes: stripes.sizeBytes, etag, missingShards: stripes.missingShards } };
  }

  /**
   * Opens the k+m shard writers at once (one round trip, not k+m). A shard
   * whose writer cannot be opened (its drive or node is down) is written
   * without, as missing, as long as the write quorum (k+1; k when m = 0) can
   * still open; otherwise the first open error is the PUT's.
   */
  private async openStripes(versionId: string, part: PartRecord): Promise<StripeWriter> {
    const { k, m } = part.scheme;
    const opened = await Promise.allSettled(
      part.drives.map((driveId, shard) => this.blob.createWriter(driveId, fragmentId(versionId, part.partNumber, shard), part.blockSizeBytes)),
    );
    const writers = opened.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : undefined));
    const failed = opened.flatMap((outcome, shard) => (outcome.status === 'rejected' ? [{ shard, reason: outcome.reason as unknown }] : []));
    const quorum = m === 0 ? k : k + 1;
    if (writers.length - failed.length < quorum) {
      await Promise.all(writers.flatMap((writer) => (writer === undefined ? [] : [writer.abort().catch(() => undefined)])));
      throw failed[0]!.reason;
    }
    for (const { shard, reason } of failed) {
      this.env.logger.log('warn', 'shard writer could not open; writing without it', { versionId, shard, driveId: part.drives[shard], error: String(reason) });
    }
    return new StripeWriter(this.coders.for(part.scheme), writers, k, m, part.blockSizeBytes, this.env.logger);
  }

  /** Drops a write in progress: temp files removed, the version's fragments handed to GC. */
  private async abandon(bucket: string, versionId: string, stripes: StripeWriter | undefined): Promise<void> {
    await stripes?.abort();
    try {
      await this.meta.submit({ type: 'abort_version', bucket, versionId });
      this.hooks.onGarbage();
    } catch (error) {
      // The janitor aborts it later.
      this.env.logger.log('warn', 'abort_version failed', { versionId, error: String(error) });
    }
  }

  private outcome(result: MetaResult): PutObjectOutcome {
    switch (result.status) {
      case 'version_committed':
        if (result.replacedVersionId !== undefined) this.hooks.onGarbage();
        return { status: 'ok', version: result.version };
      case 'no_such_bucket':
      case 'precondition_failed':
      case 'no_such_key':
        this.hooks.onGarbage();
        return { status: result.status };
      default:
        throw new GatewayError(`unexpected metadata answer ${result.status}`);
    }
  }

  /** Streams bytes [first, last] of `version` (whole object when no range). */
  async *readObject(version: VersionRecord, range?: { first: number; last: number }): AsyncGenerator<Uint8Array> {
    const first = range?.first ?? 0;
    const last = range?.last ?? version.sizeBytes - 1;
    if (version.sizeBytes === 0 || last < first) return;
    assert(first >= 0 && last < version.sizeBytes, `range ${first}-${last} of ${version.sizeBytes}`);
    if (version.inline !== undefined) {
      yield version.inline.subarray(first, last + 1);
      return;
    }
    this.activeReads.set(version.versionId, (this.activeReads.get(version.versionId) ?? 0) + 1);
    try {
      let partStart = 0;
      for (const part of version.parts) {
        const partEnd = partStart + part.sizeBytes - 1;
        if (partEnd >= first && partStart <= last) {
          const hedge = this.options.hedgeAfterMs === undefined ? {} : { hedge: { clock: this.env.clock, afterMs: this.options.hedgeAfterMs } };
          const context = {
            blob: this.blob,
            coder: this.coders.for(part.scheme),
            versionId: version.versionId,
            onShardFailure: (failure: ShardFailure) => {
              this.hooks.onShardFailure({ ...failure, bucket: version.bucket, key: version.key });
            },
            ...hedge,
          };
          yield* readPartRange(context, part, Math.max(first, partStart) - partStart, Math.min(last, partEnd) - partStart);
        }
        partStart += part.sizeBytes;
      }
    } finally {
      const count = (this.activeReads.get(version.versionId) ?? 1) - 1;
      if (count === 0) {
        this.activeReads.delete(version.versionId);
        this.hooks.onReadEnded(version.versionId);
      } else {
        this.activeReads.set(version.versionId, count);
      }
    }
  }
}

function conditions(input: PutObjectInput): { conditions?: WriteConditions } {
  return input.conditions === undefined ? {} : { conditions: input.conditions };
}
