// FragmentStore: the fragments of one blob node on its local drive folders,
// written only against the Disk seam so the simulator can run it and lose
// whatever was not synced. Layout on each drive:
//   <drive>/fragments/<first 2 chars of id>/<id>   published fragments
//   <drive>/tmp/<id>.<n>.tmp                       writers in progress
// Fragments appear by rename only (see FragmentWriter), so a reader never
// sees half a fragment; every read checks the header and each block's CRC32C
// and throws rather than return bad bytes.
//
// Reads go through a bounded LRU cache of open fragments (file handle, decoded
// header, block count, size), so a GET, which reads each shard in windows of 4
// stripes, pays open + fstat + header read + close once per fragment instead
// of once per window. Fragments never change once published, so a cached
// handle stays right until the fragment is deleted or published again under
// the same id: delete() and a writer's finish() drop the entry. A read that
// fails drops it too, so the next read re-opens and re-checks from scratch.
// An evicted handle is closed once the reads using it are done.

import posix from 'node:path/posix';
import { DiskError } from '../io/disk.js';
import type { Disk, DiskFile, DiskStat } from '../io/disk.js';
import { silentLogger } from '../io/logger.js';
import type { Logger } from '../io/logger.js';
import { assert } from '../stdx/assert.js';
import { FragmentError, throwAsFragmentError } from './fragment-error.js';
import {
  blockChecksumBytes,
  blockOffsetBytes,
  blockStrideBytes,
  decodeHeader,
  fragmentFormatVersion,
  fragmentHeaderBytes,
  fragmentLayout,
  isFragmentId,
  isValidBlockSize,
  verifyBlock,
} from './fragment-format.js';
import type { FragmentHeader } from './fragment-format.js';
import { FragmentWriter } from './fragment-writer.js';

/** Most writers open at once in one store (each holds a file and a temp name). */
export const fragmentWritersMax = 4096;
/** Largest span one readBlocks call may read (one buffer); above one max block. */
export const readSpanBytesMax = 64 * 1024 * 1024;
/** Open fragments kept between reads by default; each holds one file descriptor. */
export const openFragmentsMaxDefault = 256;
const openFragmentsLimit = 65536;
/** Prefix folders per drive: two characters of [0-9a-z-]. */
const prefixFoldersMax = 37 * 37;
/** Temp names tried before giving up (only collides with unswept debris). */
const temporaryNameAttemptsMax = 16;

export interface DriveFolder {
  readonly id: number;
  readonly path: string;
}

export interface FragmentStoreOptions {
  readonly disk: Disk;
  readonly drives: readonly DriveFolder[];
  readonly logger?: Logger;
  /** Open fragments kept between reads (LRU); 0 closes each after its read. Default openFragmentsMaxDefault. */
  readonly openFragmentsMax?: number;
}

export interface DriveStat {
  readonly freeBytes: number;
  readonly totalBytes: number;
}

/** A published fragment's shape, from its verified header and its file size. */
export interface FragmentStat {
  readonly blockSizeBytes: number;
  readonly blockCount: number;
  /** Data bytes (blocks without their checksums or the header). */
  readonly dataBytes: number;
  readonly fileSizeBytes: number;
  /** When the file was last written (published), in whole ms of the node's clock: the cluster orphan sweep's age check. */
  readonly modifiedMs: number;
}

interface Drive {
  readonly id: number;
  readonly path: string;
  readonly fragmentsPath: string;
  readonly temporaryPath: string;
  /** Prefix folders known to exist durably (created and parent synced). */
  readonly durablePrefixes: Set<string>;
}

/** An open fragment with its verified header and layout: what the handle cache holds. */
interface OpenFragment {
  readonly file: DiskFile;
  readonly label: string;
  readonly header: FragmentHeader;
  readonly blockCount: number;
  readonly fileSizeBytes: number;
}

/** One entry of the handle cache: a fragment being opened or open, and the reads using it. */
interface CachedFragment {
  readonly key: string;
  readonly opening: Promise<OpenFragment>;
  /** Set once `opening` has resolved. */
  fragment: OpenFragment | undefined;
  /** Reads holding the entry; an evicted entry is closed when this drops to 0. */
  users: number;
  /** Out of the cache (LRU, delete, publish, failed read): no new read may take it. */
  evicted: boolean;
}

