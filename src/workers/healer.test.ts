// Healer and rebalancer on real parts: LMDB-backed MetaService behind a
// LocalMetaClient, a FragmentStore with 8 drives on a temp folder (4 nodes of
// 2 drives, failure domain = node, 4+2, so no node may hold more than 2
// shards), the gateway's own write and read paths. A fragment deleted or
// corrupted on disk is found by a read, reported, confirmed and rebuilt; a
// part written while a drive refused writers is healed; a draining node is
// emptied (copies, caps kept, old fragments deleted only after GC's grace);
// a failed drive's shards are rebuilt from the others; GC keeps what it cannot
// delete yet without holding up the rest; a delete racing a move leaks
// nothing; every object reads back byte-identical.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fragmentHeaderBytes } from '../blob/fragment-format.js';
import { FragmentStore } from '../blob/fragment-store.js';
import type { BlobClient, FragmentWriter } from '../gateway/clients.js';
import { Gateway } from '../gateway/gateway.js';
import { fragmentId } from '../gateway/ids.js';
import { LocalMetaClient } from '../gateway/local-meta-client.js';
import { fragmentOwnerOf } from '../meta/records.js';
import type { PartRecord, VersionRecord } from '../meta/records.js';
import type { ClusterLayout, DriveState } from '../placement/layout.js';
import { GarbageCollector } from './garbage-collector.js';
import { Healer } from './healer.js';
import type { ReportedShardFailure } from './healer.js';
import { Rebalancer } from './rebalancer.js';
import { caseFolders, startWorkerParts } from '../../test/helpers/worker-fixtures.js';
import type { WallClock } from '../../test/helpers/worker-fixtures.js';

const scheme = { k: 4, m: 2 };
const blockSizeBytes = 16 * 1024;
const driveIds = [0, 1, 2, 3, 4, 5, 6, 7];
const nodeOf = (drive: number): string => `node-${Math.floor(drive / 2)}`;
const graceMs = 60_000;

const nextCaseFolder = caseFolders('tessera-healer-');

/** The FragmentStore as a BlobClient whose drives can refuse writers or reads, and whose finishes can be held. */
class TestBlobs implements BlobClient {
  readonly refuseWriters = new Set<number>();
  readonly refuseReads = new Set<number>();
  readonly refuseDeletes = new Set<number>();
  /** Awaited before every finish while set (holds a healer mid-move). */
  beforeFinish: (() => Promise<void>) | undefined;

  constructor(readonly store: FragmentStore) {}

  async createWriter(driveId: number, id: string, blockSize: number): Promise<FragmentWriter> {
    if (this.refuseWriters.has(driveId)) throw new Error(`drive ${driveId} refuses writers`);
    const writer = await this.store.createWriter(driveId, id, blockSize);
    return {
      appendBlocks: (blocks) => writer.appendBlocks(blocks),
      finish: async () => {
        await this.beforeFinish?.();
        await writer.finish();
      },
      abort: () => writer.abort(),
    };
  }

  readBlocks(driveId: number, id: string, firstBlock: number, blockCount: number): Promise<Buffer[]> {
    if (this.refuseReads.has(driveId)) return Promise.reject(new Error(`drive ${driveId} is unreachable`));
    return this.store.readBlocks(driveId, id, firstBlock, blockCount);
  }

  delete(driveId: number, id: string): Promise<boolean> {
    if (this.refuseDeletes.has(driveId)) return Promise.reject(new Error(`drive ${driveId} is unreachable`));
    return this.store.delete(driveId, id);
  }

  list(driveId: number): AsyncIterable<string> {
    return this.store.list(driveId);
  }
}

interface Fixture {
  readonly clock: WallClock;
  readonly meta: LocalMetaClient;
  readonly blobs: TestBlobs;
  readonly gateway: Gateway;
  readonly healer: Healer;
  readonly rebalancer: Rebalancer;
  readonly gc: GarbageCollector;
  readonly drivePaths: readonly string[];
  readonly reports: ReportedShardFailure[];
  setState(drives: readonly number[], state: DriveState): void;
  close(): Promise<void>;
}

function layoutWith(states: ReadonlyMap<number, DriveState>): ClusterLayout {
  return { level: 'node', drives: driveIds.map((id) => ({ id, weight: 1, state: states.get(id) ?? 'active', zone: nodeOf(id), rack: nodeOf(id), node: nodeOf(id) })) };
}

