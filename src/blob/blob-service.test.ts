// BlobService tests with raw protocol messages over InProcessTransport, in
// front of real FragmentStores on temp folders (NodeDisk) and a manual clock:
// what the service refuses (out-of-sequence appends, foreign writers, bad
// input, limits), that a refused append fails the writer and removes its temp
// file, the idle sweep, bounded read replies, corrupt blocks, list paging,
// stat and status. The client side (RemoteBlobClient, the gateway over it,
// TCP) is tested in gateway/remote-blob-client.test.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../io/manual-clock.js';
import { DiskError } from '../io/disk.js';
import type { DiskFile, OpenMode } from '../io/disk.js';
import { noFaults } from '../io/env.js';
import type { Env } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import { silentLogger } from '../io/logger.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { blobProtocolVersion, decodeBlobReply, encodeBlobRequest, readReplyBytesMax } from './blob-protocol.js';
import type { BlobErrorCode, BlobReplies, BlobRequest, BlobRequestType } from './blob-protocol.js';
import { BlobService } from './blob-service.js';
import type { BlobServiceOptions } from './blob-service.js';
import { fragmentHeaderBytes } from './fragment-format.js';
import { FragmentStore } from './fragment-store.js';
import { encodeRecord } from '../stdx/codec.js';
import { eventually } from '../../test/helpers/eventually.js';

const blockSizeBytes = 16;
const stride = blockSizeBytes + 4;
const nodeAddress = 'blob-node-1';
const clientAddress = 'gateway-1';


let root: string;
let nextCase = 0;
const cleanups: (() => Promise<void>)[] = [];

before(() => {
  root = mkdtempSync(join(tmpdir(), 'tessera-blob-service-'));
});
after(async () => {
  for (const cleanup of cleanups) await cleanup();
  rmSync(root, { recursive: true, force: true });
});

interface Node {
  readonly env: Env & { readonly clock: ManualClock };
  readonly transport: InProcessTransport;
  readonly store: FragmentStore;
  readonly service: BlobService;
  readonly drivePaths: readonly string[];
  /** Sends a request as `from` and decodes the reply. */
  request<T extends BlobRequestType>(request: BlobRequest & { readonly type: T }, from?: string): Promise<ReturnType<typeof decodeBlobReply<T>>>;
}

/** NodeDisk on which every folder operation under `deadPath` fails with DiskError 'io' (a dead drive). */
class DeadDriveDisk extends NodeDisk {
  deadPath: string | undefined;

  private check(path: string): void {
    if (this.deadPath !== undefined && path.startsWith(this.deadPath)) throw new DiskError('io', `injected: drive at "${this.deadPath}" is dead`);
  }

  override async open(path: string, mode: OpenMode): Promise<DiskFile> {
    this.check(path);
    return super.open(path, mode);
  }

  override async mkdirp(path: string): Promise<void> {
    this.check(path);
    return super.mkdirp(path);
  }

  override async readdir(path: string): Promise<string[]> {
    this.check(path);
    return super.readdir(path);
  }

  override async capacity(path: string): Promise<{ freeBytes: number; totalBytes: number }> {
    this.check(path);
    return super.capacity(path);
  }
}

async function startNode(options: Partial<BlobServiceOptions> = {}, disk: NodeDisk = new NodeDisk()): Promise<Node> {
  const base = join(root, `case-${nextCase++}`);
  const drivePaths = [join(base, 'd0'), join(base, 'd1')];
  const transport = new InProcessTransport();
  const env = { clock: new ManualClock(), random: new NodeRandom(), disk, transport, faults: noFaults, logger: silentLogger };
  const store = new FragmentStore({ disk: env.disk, drives: drivePaths.map((path, id) => ({ id, path })) });
  await store.init();
  const service = new BlobService(env, store, { address: nodeAddress, ...options });
  service.start();
  cleanups.push(async () => {
    await service.stop();
    await store.close();
  });
  return {
    env,
    transport,
    store,
    service,
    drivePaths,
    request: async (request, from = clientAddress) => decodeBlobReply(request.type, await transport.request(from, nodeAddress, encodeBlobRequest(request))),
  };
}

function block(index: number, length = blockSizeBytes): Buffer {
  const bytes = Buffer.alloc(length);
  for (let at = 0; at < length; at++) bytes[at] = (index * 31 + at * 7 + 1) & 0xff;
  return bytes;
}

function ok<T extends BlobRequestType>(reply: ReturnType<typeof decodeBlobReply<T>>): BlobReplies[T] {
  assert.ok(reply.ok, reply.ok ? '' : `${reply.code}: ${reply.message}`);
  return reply;
}