export class FragmentStore {
  private readonly disk: Disk;
  private readonly logger: Logger;
  private readonly drives = new Map<number, Drive>();
  /** Temp files of live writers, which a sweep must not remove. */
  private readonly liveTemporaryPaths = new Set<string>();
  private temporarySequence = 0;
  private readonly openFragmentsMax: number;
  /** `<drive id>/<fragment id>` → entry, least recently used first (Map order). */
  private readonly openFragments = new Map<string, CachedFragment>();
  /** Closes of evicted handles still running; close() waits for them. */
  private readonly pendingCloses = new Set<Promise<void>>();

  constructor(options: FragmentStoreOptions) {
    assert(options.drives.length >= 1, 'FragmentStore needs at least one drive');
    this.disk = options.disk;
    this.logger = options.logger ?? silentLogger;
    this.openFragmentsMax = options.openFragmentsMax ?? openFragmentsMaxDefault;
    assert(
      Number.isSafeInteger(this.openFragmentsMax) && this.openFragmentsMax >= 0 && this.openFragmentsMax <= openFragmentsLimit,
      `openFragmentsMax ${this.openFragmentsMax} must be in 0..${openFragmentsLimit}`,
    );
    for (const { id, path } of options.drives) {
      assert(Number.isSafeInteger(id) && id >= 0, `Bad drive id ${id}`);
      assert(!this.drives.has(id), `Drive id ${id} listed twice`);
      assert(posix.isAbsolute(path), `Drive ${id} path "${path}" is not absolute`);
      const root = posix.normalize(path);
      this.drives.set(id, {
        id,
        path: root,
        fragmentsPath: posix.join(root, 'fragments'),
        temporaryPath: posix.join(root, 'tmp'),
        durablePrefixes: new Set(),
      });
    }
  }

  /** Creates the drive folders and removes temp files left by a crash. */
  async init(): Promise<void> {
    for (const drive of this.drives.values()) {
      try {
        await this.disk.mkdirp(drive.fragmentsPath);
        await this.disk.mkdirp(drive.temporaryPath);
        await this.disk.syncDirectory(drive.path);
      } catch (error) {
        throwAsFragmentError(error, `Drive ${drive.id}: creating folders under "${drive.path}"`, 'io');
      }
    }
    const swept = await this.sweepTemporaryFiles();
    if (swept > 0) this.logger.log('info', 'blob: removed leftover temp fragment files', { count: swept });
  }

  /** Deletes every temp file not owned by a live writer; returns how many. */
  async sweepTemporaryFiles(): Promise<number> {
    let removed = 0;
    for (const drive of this.drives.values()) {
      removed += await this.sweepDrive(drive);
    }
    return removed;
  }

  private async sweepDrive(drive: Drive): Promise<number> {
    const what = `Drive ${drive.id}: sweeping "${drive.temporaryPath}"`;
    let removed = 0;
    try {
      const names = await this.disk.readdir(drive.temporaryPath);
      for (const name of names) {
        const path = posix.join(drive.temporaryPath, name);
        if (this.liveTemporaryPaths.has(path)) continue;
        if (await this.unlinkIfPresent(path)) removed += 1;
      }
      if (removed > 0) await this.disk.syncDirectory(drive.temporaryPath);
    } catch (error) {
      throwAsFragmentError(error, what, 'io');
    }
    return removed;
  }