async function start(): Promise<Fixture> {
  const base = nextCaseFolder();
  const parts = await startWorkerParts(base, driveIds);
  const { env, clock, meta, store, drivePaths } = parts;
  const blobs = new TestBlobs(store);
  const states = new Map<number, DriveState>();
  let layout = layoutWith(states);
  const reports: ReportedShardFailure[] = [];
  const healer = new Healer(env, meta, blobs, { layout: () => layout, onGarbage: () => undefined });
  const gateway = new Gateway(
    env,
    meta,
    blobs,
    { scheme, blockSizeBytes, inlineBytesMax: 1024, objectBytesMax: 64 * 1024 * 1024, drives: driveIds.map((id) => ({ id, weight: 1, state: 'active' as const })), layout },
    {
      onGarbage: () => undefined,
      onReadEnded: () => undefined,
      onShardFailure: (failure) => {
        reports.push(failure);
        healer.report(failure);
      },
    },
  );
  const gc = new GarbageCollector(env, meta, blobs, { graceMs, batchMax: 256, isBeingRead: (versionId) => gateway.isBeingRead(versionId) });
  const rebalancer = new Rebalancer(env, meta, healer, { layout: () => layout, pageEntries: 3 });
  await meta.submit({ type: 'create_bucket', bucket: 'photos', bucketId: 'b-1', owner: 'alice', region: 'local' });
  return {
    clock,
    meta,
    blobs,
    gateway,
    healer,
    rebalancer,
    gc,
    drivePaths,
    reports,
    setState(drives, state) {
      for (const drive of drives) states.set(drive, state);
      layout = layoutWith(states);
      gateway.useLayout(layout);
    },
    async close() {
      await parts.close();
    },
  };
}

function body(sizeBytes: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length: sizeBytes }, (_, index) => (index * 31 + seed * 7 + (index >> 9)) % 251));
}

async function put(fixture: Fixture, key: string, bytes: Buffer): Promise<VersionRecord> {
  const outcome = await fixture.gateway.putObject({
    bucket: 'photos',
    key,
    owner: 'alice',
    contentType: 'application/octet-stream',
    headers: {},
    userMetadata: {},
    body: Readable.from([bytes]),
  });
  assert.equal(outcome.status, 'ok');
  assert.ok(outcome.status === 'ok');
  return outcome.version;
}

async function current(fixture: Fixture, key: string): Promise<VersionRecord> {
  const version = await fixture.meta.getObject('photos', key);
  assert.ok(version !== undefined, `${key} exists`);
  return version;
}

async function read(fixture: Fixture, key: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of fixture.gateway.readObject(await current(fixture, key))) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function fragmentPath(fixture: Fixture, version: VersionRecord, part: PartRecord, shard: number): string {
  const id = fragmentId(fragmentOwnerOf(version.versionId, part), part.partNumber, shard);
  return join(fixture.drivePaths[part.drives[shard]!]!, 'fragments', id.slice(0, 2), id);
}

/** Every fragment of the part reads clean from the drive its record names. */
async function assertWhole(fixture: Fixture, version: VersionRecord): Promise<void> {
  for (const part of version.parts) {
    assert.deepEqual(part.missingShards, []);
    for (const [shard, drive] of part.drives.entries()) {
      const id = fragmentId(fragmentOwnerOf(version.versionId, part), part.partNumber, shard);
      const blocks = await fixture.blobs.store.readBlocks(drive, id, 0, 1);
      assert.ok(blocks.length === 1, `shard ${shard} on drive ${drive} reads`);
    }
  }
}

/** No node holds more than m shards of a part (the cap at the configured level). */
function assertCaps(version: VersionRecord): void {
  for (const part of version.parts) {
    const perNode = new Map<string, number>();
    for (const drive of part.drives) perNode.set(nodeOf(drive), (perNode.get(nodeOf(drive)) ?? 0) + 1);
    assert.ok(Math.max(...perNode.values()) <= scheme.m, `part on ${part.drives.join(',')}: a node over ${scheme.m} shards`);
  }
}

async function fragmentsOn(fixture: Fixture, drive: number): Promise<string[]> {
  const ids: string[] = [];
  for await (const id of fixture.blobs.list(drive)) ids.push(id);
  return ids;
}

/** Rebalancer passes until one finds nothing left to do (bounded). */
async function rebalanceUntilQuiet(fixture: Fixture): Promise<number> {
  for (let pass = 1; pass <= 20; pass++) {
    const report = await fixture.rebalancer.runPass();
    if (report.cycleDone && report.candidates === 0) return pass;
  }
  throw new Error('the rebalancer never went quiet');
}

