// The S3 clients of the cluster simulation and the checks on what they see.
// Each client loops: think, pick a gateway and a key (a few keys in each of
// the run's buckets, which lie in different metadata groups when the run has
// two; few, so writes overwrite and race), then one of put (a few bytes, inline, up to a few
// hundred KiB, erasure coded), get, range get, delete, a small multipart
// upload, or list. Writes go into the ObjectModel; every read is checked
// against it as it completes:
//   - a 200 must carry exactly the bytes of a write that could be current
//     (read-after-write, after overwrites and deletes too), a 206 exactly
//     that write's range; a 404 needs "absent" to be a candidate;
//   - a list must show each key with the size of a candidate, and leave out
//     only keys that may be absent;
//   - anything else must be a clean retryable error (503, 500, a timeout, a
//     gateway down, a body cut off), which is counted, never wrong bytes.
// A key is named `bucket/key` throughout (the model's key, the request's path).
// `finalCheck` reads every key through every gateway once the cluster is
// quiet, and lists every bucket: every acknowledged object must read back byte-identical,
// deleted ones must be gone, and the list must agree.

import { createHash } from 'node:crypto';
import type { Clock } from '../../io/clock.js';
import { assert } from '../../stdx/assert.js';
import type { Prng } from '../prng.js';
import type { TraceHash } from '../trace-hash.js';
import { ObjectModel } from './object-model.js';
import type { Candidate, WriteRecord } from './object-model.js';
import { SimS3Client, listedObjects, xmlField } from './sim-s3-client.js';
import type { S3Outcome } from './sim-s3-client.js';
import { inlineBytesMax, partBytesMin } from './cluster-simulation.js';

export class CheckFailure extends Error {
  override readonly name = 'CheckFailure';
}

export interface WorkloadCounts {
  puts: number;
  multiparts: number;
  deletes: number;
  gets: number;
  rangeGets: number;
  lists: number;
  /** Reads that got a clean retryable error. */
  readErrors: number;
  /** Reads whose answer was checked against the model. */
  readsChecked: number;
}

const keysPerBucket = 3;
const objectBytesMax = 300 * 1024;
const thinkMsMax = 400;

export class ClusterWorkload {
  readonly model = new ObjectModel();
  readonly counts: WorkloadCounts = { puts: 0, multiparts: 0, deletes: 0, gets: 0, rangeGets: 0, lists: 0, readErrors: 0, readsChecked: 0 };
  /** Clients keep issuing while true; each finishes its operation when it turns false. */
  issuing = false;
  private running = 0;
  private readonly keys: readonly string[];

  constructor(
    private readonly client: SimS3Client,
    private readonly clock: Clock,
    private readonly prng: Prng,
    private readonly trace: TraceHash,
    private readonly gatewayCount: number,
    private readonly buckets: readonly string[],
    private readonly fail: (error: Error) => void,
  ) {
    assert(buckets.length >= 1, 'a bucket to write to');
    this.keys = buckets.flatMap((bucket) => Array.from({ length: keysPerBucket }, (_, index) => `${bucket}/object-${index}`));
  }

  /** Read through a call: the flag changes while a client awaits. */
  private stopped(): boolean {
    return !this.issuing;
  }

  /** Clients with an operation under way. */
  get clientsBusy(): number {
    return this.running;
  }

  /** Creates the buckets, retrying until a gateway answers; false when one could not be created. */
  async createBuckets(): Promise<boolean> {
    for (const bucket of this.buckets) {
      let created = false;
      for (let attempt = 0; attempt < 20 && !created; attempt++) {
        const outcome = await this.client.call(attempt % this.gatewayCount, { method: 'PUT', path: `/${bucket}` });
        created = outcome.kind === 'response' && (outcome.status === 200 || outcome.status === 409);
        if (!created) await this.clock.sleep(500);
      }
      if (!created) return false;
    }
    return true;
  }