  async createWriter(driveId: number, fragmentId: string, blockSizeBytes: number): Promise<FragmentWriter> {
    const drive = this.drive(driveId);
    assertFragmentId(fragmentId);
    assert(isValidBlockSize(blockSizeBytes), `Bad block size ${blockSizeBytes}`);
    assert(this.liveTemporaryPaths.size < fragmentWritersMax, `More than ${fragmentWritersMax} fragment writers`);
    const label = fragmentLabel(drive, fragmentId);
    const finalDirectory = await this.ensurePrefixFolder(drive, fragmentId, label);
    const { file, temporaryPath } = await this.createTemporaryFile(drive, fragmentId, label);
    const header = { formatVersion: fragmentFormatVersion, headerBytes: fragmentHeaderBytes, fragmentId, blockSizeBytes };
    return new FragmentWriter({
      disk: this.disk,
      file,
      header,
      temporaryPath,
      finalPath: posix.join(finalDirectory, fragmentId),
      finalDirectory,
      label,
      release: () => {
        this.liveTemporaryPaths.delete(temporaryPath);
        // Published (or abandoned): a handle cached for an earlier fragment of this id is stale.
        this.evict(drive, fragmentId);
      },
    });
  }

  private async createTemporaryFile(drive: Drive, fragmentId: string, label: string): Promise<{ file: DiskFile; temporaryPath: string }> {
    for (let attempt = 1; ; attempt++) {
      const temporaryPath = posix.join(drive.temporaryPath, `${fragmentId}.${this.temporarySequence++}.tmp`);
      this.liveTemporaryPaths.add(temporaryPath);
      try {
        const file = await this.disk.open(temporaryPath, 'create');
        return { file, temporaryPath };
      } catch (error) {
        this.liveTemporaryPaths.delete(temporaryPath);
        const retry = error instanceof DiskError && error.code === 'exists' && attempt < temporaryNameAttemptsMax;
        if (!retry) throwAsFragmentError(error, `${label}: creating temp file`, 'io');
      }
    }
  }

  /** Makes sure the fragment's prefix folder exists and its creation is durable. */
  private async ensurePrefixFolder(drive: Drive, fragmentId: string, label: string): Promise<string> {
    const prefix = fragmentId.slice(0, 2);
    const folder = posix.join(drive.fragmentsPath, prefix);
    if (drive.durablePrefixes.has(prefix)) return folder;
    try {
      await this.disk.mkdirp(folder);
      await this.disk.syncDirectory(drive.fragmentsPath);
    } catch (error) {
      throwAsFragmentError(error, `${label}: creating folder "${folder}"`, 'io');
    }
    drive.durablePrefixes.add(prefix);
    assert(drive.durablePrefixes.size <= prefixFoldersMax, `Drive ${drive.id}: too many prefix folders`);
    return folder;
  }

  /**
   * Reads blocks firstBlock .. firstBlock + blockCount - 1 with one positional
   * read and verifies each. The returned buffers are views into one buffer.
   */
  async readBlocks(driveId: number, fragmentId: string, firstBlock: number, blockCount: number): Promise<Buffer[]> {
    const drive = this.drive(driveId);
    assertFragmentId(fragmentId);
    assert(Number.isSafeInteger(firstBlock) && firstBlock >= 0, `Bad first block ${firstBlock}`);
    assert(Number.isSafeInteger(blockCount) && blockCount >= 1, `Bad block count ${blockCount}`);
    const entry = this.acquire(drive, fragmentId);
    try {
      const fragment = await entry.opening;
      return await this.readSpan(fragment, firstBlock, blockCount);
    } catch (error) {
      this.evictEntry(entry);
      throw error;
    } finally {
      this.release(entry);
    }
  }

  /** The cached entry for a fragment, opening it on a miss; the caller must release() it. */
  private acquire(drive: Drive, fragmentId: string): CachedFragment {
    const key = cacheKey(drive.id, fragmentId);
    let entry = this.openFragments.get(key);
    if (entry === undefined) {
      const opening = this.openFragment(drive, fragmentId);
      const created: CachedFragment = { key, opening, fragment: undefined, users: 0, evicted: false };
      opening.then(
        (fragment) => {
          created.fragment = fragment;
        },
        () => {
          this.evictEntry(created);
        },
      );
      entry = created;
    } else {
      assert(!entry.evicted, `${key}: evicted entry still cached`);
      this.openFragments.delete(key); // re-inserted below: Map order is recency order
    }
    this.openFragments.set(key, entry);
    entry.users += 1;
    for (const oldest of this.openFragments.values()) {
      if (this.openFragments.size <= this.openFragmentsMax) break;
      this.evictEntry(oldest);
    }
    assert(this.openFragments.size <= this.openFragmentsMax, `${this.openFragments.size} open fragments cached`);
    return entry;
  }