describe('healer: shards lost under a committed version', () => {
  it('a deleted fragment file: the read decodes and reports it, the healer rebuilds it in place', async () => {
    const fixture = await start();
    try {
      const bytes = body(300 * 1024 + 5, 1);
      const version = await put(fixture, 'deleted', bytes);
      const part = version.parts[0]!;
      unlinkSync(fragmentPath(fixture, version, part, 1));
      assert.ok((await read(fixture, 'deleted')).equals(bytes), 'the read decodes around the lost shard');
      assert.deepEqual(fixture.reports.map((report) => [report.shard, report.bucket, report.key]), [[1, 'photos', 'deleted']]);
      await fixture.healer.runReports();
      assert.equal(fixture.healer.stats.shardsRebuilt, 1);
      const healed = await current(fixture, 'deleted');
      assert.deepEqual(healed.parts[0]!.drives, part.drives, 'an active drive gets its shard back in place');
      await assertWhole(fixture, healed);
      assert.ok((await read(fixture, 'deleted')).equals(bytes));
      assert.equal(fixture.reports.length, 1, 'the second read needs no decode');
    } finally {
      await fixture.close();
    }
  });

  it('a corrupt block: confirmed by a re-read, rebuilt byte-identical; a transient failure is not healed', async () => {
    const fixture = await start();
    try {
      const bytes = body(200 * 1024, 2);
      const version = await put(fixture, 'corrupt', bytes);
      const part = version.parts[0]!;
      const file = fragmentPath(fixture, version, part, 0);
      const original = readFileSync(file);
      const damaged = Buffer.from(original);
      damaged.writeUInt8(damaged.readUInt8(fragmentHeaderBytes + 100) ^ 0xff, fragmentHeaderBytes + 100);
      writeFileSync(file, damaged);
      assert.ok((await read(fixture, 'corrupt')).equals(bytes));
      await fixture.healer.runReports();
      assert.equal(fixture.healer.stats.shardsRebuilt, 1);
      assert.ok(readFileSync(file).equals(original), 'the rebuilt fragment is the one the write made');
      // An unreachable drive is reported by reads but is not a lost shard: nothing is rebuilt.
      fixture.blobs.refuseReads.add(part.drives[2]!);
      assert.ok((await read(fixture, 'corrupt')).equals(bytes));
      await fixture.healer.runReports();
      assert.equal(fixture.healer.stats.shardsRebuilt, 1);
      assert.equal(fixture.healer.reportsQueued, 0);
    } finally {
      await fixture.close();
    }
  });

  it('a part written while a drive refused writers: missing shards are rebuilt once it is back, or elsewhere once it is marked failed', async () => {
    const fixture = await start();
    try {
      fixture.blobs.refuseWriters.add(7);
      const written = new Map<string, Buffer>();
      for (let index = 0; written.size < 6 && index < 40; index++) {
        const bytes = body(100 * 1024 + index, 10 + index);
        const version = await put(fixture, `obj-${index}`, bytes);
        written.set(`obj-${index}`, bytes);
        assert.ok(version.parts[0]!.missingShards.length <= 1);
      }
      const missing = [];
      for (const key of written.keys()) if ((await current(fixture, key)).parts[0]!.missingShards.length > 0) missing.push(key);
      assert.ok(missing.length >= 2, `some parts were written without drive 7 (${missing.length})`);
      // Drive 7 is back for one object's heal: the shard returns to it.
      fixture.blobs.refuseWriters.delete(7);
      const [first, ...rest] = missing;
      const firstVersion = await current(fixture, first!);
      const outcome = await fixture.healer.repairPart(firstVersion.versionId, 1);
      assert.equal(outcome.status, 'repaired');
      assert.deepEqual((await current(fixture, first!)).parts[0]!.drives, firstVersion.parts[0]!.drives);
      // Then the operator marks drive 7 failed: the rest go elsewhere, within the caps.
      fixture.setState([7], 'failed');
      await rebalanceUntilQuiet(fixture);
      for (const key of rest) {
        const healed = await current(fixture, key);
        assert.ok(!healed.parts[0]!.drives.includes(7), `${key} left drive 7`);
        assertCaps(healed);
        await assertWhole(fixture, healed);
      }
      for (const [key, bytes] of written) assert.ok((await read(fixture, key)).equals(bytes), `${key} reads back`);
    } finally {
      await fixture.close();
    }
  });
});

