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
/** Stores that may hold cached handles: closed at the end, not left to the garbage collector. */
const openedStores: FragmentStore[] = [];

before(() => {
  root = mkdtempSync(join(tmpdir(), 'tessera-blob-'));
});
after(async () => {
  for (const store of openedStores) await store.close();
  rmSync(root, { recursive: true, force: true });
});

function drivePaths(): [string, string] {
  const base = join(root, `case-${nextRoot++}`);
  return [join(base, 'd0'), join(base, 'd1')];
}

async function openStore(paths: readonly string[], disk: Disk = new NodeDisk()): Promise<FragmentStore> {
  const store = new FragmentStore({ disk, drives: paths.map((path, id) => ({ id, path })) });
  openedStores.push(store);
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

  it('lists from a cursor: only ids after it, skipping earlier prefix folders', async () => {
    const store = await openStore(drivePaths());
    const ids = ['00-first-one', 'a0-second-one', 'a0-second-two', 'ff-third-one'];
    for (const id of ids) await writeFragment(store, id, [block(0)]);
    assert.deepEqual(await collect(store.list(0, 'a0-second-one')), ['a0-second-two', 'ff-third-one']);
    assert.deepEqual(await collect(store.list(0, 'a0')), ['a0-second-one', 'a0-second-two', 'ff-third-one']);
    assert.deepEqual(await collect(store.list(0, 'b')), ['ff-third-one']);
    assert.deepEqual(await collect(store.list(0, 'ff-third-one')), []);
    assert.deepEqual(await collect(store.list(0, '')), ids);
  });

  it('stats a fragment (block size, count, data bytes) or answers undefined when it is not there', async () => {
    const [d0, d1] = drivePaths();
    const store = await openStore([d0, d1]);
    const writtenMs = Date.now();
    await writeFragment(store, 'st-three-blocks', [block(0), block(1), block(2, 5)]);
    const stat = await store.statFragment(0, 'st-three-blocks');
    assert.ok(stat !== undefined);
    const { modifiedMs, ...shape } = stat;
    assert.deepEqual(shape, {
      blockSizeBytes,
      blockCount: 3,
      dataBytes: 2 * blockSizeBytes + 5,
      fileSizeBytes: fragmentHeaderBytes + 2 * stride + 5 + 4,
    });
    // The file's mtime (whole ms; file systems may round to their own granularity).
    assert.ok(Number.isSafeInteger(modifiedMs) && modifiedMs >= writtenMs - 1000 && modifiedMs <= Date.now() + 1000, `modifiedMs ${modifiedMs}`);
    assert.equal(await store.statFragment(0, 'st-missing-one'), undefined);
    assert.equal(await store.statFragment(1, 'st-three-blocks'), undefined);
    flipByte(fragmentFile(d0, 'st-three-blocks'), 9);
    await store.close(); // drop the cached handle so the header is read again
    await rejectsWith(store.statFragment(0, 'st-three-blocks'), 'corrupt', /bad header/);
    assert.deepEqual(store.driveIds, [0, 1]);
    assert.equal(store.hasDrive(1), true);
    assert.equal(store.hasDrive(2), false);
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

/** NodeDisk that counts what reads cost, and can hold reads at a gate. */
class CountingDisk extends NodeDisk {
  opens = 0;
  closes = 0;
  sizes = 0;
  reads = 0;
  /** While set, every read waits for it first. */
  gate: Promise<void> | undefined;

  override async open(path: string, mode: 'read' | 'create' | 'write'): Promise<DiskFile> {
    const file = await super.open(path, mode);
    if (mode !== 'read') return file;
    this.opens++;
    return {
      read: async (...args) => {
        this.reads++;
        if (this.gate !== undefined) await this.gate;
        return file.read(...args);
      },
      write: (...args) => file.write(...args),
      writev: (...args) => file.writev(...args),
      sync: () => file.sync(),
      sizeBytes: () => {
        this.sizes++;
        return file.sizeBytes();
      },
      truncate: (size) => file.truncate(size),
      close: () => {
        this.closes++;
        return file.close();
      },
    };
  }
}

async function cachingStore(openFragmentsMax?: number): Promise<{ store: FragmentStore; disk: CountingDisk; d0: string }> {
  const [d0, d1] = drivePaths();
  const disk = new CountingDisk();
  const store = new FragmentStore({ disk, drives: [{ id: 0, path: d0 }, { id: 1, path: d1 }], ...(openFragmentsMax === undefined ? {} : { openFragmentsMax }) });
  openedStores.push(store);
  await store.init();
  return { store, disk, d0 };
}

describe('FragmentStore: open-handle cache', () => {
  it('opens, sizes and reads the header of a fragment once for many reads (one per window)', async () => {
    const { store, disk } = await cachingStore();
    const blocks = Array.from({ length: 8 }, (_, index) => block(index));
    await writeFragment(store, 'ca-windows', blocks);
    for (let first = 0; first < 8; first += 2) assert.deepEqual(await store.readBlocks(0, 'ca-windows', first, 2), blocks.slice(first, first + 2));
    assert.deepEqual({ opens: disk.opens, sizes: disk.sizes, reads: disk.reads, closes: disk.closes }, { opens: 1, sizes: 1, reads: 1 + 4, closes: 0 });
    assert.equal(store.openFragmentCount, 1);
    await store.close();
    assert.equal(disk.closes, 1);
    assert.equal(store.openFragmentCount, 0);
  });

  it('concurrent reads of an uncached fragment share one open', async () => {
    const { store, disk } = await cachingStore();
    await writeFragment(store, 'cb-concurrent', [block(0), block(1)]);
    const results = await Promise.all(Array.from({ length: 10 }, (_, index) => store.readBlocks(0, 'cb-concurrent', index % 2, 1)));
    results.forEach((result, index) => {
      assert.deepEqual(result, [block(index % 2)]);
    });
    assert.equal(disk.opens, 1);
    await store.close();
  });

  it('evicts the least recently used handle past openFragmentsMax, and closes it', async () => {
    const { store, disk } = await cachingStore(2);
    for (const id of ['cc-evict-a', 'cc-evict-b', 'cc-evict-c']) await writeFragment(store, id, [block(0)]);
    await store.readBlocks(0, 'cc-evict-a', 0, 1);
    await store.readBlocks(0, 'cc-evict-b', 0, 1);
    await store.readBlocks(0, 'cc-evict-a', 0, 1); // a is now the most recent
    assert.deepEqual({ opens: disk.opens, closes: disk.closes }, { opens: 2, closes: 0 });
    await store.readBlocks(0, 'cc-evict-c', 0, 1); // evicts b
    assert.deepEqual({ opens: disk.opens, closes: disk.closes }, { opens: 3, closes: 1 });
    assert.equal(store.openFragmentCount, 2);
    await store.readBlocks(0, 'cc-evict-a', 0, 1);
    assert.equal(disk.opens, 3, 'a stayed cached');
    await store.readBlocks(0, 'cc-evict-b', 0, 1);
    assert.deepEqual({ opens: disk.opens, closes: disk.closes }, { opens: 4, closes: 2 });
    await store.close();
    assert.equal(disk.closes, disk.opens);
  });

  it('openFragmentsMax 0 closes every handle after its read', async () => {
    const { store, disk } = await cachingStore(0);
    await writeFragment(store, 'cd-no-cache', [block(0)]);
    for (let round = 0; round < 3; round++) assert.deepEqual(await store.readBlocks(0, 'cd-no-cache', 0, 1), [block(0)]);
    assert.deepEqual({ opens: disk.opens, closes: disk.closes, cached: store.openFragmentCount }, { opens: 3, closes: 3, cached: 0 });
  });

  it('delete while cached: the handle is closed and later reads are not_found', async () => {
    const { store, disk } = await cachingStore();
    await writeFragment(store, 'ce-deleted', [block(0)]);
    await store.readBlocks(0, 'ce-deleted', 0, 1);
    assert.equal(await store.delete(0, 'ce-deleted'), true);
    assert.equal(disk.closes, 1);
    assert.equal(store.openFragmentCount, 0);
    await rejectsWith(store.readBlocks(0, 'ce-deleted', 0, 1), 'not_found');
    await store.close();
    assert.equal(disk.closes, disk.opens);
  });

  it('delete during a read: that read completes on its handle, which closes after it; later reads are not_found', async () => {
    const { store, disk } = await cachingStore();
    await writeFragment(store, 'cf-racing', [block(0), block(1)]);
    await store.readBlocks(0, 'cf-racing', 0, 1);
    let open: () => void = () => undefined;
    disk.gate = new Promise((resolve) => {
      open = resolve;
    });
    const reading = store.readBlocks(0, 'cf-racing', 1, 1);
    assert.equal(await store.delete(0, 'cf-racing'), true);
    assert.equal(disk.closes, 0, 'the read in progress still holds the handle');
    disk.gate = undefined;
    open();
    assert.deepEqual(await reading, [block(1)]);
    assert.equal(disk.closes, 1);
    await rejectsWith(store.readBlocks(0, 'cf-racing', 0, 1), 'not_found');
  });

  it('a fragment published again under the same id is read anew, not from the stale handle', async () => {
    const { store } = await cachingStore();
    await writeFragment(store, 'cg-republished', [block(0)]);
    assert.deepEqual(await store.readBlocks(0, 'cg-republished', 0, 1), [block(0)]);
    await writeFragment(store, 'cg-republished', [block(5), block(6)]);
    assert.deepEqual(await store.readBlocks(0, 'cg-republished', 0, 2), [block(5), block(6)]);
    await store.close();
  });

  it('a failed read drops the handle: the next read opens and checks the file again', async () => {
    const { store, disk, d0 } = await cachingStore();
    await writeFragment(store, 'ch-healed', [block(0), block(1)]);
    await store.readBlocks(0, 'ch-healed', 0, 1);
    flipByte(fragmentFile(d0, 'ch-healed'), fragmentHeaderBytes + stride + 3);
    await rejectsWith(store.readBlocks(0, 'ch-healed', 1, 1), 'corrupt', /block 1 checksum mismatch/);
    assert.deepEqual({ opens: disk.opens, closes: disk.closes }, { opens: 1, closes: 1 });
    flipByte(fragmentFile(d0, 'ch-healed'), fragmentHeaderBytes + stride + 3);
    assert.deepEqual(await store.readBlocks(0, 'ch-healed', 1, 1), [block(1)]);
    assert.equal(disk.opens, 2);
    await store.close();
  });

  it('a missing fragment is not cached: it is found once written', async () => {
    const { store } = await cachingStore();
    await rejectsWith(store.readBlocks(0, 'ci-later', 0, 1), 'not_found');
    assert.equal(store.openFragmentCount, 0);
    await writeFragment(store, 'ci-later', [block(2)]);
    assert.deepEqual(await store.readBlocks(0, 'ci-later', 0, 1), [block(2)]);
    await store.close();
  });
});
