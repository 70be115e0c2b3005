// MetaService tests with the real Env pieces (NodeDisk journal in a temp
// directory, MemoryKvStore or LmdbStore): the S3-visible outcomes through
// submit(), listing order in bytes, group commit (many ops share one fsync),
// backpressure, replay of journaled but unapplied ops, journal truncation
// across restarts, and what a failing disk does to the service.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { Clock } from '../io/clock.js';
import type { Disk, DiskFile, OpenMode } from '../io/disk.js';
import { noFaults } from '../io/env.js';
import type { Env } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import type { KvStore } from '../io/kv-store.js';
import { silentLogger } from '../io/logger.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { LmdbStore } from '../io/node/lmdb-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { decodeRecord } from '../stdx/codec.js';
import { Journal } from './journal.js';
import type { JournalPosition } from './journal.js';
import { appliedKey } from './keys.js';
import { MetaBusyError, MetaService } from './meta-service.js';
import type { MetaServiceOptions } from './meta-service.js';
import type { MetaOp, SequencedOp } from './ops.js';
import { createBucket, part, putVersion, versionRecord } from './test-support.js';

// Records and ops.

function putInline(bucket: string, key: string, versionId: string): MetaOp {
  return putVersion({ bucket, key, versionId, inline: Buffer.from(`body of ${key}`) });
}

// Env and disks.

/** A Disk that counts journal syncs and writes, and can be told to fail them. */
class CountingDisk implements Disk {
  syncs = 0;
  writes = 0;
  failWrites = false;
  failSyncs = false;
  private readonly inner = new NodeDisk();

  async open(filePath: string, mode: OpenMode): Promise<DiskFile> {
    const file = await this.inner.open(filePath, mode);
    return {
      read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
      write: (data, position) => file.write(data, position),
      writev: (data, position) => {
        this.writes++;
        return this.failWrites ? Promise.reject(new Error('injected write failure')) : file.writev(data, position);
      },
      sync: () => {
        this.syncs++;
        return this.failSyncs ? Promise.reject(new Error('injected sync failure')) : file.sync();
      },
      sizeBytes: () => file.sizeBytes(),
      truncate: (sizeBytes) => file.truncate(sizeBytes),
      close: () => file.close(),
    };
  }

  readFile(filePath: string): Promise<Uint8Array> {
    return this.inner.readFile(filePath);
  }
  writeFileAtomic(filePath: string, data: Uint8Array): Promise<void> {
    return this.inner.writeFileAtomic(filePath, data);
  }
  rename(fromPath: string, toPath: string): Promise<void> {
    return this.inner.rename(fromPath, toPath);
  }
  unlink(filePath: string): Promise<void> {
    return this.inner.unlink(filePath);
  }
  mkdirp(dirPath: string): Promise<void> {
    return this.inner.mkdirp(dirPath);
  }
  readdir(dirPath: string): Promise<string[]> {
    return this.inner.readdir(dirPath);
  }
  stat(filePath: string): ReturnType<Disk['stat']> {
    return this.inner.stat(filePath);
  }
  syncDirectory(dirPath: string): Promise<void> {
    return this.inner.syncDirectory(dirPath);
  }
  capacity(dirPath: string): ReturnType<Disk['capacity']> {
    return this.inner.capacity(dirPath);
  }
}

