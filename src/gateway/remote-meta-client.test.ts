// RemoteMetaClient tests: a group of 3 MetaService replicas (MemoryKvStore
// each, real timers) on one InProcessTransport, and a client on the same
// transport. Reads answer exactly what LocalMetaClient answers over the
// primary's store; 200 concurrent ops commit once each; the primary closing
// mid-load costs no acknowledged op and applies none twice; a client pointed
// at a backup is redirected; with every replica gone a call fails with
// MetaUnavailableError at its deadline. Then the same over TCP on 127.0.0.1,
// with a quick measure of remote submit and query latency and throughput.

import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../io/node/free-port.js';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import { silentLogger } from '../io/logger.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { TcpTransport } from '../io/node/tcp-transport.js';
import type { Transport } from '../io/transport.js';
import { MetaService } from '../meta/meta-service.js';
import type { MetaOp } from '../meta/ops.js';
import { createBucket, part, putVersion } from '../meta/test-support.js';
import type { MetaClient } from './clients.js';
import { LocalMetaClient } from './local-meta-client.js';
import { RemoteAccessKeyCache } from './remote-access-keys.js';
import { MetaRemoteError, MetaUnavailableError, RemoteMetaClient } from './remote-meta-client.js';
import type { RemoteMetaClientOptions } from './remote-meta-client.js';
import { eventually, sleep } from '../../test/helpers/eventually.js';

