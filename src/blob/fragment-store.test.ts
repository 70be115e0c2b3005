// FragmentStore on the real NodeDisk in a temp folder: round trips, range
// reads, corruption found by the checksums (bytes flipped behind the store's
// back with node:fs), missing fragments, writer abort and crash debris, delete,
// list, and DiskErrors surfacing as FragmentError 'io'.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DiskError } from '../io/disk.js';
import type { Disk, DiskFile } from '../io/disk.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { AssertionError } from '../stdx/assert.js';
import { FragmentError } from './fragment-error.js';
import { fragmentHeaderBytes } from './fragment-format.js';
import { FragmentStore } from './fragment-store.js';

const blockSizeBytes = 16;
const stride = blockSizeBytes + 4;

let root: string;
let nextRoot = 0;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'tessera-blob-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function drivePaths(): [string, string] {
  const base = join(root, `case-${nextRoot++}`);
  return [join(base, 'd0'), join(base, 'd1')];
}

async function openStore(paths: readonly string[], disk: Disk = new NodeDisk()): Promise<FragmentStore> {
  const store = new FragmentStore({ disk, drives: paths.map((path, id) => ({ id, path })) });
  await store.init();
  return store;
}

/** Block `index` of a test fragment: deterministic bytes, `length` long. */
function block(index: number, length = blockSizeBytes): Buffer {
  const bytes = Buffer.alloc(length);
  for (let at = 0; at < length; at++) bytes[at] = (index * 31 + at * 7 + 1) & 0xff;
  return bytes;
}

async function writeFragment(store: FragmentStore, fragmentId: string, blocks: readonly Buffer[], driveId = 0): Promise<void> {
  const writer = await store.createWriter(driveId, fragmentId, blockSizeBytes);
  try {
    await writer.appendBlocks(blocks);
    await writer.finish();
  } finally {
    await writer.abort();
  }
}

function fragmentFile(drivePath: string, fragmentId: string): string {
  return join(drivePath, 'fragments', fragmentId.slice(0, 2), fragmentId);
}

function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset]! ^= 0x40;
  writeFileSync(path, bytes);
}

