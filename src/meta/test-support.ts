// Test support for the src/meta tests (not a test file itself): builders for
// part and version records and for common MetaOps, readers for the garbage
// queue and the version index, and a Harness that applies ops one per
// MemoryKvStore transaction with time moving forward.

import type { KvReader } from '../io/kv-store.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { decodeRecord } from '../stdx/codec.js';
import { garbageRange, versionIndexKey } from './keys.js';
import type { MetaOp, MetaResult, SequencedOp } from './ops.js';
import type { GarbageRecord, PartRecord, VersionRecord, WriteConditions } from './records.js';
import { MetaStateMachine } from './state-machine.js';

/** A 2+1 striped part of 1 KiB on drives firstDrive, firstDrive + 1, firstDrive + 2. */
export function part(partNumber: number, firstDrive = 0): PartRecord {
  return {
    partNumber,
    sizeBytes: 1024,
    etag: `"part-${partNumber}"`,
    scheme: { k: 2, m: 1 },
    blockSizeBytes: 4096,
    drives: [firstDrive, firstDrive + 1, firstDrive + 2],
    missingShards: [],
  };
}

export interface VersionFields {
  readonly bucket?: string;
  readonly key?: string;
  readonly versionId: string;
  readonly state?: VersionRecord['state'];
  readonly etag?: string;
  readonly parts?: readonly PartRecord[];
  readonly inline?: Uint8Array;
}

/** A version of photos/cat.jpg owned by alice unless the fields say otherwise; striped on part(1) unless inline. */
export function versionRecord(fields: VersionFields): VersionRecord {
  const parts = fields.parts ?? (fields.inline === undefined ? [part(1)] : []);
  return {
    format: 1,
    bucket: fields.bucket ?? 'photos',
    key: fields.key ?? 'cat.jpg',
    versionId: fields.versionId,
    state: fields.state ?? 'COMMITTED',
    sizeBytes: fields.inline?.length ?? parts.reduce((total, p) => total + p.sizeBytes, 0),
    etag: fields.etag ?? `"etag-${fields.versionId}"`,
    contentType: 'application/octet-stream',
    headers: {},
    userMetadata: {},
    checksums: {},
    owner: 'alice',
    createdMs: 0,
    parts,
    ...(fields.inline === undefined ? {} : { inline: fields.inline }),
  };
}

export function createBucket(bucket = 'photos', owner = 'alice'): MetaOp {
  return { type: 'create_bucket', bucket, bucketId: `id-${bucket}`, owner, region: 'local' };
}

export function putVersion(fields: VersionFields, conditions?: WriteConditions): MetaOp {
  return { type: 'put_version', version: versionRecord(fields), ...(conditions === undefined ? {} : { conditions }) };
}

export function garbage(reader: KvReader): GarbageRecord[] {
  return [...reader.scan(garbageRange)].map((entry) => decodeRecord(entry.value) as GarbageRecord);
}

export function versionIndex(reader: KvReader, versionId: string): unknown {
  const bytes = reader.get(versionIndexKey(versionId));
  return bytes === undefined ? undefined : decodeRecord(bytes);
}

/** A state machine on a MemoryKvStore, one op per transaction, time moving forward. */
export class Harness {
  readonly kv = new MemoryKvStore();
  private readonly stateMachine = new MetaStateMachine();
  opNumber = 0;
  timestampMs = 1_700_000_000_000;

  apply(op: MetaOp): Promise<MetaResult> {
    const sequenced: SequencedOp = { opNumber: ++this.opNumber, timestampMs: (this.timestampMs += 1000), op };
    return this.kv.transact((transaction) => this.stateMachine.apply(transaction, sequenced));
  }

  async applyAll(ops: readonly MetaOp[]): Promise<MetaResult[]> {
    const results: MetaResult[] = [];
    for (const op of ops) results.push(await this.apply(op));
    return results;
  }
}