  private release(entry: CachedFragment): void {
    assert(entry.users >= 1, `${entry.key}: released more often than acquired`);
    entry.users -= 1;
    if (entry.evicted && entry.users === 0) this.closeEntry(entry);
  }

  /** Drops a fragment's cached handle (closed once no read uses it). */
  private evict(drive: Drive, fragmentId: string): void {
    const entry = this.openFragments.get(cacheKey(drive.id, fragmentId));
    if (entry !== undefined) this.evictEntry(entry);
  }

  private evictEntry(entry: CachedFragment): void {
    if (entry.evicted) return;
    entry.evicted = true;
    if (this.openFragments.get(entry.key) === entry) this.openFragments.delete(entry.key);
    if (entry.users === 0) this.closeEntry(entry);
  }

  private closeEntry(entry: CachedFragment): void {
    assert(entry.evicted && entry.users === 0, `${entry.key}: closed while cached or in use`);
    // Open already: close now (synchronously started). Still opening: close once it opens.
    const closing =
      entry.fragment === undefined
        ? entry.opening.then((fragment) => closeReadOnly(fragment.file), () => undefined)
        : closeReadOnly(entry.fragment.file);
    this.pendingCloses.add(closing);
    void closing.finally(() => this.pendingCloses.delete(closing));
  }

  /** Closes every cached handle (the store stays usable; later reads open again). */
  async close(): Promise<void> {
    for (const entry of [...this.openFragments.values()]) this.evictEntry(entry);
    assert(this.openFragments.size === 0);
    // Bounded: closes started while waiting belong to reads that began after close().
    await Promise.all([...this.pendingCloses]);
  }

  /** The drive ids this store serves, ascending. */
  get driveIds(): number[] {
    return [...this.drives.keys()].sort((a, b) => a - b);
  }

  hasDrive(driveId: number): boolean {
    return this.drives.has(driveId);
  }

  /**
   * A published fragment's block size and count, or undefined when it is not
   * there. Goes through the handle cache (the header is verified on open), so
   * a stat before a read of the same fragment costs one open.
   */
  async statFragment(driveId: number, fragmentId: string): Promise<FragmentStat | undefined> {
    const drive = this.drive(driveId);
    assertFragmentId(fragmentId);
    const entry = this.acquire(drive, fragmentId);
    try {
      const { header, blockCount, fileSizeBytes } = await entry.opening;
      const dataBytes = fileSizeBytes - header.headerBytes - blockCount * blockChecksumBytes;
      assert(dataBytes > (blockCount - 1) * header.blockSizeBytes && dataBytes <= blockCount * header.blockSizeBytes, `${entry.key}: layout`);
      const file = await this.fileStat(drive, fragmentId);
      if (file === undefined) return undefined;
      return { blockSizeBytes: header.blockSizeBytes, blockCount, dataBytes, fileSizeBytes, modifiedMs: Math.floor(file.mtimeMs) };
    } catch (error) {
      if (error instanceof FragmentError && error.code === 'not_found') return undefined;
      throw error;
    } finally {
      this.release(entry);
    }
  }

  /** Fragments with a cached handle now (tests, status). */
  get openFragmentCount(): number {
    return this.openFragments.size;
  }

  private async openFragment(drive: Drive, fragmentId: string): Promise<OpenFragment> {
    const label = fragmentLabel(drive, fragmentId);
    let file: DiskFile;
    try {
      file = await this.disk.open(this.fragmentPath(drive, fragmentId), 'read');
    } catch (error) {
      throwAsFragmentError(error, `${label}: opening`);
    }
    try {
      return await readLayout(file, label, fragmentId);
    } catch (error) {
      await closeReadOnly(file);
      throw error;
    }
  }

