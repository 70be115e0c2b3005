// The cluster orphan sweep on real parts: an LMDB-backed MetaService behind a
// LocalMetaClient, a FragmentStore with 4 drives served by a BlobService and
// reached through RemoteBlobClient (list pages and stat over the blob
// protocol), the gateway's own write path for live objects, 2+1 over 4
// drives. Leaks are planted as real fragment files. The sweep's clock is
// moved past the grace; the files' mtimes stay real, so "written a grace
// ago" is checked for real too.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobService } from '../blob/blob-service.js';
import { FragmentStore } from '../blob/fragment-store.js';
import { Gateway } from '../gateway/gateway.js';
import { fragmentId, newVersionId, parseFragmentId } from '../gateway/ids.js';
import { LocalMetaClient } from '../gateway/local-meta-client.js';
import { RemoteBlobClient } from '../gateway/remote-blob-client.js';
import type { Env } from '../io/env.js';
import { fragmentReferenceIdsMax } from '../meta/fragment-references.js';
import type { FragmentReference } from '../meta/fragment-references.js';
import { decodeMetaQuery, MetaQueryError } from '../meta/meta-queries.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import type { VersionRecord } from '../meta/records.js';
import { ClusterOrphanSweep } from './cluster-orphan-sweep.js';
import type { ClusterOrphanSweepOptions, ReferenceMetaClient } from './cluster-orphan-sweep.js';
import { caseFolders, startWorkerParts } from '../../test/helpers/worker-fixtures.js';
import type { WallClock } from '../../test/helpers/worker-fixtures.js';

const scheme = { k: 2, m: 1 };
const blockSizeBytes = 16 * 1024;
const driveIds = [0, 1, 2, 3];
const graceMs = 60_000;

const nextCaseFolder = caseFolders('tessera-orphans-');

/** A group client that can be taken down (its queries fail as an unreachable primary's would). */
class FlakyGroup implements ReferenceMetaClient {
  down = false;
  queries = 0;
  /** Runs before a query is answered (a writer recording something meanwhile). */
  beforeAnswer: ((query: number) => Promise<void>) | undefined;
  constructor(private readonly inner: ReferenceMetaClient) {}
  async getFragmentReferences(ownerIds: readonly string[]): Promise<FragmentReference[]> {
    this.queries++;
    if (this.down) throw new Error('metadata group 1 has no primary');
    await this.beforeAnswer?.(this.queries);
    return this.inner.getFragmentReferences(ownerIds);
  }
}

interface Fixture {
  readonly env: Env;
  readonly clock: WallClock;
  readonly meta: LocalMetaClient;
  readonly store: FragmentStore;
  readonly blob: RemoteBlobClient;
  readonly gateway: Gateway;
  readonly repairing: Set<string>;
  readonly drivePaths: readonly string[];
  sweep(options?: Partial<ClusterOrphanSweepOptions>, groups?: readonly ReferenceMetaClient[]): ClusterOrphanSweep;
  close(): Promise<void>;
}

async function start(): Promise<Fixture> {
  const base = nextCaseFolder();
  const parts = await startWorkerParts(base, driveIds);
  const { env, clock, meta, store, drivePaths } = parts;
  const blobService = new BlobService(env, store, { address: 'blob-1' });
  blobService.start();
  const blob = new RemoteBlobClient(env, { localAddress: 'gateway-1', addressOf: () => 'blob-1' });
  const layout = { level: 'node' as const, drives: driveIds.map((id) => ({ id, weight: 1, state: 'active' as const, zone: `n${id}`, rack: `n${id}`, node: `n${id}` })) };
  const gateway = new Gateway(
    env,
    meta,
    blob,
    { scheme, blockSizeBytes, inlineBytesMax: 1024, objectBytesMax: 64 * 1024 * 1024, drives: driveIds.map((id) => ({ id, weight: 1, state: 'active' as const })), layout },
    { onGarbage: () => undefined, onReadEnded: () => undefined, onShardFailure: () => undefined },
  );
  await meta.submit({ type: 'create_bucket', bucket: 'photos', bucketId: 'b-1', owner: 'alice', region: 'local' });
  const repairing = new Set<string>();
  return {
    env,
    clock,
    meta,
    store,
    blob,
    gateway,
    repairing,
    drivePaths,
    sweep: (options = {}, groups = [meta]) =>
      new ClusterOrphanSweep(env, groups, blob, {
        graceMs,
        drives: () => driveIds,
        isRepairing: (versionId, partNumber) => repairing.has(`${versionId}/${partNumber}`),
        ...options,
      }),
    async close() {
      await blobService.stop();
      await parts.close();
    },
  };
}