function refused(reply: { ok: boolean; code?: BlobErrorCode; message?: string }, code: BlobErrorCode, pattern?: RegExp): void {
  assert.equal(reply.ok, false, `expected ${code}`);
  assert.equal(reply.code, code, reply.message);
  if (pattern !== undefined) assert.match(reply.message ?? '', pattern);
}

async function openWriter(node: Node, fragmentId: string, driveId = 0, from = clientAddress): Promise<string> {
  return ok(await node.request({ type: 'open_writer', driveId, fragmentId, blockSizeBytes }, from)).writerId;
}

async function writeFragment(node: Node, fragmentId: string, blocks: readonly Buffer[], driveId = 0): Promise<void> {
  const writerId = await openWriter(node, fragmentId, driveId);
  ok(await node.request({ type: 'append', writerId, sequence: 0, blocks }));
  ok(await node.request({ type: 'finish', writerId, appendCount: 1, blockCount: blocks.length }));
}

function temporaryFiles(node: Node, driveId = 0): string[] {
  return readdirSync(join(node.drivePaths[driveId]!, 'tmp'));
}

/** Waits until no temporary file is left: an abort queued behind a refusal runs on its own. */
async function noTemporaryFiles(node: Node, driveId = 0): Promise<void> {
  await eventually(() => temporaryFiles(node, driveId).length === 0, `no temp files on drive ${driveId}`, { stepMs: 5 });
}

