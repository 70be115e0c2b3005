// NodeDisk tests: the real Disk on a temp directory. Checks open modes and
// their DiskError codes, positional reads and writes (writev across more
// buffers than one syscall takes), truncate, whole-file helpers, directory
// operations and that every platform error arrives as a DiskError with a cause.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiskError } from '../disk.js';
import type { DiskErrorCode, DiskFile } from '../disk.js';
import { NodeDisk } from './node-disk.js';

function isDiskError(code: DiskErrorCode, pathPart?: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof DiskError, `expected a DiskError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.cause !== undefined, 'a DiskError chains the platform error');
    if (pathPart !== undefined) assert.ok(error.message.includes(pathPart), `message names the path: ${error.message}`);
    return true;
  };
}

async function readAll(file: DiskFile): Promise<Buffer> {
  const size = await file.sizeBytes();
  const buffer = Buffer.alloc(size);
  let filled = 0;
  while (filled < size) {
    const read = await file.read(buffer, filled, size - filled, filled);
    if (read === 0) break;
    filled += read;
  }
  return buffer.subarray(0, filled);
}

describe('NodeDisk', () => {
  const disk = new NodeDisk();
  let root: string;
  let counter = 0;
  const fresh = (name: string): string => path.join(root, `${counter++}-${name}`);

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'tessera-disk-'));
  });

  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  describe('open modes', () => {
    it('create makes a new file and fails with "exists" when one is there', async () => {
      const filePath = fresh('create');
      const file = await disk.open(filePath, 'create');
      await file.write(Buffer.from('first'), 0);
      await file.close();
      await assert.rejects(disk.open(filePath, 'create'), isDiskError('exists', filePath));
      // The failed create did not touch the existing file.
      assert.deepEqual(Buffer.from(await disk.readFile(filePath)), Buffer.from('first'));
    });

    it('read of a missing file fails with "not_found"', async () => {
      await assert.rejects(disk.open(fresh('missing'), 'read'), isDiskError('not_found', 'missing'));
    });

    it('create in a missing directory fails with "not_found"', async () => {
      await assert.rejects(disk.open(path.join(fresh('no-dir'), 'file'), 'create'), isDiskError('not_found'));
    });

    it('write creates a missing file and does not truncate an existing one', async () => {
      const filePath = fresh('write');
      const created = await disk.open(filePath, 'write');
      await created.write(Buffer.from('0123456789'), 0);
      await created.close();
      const reopened = await disk.open(filePath, 'write');
      assert.equal(await reopened.sizeBytes(), 10);
      await reopened.write(Buffer.from('ab'), 4);
      assert.deepEqual(await readAll(reopened), Buffer.from('0123ab6789'));
      await reopened.close();
    });

    it('read mode opens an existing file read only', async () => {
      const filePath = fresh('read-only');
      await fs.writeFile(filePath, 'content');
      const file = await disk.open(filePath, 'read');
      assert.deepEqual(await readAll(file), Buffer.from('content'));
      await assert.rejects(file.write(Buffer.from('x'), 0), isDiskError('io', filePath));
      await file.close();
      assert.equal(await fs.readFile(filePath, 'utf8'), 'content');
    });

    it('a closed file fails with "io"', async () => {
      const file = await disk.open(fresh('closed'), 'create');
      await file.close();
      await assert.rejects(file.read(Buffer.alloc(1), 0, 1, 0), isDiskError('io'));
      await assert.rejects(file.write(Buffer.from('x'), 0), isDiskError('io'));
    });
  });

  describe('file I/O', () => {
    it('reads at positions, short at the end of file, 0 past it', async () => {
      const filePath = fresh('positions');
      const file = await disk.open(filePath, 'create');
      await file.write(Buffer.from('abcdefghij'), 0);
      const buffer = Buffer.alloc(8, 0x2e);
      assert.equal(await file.read(buffer, 2, 3, 4), 3);
      assert.equal(buffer.toString(), '..efg...');
      assert.equal(await file.read(buffer, 0, 8, 7), 3);
      assert.equal(buffer.subarray(0, 3).toString(), 'hij');
      assert.equal(await file.read(buffer, 0, 8, 10), 0);
      assert.equal(await file.read(buffer, 0, 8, 1000), 0);
      await file.close();
    });

    it('writes past the end leave a zero-filled hole', async () => {
      const file = await disk.open(fresh('hole'), 'create');
      await file.write(Buffer.from('xy'), 5);
      assert.equal(await file.sizeBytes(), 7);
      assert.deepEqual(await readAll(file), Buffer.from([0, 0, 0, 0, 0, 0x78, 0x79]));
      await file.close();
    });

    it('writev writes thousands of buffers back to back, skipping empty ones', async () => {
      const filePath = fresh('writev');
      const file = await disk.open(filePath, 'create');
      const backing = Buffer.alloc(64 * 1024);
      for (let i = 0; i < backing.length; i++) backing[i] = (i * 31 + 7) & 0xff;
      // More buffers than IOV_MAX (1024 on Linux), of varied sizes, some empty,
      // some views at odd offsets into a shared backing buffer.
      const chunks: Uint8Array[] = [];
      let offset = 0;
      for (let i = 0; i < 3000; i++) {
        const length = i % 7 === 0 ? 0 : (i * 13) % 41;
        const start = offset % (backing.length - 64);
        chunks.push(new Uint8Array(backing.buffer, backing.byteOffset + start, length));
        offset += 17;
      }
      const expected = Buffer.concat(chunks);
      await file.writev(chunks, 3);
      await file.sync();
      assert.equal(await file.sizeBytes(), 3 + expected.length);
      const written = await readAll(file);
      assert.deepEqual(written.subarray(3), expected);
      await file.close();
      assert.deepEqual(Buffer.from(await disk.readFile(filePath)).subarray(3), expected);
    });

    it('writev over the middle of a file replaces just that range', async () => {
      const file = await disk.open(fresh('writev-middle'), 'create');
      await file.write(Buffer.from('..........'), 0);
      await file.writev([Buffer.from('ab'), new Uint8Array(0), Buffer.from('cd')], 3);
      assert.deepEqual(await readAll(file), Buffer.from('...abcd...'));
      await file.writev([], 0);
      await file.writev([new Uint8Array(0)], 0);
      assert.deepEqual(await readAll(file), Buffer.from('...abcd...'));
      await file.close();
    });

    it('writev of one large buffer writes it whole', async () => {
      const file = await disk.open(fresh('large'), 'create');
      const large = Buffer.alloc(8 * 1024 * 1024 + 3, 0x5a);
      large[large.length - 1] = 0x01;
      await file.writev([large], 0);
      assert.equal(await file.sizeBytes(), large.length);
      assert.deepEqual(await readAll(file), large);
      await file.close();
    });

    it('truncate shrinks and extends with zeros', async () => {
      const file = await disk.open(fresh('truncate'), 'create');
      await file.write(Buffer.from('abcdefgh'), 0);
      await file.truncate(3);
      assert.equal(await file.sizeBytes(), 3);
      assert.deepEqual(await readAll(file), Buffer.from('abc'));
      await file.truncate(5);
      assert.deepEqual(await readAll(file), Buffer.from([0x61, 0x62, 0x63, 0, 0]));
      await file.truncate(0);
      assert.equal(await file.sizeBytes(), 0);
      await file.sync();
      await file.close();
    });
  });

  describe('whole files and directories', () => {
    it('readFile returns the content; a missing file is "not_found"', async () => {
      const filePath = fresh('read-file');
      await fs.writeFile(filePath, Buffer.from([1, 2, 3]));
      assert.deepEqual(Buffer.from(await disk.readFile(filePath)), Buffer.from([1, 2, 3]));
      await assert.rejects(disk.readFile(fresh('absent')), isDiskError('not_found', 'absent'));
    });

    it('writeFileAtomic creates, replaces and leaves no temp file behind', async () => {
      const directory = fresh('atomic');
      await disk.mkdirp(directory);
      const filePath = path.join(directory, 'config.json');
      await disk.writeFileAtomic(filePath, Buffer.from('{"v":1}'));
      assert.equal(await fs.readFile(filePath, 'utf8'), '{"v":1}');
      await disk.writeFileAtomic(filePath, Buffer.from('{"v":2,"longer":true}'));
      assert.equal(await fs.readFile(filePath, 'utf8'), '{"v":2,"longer":true}');
      await disk.writeFileAtomic(filePath, new Uint8Array(0));
      assert.equal((await fs.readFile(filePath)).length, 0);
      assert.deepEqual(await disk.readdir(directory), ['config.json']);
    });

    it('writeFileAtomic into a missing directory fails with "not_found"', async () => {
      await assert.rejects(disk.writeFileAtomic(path.join(fresh('nowhere'), 'f'), Buffer.from('x')), isDiskError('not_found'));
    });

    it('rename moves a file, replaces the target, and fails on a missing source', async () => {
      const from = fresh('from');
      const to = fresh('to');
      await fs.writeFile(from, 'moved');
      await fs.writeFile(to, 'old target');
      await disk.rename(from, to);
      assert.equal(await disk.stat(from), undefined);
      assert.equal(await fs.readFile(to, 'utf8'), 'moved');
      await assert.rejects(disk.rename(from, fresh('elsewhere')), isDiskError('not_found', from));
    });

    it('unlink removes a file; a missing file is "not_found"', async () => {
      const filePath = fresh('unlink');
      await fs.writeFile(filePath, 'x');
      await disk.unlink(filePath);
      assert.equal(await disk.stat(filePath), undefined);
      await assert.rejects(disk.unlink(filePath), isDiskError('not_found', filePath));
    });

    it('mkdirp makes nested directories and is idempotent', async () => {
      const nested = path.join(fresh('mkdirp'), 'a', 'b', 'c');
      await disk.mkdirp(nested);
      await disk.mkdirp(nested);
      const stat = await disk.stat(nested);
      assert.equal(stat?.isDirectory, true);
    });

    it('readdir lists names only; a missing directory is "not_found"', async () => {
      const directory = fresh('readdir');
      await disk.mkdirp(path.join(directory, 'sub'));
      await fs.writeFile(path.join(directory, 'b.txt'), 'b');
      await fs.writeFile(path.join(directory, 'a.txt'), 'a');
      assert.deepEqual((await disk.readdir(directory)).sort(), ['a.txt', 'b.txt', 'sub']);
      assert.deepEqual(await disk.readdir(path.join(directory, 'sub')), []);
      await assert.rejects(disk.readdir(path.join(directory, 'none')), isDiskError('not_found'));
    });

    it('stat reports size and kind, and undefined when nothing is there', async () => {
      const filePath = fresh('stat');
      await fs.writeFile(filePath, 'twelve bytes');
      const stat = await disk.stat(filePath);
      assert.ok(stat !== undefined);
      assert.equal(stat.sizeBytes, 12);
      assert.equal(stat.isDirectory, false);
      assert.ok(stat.mtimeMs > 0);
      assert.equal((await disk.stat(root))?.isDirectory, true);
      assert.equal(await disk.stat(fresh('nothing')), undefined);
      assert.equal(await disk.stat(path.join(fresh('no-parent'), 'child')), undefined);
    });

    it('stat through a file used as a directory is an error, not undefined', async () => {
      const filePath = fresh('not-a-dir');
      await fs.writeFile(filePath, 'x');
      await assert.rejects(disk.stat(path.join(filePath, 'child')), isDiskError('io'));
    });

    it('syncDirectory succeeds on a directory; a missing one is "not_found"', async () => {
      const directory = fresh('sync-dir');
      await disk.mkdirp(directory);
      const file = await disk.open(path.join(directory, 'f'), 'create');
      await file.write(Buffer.from('x'), 0);
      await file.sync();
      await file.close();
      await disk.syncDirectory(directory);
      await assert.rejects(disk.syncDirectory(fresh('gone')), isDiskError('not_found'));
    });

    it('capacity reports free and total bytes of the filesystem', async () => {
      const capacity = await disk.capacity(root);
      assert.ok(Number.isSafeInteger(capacity.totalBytes) && capacity.totalBytes > 0);
      assert.ok(Number.isSafeInteger(capacity.freeBytes) && capacity.freeBytes >= 0);
      assert.ok(capacity.freeBytes <= capacity.totalBytes);
      await assert.rejects(disk.capacity(fresh('no-capacity')), isDiskError('not_found'));
    });
  });
});
