// RemoteBlobClient tests: real FragmentStores on temp folders behind
// BlobServices on InProcessTransport (and once over TcpTransport). The client
// must keep the local binding's contract: byte-identical round trips and
// range reads, finish durable (a reopened store reads it), abort leaves no
// temp file, delete, paged list, stat, status, corrupt blocks as 'corrupt',
// timeouts and dead nodes as a clear 'io'. Then the gateway's own write and
// read paths run over it: PUT and GET of a few MiB through Gateway, and a GET
// with a blob node down that the erasure code absorbs.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { BlobService } from '../blob/blob-service.js';
import { FragmentError } from '../blob/fragment-error.js';
import { fragmentHeaderBytes } from '../blob/fragment-format.js';
import { FragmentStore } from '../blob/fragment-store.js';
import type { Clock } from '../io/clock.js';
import { ManualClock } from '../io/manual-clock.js';
import { noFaults } from '../io/env.js';
import type { Env } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import { silentLogger } from '../io/logger.js';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { TcpTransport } from '../io/node/tcp-transport.js';
import type { NodeAddress, Transport } from '../io/transport.js';
import { MetaService } from '../meta/meta-service.js';
import { Gateway } from './gateway.js';
import { LocalMetaClient } from './local-meta-client.js';
import type { ShardFailure } from './part-reader.js';
import { BlobRemoteError, RemoteBlobClient } from './remote-blob-client.js';
import type { RemoteBlobClientOptions } from './remote-blob-client.js';

const blockSizeBytes = 4096;
const gatewayAddress = 'gateway-1';

let root: string;
let nextCase = 0;
const cleanups: (() => Promise<void>)[] = [];

before(() => {
  root = mkdtempSync(join(tmpdir(), 'tessera-remote-blob-'));
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(root, { recursive: true, force: true });
});