  private async readSpan(fragment: OpenFragment, firstBlock: number, blockCount: number): Promise<Buffer[]> {
    const { header, label } = fragment;
    const lastBlock = firstBlock + blockCount - 1;
    if (lastBlock >= fragment.blockCount) {
      throw new FragmentError('corrupt', `${label}: holds ${fragment.blockCount} blocks, read asked for blocks ${firstBlock}..${lastBlock}`);
    }
    const spanStart = blockOffsetBytes(header, firstBlock);
    const spanEnd = lastBlock === fragment.blockCount - 1 ? fragment.fileSizeBytes : blockOffsetBytes(header, lastBlock + 1);
    assert(spanEnd - spanStart <= readSpanBytesMax, `${label}: read of ${spanEnd - spanStart} bytes exceeds ${readSpanBytesMax}`);
    // Not zeroed: readExactly fills every byte or throws, so no stale heap byte can be returned.
    const span = Buffer.allocUnsafe(spanEnd - spanStart);
    await readExactly(fragment.file, span, spanStart, `${label}: reading blocks ${firstBlock}..${lastBlock}`);
    const stride = blockStrideBytes(header);
    const blocks: Buffer[] = [];
    for (let index = 0; index < blockCount; index++) {
      const frame = span.subarray(index * stride, Math.min((index + 1) * stride, span.length));
      const result = verifyBlock(frame);
      if (result.status === 'corrupt') {
        const sums = `stored ${hex32(result.storedChecksum)}, computed ${hex32(result.computedChecksum)}`;
        throw new FragmentError('corrupt', `${label}: block ${firstBlock + index} checksum mismatch (${sums})`);
      }
      blocks.push(result.data);
    }
    assert(blocks.length === blockCount);
    return blocks;
  }

  /** Removes a fragment durably; false if it was not there. */
  async delete(driveId: number, fragmentId: string): Promise<boolean> {
    const drive = this.drive(driveId);
    assertFragmentId(fragmentId);
    const path = this.fragmentPath(drive, fragmentId);
    // Before the unlink, so no read that starts later takes the cached handle; and
    // after it, for a read that started meanwhile and opened the file just before.
    this.evict(drive, fragmentId);
    try {
      if (!(await this.unlinkIfPresent(path))) return false;
      await this.disk.syncDirectory(posix.dirname(path));
    } catch (error) {
      throwAsFragmentError(error, `${fragmentLabel(drive, fragmentId)}: deleting`, 'io');
    } finally {
      this.evict(drive, fragmentId);
    }
    return true;
  }

  async has(driveId: number, fragmentId: string): Promise<boolean> {
    const drive = this.drive(driveId);
    assertFragmentId(fragmentId);
    return (await this.fileStat(drive, fragmentId)) !== undefined;
  }

  /** The fragment file's stat, undefined when it is not there. */
  private async fileStat(drive: Drive, fragmentId: string): Promise<DiskStat | undefined> {
    try {
      const stat = await this.disk.stat(this.fragmentPath(drive, fragmentId));
      return stat === undefined || stat.isDirectory ? undefined : stat;
    } catch (error) {
      throwAsFragmentError(error, `${fragmentLabel(drive, fragmentId)}: stat`, 'io');
    }
  }

  /**
   * Every fragment id on a drive in byte order, or only those after `after`
   * (a page cursor: prefix folders before its first two characters are not
   * even listed). One prefix folder is listed at a time.
   */
  async *list(driveId: number, after = ''): AsyncGenerator<string, void, undefined> {
    const drive = this.drive(driveId);
    const afterPrefix = after.slice(0, 2);
    const prefixes = await this.readFolder(drive, drive.fragmentsPath);
    for (const prefix of prefixes) {
      if (prefix.length !== 2 || prefix < afterPrefix) continue;
      const names = await this.readFolder(drive, posix.join(drive.fragmentsPath, prefix));
      for (const name of names) {
        if (isFragmentId(name) && name.startsWith(prefix) && name > after) yield name;
      }
    }
  }