function makeEnv(transport: Transport): Env {
  return { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
}

interface Group {
  /** The replicas' timers do not keep the process alive (NodeClock unrefs them); the test must while the group runs. */
  readonly keepAlive: ReturnType<typeof setInterval>;
  readonly addresses: readonly string[];
  readonly transports: readonly Transport[];
  readonly services: (MetaService | undefined)[];
}

async function openGroup(addresses: readonly string[], transports: readonly Transport[]): Promise<Group> {
  const group: Group = { keepAlive: setInterval(() => undefined, 50), addresses, transports, services: [] };
  for (let index = 0; index < addresses.length; index++) {
    group.services[index] = await MetaService.open(makeEnv(transports[index]!), new MemoryKvStore(), { replicaIndex: index, addresses, tickMs: 5 });
  }
  return group;
}

function inProcessGroup(): Promise<Group> {
  const transport = new InProcessTransport();
  return openGroup(['meta-0', 'meta-1', 'meta-2'], [transport, transport, transport]);
}

async function closeReplica(group: Group, index: number): Promise<void> {
  await group.services[index]?.close();
  group.services[index] = undefined;
}

async function closeGroup(group: Group): Promise<void> {
  for (let index = 0; index < group.services.length; index++) await closeReplica(group, index);
  clearInterval(group.keepAlive);
}

function clientOf(group: Group, transport: Transport, options: Partial<RemoteMetaClientOptions> = {}): RemoteMetaClient {
  return new RemoteMetaClient(makeEnv(transport), { localAddress: 'gateway-1', replicas: group.addresses, ...options });
}


function inline(bucket: string, key: string, versionId: string): MetaOp {
  return putVersion({ bucket, key, versionId, inline: Buffer.from(`body of ${key}`) });
}

/** Versioned and unversioned buckets, uploads with parts, garbage, an access key: a bit of every read. */
async function populate(client: MetaClient): Promise<void> {
  const ops: MetaOp[] = [
    createBucket('photos'),
    createBucket('docs'),
    inline('photos', 'a.jpg', 'v-a1'),
    putVersion({ bucket: 'photos', key: 'dir/b.jpg', versionId: 'v-b' }),
    inline('photos', 'dir/c.jpg', 'v-c'),
    inline('photos', 'a.jpg', 'v-a2'),
    { type: 'set_versioning', bucket: 'docs', status: 'Enabled' },
    inline('docs', 'x', 'd-1'),
    inline('docs', 'x', 'd-2'),
    inline('docs', 'y', 'd-3'),
    { type: 'delete_object', bucket: 'docs', key: 'y', markerVersionId: 'd-4' },
    { type: 'prepare_version', version: { ...putVersionRecord('photos', 'pending', 'v-p') } },
    {
      type: 'create_upload',
      upload: { format: 1, bucket: 'photos', key: 'big', uploadId: 'u-1', owner: 'alice', contentType: 'a/b', headers: {}, userMetadata: {}, createdMs: 0 },
    },
    {
      type: 'create_upload',
      upload: { format: 1, bucket: 'photos', key: 'big', uploadId: 'u-2', owner: 'alice', contentType: 'a/b', headers: {}, userMetadata: {}, createdMs: 0 },
    },
    { type: 'commit_part', bucket: 'photos', key: 'big', uploadId: 'u-1', part: { ...part(1), inline: Buffer.from('part one'), drives: [] } },
    { type: 'commit_part', bucket: 'photos', key: 'big', uploadId: 'u-1', part: { ...part(2), inline: Buffer.from('part two'), drives: [] } },
    {
      type: 'create_access_key',
      key: { format: 1, accessKeyId: 'AK1', secretAccessKey: 'secret-1', userId: 'a'.repeat(64), displayName: 'bob', createdMs: 0 },
    },
  ];
  for (const op of ops) {
    const result = await client.submit(op);
    assert.ok(!['no_such_bucket', 'precondition_failed', 'no_such_key'].includes(result.status), `${op.type} answered ${result.status}`);
  }
}

function putVersionRecord(bucket: string, key: string, versionId: string): Extract<MetaOp, { type: 'put_version' }>['version'] {
  const op = putVersion({ bucket, key, versionId, state: 'PREPARING' });
  assert.ok(op.type === 'put_version');
  return op.version;
}

/** Every read of MetaClient, asked of both clients: the answers must be equal. */
async function compareReads(remote: MetaClient, local: MetaClient): Promise<number> {
  const reads: ((client: MetaClient) => Promise<unknown>)[] = [
    (client) => client.getBucket('photos'),
    (client) => client.getBucket('missing'),
    (client) => client.listBuckets(),
    (client) => client.getObject('photos', 'a.jpg'),
    (client) => client.getObject('photos', 'nope'),
    (client) => client.getVersion('photos', 'a.jpg', 'null'),
    (client) => client.getVersion('docs', 'x', 'd-1'),
    (client) => client.getVersion('docs', 'x', 'unknown'),
    (client) => client.getLatestVersion('docs', 'y'),
    (client) => client.listVersions('docs', { prefix: '', limit: 1000 }),
    (client) => client.listVersions('docs', { prefix: '', afterVersion: { key: 'x', sequence: 9 }, limit: 1000 }),
    (client) => client.listObjects({ bucket: 'photos', prefix: '', maxKeys: 1000 }),
    (client) => client.listObjects({ bucket: 'photos', prefix: '', delimiter: '/', maxKeys: 1 }),
    (client) => client.listPreparing(),
    (client) => client.listGarbage(100),
    (client) => client.getUpload('photos', 'big', 'u-1'),
    (client) => client.listUploads('photos', { prefix: '', limit: 1000 }),
    (client) => client.listUploads('photos', { prefix: '', after: { key: 'big', uploadId: 'u-1' }, limit: 1000 }),
    (client) => client.listParts('photos', 'u-1'),
    (client) => client.listAccessKeys(),
    (client) => client.isVersionReferenced('v-a1'),
    (client) => client.isVersionReferenced('v-none'),
  ];
  for (const read of reads) assert.deepEqual(await read(remote), await read(local), read.toString());
  return reads.length;
}

/** The primary among the open replicas (the one whose LocalMetaClient is the reference). */
function primaryService(group: Group, client: RemoteMetaClient): MetaService {
  const service = group.services[client.primaryIndex];
  assert.ok(service !== undefined, `replica ${client.primaryIndex} is open`);
  return service;
}

describe('RemoteMetaClient', () => {
  it('reads answer exactly what LocalMetaClient answers over the primary', async () => {
    const group = await inProcessGroup();
    const client = clientOf(group, group.transports[0]!);
    await populate(client);
    const local = new LocalMetaClient(primaryService(group, client));
    assert.equal((await local.listObjects({ bucket: 'photos', prefix: '', maxKeys: 1000 })).contents.length, 3, 'the reference sees the ops');
    assert.equal(await compareReads(client, local), 22);
    assert.equal((await client.getVersion('photos', 'a.jpg', 'null'))?.versionId, 'v-a2');
    assert.deepEqual((await client.listParts('photos', 'u-1')).map((record) => Buffer.from(record.part.inline!).toString()), ['part one', 'part two']);
    await closeGroup(group);
  });

  it('200 concurrent submits each commit once', async () => {
    const group = await inProcessGroup();
    const client = clientOf(group, group.transports[0]!, { sessionsMax: 64 });
    await client.submit(createBucket('load'));
    const results = await Promise.all(Array.from({ length: 200 }, (_, index) => client.submit(inline('load', `k${index}`, `v${index}`))));
    assert.ok(results.every((result) => result.status === 'version_committed' && result.replacedVersionId === undefined));
    assert.equal(group.services[0]!.appliedOpNumber, 201, 'one op each, none twice');
    assert.equal((await client.listObjects({ bucket: 'load', prefix: '', maxKeys: 1000 })).contents.length, 200);
    assert.equal(client.retries, 0);
    await closeGroup(group);
  });

  it('the primary closes mid-load: the client follows the new primary, keeps every acknowledged op and applies none twice', async (context: TestContext) => {
    const group = await inProcessGroup();
    const client = clientOf(group, group.transports[0]!, { sessionsMax: 32 });
    await client.submit(createBucket('load'));
    const count = 300;
    let acknowledged = 0;
    let closing: Promise<void> | undefined;
    let closedAtMs = 0;
    const outcomes = Array.from({ length: count }, (_, index) =>
      client.submit(inline('load', `k${index}`, `v${index}`)).then((result) => {
        // The 50th acknowledgement closes the primary, with 250 ops in flight or queued.
        if (++acknowledged === 50) {
          closedAtMs = Date.now();
          closing = closeReplica(group, 0);
        }
        return result;
      }),
    );
    const results = await Promise.all(outcomes);
    context.diagnostic(`failover: the last of ${count - 50} ops waiting at the close was acknowledged ${Date.now() - closedAtMs} ms after it (${client.retries} retries)`);
    await closing;
    assert.ok(results.every((result) => result.status === 'version_committed' && result.replacedVersionId === undefined), 'no op replaced another');
    assert.notEqual(client.primaryIndex, 0, 'the client moved to the new primary');
    assert.ok(client.retries > 0, 'the failover cost retries');
    const listed = await client.listObjects({ bucket: 'load', prefix: '', maxKeys: 1000 });
    assert.deepEqual(listed.contents.map((version) => version.versionId).sort(), Array.from({ length: count }, (_, index) => `v${index}`).sort());
    assert.deepEqual(await client.listGarbage(10), [], 'an op applied twice would have replaced its own version');
    await eventually(() => group.services[1]!.appliedOpNumber === 1 + count && group.services[2]!.appliedOpNumber === 1 + count, 'both replicas applied every op');
    await sleep(50);
    assert.equal(group.services[1]!.appliedOpNumber, 1 + count, 'exactly one op per submit');
    await closeGroup(group);
  });

  it('a client pointed at a backup is redirected to the primary', async () => {
    const group = await inProcessGroup();
    const client = clientOf(group, group.transports[0]!, { primaryGuess: 2 });
    assert.equal((await client.submit(createBucket('photos'))).status, 'bucket_created');
    assert.equal(client.primaryIndex, 0);
    assert.equal(client.redirects, 1);
    const reader = clientOf(group, group.transports[0]!, { primaryGuess: 1 });
    assert.equal((await reader.getBucket('photos'))?.name, 'photos');
    assert.equal(reader.primaryIndex, 0);
    assert.equal(reader.redirects, 1);
    await closeGroup(group);
  });

  it('every replica gone: calls fail with MetaUnavailableError at their deadline', async () => {
    const group = await inProcessGroup();
    const client = clientOf(group, group.transports[0]!, { deadlineMs: 300 });
    await client.submit(createBucket('photos'));
    await closeGroup(group);
    const keepAlive = setInterval(() => undefined, 50); // the client's backoff timers are unref'd too
    const startedMs = Date.now();
    await assert.rejects(client.submit(createBucket('later')), MetaUnavailableError);
    const elapsedMs = Date.now() - startedMs;
    assert.ok(elapsedMs >= 280 && elapsedMs < 1500, `failed after ${elapsedMs} ms`);
    await assert.rejects(client.getBucket('photos'), MetaUnavailableError);
    clearInterval(keepAlive);
  });

  it('a malformed query is refused at once, not retried', async () => {
    const group = await inProcessGroup();
    const client = clientOf(group, group.transports[0]!);
    await assert.rejects(client.listGarbage(-5), MetaRemoteError);
    assert.equal(client.retries, 0);
    await closeGroup(group);
  });

  it('the access key cache sees a key created through metadata once a request has missed it', async () => {
    const group = await inProcessGroup();
    const client = clientOf(group, group.transports[0]!);
    const cache = new RemoteAccessKeyCache(makeEnv(group.transports[0]!), client, { refreshMs: 60_000, missRefreshGapMs: 0 });
    await cache.start();
    assert.equal(cache.byKey('AK9'), undefined);
    await client.submit({
      type: 'create_access_key',
      key: { format: 1, accessKeyId: 'AK9', secretAccessKey: 'shh', userId: 'b'.repeat(64), displayName: 'carol', createdMs: 0 },
    });
    assert.equal(cache.byKey('AK9'), undefined, 'the request that misses still fails');
    await eventually(() => cache.byKey('AK9') !== undefined, 'the key is in the copy');
    assert.deepEqual(cache.byId('b'.repeat(64)), { accessKeyId: 'AK9', secretAccessKey: 'shh', displayName: 'carol', canonicalId: 'b'.repeat(64) });
    cache.stop();
    await closeGroup(group);
  });

  it('over TCP: 3 replicas on 127.0.0.1, the same answers, and a quick measure', async (context: TestContext) => {
    const clusterSecret = 'remote-meta-client-test-secret';
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    const transports = addresses.map(() => new TcpTransport({ clusterSecret }));
    const group = await openGroup(addresses, transports);
    await Promise.all(addresses.map((address, index) => transports[index]!.listening(address)));
    const clientTransport = new TcpTransport({ clusterSecret });
    const client = clientOf(group, clientTransport);
    try {
      await populate(client);
      await compareReads(client, new LocalMetaClient(primaryService(group, client)));

      await client.submit(createBucket('bench'));
      const sequential = 200;
      let startedMs = performance.now();
      for (let index = 0; index < sequential; index++) await client.submit(inline('bench', `s${index}`, `s${index}`));
      const submitMs = (performance.now() - startedMs) / sequential;
      startedMs = performance.now();
      for (let index = 0; index < sequential; index++) await client.getObject('bench', `s${index}`);
      const queryMs = (performance.now() - startedMs) / sequential;
      const concurrent = 2000;
      startedMs = performance.now();
      await Promise.all(Array.from({ length: concurrent }, (_, index) => client.submit(inline('bench', `c${index}`, `c${index}`))));
      const submitsPerSecond = concurrent / ((performance.now() - startedMs) / 1000);
      startedMs = performance.now();
      await Promise.all(Array.from({ length: concurrent }, (_, index) => client.getObject('bench', `c${index}`)));
      const queriesPerSecond = concurrent / ((performance.now() - startedMs) / 1000);
      context.diagnostic(
        `TCP, MemoryKvStore: submit ${submitMs.toFixed(2)} ms, query ${queryMs.toFixed(2)} ms one at a time; ` +
          `${Math.round(submitsPerSecond)} submits/s, ${Math.round(queriesPerSecond)} queries/s with ${concurrent} concurrent`,
      );
      assert.equal((await client.listObjects({ bucket: 'bench', prefix: 'c', maxKeys: 1000 })).contents.length, 1000);
      assert.equal(client.retries, 0);
    } finally {
      client.close();
      await closeGroup(group);
      await Promise.all([...transports, clientTransport].map((transport) => transport.close()));
    }
  });
});
