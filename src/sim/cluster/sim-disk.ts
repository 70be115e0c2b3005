// The Disk seam for the cluster simulation: an in-memory file tree in which,
// as on a real filesystem, nothing is durable until it is synced. A file's
// bytes become durable at `sync()`; a name (a create, rename, unlink or
// mkdir in a directory) at `syncDirectory()` of that directory. `crash()`
// puts the tree back to what was durable (optionally keeping a seeded prefix
// of a file's unsynced tail: a torn write) — what a blob node finds when it
// restarts. Every operation completes as an event on the simulation's queue
// after a seeded latency, applied at completion; the operations of a life
// that has crashed never complete.

import posix from 'node:path/posix';
import { DiskError } from '../../io/disk.js';
import type { Disk, DiskFile, DiskStat, OpenMode } from '../../io/disk.js';
import { assert } from '../../stdx/assert.js';
import type { EventQueue } from '../event-queue.js';
import type { Prng } from '../prng.js';
import type { Incarnation } from './incarnation.js';

interface FileNode {
  readonly kind: 'file';
  /** Bytes as the node sees them; capacity may exceed `sizeBytes`. */
  data: Uint8Array;
  sizeBytes: number;
  /** The bytes a crash keeps. */
  durable: Uint8Array;
  /** Written or truncated since the last sync. */
  dirty: boolean;
  /** Wall-clock time of the last write or truncate (stat's mtime). */
  mtimeMs: number;
}

interface DirectoryNode {
  readonly kind: 'directory';
  readonly entries: Map<string, TreeNode>;
  /** The names a crash keeps. */
  durable: Map<string, TreeNode>;
}

type TreeNode = FileNode | DirectoryNode;

export interface SimDiskOptions {
  /** Each operation takes 0…this many ms. */
  readonly latencyMsMax: number;
  readonly capacityBytes: number;
  /** The wall clock's origin (a file's mtime is this plus simulated time); 0 unless given. */
  readonly epochMs?: number;
}

/** Entries in one directory (a leak of temp files shows up as an assertion). */
const directoryEntriesMax = 100_000;

function directory(): DirectoryNode {
  return { kind: 'directory', entries: new Map(), durable: new Map() };
}