  start(clientCount: number): void {
    this.issuing = true;
    for (let index = 0; index < clientCount; index++) {
      this.running++;
      void this.loop(index)
        .catch((error: unknown) => { this.fail(error instanceof Error ? error : new Error(String(error))); })
        .finally(() => this.running--);
    }
  }

  private async loop(clientIndex: number): Promise<void> {
    while (this.issuing) {
      await this.clock.sleep(this.prng.between(0, thinkMsMax));
      if (this.stopped()) return;
      const gateway = this.prng.between(0, this.gatewayCount - 1);
      const key = this.prng.pick(this.keys);
      const roll = this.prng.float();
      this.trace.mix('op', this.clock.monotonicMs(), clientIndex, gateway, key, Math.floor(roll * 100));
      if (roll < 0.3) await this.put(gateway, key);
      else if (roll < 0.5) await this.get(gateway, key);
      else if (roll < 0.62) await this.rangeGet(gateway, key);
      else if (roll < 0.74) await this.remove(gateway, key);
      else if (roll < 0.84) await this.multipart(gateway, key);
      else await this.list(gateway);
    }
  }

  private objectBytes(sizeBytes: number): Uint8Array {
    const bytes = new Uint8Array(sizeBytes);
    let state = this.prng.uint32() | 1;
    for (let index = 0; index < sizeBytes; index += 4) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      bytes[index] = state & 0xff;
      if (index + 1 < sizeBytes) bytes[index + 1] = (state >>> 8) & 0xff;
      if (index + 2 < sizeBytes) bytes[index + 2] = (state >>> 16) & 0xff;
      if (index + 3 < sizeBytes) bytes[index + 3] = (state >>> 24) & 0xff;
    }
    return bytes;
  }

  private objectSize(): number {
    return this.prng.chance(0.35) ? this.prng.between(0, inlineBytesMax) : this.prng.between(inlineBytesMax + 1, objectBytesMax);
  }

  private settle(write: WriteRecord, acknowledged: boolean): void {
    if (acknowledged) this.model.acknowledge(write, this.clock.monotonicMs());
    else this.model.giveUp(write);
    this.trace.mix('write', this.clock.monotonicMs(), write.id, write.kind, acknowledged ? 1 : 0);
  }

  private async put(gateway: number, key: string): Promise<void> {
    this.counts.puts++;
    const bytes = this.objectBytes(this.objectSize());
    const write = this.model.begin(key, 'put', bytes, this.clock.monotonicMs());
    const outcome = await this.client.call(gateway, { method: 'PUT', path: `/${key}`, body: bytes });
    const acknowledged = outcome.kind === 'response' && outcome.status === 200;
    if (acknowledged) {
      const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
      if (outcome.headers.etag !== etag) throw new CheckFailure(`PUT ${key} (write #${write.id}) answered ETag ${outcome.headers.etag} for bytes whose MD5 is ${etag}`);
    }
    this.settle(write, acknowledged);
  }

  private async remove(gateway: number, key: string): Promise<void> {
    this.counts.deletes++;
    const write = this.model.begin(key, 'delete', undefined, this.clock.monotonicMs());
    const outcome = await this.client.call(gateway, { method: 'DELETE', path: `/${key}` });
    this.settle(write, outcome.kind === 'response' && outcome.status === 204);
  }

  /** Create, two or three parts, complete; a failed step leaves the upload for the janitor (or aborts it). */
  private async multipart(gateway: number, key: string): Promise<void> {
    this.counts.multiparts++;
    const path = `/${key}`;
    const created = await this.client.call(gateway, { method: 'POST', path, query: [['uploads', '']] });
    const uploadId = created.kind === 'response' && created.status === 200 ? xmlField(created.body, 'UploadId') : undefined;
    if (uploadId === undefined) return;
    const partCount = this.prng.between(2, 3);
    const parts: Uint8Array[] = [];
    const etags: string[] = [];
    for (let partNumber = 1; partNumber <= partCount; partNumber++) {
      const size = partNumber < partCount ? this.prng.between(partBytesMin, 100 * 1024) : this.prng.between(1, 50 * 1024);
      const bytes = this.objectBytes(size);
      const uploaded = await this.client.call(gateway, { method: 'PUT', path, query: [['partNumber', String(partNumber)], ['uploadId', uploadId]], body: bytes });
      const etag = uploaded.kind === 'response' && uploaded.status === 200 ? uploaded.headers.etag : undefined;
      if (etag === undefined) {
        if (this.prng.chance(0.5)) await this.client.call(gateway, { method: 'DELETE', path, query: [['uploadId', uploadId]] });
        return;
      }
      parts.push(bytes);
      etags.push(etag);
    }
    const document = `<CompleteMultipartUpload>${etags.map((etag, index) => `<Part><PartNumber>${index + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    const write = this.model.begin(key, 'multipart', Buffer.concat(parts), this.clock.monotonicMs());
    const completed = await this.client.call(gateway, { method: 'POST', path, query: [['uploadId', uploadId]], body: Buffer.from(document) });
    const acknowledged = completed.kind === 'response' && completed.status === 200 && xmlField(completed.body, 'ETag') !== undefined;
    this.settle(write, acknowledged);
  }

  private async get(gateway: number, key: string): Promise<void> {
    this.counts.gets++;
    const startMs = this.clock.monotonicMs();
    const outcome = await this.client.call(gateway, { method: 'GET', path: `/${key}` });
    this.checkRead(key, outcome, startMs, undefined, `GET ${key} via gw-${gateway}`);
  }

  private async rangeGet(gateway: number, key: string): Promise<void> {
    this.counts.rangeGets++;
    const first = this.prng.between(0, objectBytesMax);
    const last = first + this.prng.between(0, 80 * 1024);
    const startMs = this.clock.monotonicMs();
    const outcome = await this.client.call(gateway, { method: 'GET', path: `/${key}`, headers: { range: `bytes=${first}-${last}` } });
    this.checkRead(key, outcome, startMs, { first, last }, `GET ${key} bytes=${first}-${last} via gw-${gateway}`);
  }

  /** Checks one read's answer against the model; throws CheckFailure when no write could explain it. */
  checkRead(key: string, outcome: S3Outcome, startMs: number, range: { first: number; last: number } | undefined, what: string): void {
    const endMs = this.clock.monotonicMs();
    if (outcome.kind === 'unavailable' || outcome.status === 503 || outcome.status === 500) {
      this.counts.readErrors++;
      this.trace.mix('read', endMs, key, -1);
      return;
    }
    const candidates = this.model.candidates(key, startMs, endMs);
    const explained = candidates.some((candidate) => explains(candidate, outcome.status, outcome.body, range));
    this.trace.mix('read', endMs, key, outcome.status, outcome.body.length);
    this.counts.readsChecked++;
    if (!explained) {
      const got = `${outcome.status} with ${outcome.body.length} B (${digest(outcome.body)})`;
      const could = candidates.map((candidate) => (candidate.bytes === undefined ? `#${candidate.writeId} absent` : `#${candidate.writeId} ${candidate.bytes.length} B (${digest(candidate.bytes)})`));
      throw new CheckFailure(`${what} (t=${startMs}..${endMs}) answered ${got}; it could only be one of: ${could.join(', ')}. Writes to ${key}: ${this.model.describe(key)}`);
    }
  }

  private async list(gateway: number): Promise<void> {
    this.counts.lists++;
    const bucket = this.prng.pick(this.buckets);
    const startMs = this.clock.monotonicMs();
    const outcome = await this.client.call(gateway, { method: 'GET', path: `/${bucket}`, query: [['list-type', '2']] });
    if (outcome.kind !== 'response' || outcome.status !== 200) {
      this.counts.readErrors++;
      return;
    }
    this.checkList(bucket, listedObjects(outcome.body), startMs, `LIST ${bucket} via gw-${gateway}`);
  }

  /** Every key of `bucket` listed with the size of a candidate; every key left out may be absent. */
  checkList(bucket: string, listed: readonly { key: string; sizeBytes: number }[], startMs: number, what: string): void {
    const endMs = this.clock.monotonicMs();
    const sizes = new Map(listed.map((entry) => [`${bucket}/${entry.key}`, entry.sizeBytes]));
    this.trace.mix('list', endMs, bucket, listed.length);
    for (const key of new Set([...this.model.keys.filter((name) => name.startsWith(`${bucket}/`)), ...sizes.keys()])) {
      const candidates = this.model.candidates(key, startMs, endMs);
      const size = sizes.get(key);
      const explained = size === undefined ? candidates.some((candidate) => candidate.bytes === undefined) : candidates.some((candidate) => candidate.bytes?.length === size);
      if (!explained) {
        const shown = size === undefined ? 'left out' : `listed with ${size} B`;
        throw new CheckFailure(`${what} (t=${startMs}..${endMs}): ${key} ${shown}. Writes to ${key}: ${this.model.describe(key)}`);
      }
    }
  }

  /** Once quiet: every key through every gateway, retried past clean errors, then a list of each bucket; all must agree with the model. */
  async finalCheck(attemptsMax: number): Promise<void> {
    for (let gateway = 0; gateway < this.gatewayCount; gateway++) {
      const found = new Map<string, number>();
      for (const key of this.model.keys) {
        const outcome = await this.retried(gateway, () => this.client.call(gateway, { method: 'GET', path: `/${key}` }), attemptsMax, `final GET ${key}`);
        this.checkRead(key, outcome, this.clock.monotonicMs(), undefined, `final GET ${key} via gw-${gateway}`);
        if (outcome.kind === 'response' && outcome.status === 200) found.set(key, outcome.body.length);
      }
      const shown: string[] = [];
      for (const bucket of this.buckets) {
        const listing = await this.retried(gateway, () => this.client.call(gateway, { method: 'GET', path: `/${bucket}`, query: [['list-type', '2']] }), attemptsMax, `final LIST ${bucket}`);
        assert(listing.kind === 'response');
        shown.push(...listedObjects(listing.body).map((entry) => `${bucket}/${entry.key}:${entry.sizeBytes}`));
      }
      const read = [...found].map(([key, size]) => `${key}:${size}`);
      shown.sort();
      read.sort();
      if (shown.join(' ') !== read.join(' ')) throw new CheckFailure(`final LISTs via gw-${gateway} show [${shown.join(' ')}] but GETs found [${read.join(' ')}]`);
    }
  }

  private async retried(gateway: number, call: () => Promise<S3Outcome>, attemptsMax: number, what: string): Promise<S3Outcome> {
    let last: S3Outcome | undefined;
    for (let attempt = 0; attempt < attemptsMax; attempt++) {
      last = await call();
      if (last.kind === 'response' && last.status !== 503 && last.status !== 500) return last;
      await this.clock.sleep(1000);
    }
    const seen = last === undefined ? 'nothing' : last.kind === 'response' ? `status ${last.status}` : last.reason;
    throw new CheckFailure(`${what} via gw-${gateway} still failed after ${attemptsMax} attempts with the cluster quiet (${seen})`);
  }
}

function explains(candidate: Candidate, status: number, body: Uint8Array, range: { first: number; last: number } | undefined): boolean {
  const bytes = candidate.bytes;
  if (status === 404) return bytes === undefined;
  if (bytes === undefined) return false;
  if (status === 200) return Buffer.compare(body, bytes) === 0;
  if (range === undefined) return false;
  if (status === 416) return range.first >= bytes.length;
  if (status === 206) return range.first < bytes.length && Buffer.compare(body, bytes.subarray(range.first, Math.min(range.last, bytes.length - 1) + 1)) === 0;
  return false;
}

function digest(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex').slice(0, 8);
}
