// MetaService tests with the real Env pieces (MemoryKvStore or LmdbStore in a
// temp directory): the S3-visible outcomes through submit(), listing order in
// bytes, group commit (many ops share one replica turn, one fsync),
// backpressure, restarts that resume from what LMDB holds, and what a failing
// KvStore does to the service.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { Clock } from '../io/clock.js';
import { noFaults } from '../io/env.js';
import type { Env } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import type { KvStore, KvTransaction } from '../io/kv-store.js';
import { silentLogger } from '../io/logger.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { LmdbStore } from '../io/node/lmdb-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { readDurableState } from '../vsr/kv-driver.js';
import { MetaBusyError, MetaService } from './meta-service.js';
import type { MetaServiceOptions } from './meta-service.js';
import type { MetaOp } from './ops.js';
import { createBucket, part, putVersion, versionRecord } from './test-support.js';

// Records and ops.

function putInline(bucket: string, key: string, versionId: string): MetaOp {
  return putVersion({ bucket, key, versionId, inline: Buffer.from(`body of ${key}`) });
}

// Env and disks.

/** A KvStore whose transactions can be told to fail (a full or failing disk). */
class FlakyKvStore extends MemoryKvStore {
  failTransactions = false;

  override transact<T>(body: (transaction: KvTransaction) => T): Promise<T> {
    if (this.failTransactions) return Promise.reject(new Error('injected transaction failure'));
    return super.transact(body);
  }

  override transactSync<T>(body: (transaction: KvTransaction) => T): T {
    if (this.failTransactions) throw new Error('injected transaction failure');
    return super.transactSync(body);
  }
}

function makeEnv(clock: Clock = new NodeClock()): Env {
  return {
    clock,
    random: new NodeRandom(),
    disk: new NodeDisk(),
    transport: new InProcessTransport(),
    faults: noFaults,
    logger: silentLogger,
  };
}

/** A clock whose wall time is set by the test. */
function manualClock(startMs: number): Clock & { nowMsValue: number } {
  const clock = new NodeClock();
  return {
    nowMsValue: startMs,
    nowMs() {
      return this.nowMsValue;
    },
    monotonicMs: () => clock.monotonicMs(),
    setTimer: (delayMs, callback) => clock.setTimer(delayMs, callback),
    clearTimer: (handle) => {
      clock.clearTimer(handle);
    },
    sleep: (delayMs) => clock.sleep(delayMs),
  };
}

function dump(kv: KvStore): string[] {
  return [...kv.scan({})].map((entry) => `${Buffer.from(entry.key).toString('hex')}=${Buffer.from(entry.value).toString('hex')}`);
}