export class SimDisk {
  private readonly root = directory();
  /** Operations completed, for the report. */
  operations = 0;
  /** Files a crash kept with a torn tail. */
  tornWrites = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly prng: Prng,
    private readonly options: SimDiskOptions,
  ) {}

  /** The Disk one life of the node uses. */
  view(life: Incarnation): Disk {
    return new SimDiskView(this, life);
  }

  /** Creates `path` and every folder above it durably (the machine's set-up, before any life). */
  makeDurableDirectory(path: string): void {
    let current = this.root;
    for (const name of components(path)) {
      let next = current.entries.get(name);
      if (next === undefined) {
        next = directory();
        current.entries.set(name, next);
      }
      assert(next.kind === 'directory', `"${path}": "${name}" is a file`);
      current.durable.set(name, next);
      current = next;
    }
  }

  /**
   * Power loss: names and bytes go back to what was synced. A file with an
   * unsynced tail keeps a seeded part of it with `tornWriteProbability`.
   */
  crash(tornWriteProbability: number): void {
    const seen = new Set<TreeNode>();
    const restore = (node: DirectoryNode): void => {
      node.entries.clear();
      for (const [name, child] of node.durable) node.entries.set(name, child);
      for (const child of node.entries.values()) {
        if (seen.has(child)) continue;
        seen.add(child);
        if (child.kind === 'directory') restore(child);
        else this.restoreFile(child, tornWriteProbability);
      }
    };
    restore(this.root);
  }

  private restoreFile(file: FileNode, tornWriteProbability: number): void {
    if (!file.dirty) return;
    const durable = file.durable;
    let keep = durable.length;
    const grew = file.sizeBytes > durable.length && equalPrefix(file.data, durable);
    if (grew && this.prng.chance(tornWriteProbability)) {
      keep = this.prng.between(durable.length, file.sizeBytes);
      this.tornWrites++;
    }
    const data = new Uint8Array(Math.max(keep, 16));
    data.set(durable.subarray(0, Math.min(durable.length, keep)));
    if (keep > durable.length) data.set(file.data.subarray(durable.length, keep), durable.length);
    file.data = data;
    file.sizeBytes = keep;
    file.durable = data.slice(0, keep);
    file.dirty = false;
  }

  /** Runs `body` as one operation of `life`, after a seeded latency; never completes once the life ended. */
  run<T>(life: Incarnation, body: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.schedule(this.prng.between(0, this.options.latencyMsMax), () => {
        if (!life.alive) return;
        this.operations++;
        try {
          resolve(body());
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  get capacityBytes(): number {
    return this.options.capacityBytes;
  }

  /** The node at `path`, or undefined. */
  lookup(path: string): TreeNode | undefined {
    let current: TreeNode = this.root;
    for (const name of components(path)) {
      if (current.kind !== 'directory') return undefined;
      const next = current.entries.get(name);
      if (next === undefined) return undefined;
      current = next;
    }
    return current;
  }

  /** The directory holding `path` and the last name of it; not_found when the folder is missing. */
  parentOf(path: string, what: string): { folder: DirectoryNode; name: string } {
    const folderPath = posix.dirname(posix.normalize(path));
    const folder = this.lookup(folderPath);
    if (folder === undefined) throw new DiskError('not_found', `${what}: no folder "${folderPath}"`);
    if (folder.kind !== 'directory') throw new DiskError('io', `${what}: "${folderPath}" is not a folder`);
    const name = posix.basename(path);
    assert(name.length > 0 && name !== '.' && name !== '..', `${what}: bad name "${path}"`);
    return { folder, name };
  }

  newFile(): FileNode {
    return { kind: 'file', data: new Uint8Array(256), sizeBytes: 0, durable: new Uint8Array(0), dirty: false, mtimeMs: this.wallMs() };
  }

  /** Now on the wall clock the nodes' SimClocks show. */
  wallMs(): number {
    return (this.options.epochMs ?? 0) + this.queue.nowMs;
  }

  newDirectory(): DirectoryNode {
    return directory();
  }

  /** Names of every file under `path` (recursively), for checkers that walk a drive. */
  filesUnder(path: string): string[] {
    const start = this.lookup(path);
    if (start === undefined || start.kind !== 'directory') return [];
    const found: string[] = [];
    const walk = (node: DirectoryNode, at: string): void => {
      for (const [name, child] of [...node.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (child.kind === 'directory') walk(child, posix.join(at, name));
        else found.push(posix.join(at, name));
      }
    };
    walk(start, posix.normalize(path));
    return found;
  }
}

function components(path: string): string[] {
  assert(posix.isAbsolute(path), `sim disk path "${path}" is not absolute`);
  return posix
    .normalize(path)
    .split('/')
    .filter((name) => name.length > 0);
}

function equalPrefix(data: Uint8Array, prefix: Uint8Array): boolean {
  for (let index = 0; index < prefix.length; index++) if (data[index] !== prefix[index]) return false;
  return true;
}

function addEntry(folder: DirectoryNode, name: string, node: TreeNode, what: string): void {
  folder.entries.set(name, node);
  assert(folder.entries.size <= directoryEntriesMax, `${what}: more than ${directoryEntriesMax} entries in one folder`);
}

/** One life's Disk over a SimDisk. */
class SimDiskView implements Disk {
  private temporarySequence = 0;

  constructor(
    private readonly disk: SimDisk,
    private readonly life: Incarnation,
  ) {}

  open(path: string, mode: OpenMode): Promise<DiskFile> {
    return this.disk.run(this.life, () => {
      const what = `open ${path}`;
      const { folder, name } = this.disk.parentOf(path, what);
      let node = folder.entries.get(name);
      if (node !== undefined && mode === 'create') throw new DiskError('exists', `${what}: exists`);
      if (node === undefined) {
        if (mode === 'read') throw new DiskError('not_found', `${what}: no such file`);
        node = this.disk.newFile();
        addEntry(folder, name, node, what);
      }
      if (node.kind !== 'file') throw new DiskError('io', `${what}: is a folder`);
      return new SimDiskFile(this.disk, this.life, node, path, mode === 'read');
    });
  }

  async readFile(path: string): Promise<Uint8Array> {
    const file = await this.open(path, 'read');
    try {
      const size = await file.sizeBytes();
      const data = new Uint8Array(size);
      await file.read(data, 0, size, 0);
      return data;
    } finally {
      await file.close();
    }
  }

  async writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
    const temporary = `${path}.tmp-${this.temporarySequence++}`;
    const file = await this.open(temporary, 'create');
    try {
      await file.write(data, 0);
      await file.sync();
    } finally {
      await file.close();
    }
    await this.rename(temporary, path);
    await this.syncDirectory(posix.dirname(path));
  }

  rename(fromPath: string, toPath: string): Promise<void> {
    return this.disk.run(this.life, () => {
      const what = `rename ${fromPath} → ${toPath}`;
      const from = this.disk.parentOf(fromPath, what);
      const node = from.folder.entries.get(from.name);
      if (node === undefined) throw new DiskError('not_found', `${what}: no such file`);
      const to = this.disk.parentOf(toPath, what);
      const existing = to.folder.entries.get(to.name);
      if (existing?.kind === 'directory' && existing.entries.size > 0) throw new DiskError('not_empty', `${what}: target folder not empty`);
      from.folder.entries.delete(from.name);
      addEntry(to.folder, to.name, node, what);
    });
  }

  unlink(path: string): Promise<void> {
    return this.disk.run(this.life, () => {
      const what = `unlink ${path}`;
      const { folder, name } = this.disk.parentOf(path, what);
      const node = folder.entries.get(name);
      if (node === undefined) throw new DiskError('not_found', `${what}: no such file`);
      if (node.kind === 'directory') throw new DiskError('io', `${what}: is a folder`);
      folder.entries.delete(name);
    });
  }

  mkdirp(path: string): Promise<void> {
    return this.disk.run(this.life, () => {
      let current = this.disk.lookup('/');
      assert(current?.kind === 'directory', 'the root is a folder');
      for (const name of components(path)) {
        let next: TreeNode | undefined = current.entries.get(name);
        if (next === undefined) {
          next = this.disk.newDirectory();
          addEntry(current, name, next, `mkdir ${path}`);
        }
        if (next.kind !== 'directory') throw new DiskError('exists', `mkdir ${path}: "${name}" is a file`);
        current = next;
      }
    });
  }

  readdir(path: string): Promise<string[]> {
    return this.disk.run(this.life, () => {
      const node = this.disk.lookup(path);
      if (node === undefined) throw new DiskError('not_found', `readdir ${path}: no such folder`);
      if (node.kind !== 'directory') throw new DiskError('io', `readdir ${path}: not a folder`);
      return [...node.entries.keys()];
    });
  }

  stat(path: string): Promise<DiskStat | undefined> {
    return this.disk.run(this.life, () => {
      const node = this.disk.lookup(path);
      if (node === undefined) return undefined;
      return { sizeBytes: node.kind === 'file' ? node.sizeBytes : 0, mtimeMs: node.kind === 'file' ? node.mtimeMs : 0, isDirectory: node.kind === 'directory' };
    });
  }

  syncDirectory(path: string): Promise<void> {
    return this.disk.run(this.life, () => {
      const node = this.disk.lookup(path);
      if (node === undefined) throw new DiskError('not_found', `fsync dir ${path}: no such folder`);
      if (node.kind !== 'directory') throw new DiskError('io', `fsync dir ${path}: not a folder`);
      node.durable = new Map(node.entries);
    });
  }

  capacity(path: string): Promise<{ freeBytes: number; totalBytes: number }> {
    return this.disk.run(this.life, () => {
      if (this.disk.lookup(path) === undefined) throw new DiskError('not_found', `statfs ${path}: no such folder`);
      return { freeBytes: this.disk.capacityBytes, totalBytes: this.disk.capacityBytes };
    });
  }
}

class SimDiskFile implements DiskFile {
  private closed = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly life: Incarnation,
    private readonly node: FileNode,
    private readonly path: string,
    private readonly readOnly: boolean,
  ) {}

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.operation('read', () => {
      const available = Math.max(0, Math.min(length, this.node.sizeBytes - position));
      buffer.set(this.node.data.subarray(position, position + available), offset);
      return available;
    });
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.writev([data], position);
  }

  writev(data: readonly Uint8Array[], position: number): Promise<void> {
    // Copied now: the caller may reuse its buffers once the promise settles, not before, but a copy costs little here.
    const chunks = data.map((chunk) => Uint8Array.from(chunk));
    return this.operation('write', () => {
      if (this.readOnly) throw new DiskError('io', `write ${this.path}: opened read only`);
      let at = position;
      for (const chunk of chunks) {
        this.ensureCapacity(at + chunk.length);
        this.node.data.set(chunk, at);
        at += chunk.length;
      }
      this.node.sizeBytes = Math.max(this.node.sizeBytes, at);
      this.node.dirty = true;
      this.node.mtimeMs = this.disk.wallMs();
    });
  }

  sync(): Promise<void> {
    return this.operation('sync', () => {
      this.node.durable = this.node.data.slice(0, this.node.sizeBytes);
      this.node.dirty = false;
    });
  }

  sizeBytes(): Promise<number> {
    return this.operation('stat', () => this.node.sizeBytes);
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.operation('truncate', () => {
      this.ensureCapacity(sizeBytes);
      this.node.data.fill(0, Math.min(sizeBytes, this.node.sizeBytes), Math.max(sizeBytes, this.node.sizeBytes));
      this.node.sizeBytes = sizeBytes;
      this.node.dirty = true;
      this.node.mtimeMs = this.disk.wallMs();
    });
  }

  close(): Promise<void> {
    return this.operation('close', () => {
      this.closed = true;
    });
  }

  private operation<T>(what: string, body: () => T): Promise<T> {
    return this.disk.run(this.life, () => {
      if (this.closed) throw new DiskError('io', `${what} ${this.path}: file is closed`);
      return body();
    });
  }

  private ensureCapacity(sizeBytes: number): void {
    if (sizeBytes <= this.node.data.length) return;
    const grown = new Uint8Array(Math.max(sizeBytes, this.node.data.length * 2));
    grown.set(this.node.data);
    this.node.data = grown;
  }
}