describe('healer: safety', () => {
  it('a rebuild whose bytes do not hash to the part\'s ETag finishes and records nothing', async () => {
    const fixture = await start();
    try {
      const original = await put(fixture, 'a', body(100 * 1024, 3));
      const part = original.parts[0]!;
      // A second version over the same fragments whose record claims another ETag.
      const liar: VersionRecord = { ...original, key: 'b', versionId: 'ffffffffffff0123456789abcdef', parts: [{ ...part, etag: `"${'0'.repeat(32)}"`, fragmentOwnerId: original.versionId }] };
      assert.equal((await fixture.meta.submit({ type: 'put_version', version: liar })).status, 'version_committed');
      unlinkSync(fragmentPath(fixture, original, part, 1));
      const outcome = await fixture.healer.repairPart(liar.versionId, 1, new Set([1]));
      assert.equal(outcome.status, 'failed');
      assert.ok(outcome.status === 'failed' && /ETag/.test(outcome.reason), JSON.stringify(outcome));
      assert.deepEqual(await fragmentsOn(fixture, part.drives[1]!), [], 'no rebuilt fragment was published');
      assert.deepEqual((await current(fixture, 'b')).parts[0]!.drives, part.drives);
      assert.deepEqual(await fixture.meta.listGarbage(10), []);
    } finally {
      await fixture.close();
    }
  });
});