describe('BlobService: writers', () => {
  it('writes a fragment in sequenced appends; finish publishes it and frees the writer', async () => {
    const node = await startNode();
    const writerId = await openWriter(node, 'aa-sequenced');
    assert.equal(ok(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0), block(1)] })).blockCount, 2);
    assert.equal(ok(await node.request({ type: 'append', writerId, sequence: 1, blocks: [block(2, 3)] })).blockCount, 3);
    assert.equal(node.service.writersOpen, 1);
    ok(await node.request({ type: 'finish', writerId, appendCount: 2, blockCount: 3 }));
    assert.equal(node.service.writersOpen, 0);
    assert.deepEqual(await node.store.readBlocks(0, 'aa-sequenced', 0, 3), [block(0), block(1), block(2, 3)]);
    assert.deepEqual(temporaryFiles(node), []);
    refused(await node.request({ type: 'append', writerId, sequence: 2, blocks: [block(3)] }), 'unknown_writer');
  });

  it('refuses a duplicate append and fails the writer: later appends and finish get the same error, the temp file goes', async () => {
    const node = await startNode();
    const writerId = await openWriter(node, 'ab-duplicate');
    ok(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0)] }));
    refused(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0)] }), 'out_of_sequence', /append 0 is a duplicate: expected 1/);
    refused(await node.request({ type: 'append', writerId, sequence: 1, blocks: [block(1)] }), 'out_of_sequence', /duplicate/);
    refused(await node.request({ type: 'finish', writerId, appendCount: 1, blockCount: 1 }), 'out_of_sequence');
    await noTemporaryFiles(node);
    assert.equal(ok(await node.request({ type: 'abort', writerId })).aborted, true);
    assert.equal(node.service.writersOpen, 0);
    assert.equal(await node.store.has(0, 'ab-duplicate'), false);
  });

  it('refuses a gap in the sequence', async () => {
    const node = await startNode();
    const writerId = await openWriter(node, 'ac-gap-in-sequence');
    ok(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0)] }));
    refused(await node.request({ type: 'append', writerId, sequence: 2, blocks: [block(2)] }), 'out_of_sequence', /append 2 is a gap: expected 1/);
    await noTemporaryFiles(node);
  });

  it('refuses a finish that does not cover every append and block (a lost append is never published)', async () => {
    const node = await startNode();
    const writerId = await openWriter(node, 'ad-short-finish');
    ok(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0), block(1)] }));
    refused(await node.request({ type: 'finish', writerId, appendCount: 1, blockCount: 1 }), 'out_of_sequence', /node has 1 appends and 2 blocks/);
    await noTemporaryFiles(node);
    assert.equal(await node.store.has(0, 'ad-short-finish'), false);
  });

  it('refuses blocks that break the format: too long, short before the last, anything after a short block', async () => {
    const node = await startNode();
    const tooLong = await openWriter(node, 'ae-too-long');
    refused(await node.request({ type: 'append', writerId: tooLong, sequence: 0, blocks: [block(0, blockSizeBytes + 1)] }), 'bad_request', /block of 17 bytes/);
    const shortFirst = await openWriter(node, 'ae-short-first');
    refused(await node.request({ type: 'append', writerId: shortFirst, sequence: 0, blocks: [block(0, 3), block(1)] }), 'bad_request', /short block 0 is not the last/);
    const sealed = await openWriter(node, 'ae-sealed');
    ok(await node.request({ type: 'append', writerId: sealed, sequence: 0, blocks: [block(0, 3)] }));
    refused(await node.request({ type: 'append', writerId: sealed, sequence: 1, blocks: [block(1)] }), 'bad_request', /block 1 follows the short final block/);
    await noTemporaryFiles(node);
  });

  it('a writer belongs to the client that opened it', async () => {
    const node = await startNode();
    const writerId = await openWriter(node, 'af-owned-writer');
    refused(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0)] }, 'gateway-2'), 'unknown_writer', /for "gateway-2"/);
    assert.equal(ok(await node.request({ type: 'abort', writerId }, 'gateway-2')).aborted, false);
    ok(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0)] }));
    ok(await node.request({ type: 'finish', writerId, appendCount: 1, blockCount: 1 }));
  });

  it('abort removes the temp file, is idempotent, and answers false for a writer it does not know', async () => {
    const node = await startNode();
    const writerId = await openWriter(node, 'ag-aborted');
    ok(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0)] }));
    assert.equal(temporaryFiles(node).length, 1);
    assert.equal(ok(await node.request({ type: 'abort', writerId })).aborted, true);
    assert.deepEqual(temporaryFiles(node), []);
    assert.equal(ok(await node.request({ type: 'abort', writerId })).aborted, false);
    assert.equal(ok(await node.request({ type: 'abort', writerId: 'not-a-writer' })).aborted, false);
  });

  it('bounds writers per node and per client with busy', async () => {
    const node = await startNode({ writersMax: 3, writersPerClientMax: 2 });
    await openWriter(node, 'ah-limit-1');
    const second = await openWriter(node, 'ah-limit-2');
    refused(await node.request({ type: 'open_writer', driveId: 0, fragmentId: 'ah-limit-3', blockSizeBytes }), 'busy', /client "gateway-1" has 2 writers/);
    await openWriter(node, 'ah-limit-3', 0, 'gateway-2');
    refused(await node.request({ type: 'open_writer', driveId: 0, fragmentId: 'ah-limit-4', blockSizeBytes }, 'gateway-3'), 'busy', /3 writers open/);
    ok(await node.request({ type: 'abort', writerId: second }));
    await openWriter(node, 'ah-limit-4', 0, 'gateway-3');
  });

  it('bounds queued appends per writer: one past the bound is busy and fails the writer and what is queued', async () => {
    const node = await startNode({ appendsQueuedMax: 2 });
    const writerId = await openWriter(node, 'ai-queue-bound');
    const replies = [0, 1, 2].map((sequence) => node.request({ type: 'append', writerId, sequence, blocks: [block(sequence)] }));
    const [first, second, third] = await Promise.all(replies);
    refused(third!, 'busy', /2 operations queued/);
    // Accepted, but not yet run when the writer failed: they do nothing and answer the failure.
    refused(first!, 'busy', /2 operations queued/);
    refused(second!, 'busy', /2 operations queued/);
    await noTemporaryFiles(node);
  });

  it('aborts a writer left idle (a gateway that died mid-write): temp file removed, slot freed, later appends unknown_writer', async () => {
    const node = await startNode({ writerIdleTimeoutMs: 1000 });
    const idle = await openWriter(node, 'aj-idle-writer');
    ok(await node.request({ type: 'append', writerId: idle, sequence: 0, blocks: [block(0)] }));
    node.env.clock.advance(600);
    const busy = await openWriter(node, 'aj-busy-writer', 1);
    node.env.clock.advance(600);
    ok(await node.request({ type: 'append', writerId: busy, sequence: 0, blocks: [block(0)] }));
    node.env.clock.advance(600); // idle writer: 1800 ms without an operation; busy one: 600 ms
    await noTemporaryFiles(node, 0);
    assert.equal(temporaryFiles(node, 1).length, 1);
    assert.equal(node.service.writersOpen, 1);
    refused(await node.request({ type: 'append', writerId: idle, sequence: 1, blocks: [block(1)] }), 'unknown_writer', /idle too long/);
    ok(await node.request({ type: 'finish', writerId: busy, appendCount: 1, blockCount: 1 }));
    assert.deepEqual(await node.store.readBlocks(1, 'aj-busy-writer', 0, 1), [block(0)]);
  });

  it('a restarted node does not know the writer ids of the one before (random incarnation)', async () => {
    const node = await startNode();
    const writerId = await openWriter(node, 'ak-restart');
    await node.service.stop();
    await noTemporaryFiles(node);
    const restarted = new BlobService(node.env, node.store, { address: nodeAddress });
    restarted.start();
    cleanups.push(() => restarted.stop());
    await openWriter(node, 'ak-after-restart');
    refused(await node.request({ type: 'append', writerId, sequence: 0, blocks: [block(0)] }), 'unknown_writer');
  });
});