  async stat(driveId: number): Promise<DriveStat> {
    const drive = this.drive(driveId);
    try {
      const { freeBytes, totalBytes } = await this.disk.capacity(drive.path);
      return { freeBytes, totalBytes };
    } catch (error) {
      throwAsFragmentError(error, `Drive ${drive.id}: capacity of "${drive.path}"`, 'io');
    }
  }

  private async readFolder(drive: Drive, folder: string): Promise<string[]> {
    try {
      const names = await this.disk.readdir(folder);
      return names.sort();
    } catch (error) {
      throwAsFragmentError(error, `Drive ${drive.id}: listing "${folder}"`, 'io');
    }
  }

  private async unlinkIfPresent(path: string): Promise<boolean> {
    try {
      await this.disk.unlink(path);
      return true;
    } catch (error) {
      if (error instanceof DiskError && error.code === 'not_found') return false;
      throw error;
    }
  }

  private drive(driveId: number): Drive {
    const drive = this.drives.get(driveId);
    assert(drive !== undefined, `Unknown drive id ${driveId}`);
    return drive;
  }

  private fragmentPath(drive: Drive, fragmentId: string): string {
    return posix.join(drive.fragmentsPath, fragmentId.slice(0, 2), fragmentId);
  }
}

function assertFragmentId(fragmentId: string): void {
  assert(isFragmentId(fragmentId), `Bad fragment id "${fragmentId}": expected 8..40 of [0-9a-z-]`);
}

function cacheKey(driveId: number, fragmentId: string): string {
  return `${driveId}/${fragmentId}`;
}

function fragmentLabel(drive: Drive, fragmentId: string): string {
  return `Fragment "${fragmentId}" on drive ${drive.id}`;
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/** Reads and checks the header and derives the block layout from the file size. */
async function readLayout(file: DiskFile, label: string, fragmentId: string): Promise<OpenFragment> {
  const headerBytes = Buffer.alloc(fragmentHeaderBytes);
  let fileSizeBytes: number;
  try {
    fileSizeBytes = await file.sizeBytes();
  } catch (error) {
    throwAsFragmentError(error, `${label}: size`, 'io');
  }
  if (fileSizeBytes < fragmentHeaderBytes + blockChecksumBytes + 1) {
    throw new FragmentError('corrupt', `${label}: file is ${fileSizeBytes} bytes, too short for a fragment`);
  }
  await readExactly(file, headerBytes, 0, `${label}: reading header`);
  const decoded = decodeHeader(headerBytes);
  if (decoded.status === 'corrupt') throw new FragmentError('corrupt', `${label}: bad header (${decoded.reason})`);
  if (decoded.status === 'unsupported_version') {
    throw new FragmentError('corrupt', `${label}: format version ${decoded.formatVersion} is not supported`);
  }
  const { header } = decoded;
  if (header.fragmentId !== fragmentId) {
    throw new FragmentError('corrupt', `${label}: header names fragment "${header.fragmentId}"`);
  }
  const layout = fragmentLayout(header, fileSizeBytes);
  if (layout.status === 'corrupt') throw new FragmentError('corrupt', `${label}: ${layout.reason}`);
  return { file, label, header, blockCount: layout.blockCount, fileSizeBytes };
}

/** Fills `buffer` from `position`; a file that ends early is corrupt (sizes were checked first). */
async function readExactly(file: DiskFile, buffer: Buffer, position: number, what: string): Promise<void> {
  let filled = 0;
  // Bounded: every pass reads at least one byte or stops.
  while (filled < buffer.length) {
    let bytesRead: number;
    try {
      bytesRead = await file.read(buffer, filled, buffer.length - filled, position + filled);
    } catch (error) {
      throwAsFragmentError(error, what, 'io');
    }
    assert(bytesRead >= 0 && bytesRead <= buffer.length - filled, `${what}: read returned ${bytesRead}`);
    if (bytesRead === 0) throw new FragmentError('corrupt', `${what}: file ended ${buffer.length - filled} bytes early`);
    filled += bytesRead;
  }
}

/** Closing a read-only file cannot lose data; an error here must not hide the read's outcome. */
async function closeReadOnly(file: DiskFile): Promise<void> {
  await file.close().catch(() => undefined);
}
