// Disk seam: files with explicit durability. Nothing is durable until `sync`
// (file) and `syncDirectory` (after create/rename/unlink) have resolved; the
// simulator loses whatever was not synced when it "crashes" a node.
//
// Errors: implementations throw DiskError with one of the codes below, so core
// code can branch on `code` without knowing the platform.

export type DiskErrorCode = 'not_found' | 'exists' | 'not_empty' | 'io';

export class DiskError extends Error {
  override readonly name = 'DiskError';
  constructor(
    readonly code: DiskErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DiskStat {
  readonly sizeBytes: number;
  readonly mtimeMs: number;
  readonly isDirectory: boolean;
}

export type OpenMode =
  | 'read' // existing file, read only
  | 'create' // new file, must not exist, read/write
  | 'write'; // existing or new file, read/write, not truncated

export interface DiskFile {
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; returns bytes read (0 at EOF). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes all of `data` at `position`. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Writes several buffers back to back starting at `position` (one syscall where possible). */
  writev(data: readonly Uint8Array[], position: number): Promise<void>;
  /** Makes the file's data durable (fdatasync). */
  sync(): Promise<void>;
  sizeBytes(): Promise<number>;
  truncate(sizeBytes: number): Promise<void>;
  close(): Promise<void>;
}

export interface Disk {
  open(path: string, mode: OpenMode): Promise<DiskFile>;
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a whole file durably: temp name, sync, rename, sync directory. */
  writeFileAtomic(path: string, data: Uint8Array): Promise<void>;
  rename(fromPath: string, toPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdirp(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  /** undefined when nothing is at `path`. */
  stat(path: string): Promise<DiskStat | undefined>;
  /** Makes creations, renames and unlinks in `path` durable. */
  syncDirectory(path: string): Promise<void>;
  /** Bytes free and total on the filesystem holding `path`. */
  capacity(path: string): Promise<{ freeBytes: number; totalBytes: number }>;
}