function makeEnv(transport: Transport, clock: Clock = new NodeClock()): Env {
  return { clock, random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
}

interface BlobNode {
  readonly address: NodeAddress;
  readonly store: FragmentStore;
  readonly service: BlobService;
  readonly drivePaths: readonly string[];
  readonly driveIds: readonly number[];
}

/** A blob node serving drives `driveIds` (folders under a fresh case folder) at `address`. */
async function startBlobNode(env: Env, address: NodeAddress, driveIds: readonly number[]): Promise<BlobNode> {
  const base = join(root, `case-${nextCase++}`);
  const drivePaths = driveIds.map((id) => join(base, `drive-${id}`));
  const store = new FragmentStore({ disk: env.disk, drives: driveIds.map((id, index) => ({ id, path: drivePaths[index]! })) });
  await store.init();
  const service = new BlobService(env, store, { address });
  service.start();
  cleanups.push(async () => {
    await service.stop();
    await store.close();
  });
  return { address, store, service, drivePaths, driveIds };
}

/** One client over `nodes`, drive → node by which node serves it. */
function clientFor(env: Env, nodes: readonly BlobNode[], options: Partial<RemoteBlobClientOptions> = {}): RemoteBlobClient {
  const addressOf = (driveId: number): NodeAddress => {
    const node = nodes.find((candidate) => candidate.driveIds.includes(driveId));
    assert.ok(node !== undefined, `no node serves drive ${driveId}`);
    return node.address;
  };
  return new RemoteBlobClient(env, { localAddress: gatewayAddress, addressOf, ...options });
}

/** A node with drives 0 and 1 and a client for it, on one InProcessTransport. */
async function oneNode(options: Partial<RemoteBlobClientOptions> = {}): Promise<{ env: Env; node: BlobNode; client: RemoteBlobClient }> {
  const env = makeEnv(new InProcessTransport());
  const node = await startBlobNode(env, 'blob-1', [0, 1]);
  return { env, node, client: clientFor(env, [node], options) };
}

function block(index: number, length = blockSizeBytes): Buffer {
  const bytes = Buffer.alloc(length);
  for (let at = 0; at < length; at++) bytes[at] = (index * 131 + at * 7 + 1) & 0xff;
  return bytes;
}

async function writeRemote(client: RemoteBlobClient, fragmentId: string, blocks: readonly Buffer[], driveId = 0): Promise<void> {
  const writer = await client.createWriter(driveId, fragmentId, blockSizeBytes);
  try {
    for (const one of blocks) await writer.appendBlocks([one]);
    await writer.finish();
  } finally {
    await writer.abort();
  }
}

async function rejectsWith(promise: Promise<unknown>, code: FragmentError['code'], pattern?: RegExp): Promise<FragmentError> {
  const error = await promise.then(
    () => assert.fail(`expected FragmentError '${code}'`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof FragmentError, `expected FragmentError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (pattern !== undefined) assert.match(error.message, pattern);
  return error;
}

async function collect(items: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function temporaryFiles(node: BlobNode, index = 0): string[] {
  return readdirSync(join(node.drivePaths[index]!, 'tmp'));
}

describe('RemoteBlobClient: fragments', () => {
  it('writes a multi-block fragment remotely and reads it back byte-identical, whole and as a range', async () => {
    const { node, client } = await oneNode();
    const blocks = [...Array.from({ length: 40 }, (_, index) => block(index)), block(40, 1000)];
    await writeRemote(client, 'aa-multi-block', blocks);
    assert.deepEqual(await client.readBlocks(0, 'aa-multi-block', 0, 41), blocks);
    assert.deepEqual(await client.readBlocks(0, 'aa-multi-block', 7, 5), blocks.slice(7, 12));
    assert.deepEqual(await client.readBlocks(0, 'aa-multi-block', 40, 1), [block(40, 1000)]);
    assert.deepEqual(await node.store.readBlocks(0, 'aa-multi-block', 0, 41), blocks); // same bytes as a local read
    assert.deepEqual(temporaryFiles(node), []);
  });

  it('appends many blocks in one call (split into bounded messages) and a read longer than one reply', async () => {
    const { client } = await oneNode();
    const big = 1024 * 1024;
    const blocks = Array.from({ length: 20 }, (_, index) => Buffer.alloc(big, index + 1));
    const writer = await client.createWriter(0, 'ab-big-appends', big);
    await writer.appendBlocks(blocks);
    await writer.finish();
    const read = await client.readBlocks(0, 'ab-big-appends', 0, 20); // 20 MiB: three replies of at most 8 MiB
    assert.equal(read.length, 20);
    read.forEach((one, index) => {
      assert.ok(one.equals(blocks[index]!), `block ${index}`);
    });
  });

  it('finish is durable: a store reopened on the same folders reads the fragment', async () => {
    const { node, client } = await oneNode();
    const blocks = [block(0), block(1), block(2, 17)];
    await writeRemote(client, 'ac-durable', blocks);
    const reopened = new FragmentStore({ disk: new NodeDisk(), drives: [{ id: 0, path: node.drivePaths[0]! }] });
    await reopened.init();
    assert.deepEqual(await reopened.readBlocks(0, 'ac-durable', 0, 3), blocks);
    await reopened.close();
  });

  it('abort leaves no temp file and no fragment; abort after finish is a no-op', async () => {
    const { node, client } = await oneNode();
    const writer = await client.createWriter(0, 'ad-aborted', blockSizeBytes);
    await writer.appendBlocks([block(0)]);
    await writer.appendBlocks([block(1)]);
    assert.equal(temporaryFiles(node).length, 1);
    await writer.abort();
    await writer.abort();
    assert.deepEqual(temporaryFiles(node), []);
    assert.equal(node.service.writersOpen, 0);
    assert.equal(await client.statFragment(0, 'ad-aborted'), undefined);
    const finished = await client.createWriter(0, 'ad-finished', blockSizeBytes);
    await finished.appendBlocks([block(0)]);
    await finished.finish();
    await finished.abort();
    assert.deepEqual(await client.readBlocks(0, 'ad-finished', 0, 1), [block(0)]);
  });

  it('deletes, lists every fragment across pages in byte order, and stats', async () => {
    const { client } = await oneNode({ listPageSize: 7 });
    const ids = Array.from({ length: 60 }, (_, index) => `${((index * 37) % 97).toString(16).padStart(2, '0')}-listed-${index}`);
    for (const id of ids) await writeRemote(client, id, [block(0)]);
    await writeRemote(client, 'zz-other-drive', [block(0)], 1);
    assert.deepEqual(await collect(client.list(0)), [...ids].sort());
    assert.deepEqual(await collect(client.list(1)), ['zz-other-drive']);
    assert.equal(await client.delete(0, ids[5]!), true);
    assert.equal(await client.delete(0, ids[5]!), false);
    assert.equal((await collect(client.list(0))).length, 59);
    const { modifiedMs, ...shape } = (await client.statFragment(0, ids[6]!))!;
    assert.deepEqual(shape, { blockSizeBytes, blockCount: 1, dataBytes: blockSizeBytes });
    assert.ok(modifiedMs !== undefined && Math.abs(modifiedMs - Date.now()) < 60_000, `modifiedMs ${String(modifiedMs)}`);
    assert.equal(await client.statFragment(0, ids[5]!), undefined);
    await rejectsWith(client.readBlocks(0, ids[5]!, 0, 1), 'not_found');
  });

  it('status reports capacity and health per drive', async () => {
    const { node, client } = await oneNode();
    const status = await client.status(node.address);
    assert.deepEqual(status.drives.map((drive) => drive.driveId), [0, 1]);
    for (const drive of status.drives) {
      assert.equal(drive.health, 'ok');
      assert.ok(drive.totalBytes > 0 && drive.freeBytes > 0 && drive.freeBytes <= drive.totalBytes);
    }
  });

  it('a corrupt block on disk reads back as the corrupt error, not as wrong bytes', async () => {
    const { node, client } = await oneNode();
    await writeRemote(client, 'ae-corrupt', [block(0), block(1), block(2)]);
    const path = join(node.drivePaths[0]!, 'fragments', 'ae', 'ae-corrupt');
    const bytes = readFileSync(path);
    bytes[fragmentHeaderBytes + 2 * (blockSizeBytes + 4) + 100]! ^= 0x01;
    writeFileSync(path, bytes);
    await rejectsWith(client.readBlocks(0, 'ae-corrupt', 0, 3), 'corrupt', /block 2 checksum mismatch/);
    assert.deepEqual(await client.readBlocks(0, 'ae-corrupt', 0, 2), [block(0), block(1)]);
  });

  it('asserts on the same caller bugs as the local binding, before anything is sent', async () => {
    const { client } = await oneNode();
    await assert.rejects(client.createWriter(0, '../../etc/passwd', blockSizeBytes), /Bad fragment id/);
    await assert.rejects(client.readBlocks(0, 'af-caller-bugs', 0, 0), /Bad block count/);
    const writer = await client.createWriter(0, 'af-caller-bugs', blockSizeBytes);
    await assert.rejects(writer.appendBlocks([block(0, 10), block(1)]), /short block 0 is not the last/);
    await writer.abort();
  });
});

describe('RemoteBlobClient: failures', () => {
  it('an append the node refuses fails the writer: the error surfaces at a later append or at finish, and abort cleans up', async () => {
    const { node, client } = await oneNode();
    const writer = await client.createWriter(0, 'ba-refused', blockSizeBytes);
    await writer.appendBlocks([block(0)]);
    await node.service.stop(); // the node forgets the writer (as a restart would)
    node.service.start();
    await writer.appendBlocks([block(1)]); // pipelined: not yet answered
    const error = await rejectsWith(writer.finish(), 'io', /the node answered unknown_writer/);
    assert.ok(error.cause instanceof BlobRemoteError && error.cause.code === 'unknown_writer');
    await writer.abort();
    assert.deepEqual(temporaryFiles(node), []);
  });

  it('a node that does not answer: a timeout error naming node, fragment and deadline', async () => {
    const clock = new ManualClock();
    const transport = new InProcessTransport();
    transport.listen('blob-silent', () => new Promise<Uint8Array>(() => undefined));
    const client = new RemoteBlobClient(makeEnv(transport, clock), { localAddress: gatewayAddress, addressOf: () => 'blob-silent', requestTimeoutMs: 5000 });
    const reading = client.readBlocks(3, 'ca-silent-node', 0, 1);
    clock.advance(4999);
    clock.advance(1);
    const error = await rejectsWith(reading, 'io', /Fragment "ca-silent-node" on drive 3 \(blob node "blob-silent"\): reading blocks 0\.\.0: blob node "blob-silent" did not answer within 5000 ms \(timeout\)/);
    assert.equal((error.cause as { code?: string }).code, 'timeout');
    assert.equal(clock.timersPending, 0);
  });

  it('a node that is not there: unreachable, as an io error', async () => {
    const env = makeEnv(new InProcessTransport());
    const client = new RemoteBlobClient(env, { localAddress: gatewayAddress, addressOf: () => 'blob-gone' });
    await rejectsWith(client.createWriter(0, 'cb-no-node', blockSizeBytes), 'io', /blob node "blob-gone": unreachable/);
    await rejectsWith(client.delete(0, 'cb-no-node'), 'io', /unreachable/);
  });

  it('a drive the node does not serve (a stale drive map) is an io error naming the drives it serves', async () => {
    const { env, node } = await oneNode();
    const client = new RemoteBlobClient(env, { localAddress: gatewayAddress, addressOf: () => node.address });
    await rejectsWith(client.readBlocks(5, 'cc-stale-map', 0, 1), 'io', /unknown_drive: Blob node "blob-1" does not serve drive 5/);
  });
});

describe('RemoteBlobClient: the gateway over it', () => {
  /** 6 drives on 6 / drivesPerNode blob nodes ("blob-0", …), 4+2, a metadata service, a gateway. */
  async function cluster(drivesPerNode: number, driveCount = 6): Promise<{ env: Env; nodes: BlobNode[]; gateway: Gateway; meta: LocalMetaClient; failures: ShardFailure[] }> {
    const env = makeEnv(new InProcessTransport());
    const nodes: BlobNode[] = [];
    for (let first = 0; first < driveCount; first += drivesPerNode) {
      const driveIds = Array.from({ length: drivesPerNode }, (_, index) => first + index);
      nodes.push(await startBlobNode(env, `blob-${nodes.length}`, driveIds));
    }
    const metaService = await MetaService.open(env, new MemoryKvStore());
    cleanups.push(() => metaService.close());
    const meta = new LocalMetaClient(metaService);
    const failures: ShardFailure[] = [];
    const gateway = new Gateway(
      env,
      meta,
      clientFor(env, nodes),
      {
        scheme: { k: 4, m: 2 },
        blockSizeBytes: 64 * 1024,
        inlineBytesMax: 64 * 1024,
        objectBytesMax: 64 * 1024 * 1024,
        drives: Array.from({ length: driveCount }, (_, id) => ({ id, weight: 1, state: 'active' as const })),
      },
      { onGarbage: () => undefined, onReadEnded: () => undefined, onShardFailure: (failure) => failures.push(failure) },
    );
    const created = await meta.submit({ type: 'create_bucket', bucket: 'photos', bucketId: 'id-photos', owner: 'alice', region: 'local' });
    assert.equal(created.status, 'bucket_created');
    return { env, nodes, gateway, meta, failures };
  }

  /** The body as an S3 request delivers it: chunks of 100 000 bytes. */
  function body(bytes: Buffer, chunkBytes = 100_000): AsyncIterable<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += chunkBytes) chunks.push(bytes.subarray(at, at + chunkBytes));
    return Readable.from(chunks, { objectMode: true }) as AsyncIterable<Uint8Array>;
  }

  async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    return Buffer.concat(parts);
  }

  it('PUT and GET of a 3 MiB object through the gateway: same bytes, same ETag, shards on every node; a range; a node down', async () => {
    const { nodes, gateway, meta, failures } = await cluster(2);
    const object = Buffer.alloc(3 * 1024 * 1024 + 12_345);
    for (let at = 0; at < object.length; at++) object[at] = (at * 2654435761) >>> 24;
    const put = await gateway.putObject({ bucket: 'photos', key: 'big.bin', owner: 'alice', contentType: 'application/octet-stream', headers: {}, userMetadata: {}, body: body(object) });
    assert.equal(put.status, 'ok');
    const version = await meta.getObject('photos', 'big.bin');
    assert.ok(version !== undefined);
    assert.equal(version.etag, `"${createHash('md5').update(object).digest('hex')}"`);
    assert.deepEqual(version.parts[0]!.missingShards, []);
    for (const node of nodes) {
      for (const driveId of node.driveIds) assert.equal((await collect(node.store.list(driveId))).length, 1, `drive ${driveId} holds its shard`);
      assert.deepEqual(temporaryFiles(node), []);
    }
    assert.ok((await readAll(gateway.readObject(version))).equals(object));
    const range = await readAll(gateway.readObject(version, { first: 1_000_000, last: 2_500_000 }));
    assert.ok(range.equals(object.subarray(1_000_000, 2_500_001)));

    // Two drives (one node) unreachable: the read decodes from the other four
    // shards. The node stopped is the one holding data shard 0, so the read
    // must meet it (placement is by the random version id: a node holding
    // only parity shards would never be asked).
    const down = nodes.findIndex((node) => node.driveIds.includes(version.parts[0]!.drives[0]!));
    await nodes[down]!.service.stop();
    assert.ok((await readAll(gateway.readObject(version))).equals(object));
    assert.ok(failures.length > 0 && failures.every((failure) => nodes[down]!.driveIds.includes(failure.driveId)));
    assert.match(String(failures[0]!.error), new RegExp(`blob node "blob-${down}": unreachable`));
  });

  it('a node lost in the middle of a PUT: its shard is recorded missing (quorum k+1 kept) and the object reads back', async () => {
    const { nodes, gateway, meta } = await cluster(1);
    const object = Buffer.alloc(2 * 1024 * 1024);
    for (let at = 0; at < object.length; at++) object[at] = (at * 40503) >>> 8;
    const lost = nodes[4]!;
    async function* stopsANode(): AsyncGenerator<Uint8Array> {
      yield object.subarray(0, 1024 * 1024);
      await lost.service.stop(); // its writer is aborted; later appends are unreachable
      yield object.subarray(1024 * 1024);
    }
    const put = await gateway.putObject({ bucket: 'photos', key: 'degraded.bin', owner: 'alice', contentType: '', headers: {}, userMetadata: {}, body: stopsANode() });
    assert.equal(put.status, 'ok');
    const version = await meta.getObject('photos', 'degraded.bin');
    assert.ok(version !== undefined);
    const part = version.parts[0]!;
    assert.deepEqual(part.missingShards, [part.drives.indexOf(lost.driveIds[0]!)]);
    assert.ok((await readAll(gateway.readObject(version))).equals(object));
    assert.deepEqual(temporaryFiles(lost), []);
  });

  it('a newer layout (a cluster map epoch) steers new parts: a draining node gets no shards, old parts still read', async () => {
    const { gateway, meta } = await cluster(2, 12);
    const object = Buffer.from(Array.from({ length: 400 * 1024 }, (_, index) => (index * 3) % 256));
    const put = (key: string): Promise<unknown> =>
      gateway.putObject({ bucket: 'photos', key, owner: 'alice', contentType: '', headers: {}, userMetadata: {}, body: body(object) });
    await put('before');
    const layout = {
      level: 'node' as const,
      drives: Array.from({ length: 12 }, (_, id) => ({ id, weight: 1, state: id < 2 ? ('draining' as const) : ('active' as const), zone: 'z', rack: `r${Math.floor(id / 2)}`, node: `n${Math.floor(id / 2)}` })),
    };
    gateway.useLayout(layout);
    for (let index = 0; index < 8; index++) await put(`after-${index}`);
    for (let index = 0; index < 8; index++) {
      const version = await meta.getObject('photos', `after-${index}`);
      assert.ok(version !== undefined && version.parts.every((part) => part.drives.every((drive) => drive >= 2)), 'no shard on the draining node');
      const perNode = new Map<number, number>();
      for (const drive of version.parts[0]!.drives) perNode.set(Math.floor(drive / 2), (perNode.get(Math.floor(drive / 2)) ?? 0) + 1);
      assert.ok([...perNode.values()].every((count) => count <= 2), 'no node holds more than m shards');
    }
    const before = await meta.getObject('photos', 'before');
    assert.ok(before !== undefined && (await readAll(gateway.readObject(before))).equals(object));
    assert.throws(() => {
      gateway.useLayout({ ...layout, drives: layout.drives.slice(0, 5) });
    }, /Cannot place 4\+2/, 'a layout the scheme cannot be placed on is refused');
  });

  it('a node down before a PUT: its shard is written as missing (k+1 of k+m open), the object reads back; two more down and the PUT fails cleanly', async () => {
    const { nodes, gateway, meta } = await cluster(1);
    await nodes[0]!.service.stop();
    const object = Buffer.from(Array.from({ length: 512 * 1024 }, (_, index) => (index * 7) % 251));
    const put = await gateway.putObject({ bucket: 'photos', key: 'open-degraded.bin', owner: 'alice', contentType: '', headers: {}, userMetadata: {}, body: body(object) });
    assert.equal(put.status, 'ok');
    assert.ok(put.status === 'ok' && put.version.parts[0]!.missingShards.includes(put.version.parts[0]!.drives.indexOf(0)));
    const version = await meta.getObject('photos', 'open-degraded.bin');
    assert.ok(version !== undefined);
    assert.ok((await readAll(gateway.readObject(version))).equals(object), 'reads back from the shards that were written');
    // Two of six nodes down: fewer than k+1 = 5 writers open, so the PUT fails.
    await nodes[1]!.service.stop();
    const refused = gateway.putObject({ bucket: 'photos', key: 'refused.bin', owner: 'alice', contentType: '', headers: {}, userMetadata: {}, body: body(object) });
    await rejectsWith(refused, 'io', /opening a writer: blob node "blob-[01]": unreachable/);
    for (const node of nodes) assert.deepEqual(temporaryFiles(node), []);
  });
});

describe('RemoteBlobClient over TcpTransport', () => {
  it('writes, reads and lists a fragment through real sockets', async () => {
    const secret = 'test-cluster-secret-0123456789';
    const serverTransport = new TcpTransport({ clusterSecret: secret });
    const clientTransport = new TcpTransport({ clusterSecret: secret });
    cleanups.push(async () => {
      await clientTransport.close();
      await serverTransport.close();
    });
    const node = await startBlobNode(makeEnv(serverTransport), '127.0.0.1:0', [0]);
    const address = await serverTransport.listening('127.0.0.1:0');
    const client = new RemoteBlobClient(makeEnv(clientTransport), { localAddress: '127.0.0.1:1', addressOf: () => address });
    const blocks = [...Array.from({ length: 300 }, (_, index) => block(index)), block(300, 8)];
    const writer = await client.createWriter(0, 'da-over-tcp', blockSizeBytes);
    for (let at = 0; at < blocks.length; at += 3) await writer.appendBlocks(blocks.slice(at, at + 3));
    await writer.finish();
    assert.deepEqual(await client.readBlocks(0, 'da-over-tcp', 0, blocks.length), blocks);
    assert.deepEqual(await client.readBlocks(0, 'da-over-tcp', 299, 2), blocks.slice(299));
    assert.deepEqual(await collect(client.list(0)), ['da-over-tcp']);
    assert.equal((await client.status(address)).drives[0]!.health, 'ok');
    await rejectsWith(client.readBlocks(0, 'da-not-there', 0, 1), 'not_found');
    assert.deepEqual(temporaryFiles(node), []);
  });
});