describe('MetaService', () => {
  let root: string;
  let counter = 0;
  const freshDirectory = async (): Promise<string> => {
    const directory = path.join(root, `case-${counter++}`);
    await fs.mkdir(directory);
    return directory;
  };

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'tessera-meta-'));
  });

  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  async function openMemory(options: Partial<MetaServiceOptions> = {}, env = makeEnv(), kv: MemoryKvStore = new MemoryKvStore()): Promise<{ service: MetaService; kv: MemoryKvStore }> {
    const service = await MetaService.open(env, kv, options);
    return { service, kv };
  }

  describe('ops through submit', () => {
    it('a fresh service has applied nothing', async () => {
      const { service } = await openMemory();
      assert.equal(service.appliedOpNumber, 0);
      assert.deepEqual(service.listBuckets(), []);
      await service.close();
    });

    it('create bucket twice is bucket_exists; delete of a non-empty bucket is bucket_not_empty', async () => {
      const { service } = await openMemory();
      assert.equal((await service.submit(createBucket('photos', 'alice'))).status, 'bucket_created');
      assert.deepEqual(await service.submit(createBucket('photos', 'bob')), { status: 'bucket_exists', owner: 'alice' });
      await service.submit(putInline('photos', 'a', 'v1'));
      assert.deepEqual(await service.submit({ type: 'delete_bucket', bucket: 'photos' }), { status: 'bucket_not_empty' });
      await service.submit({ type: 'delete_object', bucket: 'photos', key: 'a' });
      assert.deepEqual(await service.submit({ type: 'delete_bucket', bucket: 'photos' }), { status: 'ok' });
      assert.equal(service.getBucket('photos'), undefined);
      assert.equal(service.appliedOpNumber, 6);
      await service.close();
    });

    it('listBuckets returns buckets in name order', async () => {
      const { service } = await openMemory();
      for (const name of ['zeta', 'alpha', 'mid', 'alpha-2']) await service.submit(createBucket(name));
      assert.deepEqual(service.listBuckets().map((bucket) => bucket.name), ['alpha', 'alpha-2', 'mid', 'zeta']);
      await service.close();
    });

    it('prepare then commit; commit of an unknown version is no_such_preparing_version', async () => {
      const { service } = await openMemory();
      await service.submit(createBucket());
      const prepared = versionRecord({ versionId: 'v1', state: 'PREPARING', etag: '', parts: [part(1), part(2, 3)] });
      assert.deepEqual(await service.submit({ type: 'prepare_version', version: prepared }), { status: 'ok' });
      // Stored as sent, stamped with the op time.
      const listed = service.listPreparing();
      assert.equal(listed.length, 1);
      assert.ok(listed[0]!.createdMs > 0);
      assert.deepEqual(listed[0], { ...prepared, createdMs: listed[0]!.createdMs });
      assert.equal(service.getObject('photos', 'cat.jpg'), undefined);
      assert.deepEqual(
        await service.submit({ type: 'commit_version', bucket: 'photos', versionId: 'v-unknown', sizeBytes: 1, etag: '"x"', parts: [part(1)], checksums: {} }),
        { status: 'no_such_preparing_version' },
      );
      const result = await service.submit({
        type: 'commit_version',
        bucket: 'photos',
        versionId: 'v1',
        sizeBytes: 2048,
        etag: '"final"',
        parts: [part(1), part(2, 3)],
        checksums: {},
      });
      assert.ok(result.status === 'version_committed');
      assert.deepEqual(service.listPreparing(), []);
      const stored = service.getObject('photos', 'cat.jpg');
      assert.equal(stored?.state, 'COMMITTED');
      assert.equal(stored?.etag, '"final"');
      assert.equal(stored?.sizeBytes, 2048);
      assert.deepEqual(stored, result.version);
      await service.close();
    });

    it('an overwrite queues the old parts as garbage; garbage_collected removes them', async () => {
      const { service } = await openMemory();
      await service.submit(createBucket());
      await service.submit(putVersion({ versionId: 'v1', parts: [part(1, 10)] }));
      const replaced = await service.submit(putVersion({ versionId: 'v2', parts: [part(1, 20)] }));
      assert.ok(replaced.status === 'version_committed' && replaced.replacedVersionId === 'v1');
      const queued = service.listGarbage(10);
      assert.equal(queued.length, 1);
      assert.equal(queued[0]?.versionId, 'v1');
      assert.deepEqual(queued[0]?.parts, [part(1, 10)]);
      assert.equal(queued[0]?.queuedMs, service.getObject('photos', 'cat.jpg')?.createdMs);
      assert.deepEqual(await service.submit({ type: 'garbage_collected', versionIds: ['v1'] }), { status: 'ok' });
      assert.deepEqual(service.listGarbage(10), []);
      await service.close();
    });

    it('listGarbage honours its limit', async () => {
      const { service } = await openMemory();
      await service.submit(createBucket());
      for (let i = 0; i < 5; i++) await service.submit(putVersion({ versionId: `v${i}`, parts: [part(1, i)] }));
      assert.deepEqual(service.listGarbage(2).map((record) => record.versionId), ['v0', 'v1']);
      assert.equal(service.listGarbage(100).length, 4);
      await service.close();
    });

    it('an inline put_version has no garbage, not even when it replaces one', async () => {
      const { service } = await openMemory();
      await service.submit(createBucket());
      await service.submit(putInline('photos', 'cat.jpg', 'v1'));
      await service.submit(putInline('photos', 'cat.jpg', 'v2'));
      assert.deepEqual(service.listGarbage(10), []);
      assert.deepEqual(Buffer.from(service.getObject('photos', 'cat.jpg')!.inline!), Buffer.from('body of cat.jpg'));
      await service.close();
    });

    it('conditions: ifNoneMatch "*" and ifMatch with and without quotes', async () => {
      const { service } = await openMemory();
      await service.submit(createBucket());
      assert.equal((await service.submit(putVersion({ versionId: 'v1', etag: '"e1"', inline: Buffer.from('1') }, { ifNoneMatch: '*' }))).status, 'version_committed');
      assert.deepEqual(await service.submit(putVersion({ versionId: 'v2', inline: Buffer.from('2') }, { ifNoneMatch: '*' })), {
        status: 'precondition_failed',
      });
      assert.deepEqual(await service.submit(putVersion({ versionId: 'v3', inline: Buffer.from('3') }, { ifMatch: '"e2"' })), {
        status: 'precondition_failed',
      });
      assert.deepEqual(await service.submit(putVersion({ versionId: 'v4', key: 'none', inline: Buffer.from('4') }, { ifMatch: '"e1"' })), {
        status: 'no_such_key',
      });
      const quoted = await service.submit(putVersion({ versionId: 'v5', etag: '"e5"', inline: Buffer.from('5') }, { ifMatch: '"e1"' }));
      assert.ok(quoted.status === 'version_committed' && quoted.replacedVersionId === 'v1');
      const bare = await service.submit(putVersion({ versionId: 'v6', inline: Buffer.from('6') }, { ifMatch: 'e5' }));
      assert.ok(bare.status === 'version_committed' && bare.replacedVersionId === 'v5');
      assert.deepEqual(await service.submit({ type: 'delete_object', bucket: 'photos', key: 'cat.jpg', conditions: { ifMatch: 'e5' } }), {
        status: 'precondition_failed',
      });
      assert.equal(service.getObject('photos', 'cat.jpg')?.versionId, 'v6');
      await service.close();
    });

    it('delete_object removes the version and queues its parts', async () => {
      const { service } = await openMemory();
      assert.deepEqual(await service.submit({ type: 'delete_object', bucket: 'photos', key: 'a' }), { status: 'no_such_bucket' });
      await service.submit(createBucket());
      await service.submit(putVersion({ versionId: 'v1', key: 'a', parts: [part(1, 5)] }));
      assert.deepEqual(await service.submit({ type: 'delete_object', bucket: 'photos', key: 'a' }), {
        status: 'object_deleted',
        deletedVersionId: 'v1',
      });
      assert.equal(service.getObject('photos', 'a'), undefined);
      assert.deepEqual(service.listGarbage(10).map((record) => record.versionId), ['v1']);
      assert.deepEqual(await service.submit({ type: 'delete_object', bucket: 'photos', key: 'a' }), { status: 'object_deleted' });
      await service.close();
    });

    it('timestamps never go backwards while the clock does', async () => {
      const clock = manualClock(1_000_000);
      const { service } = await openMemory({}, makeEnv(clock));
      await service.submit(createBucket('first'));
      clock.nowMsValue = 500_000;
      await service.submit(createBucket('second'));
      clock.nowMsValue = 2_000_000;
      await service.submit(createBucket('third'));
      assert.deepEqual(
        service.listBuckets().map((bucket) => bucket.createdMs),
        [1_000_000, 1_000_000, 2_000_000],
      );
      await service.close();
    });
  });

  describe('scanObjects', () => {
    const keys = ['a', 'a\u0000', 'a/b', 'a/c', 'a/c/d', 'ab', 'b', 'z', 'é', 'éa', '日本', '\uFFFD', '😀', '😀/x'];
    const byteOrder = (values: readonly string[]): string[] =>
      [...values].sort((x, y) => Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8')));

    async function withKeys(): Promise<MetaService> {
      const { service } = await openMemory();
      // "photo" and "photos" differ only by length: their objects must not mix.
      for (const bucket of ['photo', 'photos', 'photos2']) await service.submit(createBucket(bucket));
      let index = 0;
      for (const key of [...keys].reverse()) await service.submit(putInline('photos', key, `v${index++}`));
      await service.submit(putInline('photo', 'a-other', `v${index++}`));
      await service.submit(putInline('photos2', 'a-other', `v${index++}`));
      return service;
    }

    const names = (service: MetaService, options: { prefix: string; after?: string; from?: string }): string[] =>
      [...service.scanObjects('photos', options)].map((version) => version.key);

    it('lists every key of the bucket in UTF-8 byte order, not UTF-16 order', async () => {
      const service = await withKeys();
      const listed = names(service, { prefix: '' });
      assert.deepEqual(listed, byteOrder(keys));
      // U+FFFD sorts before an astral character in bytes, after it in UTF-16.
      assert.ok(listed.indexOf('\uFFFD') < listed.indexOf('😀'));
      assert.ok('\uFFFD' > '😀');
      await service.close();
    });

    it('prefix, after and from', async () => {
      const service = await withKeys();
      assert.deepEqual(names(service, { prefix: 'a' }), ['a', 'a\u0000', 'a/b', 'a/c', 'a/c/d', 'ab']);
      assert.deepEqual(names(service, { prefix: 'a/' }), ['a/b', 'a/c', 'a/c/d']);
      assert.deepEqual(names(service, { prefix: 'é' }), ['é', 'éa']);
      assert.deepEqual(names(service, { prefix: '😀' }), ['😀', '😀/x']);
      assert.deepEqual(names(service, { prefix: 'nothing' }), []);
      // after is exclusive: the very next key in bytes ("a" + NUL) is still listed.
      assert.deepEqual(names(service, { prefix: 'a', after: 'a' }), ['a\u0000', 'a/b', 'a/c', 'a/c/d', 'ab']);
      assert.deepEqual(names(service, { prefix: 'a', after: 'a/c' }), ['a/c/d', 'ab']);
      assert.deepEqual(names(service, { prefix: 'a', after: 'a/bzzz' }), ['a/c', 'a/c/d', 'ab']);
      // from is inclusive.
      assert.deepEqual(names(service, { prefix: 'a', from: 'a/c' }), ['a/c', 'a/c/d', 'ab']);
      assert.deepEqual(names(service, { prefix: '', from: 'é' }), byteOrder(keys).slice(byteOrder(keys).indexOf('é')));
      // A position before the prefix starts at the prefix; one after it lists nothing.
      assert.deepEqual(names(service, { prefix: 'a/', after: '0' }), ['a/b', 'a/c', 'a/c/d']);
      assert.deepEqual(names(service, { prefix: 'a/', from: 'a' }), ['a/b', 'a/c', 'a/c/d']);
      assert.deepEqual(names(service, { prefix: 'a/', after: 'b' }), []);
      assert.deepEqual(names(service, { prefix: 'a/', from: 'a/c/d/e' }), []);
      assert.deepEqual(names(service, { prefix: '', after: '😀/x' }), []);
      await service.close();
    });

    it('matches a model for random keys, prefixes and positions', async () => {
      const { service } = await openMemory();
      await service.submit(createBucket('photos'));
      const keyArbitrary = fc.string({ unit: 'binary', minLength: 1, maxLength: 4 });
      const sample = fc.sample(fc.uniqueArray(keyArbitrary, { minLength: 40, maxLength: 40 }), { numRuns: 1, seed: 7 })[0]!;
      await Promise.all(sample.map((key, index) => service.submit(putInline('photos', key, `v${index}`))));
      fc.assert(
        fc.property(
          fc.oneof(fc.constant(''), fc.constantFrom(...sample).map((key) => Array.from(key)[0]!), fc.string({ unit: 'binary', maxLength: 2 })),
          fc.option(fc.oneof(fc.constantFrom(...sample), keyArbitrary), { nil: undefined }),
          fc.boolean(),
          (prefix, position, inclusive) => {
            const options = position === undefined ? { prefix } : inclusive ? { prefix, from: position } : { prefix, after: position };
            const bytes = (value: string): Buffer => Buffer.from(value, 'utf8');
            const expected = byteOrder(sample)
              .filter((key) => key.startsWith(prefix))
              .filter((key) => {
                if (position === undefined) return true;
                const order = Buffer.compare(bytes(key), bytes(position));
                return inclusive ? order >= 0 : order > 0;
              });
            assert.deepEqual(names(service, options), expected);
          },
        ),
        { numRuns: 300 },
      );
      await service.close();
    });
  });

  describe('group commit and backpressure', () => {
    it('500 concurrent ops all resolve, in order, and share far fewer replica turns (fsyncs)', async () => {
      const { service } = await openMemory();
      const turnsBefore = service.turns;
      const results = await Promise.all(Array.from({ length: 500 }, (_, index) => service.submit(createBucket(`bucket-${index}`))));
      assert.equal(results.length, 500);
      const turns = service.turns - turnsBefore;
      assert.ok(turns >= 2 && turns < 40, `${turns} turns for 500 ops`);
      assert.equal(service.appliedOpNumber, 500);
      // Ops of one prepare share a timestamp.
      const timestamps = new Set(service.listBuckets().map((bucket) => bucket.createdMs));
      assert.ok(timestamps.size <= turns);
      results.forEach((result, index) => {
        assert.ok(result.status === 'bucket_created' && result.bucket.name === `bucket-${index}`);
      });
      await service.close();
    });

    it('batchOpsMax bounds the ops in one prepare', async () => {
      const { service, kv } = await openMemory({ batchOpsMax: 64, logRetainOps: 1000 });
      await Promise.all(Array.from({ length: 500 }, (_, index) => service.submit(createBucket(`bucket-${index}`))));
      const log = readDurableState(kv).log;
      assert.equal(log.length, 500);
      assert.ok(service.turns >= Math.ceil(500 / 64), `${service.turns} turns`);
      await service.close();
    });

    it('a full queue refuses with MetaBusyError, and takes ops again once drained', async () => {
      const { service } = await openMemory({ sessionsMax: 10, queueOpsMax: 100 });
      const settled = await Promise.allSettled(Array.from({ length: 150 }, (_, index) => service.submit(createBucket(`bucket-${index}`))));
      const refused = settled.filter((outcome) => outcome.status === 'rejected');
      const accepted = settled.filter((outcome) => outcome.status === 'fulfilled');
      assert.equal(refused.length, 40, '10 in flight and 100 queued; the rest is refused');
      for (const outcome of refused) assert.ok(outcome.reason instanceof MetaBusyError);
      assert.equal(service.appliedOpNumber, accepted.length);
      assert.equal(service.listBuckets().length, accepted.length);
      assert.equal((await service.submit(createBucket('later'))).status, 'bucket_created');
      await service.close();
    });
  });

  describe('durability and recovery', () => {
    it('the replica log, hard state and client table live in the KvStore beside the state they produced', async () => {
      const { service, kv } = await openMemory();
      await service.submit(createBucket('photos'));
      await Promise.all([service.submit(putInline('photos', 'a', 'v1')), service.submit(putInline('photos', 'b', 'v2'))]);
      const durable = readDurableState(kv);
      assert.equal(durable.hardState.commitNumber, 3);
      assert.deepEqual(durable.log.map((entry) => entry.opNumber), [1, 2, 3]);
      assert.equal(durable.checkpoint?.opNumber, 3, 'the commit point is written with the applies');
      assert.ok((durable.checkpoint?.clients.length ?? 0) >= 1, 'client table rows');
      await service.close();
    });

    it('reopening LMDB resumes at the same op, byte for byte, and new ops follow', async () => {
      const directory = await freshDirectory();
      const kvPath = path.join(directory, 'kv');
      let kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
      let service = await MetaService.open(makeEnv(), kv);
      await service.submit(createBucket('photos'));
      await Promise.all(Array.from({ length: 20 }, (_, index) => service.submit(putInline('photos', `k${index}`, `v${index}`))));
      await service.submit(putVersion({ versionId: 'v-big', key: 'k0', parts: [part(1, 3)] }));
      await service.close();
      const before = dump(kv);
      await kv.close();

      kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
      service = await MetaService.open(makeEnv(), kv);
      assert.equal(service.appliedOpNumber, 22);
      assert.deepEqual(dump(kv), before, 'opening replays nothing and writes nothing');
      assert.equal(service.getObject('photos', 'k0')?.versionId, 'v-big');
      await service.submit(createBucket('after'));
      assert.equal(service.appliedOpNumber, 23);
      await service.close();
      await kv.close();
    });

    it('compaction keeps the log short behind the commit point across reopens', async () => {
      const directory = await freshDirectory();
      const kvPath = path.join(directory, 'kv');
      for (let round = 0; round < 3; round++) {
        const kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
        const service = await MetaService.open(makeEnv(), kv, { logRetainOps: 10 });
        if (round === 0) await service.submit(createBucket('photos'));
        for (let batch = 0; batch < 4; batch++) {
          await Promise.all(Array.from({ length: 600 }, (_, index) => service.submit(putInline('photos', `r${round}-${batch}-${index}`, `v${round}-${batch}-${index}`))));
        }
        const log = readDurableState(kv).log;
        // Kept: the retained ops, those since the last compaction, and the batch (of up to 600) that reaches past the compaction point.
        assert.ok(log.length < 1024 + 10 + 2 * 600, `${log.length} entries kept after ${service.appliedOpNumber} ops`);
        assert.equal([...service.scanObjects('photos', { prefix: '' })].length, (round + 1) * 2400);
        await service.close();
        await kv.close();
      }
    });

    it('a failing KvStore rejects the ops in flight and every later op until restart', async () => {
      const kv = new FlakyKvStore();
      const { service } = await openMemory({}, makeEnv(), kv);
      await service.submit(createBucket('before'));
      kv.failTransactions = true;
      const outcomes = await Promise.allSettled([service.submit(createBucket('lost-1')), service.submit(createBucket('lost-2'))]);
      for (const outcome of outcomes) {
        assert.equal(outcome.status, 'rejected');
        assert.match(String((outcome as PromiseRejectedResult).reason), /restart to recover/);
      }
      await assert.rejects(service.submit(createBucket('refused')), /restart to recover/);
      assert.equal(service.getBucket('lost-1'), undefined);
      await service.close();

      // Restart on a healthy store: nothing half-applied, and ops work again.
      kv.failTransactions = false;
      const restarted = await MetaService.open(makeEnv(), kv);
      assert.ok(restarted.getBucket('before') !== undefined);
      assert.equal(restarted.getBucket('lost-1'), undefined);
      assert.equal((await restarted.submit(createBucket('after'))).status, 'bucket_created');
      assert.equal(restarted.appliedOpNumber, restarted.listBuckets().length);
      await restarted.close();
    });
  });
});