describe('rebalancer: draining and failed drives', () => {
  it('drains a node: every shard copied off it within the caps, old fragments deleted only after the grace period', async () => {
    const fixture = await start();
    try {
      const written = new Map<string, Buffer>();
      for (let index = 0; index < 8; index++) {
        const bytes = body(150 * 1024 + 3 * index, 20 + index);
        await put(fixture, `drain-${index}`, bytes);
        written.set(`drain-${index}`, bytes);
      }
      const onNode = (await fragmentsOn(fixture, 6)).length + (await fragmentsOn(fixture, 7)).length;
      assert.ok(onNode > 0, 'node-3 holds shards before the drain');
      fixture.setState([6, 7], 'draining');
      const passes = await rebalanceUntilQuiet(fixture);
      assert.ok(passes >= 2, 'pages of 3 entries: the scan spans passes');
      assert.equal(fixture.healer.stats.shardsCopied, onNode);
      assert.equal(fixture.healer.stats.shardsRebuilt, 0, 'readable shards are copied, not rebuilt');
      assert.deepEqual([...fixture.rebalancer.drainedDrives].sort(), [6, 7]);
      for (const key of written.keys()) {
        const version = await current(fixture, key);
        assert.ok(version.parts[0]!.drives.every((drive) => drive !== 6 && drive !== 7), `${key} is off node-3`);
        assertCaps(version);
        await assertWhole(fixture, version);
      }
      // Within the grace period a gateway may still read the old fragments: they stay.
      await fixture.gc.runPass();
      assert.equal((await fragmentsOn(fixture, 6)).length + (await fragmentsOn(fixture, 7)).length, onNode);
      fixture.clock.offsetMs += graceMs + 1000;
      const collected = await fixture.gc.runPass();
      assert.equal(collected.fragmentsDeleted, onNode);
      assert.deepEqual([...(await fragmentsOn(fixture, 6)), ...(await fragmentsOn(fixture, 7))], []);
      for (const [key, bytes] of written) assert.ok((await read(fixture, key)).equals(bytes), `${key} reads back`);
    } finally {
      await fixture.close();
    }
  });

  it('a failed drive: its shards are rebuilt from the others and its fragments are not queued for GC', async () => {
    const fixture = await start();
    try {
      const written = new Map<string, Buffer>();
      for (let index = 0; index < 5; index++) {
        const bytes = body(90 * 1024 + index, 40 + index);
        await put(fixture, `failed-${index}`, bytes);
        written.set(`failed-${index}`, bytes);
      }
      const onDrive = (await fragmentsOn(fixture, 3)).length;
      assert.ok(onDrive > 0);
      fixture.blobs.refuseReads.add(3);
      fixture.setState([3], 'failed');
      await rebalanceUntilQuiet(fixture);
      assert.equal(fixture.healer.stats.shardsRebuilt, onDrive);
      assert.equal(fixture.healer.stats.shardsCopied, 0);
      fixture.clock.offsetMs += graceMs + 1000;
      await fixture.gc.runPass();
      assert.equal((await fragmentsOn(fixture, 3)).length, onDrive, 'nothing was asked of the failed drive');
      for (const [key, bytes] of written) {
        const version = await current(fixture, key);
        assert.ok(!version.parts[0]!.drives.includes(3));
        assertCaps(version);
        assert.ok((await read(fixture, key)).equals(bytes), `${key} reads back`);
      }
    } finally {
      await fixture.close();
    }
  });

  it('a draining drive that cannot be read: its shards are rebuilt instead of copied, and its fragments still deleted', async () => {
    const fixture = await start();
    try {
      const written = new Map<string, Buffer>();
      for (let index = 0; index < 5; index++) {
        const bytes = body(80 * 1024 + index, 80 + index);
        await put(fixture, `unreadable-${index}`, bytes);
        written.set(`unreadable-${index}`, bytes);
      }
      const onDrive = (await fragmentsOn(fixture, 4)).length;
      assert.ok(onDrive > 0);
      fixture.blobs.refuseReads.add(4);
      fixture.setState([4], 'draining');
      await rebalanceUntilQuiet(fixture);
      assert.deepEqual([fixture.healer.stats.shardsCopied, fixture.healer.stats.shardsRebuilt], [0, onDrive]);
      fixture.clock.offsetMs += graceMs + 1000;
      await fixture.gc.runPass();
      assert.deepEqual(await fragmentsOn(fixture, 4), []);
      fixture.blobs.refuseReads.delete(4);
      for (const [key, bytes] of written) assert.ok((await read(fixture, key)).equals(bytes), `${key} reads back`);
    } finally {
      await fixture.close();
    }
  });

  it('GC keeps the garbage of a drive it cannot reach and collects the rest; it deletes it once the drive answers', async () => {
    const fixture = await start();
    try {
      for (let index = 0; index < 6; index++) await put(fixture, `gc-${index}`, body(70 * 1024, 70 + index));
      const onDrive = (await fragmentsOn(fixture, 5)).length;
      assert.ok(onDrive > 0);
      fixture.setState([5], 'draining');
      await rebalanceUntilQuiet(fixture);
      const queued = (await fixture.meta.listGarbage(100)).length;
      assert.equal(queued, onDrive, 'one garbage record per move');
      await put(fixture, 'gc-0', body(70 * 1024, 99)); // an overwrite: garbage on reachable drives
      fixture.blobs.refuseDeletes.add(5);
      fixture.clock.offsetMs += graceMs + 1000;
      const blocked = await fixture.gc.runPass();
      assert.equal(blocked.versions, 1, 'the overwritten version is collected despite the unreachable drive');
      assert.equal((await fixture.meta.listGarbage(100)).length, queued);
      assert.equal((await fragmentsOn(fixture, 5)).length, onDrive);
      fixture.blobs.refuseDeletes.delete(5);
      await fixture.gc.runPass();
      assert.deepEqual(await fixture.meta.listGarbage(100), []);
      assert.deepEqual(await fragmentsOn(fixture, 5), []);
    } finally {
      await fixture.close();
    }
  });

  it('an object deleted while its shards move: the move is stale and no fragment leaks', async () => {
    const fixture = await start();
    try {
      const version = await put(fixture, 'racing', body(120 * 1024, 60));
      const part = version.parts[0]!;
      const leaving = part.drives[0]!;
      fixture.setState([leaving], 'draining');
      let deleted = false;
      fixture.blobs.beforeFinish = async () => {
        if (deleted) return;
        deleted = true;
        const result = await fixture.meta.submit({ type: 'delete_object', bucket: 'photos', key: 'racing' });
        assert.equal(result.status, 'object_deleted');
      };
      const outcome = await fixture.healer.repairPart(version.versionId, part.partNumber);
      assert.deepEqual(outcome, { status: 'stale' });
      fixture.blobs.beforeFinish = undefined;
      const target = await fixture.meta.listGarbage(10);
      assert.equal(target.length, 2, 'the deleted version and the fragment the move wrote');
      fixture.clock.offsetMs += graceMs + 1000;
      await fixture.gc.runPass();
      for (const drive of driveIds) assert.deepEqual(await fragmentsOn(fixture, drive), [], `drive ${drive} is empty`);
      assert.deepEqual(await fixture.meta.listGarbage(10), []);
    } finally {
      await fixture.close();
    }
  });
});
