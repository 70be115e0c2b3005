// FragmentWriter: streams the blocks of one fragment into a temp file and
// publishes it with fsync, rename, fsync(dir), so a fragment is either absent
// or whole and durable. A crash at any point leaves at most a temp file, which
// FragmentStore.sweepTemporaryFiles removes. Built by FragmentStore.createWriter.
//
// The header is sent with the first blocks in one writev, and each append is
// one writev of data + checksum pairs: one syscall per batch of blocks.

import { DiskError } from '../io/disk.js';
import type { Disk, DiskFile } from '../io/disk.js';
import { assert } from '../stdx/assert.js';
import { throwAsFragmentError } from './fragment-error.js';
import { encodeHeader, frameBlock } from './fragment-format.js';
import type { FragmentHeader } from './fragment-format.js';

/** Most blocks in one appendBlocks call (bounds the writev vector). */
export const appendBlocksMax = 256;

/** What FragmentStore hands a writer: an open temp file and where it goes. */
export interface FragmentWriterTarget {
  readonly disk: Disk;
  readonly file: DiskFile;
  readonly header: FragmentHeader;
  readonly temporaryPath: string;
  readonly finalPath: string;
  readonly finalDirectory: string;
  /** Names the fragment in messages: `Fragment "…" on drive 3`. */
  readonly label: string;
  /** Called once the temp file is gone (renamed or unlinked). */
  readonly release: () => void;
}

type WriterState = 'open' | 'finished' | 'aborted' | 'failed';

export class FragmentWriter {
  private state: WriterState = 'open';
  private busy = false;
  private fileOpen = true;
  private released = false;
  /** Set once a short block is written: it must be the fragment's last. */
  private sealed = false;
  private blockCount = 0;
  private positionBytes = 0;

  constructor(private readonly target: FragmentWriterTarget) {
    const { fragmentId } = target.header;
    assert(target.finalPath.endsWith(`/${fragmentId}`), `${target.label}: final path "${target.finalPath}" does not name it`);
  }

  get blocksWritten(): number {
    return this.blockCount;
  }

  /** Appends blocks; every block but the fragment's last is exactly blockSizeBytes. */
  async appendBlocks(blocks: readonly Uint8Array[]): Promise<void> {
    this.assertIdle('appendBlocks');
    assert(blocks.length >= 1 && blocks.length <= appendBlocksMax, `appendBlocks takes 1..${appendBlocksMax} blocks, got ${blocks.length}`);
    assert(!this.sealed, `${this.target.label}: block after the short final block`);
    const chunks = this.frame(blocks);
    this.busy = true;
    try {
      await this.target.file.writev(chunks, this.positionBytes);
    } catch (error) {
      this.state = 'failed';
      throwAsFragmentError(error, `${this.target.label}: writing blocks from ${this.blockCount}`, 'io');
    } finally {
      this.busy = false;
    }
    for (const chunk of chunks) this.positionBytes += chunk.length;
    this.blockCount += blocks.length;
  }

  private frame(blocks: readonly Uint8Array[]): Uint8Array[] {
    const { blockSizeBytes } = this.target.header;
    const chunks: Uint8Array[] = this.positionBytes === 0 ? [encodeHeader(this.target.header)] : [];
    blocks.forEach((block, index) => {
      assert(block.length >= 1 && block.length <= blockSizeBytes, `${this.target.label}: block of ${block.length} bytes, block size ${blockSizeBytes}`);
      if (block.length < blockSizeBytes) {
        assert(index === blocks.length - 1, `${this.target.label}: short block ${this.blockCount + index} is not the last`);
        this.sealed = true;
      }
      chunks.push(...frameBlock(block));
    });
    return chunks;
  }

  /** Makes the fragment durable under its final name; resolves only once it is. */
  async finish(): Promise<void> {
    this.assertIdle('finish');
    assert(this.blockCount >= 1, `${this.target.label}: finish with no blocks`);
    const { disk, file, temporaryPath, finalPath, finalDirectory } = this.target;
    this.busy = true;
    try {
      await file.sync();
      this.fileOpen = false;
      await file.close();
      await disk.rename(temporaryPath, finalPath);
      this.release();
      await disk.syncDirectory(finalDirectory);
      this.state = 'finished';
    } catch (error) {
      this.state = 'failed';
      throwAsFragmentError(error, `${this.target.label}: finishing`, 'io');
    } finally {
      this.busy = false;
    }
  }

  /**
   * Closes and removes the temp file. Idempotent; a no-op after finish, so
   * `finally { await writer.abort() }` is safe. Call it after any failure.
   */
  async abort(): Promise<void> {
    assert(!this.busy, `${this.target.label}: abort while an operation is in flight`);
    if (this.state === 'finished' || this.state === 'aborted') return;
    this.state = 'aborted';
    if (this.fileOpen) {
      this.fileOpen = false;
      // The bytes are being thrown away, so a failed close loses nothing.
      await this.target.file.close().catch(() => undefined);
    }
    if (this.released) return;
    // Released before the unlink: if the unlink fails, the sweep owns the file.
    this.release();
    try {
      await this.target.disk.unlink(this.target.temporaryPath);
    } catch (error) {
      if (error instanceof DiskError && error.code === 'not_found') return;
      throwAsFragmentError(error, `${this.target.label}: removing temp file`, 'io');
    }
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.target.release();
  }

  private assertIdle(operation: string): void {
    assert(!this.busy, `${this.target.label}: ${operation} while an operation is in flight`);
    assert(this.state === 'open', `${this.target.label}: ${operation} on a ${this.state} writer`);
  }
}