describe('BlobService: reads, delete, list, stat, status', () => {
  it('reads a range; a long read is answered in part (bounded reply) and the rest asked again', async () => {
    const node = await startNode();
    const big = 1024 * 1024;
    const blocks = Array.from({ length: 10 }, (_, index) => Buffer.alloc(big, index + 1));
    const writerId = ok(await node.request({ type: 'open_writer', driveId: 0, fragmentId: 'ba-long-read', blockSizeBytes: big })).writerId;
    ok(await node.request({ type: 'append', writerId, sequence: 0, blocks: blocks.slice(0, 5) }));
    ok(await node.request({ type: 'append', writerId, sequence: 1, blocks: blocks.slice(5) }));
    ok(await node.request({ type: 'finish', writerId, appendCount: 2, blockCount: 10 }));
    const first = ok(await node.request({ type: 'read', driveId: 0, fragmentId: 'ba-long-read', firstBlock: 1, blockCount: 9 }));
    assert.equal(first.blocks.length, readReplyBytesMax / big);
    assert.deepEqual(first.blocks, blocks.slice(1, 1 + first.blocks.length));
    const middle = ok(await node.request({ type: 'read', driveId: 0, fragmentId: 'ba-long-read', firstBlock: 4, blockCount: 2 }));
    assert.deepEqual(middle.blocks, blocks.slice(4, 6));
  });

  it('answers corrupt for a flipped byte, never the wrong bytes; not_found for a missing fragment', async () => {
    const node = await startNode();
    await writeFragment(node, 'bb-corrupt', [block(0), block(1), block(2)]);
    const path = join(node.drivePaths[0]!, 'fragments', 'bb', 'bb-corrupt');
    const bytes = readFileSync(path);
    bytes[fragmentHeaderBytes + stride + 3]! ^= 0x10;
    writeFileSync(path, bytes);
    refused(await node.request({ type: 'read', driveId: 0, fragmentId: 'bb-corrupt', firstBlock: 0, blockCount: 3 }), 'corrupt', /block 1 checksum mismatch/);
    assert.deepEqual(ok(await node.request({ type: 'read', driveId: 0, fragmentId: 'bb-corrupt', firstBlock: 2, blockCount: 1 })).blocks, [block(2)]);
    refused(await node.request({ type: 'read', driveId: 0, fragmentId: 'bb-missing', firstBlock: 0, blockCount: 1 }), 'not_found');
    const status = ok(await node.request({ type: 'status' }));
    const drive0 = status.drives.find((drive) => drive.driveId === 0)!;
    assert.equal(drive0.corruptErrorsTotal, 1);
    assert.equal(drive0.health, 'ok'); // corrupt data is the healer's business; the drive still works
    assert.match(drive0.recentErrors[0]!.message, /checksum mismatch/);
  });

  it('deletes, lists in pages after a cursor, and stats', async () => {
    const node = await startNode();
    const ids = Array.from({ length: 25 }, (_, index) => `${(index * 7 % 25).toString(36).padStart(2, '0')}-fragment-${index}`);
    for (const id of ids) await writeFragment(node, id, [block(0), block(1, 5)]);
    const page = ok(await node.request({ type: 'list', driveId: 0, after: '', limit: 10 }));
    assert.deepEqual(page.fragmentIds, [...ids].sort().slice(0, 10));
    assert.equal(page.more, true);
    const last = ok(await node.request({ type: 'list', driveId: 0, after: [...ids].sort()[19]!, limit: 10 }));
    assert.deepEqual(last.fragmentIds, [...ids].sort().slice(20));
    assert.equal(last.more, false);
    const { modifiedMs, ...shape } = ok(await node.request({ type: 'stat', driveId: 0, fragmentId: ids[3]! })).fragment!;
    assert.deepEqual(shape, { blockSizeBytes, blockCount: 2, dataBytes: blockSizeBytes + 5 });
    assert.ok(modifiedMs !== undefined && Math.abs(modifiedMs - Date.now()) < 60_000, `modifiedMs ${String(modifiedMs)}`);
    assert.equal(ok(await node.request({ type: 'delete', driveId: 0, fragmentId: ids[3]! })).deleted, true);
    assert.equal(ok(await node.request({ type: 'delete', driveId: 0, fragmentId: ids[3]! })).deleted, false);
    assert.equal(ok(await node.request({ type: 'stat', driveId: 0, fragmentId: ids[3]! })).fragment, null);
    assert.deepEqual(ok(await node.request({ type: 'list', driveId: 1, after: '', limit: 10 })).fragmentIds, []);
  });

  it('reports capacity, writers and health per drive', async () => {
    const node = await startNode();
    await openWriter(node, 'bc-open-writer', 1);
    const status = ok(await node.request({ type: 'status' }));
    assert.match(status.incarnation, /^[0-9a-f]{8}$/);
    assert.equal(status.writersOpen, 1);
    assert.deepEqual(status.drives.map((drive) => [drive.driveId, drive.health, drive.writersOpen]), [[0, 'ok', 0], [1, 'ok', 1]]);
    for (const drive of status.drives) assert.ok(drive.totalBytes > 0 && drive.freeBytes > 0 && drive.freeBytes <= drive.totalBytes);
  });

  it('a failing drive: its io errors are counted and listed, its health is failed while capacity cannot be read', async () => {
    const disk = new DeadDriveDisk();
    const node = await startNode({ recentErrorWindowMs: 5000 }, disk);
    disk.deadPath = node.drivePaths[1];
    refused(await node.request({ type: 'open_writer', driveId: 1, fragmentId: 'bd-dead-drive', blockSizeBytes }), 'io');
    refused(await node.request({ type: 'list', driveId: 1, after: '', limit: 10 }), 'io');
    const status = ok(await node.request({ type: 'status' }));
    const drive1 = status.drives.find((drive) => drive.driveId === 1)!;
    assert.equal(drive1.health, 'failed'); // capacity of a missing folder cannot be read
    assert.equal(drive1.ioErrorsTotal, 3);
    assert.equal(drive1.recentErrors.length, 3);
    node.env.clock.advance(6000);
    const later = ok(await node.request({ type: 'status' })).drives.find((drive) => drive.driveId === 1)!;
    assert.equal(later.recentErrors.length, 1); // only the capacity error of the status just before
    assert.equal(later.ioErrorsTotal, 4);
  });
});