async function rejectsWith(promise: Promise<unknown>, code: FragmentError['code'], pattern?: RegExp): Promise<FragmentError> {
  const error = await promise.then(
    () => assert.fail(`expected FragmentError '${code}'`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof FragmentError, `expected FragmentError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (pattern) assert.match(error.message, pattern);
  return error;
}

async function collect(items: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('FragmentStore: write and read', () => {
  it('round-trips several blocks with a short last block, written in two batches', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    const blocks = [block(0), block(1), block(2), block(3, 5)];
    const writer = await store.createWriter(0, 'ab-round-trip', blockSizeBytes);
    await writer.appendBlocks(blocks.slice(0, 2));
    await writer.appendBlocks(blocks.slice(2));
    assert.equal(writer.blocksWritten, 4);
    await writer.finish();
    assert.deepEqual(await store.readBlocks(0, 'ab-round-trip', 0, 4), blocks);
    assert.deepEqual(await store.readBlocks(0, 'ab-round-trip', 3, 1), [block(3, 5)]);
    assert.equal(statSync(fragmentFile(d0, 'ab-round-trip')).size, fragmentHeaderBytes + 3 * stride + 5 + 4);
    assert.deepEqual(readdirSync(join(d0, 'tmp')), []);
    assert.equal(await store.has(0, 'ab-round-trip'), true);
    assert.equal(await store.has(1, 'ab-round-trip'), false);
  });

  it('reads a range of blocks from the middle', async () => {
    const store = await openStore(drivePaths());
    const blocks = Array.from({ length: 10 }, (_, index) => block(index));
    await writeFragment(store, 'cd-middle-range', blocks);
    assert.deepEqual(await store.readBlocks(0, 'cd-middle-range', 3, 4), blocks.slice(3, 7));
    assert.deepEqual(await store.readBlocks(0, 'cd-middle-range', 9, 1), [block(9)]);
  });

  it('treats a read past the last block as corrupt (the file is shorter than asked)', async () => {
    const store = await openStore(drivePaths());
    await writeFragment(store, 'ef-past-end', [block(0), block(1)]);
    await rejectsWith(store.readBlocks(0, 'ef-past-end', 1, 2), 'corrupt', /holds 2 blocks, read asked for blocks 1\.\.2/);
  });

  it('asserts on caller bugs: short block not last, block after the short one, bad ids, unknown drive', async () => {
    const store = await openStore(drivePaths());
    const writer = await store.createWriter(0, 'gh-asserts-1', blockSizeBytes);
    await assert.rejects(writer.appendBlocks([block(0, 3), block(1)]), AssertionError);
    await writer.appendBlocks([block(0), block(1, 3)]);
    await assert.rejects(writer.appendBlocks([block(2)]), AssertionError);
    await assert.rejects(writer.appendBlocks([block(2, blockSizeBytes + 1)]), AssertionError);
    await writer.abort();
    await assert.rejects(store.createWriter(7, 'gh-asserts-2', blockSizeBytes), AssertionError);
    await assert.rejects(store.createWriter(0, '../../etc/passwd', blockSizeBytes), AssertionError);
    await assert.rejects(store.readBlocks(0, 'gh-asserts-1', 0, 0), AssertionError);
    await assert.rejects(store.readBlocks(0, 'gh-asserts-1', -1, 1), AssertionError);
    const empty = await store.createWriter(0, 'gh-asserts-3', blockSizeBytes);
    await assert.rejects(empty.finish(), AssertionError);
    await empty.abort();
  });
});

describe('FragmentStore: corruption and absence', () => {
  it('finds a flipped byte in a block and names drive, fragment and block', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    await writeFragment(store, 'ij-bit-flip', [block(0), block(1), block(2)]);
    flipByte(fragmentFile(d0, 'ij-bit-flip'), fragmentHeaderBytes + 2 * stride + 5);
    await rejectsWith(store.readBlocks(0, 'ij-bit-flip', 1, 2), 'corrupt', /"ij-bit-flip" on drive 0: block 2 checksum mismatch/);
    assert.deepEqual(await store.readBlocks(0, 'ij-bit-flip', 0, 2), [block(0), block(1)]);
  });

  it('finds a flipped byte in a stored checksum', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    await writeFragment(store, 'ij-sum-flip', [block(0), block(1)]);
    flipByte(fragmentFile(d0, 'ij-sum-flip'), fragmentHeaderBytes + stride - 1);
    await rejectsWith(store.readBlocks(0, 'ij-sum-flip', 0, 1), 'corrupt', /block 0 checksum mismatch/);
  });

  it('finds a flipped header byte', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    await writeFragment(store, 'kl-header-flip', [block(0)]);
    flipByte(fragmentFile(d0, 'kl-header-flip'), 9);
    await rejectsWith(store.readBlocks(0, 'kl-header-flip', 0, 1), 'corrupt', /bad header \(header checksum mismatch\)/);
  });

  it('finds a fragment stored under another fragment’s name, and a truncated fragment', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    await writeFragment(store, 'mn-original', [block(0), block(1)]);
    await writeFragment(store, 'mn-truncated', [block(0), block(1)]);
    renameSync(fragmentFile(d0, 'mn-original'), fragmentFile(d0, 'mn-renamed'));
    await rejectsWith(store.readBlocks(0, 'mn-renamed', 0, 1), 'corrupt', /header names fragment "mn-original"/);
    truncateSync(fragmentFile(d0, 'mn-truncated'), fragmentHeaderBytes + stride + 2);
    await rejectsWith(store.readBlocks(0, 'mn-truncated', 0, 1), 'corrupt', /last block truncated/);
  });

  it('reports a missing fragment as not_found', async () => {
    const store = await openStore(drivePaths());
    await writeFragment(store, 'op-present', [block(0)]);
    await rejectsWith(store.readBlocks(0, 'op-missing', 0, 1), 'not_found', /"op-missing" on drive 0/);
    await rejectsWith(store.readBlocks(1, 'op-present', 0, 1), 'not_found');
  });
});

describe('FragmentStore: writers, debris, delete, list', () => {
  it('abort leaves nothing behind, is idempotent, and is a no-op after finish', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    const writer = await store.createWriter(0, 'qr-aborted', blockSizeBytes);
    await writer.appendBlocks([block(0), block(1)]);
    assert.equal(readdirSync(join(d0, 'tmp')).length, 1);
    await writer.abort();
    await writer.abort();
    assert.deepEqual(readdirSync(join(d0, 'tmp')), []);
    assert.equal(await store.has(0, 'qr-aborted'), false);
    await writeFragment(store, 'qr-finished', [block(0)]);
    assert.deepEqual(await store.readBlocks(0, 'qr-finished', 0, 1), [block(0)]);
  });

  it('sweeps an unfinished writer’s temp file after a restart, but never a live writer’s', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    const abandoned = await store.createWriter(1, 'st-abandoned', blockSizeBytes);
    await abandoned.appendBlocks([block(0)]);
    assert.equal(await store.sweepTemporaryFiles(), 0);
    assert.equal(readdirSync(join(d1, 'tmp')).length, 1);
    const restarted = new FragmentStore({ disk: new NodeDisk(), drives: [{ id: 0, path: d0 }, { id: 1, path: d1 }] });
    assert.equal(await restarted.sweepTemporaryFiles(), 1);
    assert.deepEqual(readdirSync(join(d1, 'tmp')), []);
    assert.equal(await restarted.has(1, 'st-abandoned'), false);
    await abandoned.abort();
  });

  it('init creates the folders and sweeps crash debris', async () => {
    const [d0, d1] = drivePaths();
    await openStore([d0, d1]);
    writeFileSync(join(d0, 'tmp', 'uv-crashed.0.tmp'), 'partial');
    writeFileSync(join(d1, 'tmp', 'uv-crashed.1.tmp'), 'partial');
    const store = new FragmentStore({ disk: new NodeDisk(), drives: [{ id: 0, path: d0 }, { id: 1, path: d1 }] });
    await store.init();
    assert.deepEqual(readdirSync(join(d0, 'tmp')), []);
    assert.deepEqual(readdirSync(join(d1, 'tmp')), []);
    assert.deepEqual(readdirSync(d0).sort(), ['fragments', 'tmp']);
  });

  it('delete removes a fragment and reports whether it was there', async () => {
    const store = await openStore(drivePaths());
    await writeFragment(store, 'wx-deleted', [block(0)]);
    assert.equal(await store.delete(0, 'wx-deleted'), true);
    assert.equal(await store.delete(0, 'wx-deleted'), false);
    assert.equal(await store.has(0, 'wx-deleted'), false);
    await rejectsWith(store.readBlocks(0, 'wx-deleted', 0, 1), 'not_found');
  });

  it('lists every fragment on a drive in order, skipping foreign names', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    const ids = ['ff-third-one', '00-first-one', 'a0-second-one', 'a0-second-two'];
    for (const id of ids) await writeFragment(store, id, [block(0)]);
    await writeFragment(store, 'zz-other-drive', [block(0)], 1);
    writeFileSync(join(d0, 'fragments', 'a0', 'NOT-AN-ID'), 'x');
    writeFileSync(join(d0, 'fragments', 'a0', 'ff-wrong-folder'), 'x');
    assert.deepEqual(await collect(store.list(0)), [...ids].sort());
    assert.deepEqual(await collect(store.list(1)), ['zz-other-drive']);
  });

  it('reports drive capacity', async () => {
    const store = await openStore(drivePaths());
    const stat = await store.stat(0);
    assert.ok(stat.totalBytes > 0 && stat.freeBytes >= 0 && stat.freeBytes <= stat.totalBytes);
  });
});

/** NodeDisk whose named operation fails once with DiskError 'io'. */
class FailingDisk extends NodeDisk {
  failing: 'writev' | 'read' | 'syncDirectory' | undefined;

  private take(operation: string): void {
    if (this.failing !== operation) return;
    this.failing = undefined;
    throw new DiskError('io', `injected ${operation} failure`);
  }

  override async open(path: string, mode: 'read' | 'create' | 'write'): Promise<DiskFile> {
    const file = await super.open(path, mode);
    return {
      read: async (...args) => {
        this.take('read');
        return file.read(...args);
      },
      write: (...args) => file.write(...args),
      writev: async (...args) => {
        this.take('writev');
        await file.writev(...args);
      },
      sync: () => file.sync(),
      sizeBytes: () => file.sizeBytes(),
      truncate: (size) => file.truncate(size),
      close: () => file.close(),
    };
  }

  override async syncDirectory(path: string): Promise<void> {
    this.take('syncDirectory');
    await super.syncDirectory(path);
  }
}

describe('FragmentStore: disk failures', () => {
  it('maps failed writes, directory syncs and reads to io, with the DiskError as cause', async () => {
    const [d0, d1] = drivePaths();
    const disk = new FailingDisk();
    const store = await openStore([d0, d1], disk);
    const writer = await store.createWriter(0, 'yz-failing', blockSizeBytes);
    disk.failing = 'writev';
    const error = await rejectsWith(writer.appendBlocks([block(0)]), 'io', /"yz-failing" on drive 0: writing blocks from 0: injected writev failure/);
    assert.ok(error.cause instanceof DiskError);
    await assert.rejects(writer.appendBlocks([block(0)]), AssertionError);
    await writer.abort();
    assert.deepEqual(readdirSync(join(d0, 'tmp')), []);

    const finishing = await store.createWriter(0, 'yz-failing', blockSizeBytes);
    await finishing.appendBlocks([block(0)]);
    disk.failing = 'syncDirectory';
    await rejectsWith(finishing.finish(), 'io', /finishing: injected syncDirectory failure/);
    await finishing.abort();

    disk.failing = 'read';
    await rejectsWith(store.readBlocks(0, 'yz-failing', 0, 1), 'io', /injected read failure/);
    assert.deepEqual(await store.readBlocks(0, 'yz-failing', 0, 1), [block(0)]);
  });
});