function makeEnv(disk: Disk = new NodeDisk(), clock: Clock = new NodeClock()): Env {
  return {
    clock,
    random: new NodeRandom(),
    disk,
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

function readApplied(kv: KvStore): JournalPosition {
  const bytes = kv.get(appliedKey);
  assert.ok(bytes !== undefined);
  const { opNumber, checksum } = decodeRecord(bytes) as JournalPosition;
  return { opNumber, checksum };
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

  async function openMemory(options: Partial<MetaServiceOptions> = {}, env = makeEnv()): Promise<{ service: MetaService; kv: MemoryKvStore; journalPath: string }> {
    const journalPath = path.join(await freshDirectory(), 'journal');
    const kv = new MemoryKvStore();
    const service = await MetaService.open(env, kv, { ...options, journalPath });
    return { service, kv, journalPath };
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
        await service.submit({ type: 'commit_version', versionId: 'v-unknown', sizeBytes: 1, etag: '"x"', parts: [part(1)], checksums: {} }),
        { status: 'no_such_preparing_version' },
      );
      const result = await service.submit({
        type: 'commit_version',
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
      const { service } = await openMemory({}, makeEnv(new NodeDisk(), clock));
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
    it('500 concurrent ops all resolve and share far fewer journal fsyncs', async () => {
      const disk = new CountingDisk();
      const { service, journalPath } = await openMemory({}, makeEnv(disk));
      const syncsBefore = disk.syncs;
      const results = await Promise.all(Array.from({ length: 500 }, (_, index) => service.submit(createBucket(`bucket-${index}`))));
      assert.equal(results.length, 500);
      for (const result of results) assert.equal(result.status, 'bucket_created');
      const journalSyncs = disk.syncs - syncsBefore;
      assert.ok(journalSyncs >= 1 && journalSyncs < 10, `${journalSyncs} fsyncs for 500 ops`);
      assert.equal(disk.writes, journalSyncs, 'one writev per batch');
      assert.equal(service.appliedOpNumber, 500);
      // Ops of one batch share a timestamp.
      const timestamps = new Set(service.listBuckets().map((bucket) => bucket.createdMs));
      assert.ok(timestamps.size <= journalSyncs);
      // Results came back in submission order.
      results.forEach((result, index) => {
        assert.ok(result.status === 'bucket_created' && result.bucket.name === `bucket-${index}`);
      });
      await service.close();
      const reopened = await Journal.open(new NodeDisk(), journalPath, { opNumber: 0, checksum: 0 }, silentLogger);
      assert.deepEqual(
        reopened.replay.map((entry) => entry.opNumber),
        Array.from({ length: 500 }, (_, index) => index + 1),
      );
      await reopened.journal.close();
    });

    it('batchOpsMax bounds the ops in one fsync', async () => {
      const disk = new CountingDisk();
      const { service } = await openMemory({ batchOpsMax: 64 }, makeEnv(disk));
      await Promise.all(Array.from({ length: 500 }, (_, index) => service.submit(createBucket(`bucket-${index}`))));
      // The first op flushes alone, the other 499 go in batches of at most 64.
      assert.equal(disk.syncs, 1 + Math.ceil(499 / 64));
      await service.close();
    });

    it('a full queue refuses with MetaBusyError, and takes ops again once drained', async () => {
      const { service } = await openMemory({ batchOpsMax: 10, queueOpsMax: 100 });
      const settled = await Promise.allSettled(Array.from({ length: 150 }, (_, index) => service.submit(createBucket(`bucket-${index}`))));
      const refused = settled.filter((outcome) => outcome.status === 'rejected');
      const accepted = settled.filter((outcome) => outcome.status === 'fulfilled');
      assert.ok(refused.length > 0, 'some ops are refused');
      for (const outcome of refused) assert.ok(outcome.reason instanceof MetaBusyError);
      assert.equal(accepted.length + refused.length, 150);
      assert.equal(service.appliedOpNumber, accepted.length);
      assert.equal(service.listBuckets().length, accepted.length);
      assert.equal((await service.submit(createBucket('later'))).status, 'bucket_created');
      await service.close();
    });
  });

  describe('durability and recovery', () => {
    it('a fresh KvStore replaying the journal reaches the same state, byte for byte', async () => {
      const { service, kv, journalPath } = await openMemory();
      await service.submit(createBucket('photos'));
      await Promise.all([
        service.submit(putVersion({ versionId: 'v1', key: 'a', parts: [part(1, 1)] })),
        service.submit(putInline('photos', 'b', 'v2')),
        service.submit({ type: 'prepare_version', version: versionRecord({ versionId: 'v3', key: 'c', state: 'PREPARING' }) }),
      ]);
      await service.submit(putVersion({ versionId: 'v4', key: 'a', parts: [part(1, 4)] }));
      await service.submit({ type: 'commit_version', versionId: 'v3', sizeBytes: 1024, etag: '"c"', parts: [part(1)], checksums: {} });
      await service.submit({ type: 'delete_object', bucket: 'photos', key: 'b' });
      await service.close();

      const rebuilt = new MemoryKvStore();
      const replayed = await MetaService.open(makeEnv(), rebuilt, { journalPath });
      assert.equal(replayed.appliedOpNumber, service.appliedOpNumber);
      assert.deepEqual(dump(rebuilt), dump(kv));
      await replayed.close();
    });

    it('journaled but unapplied ops are replayed into LMDB on open', async () => {
      const directory = await freshDirectory();
      const kvPath = path.join(directory, 'kv');
      const journalPath = path.join(directory, 'journal');
      const disk = new NodeDisk();

      let kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
      let service = await MetaService.open(makeEnv(disk), kv, { journalPath });
      await service.submit(createBucket('photos'));
      await service.submit(putInline('photos', 'old', 'v-old'));
      await service.close();
      const applied = readApplied(kv);
      assert.equal(applied.opNumber, 2);
      await kv.close();

      // A crash after the journal fsync, before the KvStore transaction: the
      // journal holds ops 3-5, the KvStore still says 2.
      const unapplied: SequencedOp[] = [
        { opNumber: 3, timestampMs: 5_000, op: putVersion({ versionId: 'v-new', key: 'new', parts: [part(1, 9)] }) },
        { opNumber: 4, timestampMs: 5_001, op: createBucket('docs') },
        { opNumber: 5, timestampMs: 5_002, op: putVersion({ versionId: 'v-old-2', key: 'old', parts: [part(1, 2)] }) },
      ];
      const direct = await Journal.open(disk, journalPath, applied, silentLogger);
      assert.deepEqual(direct.replay, []);
      await direct.journal.append(unapplied);
      const journalHead = direct.journal.position;
      await direct.journal.close();

      kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
      assert.equal(readApplied(kv).opNumber, 2);
      service = await MetaService.open(makeEnv(disk), kv, { journalPath });
      assert.equal(service.appliedOpNumber, 5);
      assert.deepEqual(readApplied(kv), journalHead);
      assert.equal(service.getObject('photos', 'new')?.createdMs, 5_000);
      assert.equal(service.getBucket('docs')?.createdMs, 5_001);
      assert.equal(service.getObject('photos', 'old')?.versionId, 'v-old-2');
      // New ops continue after the replayed ones.
      await service.submit(createBucket('after-replay'));
      assert.equal(service.appliedOpNumber, 6);
      await service.close();
      await kv.close();

      // Reopening again replays nothing twice: replaying op 5 a second time
      // would make v-old-2 replace itself, which the state machine refuses.
      kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
      const before = dump(kv);
      service = await MetaService.open(makeEnv(disk), kv, { journalPath });
      assert.equal(service.appliedOpNumber, 6);
      assert.deepEqual(dump(kv), before);
      assert.deepEqual(service.listBuckets().map((bucket) => bucket.name), ['after-replay', 'docs', 'photos']);
      await service.close();
      await kv.close();
    });

    it('with journalBytesMax 1 the journal is emptied after every batch and ops keep working across reopens', async () => {
      const directory = await freshDirectory();
      const kvPath = path.join(directory, 'kv');
      const journalPath = path.join(directory, 'journal');
      const disk = new NodeDisk();
      let opNumber = 0;
      for (let round = 0; round < 3; round++) {
        const kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
        const service = await MetaService.open(makeEnv(disk), kv, { journalPath, journalBytesMax: 1 });
        assert.equal(service.appliedOpNumber, opNumber);
        if (round === 0) {
          await service.submit(createBucket('photos'));
          opNumber++;
        }
        await Promise.all([
          service.submit(putInline('photos', `r${round}-a`, `v${round}-a`)),
          service.submit(putInline('photos', `r${round}-b`, `v${round}-b`)),
        ]);
        await service.submit(putVersion({ versionId: `v${round}-c`, key: 'shared', parts: [part(1, round)] }));
        opNumber += 3;
        assert.equal(service.appliedOpNumber, opNumber);
        assert.equal((await disk.stat(journalPath))?.sizeBytes, 0);
        await service.close();
        await kv.close();
      }

      // A crash after a journal append that follows a truncation: the entry
      // chains from the applied position kept in the KvStore.
      let kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
      const applied = readApplied(kv);
      const direct = await Journal.open(disk, journalPath, applied, silentLogger);
      await direct.journal.append([{ opNumber: applied.opNumber + 1, timestampMs: 9_999, op: createBucket('from-journal') }]);
      await direct.journal.close();
      const service = await MetaService.open(makeEnv(disk), kv, { journalPath, journalBytesMax: 1 });
      assert.equal(service.appliedOpNumber, opNumber + 1);
      assert.equal(service.getBucket('from-journal')?.createdMs, 9_999);
      assert.deepEqual(
        [...service.scanObjects('photos', { prefix: '' })].map((version) => version.key),
        ['r0-a', 'r0-b', 'r1-a', 'r1-b', 'r2-a', 'r2-b', 'shared'],
      );
      assert.deepEqual(service.listGarbage(10).map((record) => record.versionId), ['v0-c', 'v1-c']);
      await service.close();
      await kv.close();
      kv = new LmdbStore({ path: kvPath, mapSizeBytes: 64 * 1024 * 1024 });
      assert.equal(readApplied(kv).opNumber, opNumber + 1);
      await kv.close();
    });

    for (const failure of ['write', 'sync'] as const) {
      it(`a journal ${failure} failure rejects the batch and every later op until restart`, async () => {
        const disk = new CountingDisk();
        const { service, kv, journalPath } = await openMemory({}, makeEnv(disk));
        await service.submit(createBucket('before'));
        if (failure === 'write') disk.failWrites = true;
        else disk.failSyncs = true;
        const outcomes = await Promise.allSettled([service.submit(createBucket('lost-1')), service.submit(createBucket('lost-2'))]);
        for (const outcome of outcomes) {
          assert.equal(outcome.status, 'rejected');
          assert.match(String((outcome as PromiseRejectedResult).reason), /restart to recover/);
          assert.ok(((outcome as PromiseRejectedResult).reason as Error).cause instanceof Error);
        }
        await assert.rejects(service.submit(createBucket('refused')), /restart to recover/);
        assert.equal(service.getBucket('lost-1'), undefined);
        assert.equal(service.appliedOpNumber, 1);
        await service.close();

        // Restart on a healthy disk: the state is consistent with the journal.
        const restarted = await MetaService.open(makeEnv(new NodeDisk()), kv, { journalPath });
        assert.ok(restarted.getBucket('before') !== undefined);
        assert.equal(restarted.getBucket('refused'), undefined);
        const result = await restarted.submit(createBucket('after'));
        assert.equal(result.status, 'bucket_created');
        assert.equal(restarted.appliedOpNumber, restarted.listBuckets().length);
        await restarted.close();
      });
    }
  });
});