describe('BlobService: input off the wire', () => {
  it('refuses malformed messages, other protocol versions, unknown drives and bad ids with bad_request or unknown_drive', async () => {
    const node = await startNode();
    const raw = async (value: unknown): Promise<unknown> => decodeBlobReply('status', await node.transport.request(clientAddress, nodeAddress, encodeRecord(value)));
    refused((await raw({ v: blobProtocolVersion + 1, type: 'status' })) as never, 'bad_request', /protocol version 2/);
    refused((await raw({ v: blobProtocolVersion, type: 'format_drive' })) as never, 'bad_request', /unknown request type/);
    refused((await raw({ v: blobProtocolVersion, type: 'read', driveId: 0, fragmentId: 'aa-some-id', firstBlock: -1, blockCount: 1 })) as never, 'bad_request', /firstBlock/);
    refused((await raw({ v: blobProtocolVersion, type: 'status', extra: 1 })) as never, 'bad_request', /unknown fields extra/);
    refused((await raw({ v: blobProtocolVersion, type: 'append', writerId: 'x', sequence: 0, blocks: [] })) as never, 'bad_request', /blocks/);
    const garbage = decodeBlobReply('status', await node.transport.request(clientAddress, nodeAddress, Uint8Array.from([0x93, 0x01])));
    refused(garbage as never, 'bad_request', /not msgpack/);
    refused(await node.request({ type: 'open_writer', driveId: 9, fragmentId: 'aa-some-id', blockSizeBytes }), 'unknown_drive', /does not serve drive 9 \(it serves 0, 1\)/);
    refused(await node.request({ type: 'read', driveId: 0, fragmentId: '../../etc/passwd', firstBlock: 0, blockCount: 1 }), 'bad_request', /Bad fragment id/);
    refused(await node.request({ type: 'open_writer', driveId: 0, fragmentId: 'aa-some-id', blockSizeBytes: 0 }), 'bad_request', /block size 0/);
    refused(await node.request({ type: 'read', driveId: 0, fragmentId: 'aa-some-id', firstBlock: 0, blockCount: 0 }), 'bad_request');
    refused(await node.request({ type: 'list', driveId: 0, after: '', limit: 0 }), 'bad_request', /limit 0/);
    assert.equal(node.service.writersOpen, 0);
  });
});
