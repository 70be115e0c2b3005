// The real Disk: node:fs/promises with fdatasync and directory fsync. Maps
// platform errors to DiskError codes so core code never sees errno strings.

import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { DiskError } from '../disk.js';
import type { Disk, DiskFile, DiskStat, OpenMode } from '../disk.js';

function toDiskError(error: unknown, what: string): DiskError {
  const code = (error as { code?: string }).code;
  const mapped =
    code === 'ENOENT'
      ? 'not_found'
      : code === 'EEXIST'
        ? 'exists'
        : code === 'ENOTEMPTY'
          ? 'not_empty'
          : 'io';
  return new DiskError(mapped, `${what}: ${(error as Error).message}`, { cause: error });
}

async function wrap<T>(what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toDiskError(error, what);
  }
}

const openFlags: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
  write: constants.O_RDWR | constants.O_CREAT,
};

class NodeDiskFile implements DiskFile {
  constructor(
    private readonly handle: fs.FileHandle,
    private readonly filePath: string,
  ) {}

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return wrap(`read ${this.filePath}`, async () => {
      const result = await this.handle.read(buffer, offset, length, position);
      return result.bytesRead;
    });
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.writev([data], position);
  }

  writev(data: readonly Uint8Array[], position: number): Promise<void> {
    return wrap(`write ${this.filePath}`, async () => {
      let pending = data.filter((chunk) => chunk.length > 0);
      let at = position;
      while (pending.length > 0) {
        const { bytesWritten } = await this.handle.writev(pending, at);
        at += bytesWritten;
        pending = skipBytes(pending, bytesWritten);
      }
    });
  }

  sync(): Promise<void> {
    return wrap(`sync ${this.filePath}`, () => this.handle.datasync());
  }

  sizeBytes(): Promise<number> {
    return wrap(`stat ${this.filePath}`, async () => (await this.handle.stat()).size);
  }

  truncate(sizeBytes: number): Promise<void> {
    return wrap(`truncate ${this.filePath}`, () => this.handle.truncate(sizeBytes));
  }

  close(): Promise<void> {
    return wrap(`close ${this.filePath}`, () => this.handle.close());
  }
}

function skipBytes(chunks: readonly Uint8Array[], count: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = count;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}

export class NodeDisk implements Disk {
  private tempCounter = 0;

  open(filePath: string, mode: OpenMode): Promise<DiskFile> {
    return wrap(`open ${filePath}`, async () => {
      const handle = await fs.open(filePath, openFlags[mode], 0o644);
      return new NodeDiskFile(handle, filePath);
    });
  }

  readFile(filePath: string): Promise<Uint8Array> {
    return wrap(`readFile ${filePath}`, () => fs.readFile(filePath));
  }

  async writeFileAtomic(filePath: string, data: Uint8Array): Promise<void> {
    const temp = `${filePath}.tmp-${process.pid}-${this.tempCounter++}`;
    const file = await this.open(temp, 'create');
    try {
      await file.write(data, 0);
      await file.sync();
    } finally {
      await file.close();
    }
    await this.rename(temp, filePath);
    await this.syncDirectory(path.dirname(filePath));
  }

  rename(fromPath: string, toPath: string): Promise<void> {
    return wrap(`rename ${fromPath}`, () => fs.rename(fromPath, toPath));
  }

  unlink(filePath: string): Promise<void> {
    return wrap(`unlink ${filePath}`, () => fs.unlink(filePath));
  }

  mkdirp(dirPath: string): Promise<void> {
    return wrap(`mkdir ${dirPath}`, async () => {
      await fs.mkdir(dirPath, { recursive: true });
    });
  }

  readdir(dirPath: string): Promise<string[]> {
    return wrap(`readdir ${dirPath}`, () => fs.readdir(dirPath));
  }

  async stat(filePath: string): Promise<DiskStat | undefined> {
    try {
      const stats = await fs.stat(filePath);
      return { sizeBytes: stats.size, mtimeMs: stats.mtimeMs, isDirectory: stats.isDirectory() };
    } catch (error) {
      const mapped = toDiskError(error, `stat ${filePath}`);
      if (mapped.code === 'not_found') return undefined;
      throw mapped;
    }
  }

  syncDirectory(dirPath: string): Promise<void> {
    return wrap(`fsync dir ${dirPath}`, async () => {
      const handle = await fs.open(dirPath, constants.O_RDONLY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  capacity(dirPath: string): Promise<{ freeBytes: number; totalBytes: number }> {
    return wrap(`statfs ${dirPath}`, async () => {
      const stats = await fs.statfs(dirPath);
      return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
    });
  }
}