function body(sizeBytes: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length: sizeBytes }, (_, index) => (index * 31 + seed * 7 + (index >> 9)) % 251));
}

async function put(fixture: Fixture, key: string, bytes: Buffer | Readable): Promise<VersionRecord> {
  const outcome = await fixture.gateway.putObject({
    bucket: 'photos',
    key,
    owner: 'alice',
    contentType: 'application/octet-stream',
    headers: {},
    userMetadata: {},
    body: bytes instanceof Readable ? bytes : Readable.from([bytes]),
  });
  assert.ok(outcome.status === 'ok', `put ${key}: ${outcome.status}`);
  return outcome.version;
}

async function read(fixture: Fixture, key: string): Promise<Buffer> {
  const version = await fixture.meta.getObject('photos', key);
  assert.ok(version !== undefined, `${key} exists`);
  const chunks: Uint8Array[] = [];
  for await (const chunk of fixture.gateway.readObject(version)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Writes a one-block fragment straight onto a drive, as a crashed writer would leave it; returns its id. */
async function plant(fixture: Fixture, driveId: number, id: string): Promise<string> {
  const writer = await fixture.store.createWriter(driveId, id, blockSizeBytes);
  await writer.appendBlocks([Buffer.alloc(100, 7)]);
  await writer.finish();
  return id;
}

/** Sets a fragment file's mtime `ms` before the sweep's now (a leak written long before its metadata was lost). */
function backdate(fixture: Fixture, driveId: number, id: string, ms: number): void {
  const seconds = (fixture.clock.nowMs() - ms) / 1000;
  utimesSync(join(fixture.drivePaths[driveId]!, 'fragments', id.slice(0, 2), id), seconds, seconds);
}

function leakId(fixture: Fixture, partNumber = 1, shard = 0): string {
  return fragmentId(newVersionId(fixture.clock, fixture.env.random), partNumber, shard);
}

async function onDrive(fixture: Fixture, driveId: number): Promise<string[]> {
  const ids: string[] = [];
  for await (const id of fixture.store.list(driveId)) ids.push(id);
  return ids;
}

async function allFragments(fixture: Fixture): Promise<string[]> {
  const all: string[] = [];
  for (const driveId of driveIds) for (const id of await onDrive(fixture, driveId)) all.push(`${driveId}/${id}`);
  return all.sort();
}

/** Runs passes until one ends a round over every drive; returns the sum of what they deleted. */
async function round(sweep: ClusterOrphanSweep): Promise<{ deleted: number; scanned: number; passes: number }> {
  let deleted = 0;
  let scanned = 0;
  for (let passes = 1; passes <= 100; passes++) {
    const report = await sweep.runPass();
    deleted += report.deleted;
    scanned += report.scanned;
    if (report.roundDone) return { deleted, scanned, passes };
  }
  throw new Error('no round ended in 100 passes');
}

describe('cluster orphan sweep', () => {
  it('deletes a leaked fragment after the grace and not before; live objects and foreign files stay', async () => {
    const fixture = await start();
    try {
      const bytes = body(40_000, 1);
      await put(fixture, 'live', bytes);
      const live = await allFragments(fixture);
      assert.equal(live.length, 3, '2+1 shards of the one part');
      // Written long ago: only the sweep's own two passes stand between it and a delete.
      const leak = await plant(fixture, 2, leakId(fixture));
      backdate(fixture, 2, leak, 10 * graceMs);
      const foreign = await plant(fixture, 1, 'scratch-file-of-someone');
      const sweep = fixture.sweep();

      const first = await round(sweep);
      assert.equal(first.deleted, 0, 'first seen: only a suspect');
      assert.equal(sweep.suspectsRemembered, 1);
      fixture.clock.offsetMs = graceMs - 1000;
      assert.equal((await round(sweep)).deleted, 0, 'within the grace');
      assert.ok((await onDrive(fixture, 2)).includes(leak));

      fixture.clock.offsetMs = graceMs + 1000;
      const due = await round(sweep);
      assert.equal(due.deleted, 1);
      assert.ok(!(await onDrive(fixture, 2)).includes(leak), 'the leak is gone');
      assert.deepEqual(await allFragments(fixture), [...live, `1/${foreign}`].sort(), 'everything else stays');
      assert.equal(sweep.suspectsRemembered, 0);
      assert.deepEqual(await read(fixture, 'live'), bytes);
    } finally {
      await fixture.close();
    }
  });

  it('never deletes a fragment of a PREPARING version; deletes what the committed version does not name', async () => {
    const fixture = await start();
    try {
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const bytes = body(40_000, 2);
      const stalled = Readable.from(
        (async function* () {
          yield bytes.subarray(0, 20_000);
          await held;
          yield bytes.subarray(20_000);
        })(),
      );
      const writing = put(fixture, 'slow', stalled);
      let preparing: VersionRecord[] = [];
      for (let tries = 0; tries < 200 && preparing.length === 0; tries++) {
        await fixture.clock.sleep(5);
        preparing = await fixture.meta.listPreparing();
      }
      assert.equal(preparing.length, 1, 'the write recorded its PREPARING version');
      const versionId = preparing[0]!.versionId;
      // A fragment of that version the writer's record does not (yet) place: part 2 on drive 3.
      const early = await plant(fixture, 3, fragmentId(versionId, 2, 0));
      const sweep = fixture.sweep();
      for (const offsetMs of [0, graceMs + 1000, 3 * graceMs]) {
        fixture.clock.offsetMs = offsetMs;
        assert.equal((await round(sweep)).deleted, 0);
      }
      assert.ok((await onDrive(fixture, 3)).includes(early), 'kept while PREPARING');

      release();
      await writing;
      // Committed with one part: part 2's fragment is referenced nowhere now.
      await round(sweep);
      fixture.clock.offsetMs = 5 * graceMs;
      assert.equal((await round(sweep)).deleted, 1);
      assert.ok(!(await onDrive(fixture, 3)).includes(early));
      assert.deepEqual(await read(fixture, 'slow'), bytes);
    } finally {
      await fixture.close();
    }
  });

  it('keeps a healer\'s new shard until its move commits, deletes one whose move never came', async () => {
    const fixture = await start();
    try {
      const bytes = body(40_000, 3);
      const version = await put(fixture, 'moving', bytes);
      const part = version.parts[0]!;
      const free = driveIds.filter((drive) => !part.drives.includes(drive));
      assert.equal(free.length, 1);
      const target = free[0]!;
      // Two healers wrote shard 0 and shard 1 of the part to the free drive; only the first will record its move.
      const moved = await plant(fixture, target, fragmentId(version.versionId, 1, 0));
      const crashed = await plant(fixture, target, fragmentId(version.versionId, 1, 1));
      const sweep = fixture.sweep();
      await round(sweep);
      assert.equal(sweep.suspectsRemembered, 2, 'a live version\'s shards on a drive its part does not list are suspects');

      fixture.clock.offsetMs = graceMs / 2;
      const result = await fixture.meta.submit({
        type: 'move_shards',
        bucket: 'photos',
        key: 'moving',
        versionId: version.versionId,
        partNumber: 1,
        fragmentOwnerId: version.versionId,
        fromDrives: part.drives,
        fromMissingShards: part.missingShards,
        toDrives: part.drives.map((drive, shard) => (shard === 0 ? target : drive)),
        toMissingShards: [],
        garbageShards: [0],
      });
      assert.equal(result.status, 'shards_moved');

      fixture.clock.offsetMs = 2 * graceMs;
      const due = await round(sweep);
      assert.equal(due.deleted, 1, 'only the shard no move recorded');
      const left = await onDrive(fixture, target);
      assert.ok(left.includes(moved), 'the recorded shard stays');
      assert.ok(!left.includes(crashed), 'the unrecorded one is gone');
      assert.ok((await onDrive(fixture, part.drives[0]!)).includes(fragmentId(version.versionId, 1, 0)), 'the old shard waits for GC, not for the sweep');
      assert.deepEqual(await read(fixture, 'moving'), bytes);
    } finally {
      await fixture.close();
    }
  });

  it('asks again before a delete: a move recorded after the page was checked keeps its shard', async () => {
    const fixture = await start();
    try {
      const version = await put(fixture, 'late', body(40_000, 6));
      const part = version.parts[0]!;
      const target = driveIds.find((drive) => !part.drives.includes(drive))!;
      const shard = await plant(fixture, target, fragmentId(version.versionId, 1, 0));
      backdate(fixture, target, shard, 10 * graceMs);
      const group = new FlakyGroup(fixture.meta);
      const sweep = fixture.sweep({ drives: () => [target] }, [group]);
      await round(sweep);
      assert.equal(sweep.suspectsRemembered, 1);
      fixture.clock.offsetMs = graceMs + 1000;
      group.queries = 0;
      group.beforeAnswer = async (query) => {
        if (query !== 2) return;
        // Between the page's check (query 1) and the check just before the delete (query 2).
        const result = await fixture.meta.submit({
          type: 'move_shards',
          bucket: 'photos',
          key: 'late',
          versionId: version.versionId,
          partNumber: 1,
          fragmentOwnerId: version.versionId,
          fromDrives: part.drives,
          fromMissingShards: part.missingShards,
          toDrives: part.drives.map((drive, index) => (index === 0 ? target : drive)),
          toMissingShards: [],
          garbageShards: [0],
        });
        assert.equal(result.status, 'shards_moved');
      };
      const report = await sweep.runPass();
      assert.equal(group.queries, 2, 'the page, then the due suspect again');
      assert.deepEqual([report.deleted, report.kept], [0, 1]);
      assert.ok((await onDrive(fixture, target)).includes(shard));
      assert.equal(sweep.suspectsRemembered, 0);
    } finally {
      await fixture.close();
    }
  });

  it('keeps a due suspect that was rewritten within the grace or is being repaired here', async () => {
    const fixture = await start();
    try {
      const version = await put(fixture, 'busy', body(40_000, 4));
      const target = driveIds.find((drive) => !version.parts[0]!.drives.includes(drive))!;
      const rewritten = await plant(fixture, target, fragmentId(version.versionId, 1, 0));
      const leak = leakId(fixture);
      await plant(fixture, 0, leak);
      const sweep = fixture.sweep();
      await round(sweep);
      // Past the grace on the sweep's clock, the file is written again: its mtime is the sweep's now.
      fixture.clock.offsetMs = graceMs + 1000;
      await fixture.store.delete(target, rewritten);
      await plant(fixture, target, rewritten);
      backdate(fixture, target, rewritten, 0);
      fixture.repairing.add(`${parseFragmentId(leak)!.ownerId}/1`);
      assert.equal((await round(sweep)).deleted, 0, 'the rewritten one is too young, the other is being repaired');
      // The rewrite restarted its wait: it goes one grace after it was seen rewritten.
      fixture.clock.offsetMs = 3 * graceMs;
      fixture.repairing.clear();
      assert.equal((await round(sweep)).deleted, 2);
      assert.deepEqual(await onDrive(fixture, target), []);
    } finally {
      await fixture.close();
    }
  });

  it('a metadata group that fails ends the pass with nothing deleted; the next pass resumes', async () => {
    const fixture = await start();
    try {
      await put(fixture, 'live', body(40_000, 5));
      const leaks = [await plant(fixture, 1, leakId(fixture)), await plant(fixture, 2, leakId(fixture))];
      leaks.forEach((leak, index) => {
        backdate(fixture, index + 1, leak, 10 * graceMs);
      });
      const flaky = new FlakyGroup(fixture.meta);
      const sweep = fixture.sweep({}, [fixture.meta, flaky]);
      await round(sweep);
      assert.equal(sweep.suspectsRemembered, 2);
      fixture.clock.offsetMs = graceMs + 1000;
      flaky.down = true;
      await assert.rejects(sweep.runPass(), /metadata group 1 has no primary/);
      await assert.rejects(sweep.runPass(), /metadata group 1 has no primary/);
      for (const [index, leak] of leaks.entries()) assert.ok((await onDrive(fixture, index + 1)).includes(leak), 'nothing deleted while a group is down');
      flaky.down = false;
      assert.equal((await round(sweep)).deleted, 2);
      assert.deepEqual([...(await onDrive(fixture, 1)), ...(await onDrive(fixture, 2))].filter((id) => leaks.includes(id)), []);
    } finally {
      await fixture.close();
    }
  });

  it('works in bounded pages and resumes where the last pass stopped', async () => {
    const fixture = await start();
    try {
      const leaks: string[] = [];
      for (let index = 0; index < 5; index++) leaks.push(await plant(fixture, 1, leakId(fixture, 1, index)));
      const sweep = fixture.sweep({ pageSize: 2, pagesPerPass: 1 });
      const reports = [];
      for (let pass = 0; pass < 6; pass++) reports.push(await sweep.runPass());
      // Drive 0 is empty (one page), drive 1 holds 5 ids (pages of 2, 2, 1), drives 2 and 3 are empty.
      assert.deepEqual(
        reports.map((report) => report.scanned),
        [0, 2, 2, 1, 0, 0],
      );
      assert.ok(reports.every((report) => report.scanned <= 2));
      assert.deepEqual(
        reports.map((report) => report.roundDone),
        [false, false, false, false, false, true],
      );
      assert.equal(sweep.suspectsRemembered, 5);
      fixture.clock.offsetMs = graceMs + 1000;
      const due = await round(sweep);
      assert.equal(due.deleted, 5);
      assert.equal(due.passes, 6);
      assert.deepEqual(await onDrive(fixture, 1), []);
    } finally {
      await fixture.close();
    }
  });

  it('remembers at most suspectsMax suspects and finds the rest next round', async () => {
    const fixture = await start();
    try {
      for (let index = 0; index < 3; index++) await plant(fixture, 2, leakId(fixture, 1, index));
      const sweep = fixture.sweep({ suspectsMax: 2 });
      await round(sweep);
      assert.equal(sweep.suspectsRemembered, 2);
      fixture.clock.offsetMs = graceMs + 1000;
      assert.equal((await round(sweep)).deleted, 2);
      assert.equal(sweep.suspectsRemembered, 0, 'the third was not remembered while the limit was reached');
      await round(sweep);
      assert.equal(sweep.suspectsRemembered, 1, 'the third is a suspect now');
      fixture.clock.offsetMs = 3 * graceMs;
      assert.equal((await round(sweep)).deleted, 1);
    } finally {
      await fixture.close();
    }
  });
});

describe('get_fragment_references over the network', () => {
  it('takes a list of owner ids and refuses a malformed or oversized one', () => {
    const query = { type: 'get_fragment_references', ownerIds: ['a', 'b'] };
    assert.deepEqual(decodeMetaQuery(decodeRecord(encodeRecord(query))), query);
    for (const ownerIds of [undefined, 'a', [1], Array.from({ length: fragmentReferenceIdsMax + 1 }, (_, index) => `v${index}`)]) {
      assert.throws(() => decodeMetaQuery({ type: 'get_fragment_references', ownerIds }), MetaQueryError);
    }
  });
});
