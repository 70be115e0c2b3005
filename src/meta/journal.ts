// The metadata journal: an append-only file of checksummed, hash-chained
// entries, durable (fsync) before any op in it is acknowledged. A batch of ops
// is one writev and one fsync (group commit). On open, a torn or corrupt tail
// is cut off; the entries after the last applied op are returned for replay.
//
// Entry: 32-byte header then a msgpack body.
//   0  u32 checksum   CRC32C of bytes 4 … end of entry
//   4  u32 bodyBytes
//   8  u64 opNumber
//   16 u32 previous   checksum of the previous entry (the chain)
//   20 u32 magic      "TSJ1"
//   24 f64 timestampMs
// CRC32C is a torn-write detector, not a cryptographic chain; the VSR journal
// (issue 4) may move to a stronger hash.

import { crc32c } from '@node-rs/crc32';
import type { Disk, DiskFile } from '../io/disk.js';
import type { Logger } from '../io/logger.js';
import { assert } from '../stdx/assert.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import type { MetaOp, SequencedOp } from './ops.js';

const headerBytes = 32;
const magic = 0x314a5354; // "TSJ1" little-endian
export const journalEntryBytesMax = 64 * 1024 * 1024;

export interface JournalPosition {
  readonly opNumber: number;
  readonly checksum: number;
}

export const journalOrigin: JournalPosition = { opNumber: 0, checksum: 0 };

export function encodeEntry(entry: SequencedOp, previous: number): { bytes: Buffer; checksum: number } {
  const body = encodeRecord(entry.op);
  assert(body.length <= journalEntryBytesMax, `journal entry ${body.length} bytes`);
  const bytes = Buffer.allocUnsafe(headerBytes + body.length);
  bytes.writeUInt32LE(body.length, 4);
  bytes.writeBigUInt64LE(BigInt(entry.opNumber), 8);
  bytes.writeUInt32LE(previous >>> 0, 16);
  bytes.writeUInt32LE(magic, 20);
  bytes.writeDoubleLE(entry.timestampMs, 24);
  bytes.set(body, headerBytes);
  const checksum = crc32c(bytes.subarray(4));
  bytes.writeUInt32LE(checksum, 0);
  return { bytes, checksum };
}

type Decoded = { entry: SequencedOp; previous: number; checksum: number; lengthBytes: number };

/** Decodes the entry at `offset`, or undefined if it is torn, corrupt or absent. */
export function decodeEntry(buffer: Buffer, offset: number): Decoded | undefined {
  if (offset + headerBytes > buffer.length) return undefined;
  const bodyBytes = buffer.readUInt32LE(offset + 4);
  if (buffer.readUInt32LE(offset + 20) !== magic || bodyBytes > journalEntryBytesMax) return undefined;
  const end = offset + headerBytes + bodyBytes;
  if (end > buffer.length) return undefined;
  const checksum = buffer.readUInt32LE(offset);
  if (crc32c(buffer.subarray(offset + 4, end)) !== checksum) return undefined;
  const op = decodeRecord(buffer.subarray(offset + headerBytes, end)) as MetaOp;
  const entry: SequencedOp = {
    opNumber: Number(buffer.readBigUInt64LE(offset + 8)),
    timestampMs: buffer.readDoubleLE(offset + 24),
    op,
  };
  return { entry, previous: buffer.readUInt32LE(offset + 16), checksum, lengthBytes: end - offset };
}

export class Journal {
  private constructor(
    private readonly file: DiskFile,
    private sizeBytesValue: number,
    private head: JournalPosition,
  ) {}

  /**
   * Opens (or creates) the journal at `path`. `applied` is what the state
   * machine has durably applied; returns the entries after it, in order.
   */
  static async open(
    disk: Disk,
    path: string,
    applied: JournalPosition,
    logger: Logger,
  ): Promise<{ journal: Journal; replay: SequencedOp[] }> {
    const file = await disk.open(path, 'write');
    try {
      return await Journal.recover(file, path, applied, logger);
    } catch (error) {
      // A refused journal (broken chain, missing ops) must not leak its handle.
      await file.close();
      throw error;
    }
  }

  private static async recover(
    file: DiskFile,
    path: string,
    applied: JournalPosition,
    logger: Logger,
  ): Promise<{ journal: Journal; replay: SequencedOp[] }> {
    const size = await file.sizeBytes();
    const buffer = Buffer.alloc(size);
    let filled = 0;
    while (filled < size) {
      const read = await file.read(buffer, filled, size - filled, filled);
      if (read === 0) break;
      filled += read;
    }
    const replay: SequencedOp[] = [];
    let last: JournalPosition | undefined;
    let offset = 0;
    while (offset < filled) {
      const decoded = decodeEntry(buffer, offset);
      if (decoded === undefined) break;
      const { entry } = decoded;
      if (last !== undefined) {
        assert(decoded.previous === last.checksum, `journal chain broken at op ${entry.opNumber}`);
        assert(entry.opNumber === last.opNumber + 1, `journal gap before op ${entry.opNumber}`);
      } else {
        assert(entry.opNumber <= applied.opNumber + 1, `journal starts at op ${entry.opNumber}, applied ${applied.opNumber}`);
        if (entry.opNumber === applied.opNumber + 1 && applied.opNumber > 0) {
          assert(decoded.previous === applied.checksum, `journal op ${entry.opNumber} does not chain from applied`);
        }
      }
      if (entry.opNumber > applied.opNumber) replay.push(entry);
      last = { opNumber: entry.opNumber, checksum: decoded.checksum };
      offset += decoded.lengthBytes;
    }
    const head = last !== undefined && last.opNumber >= applied.opNumber ? last : applied;
    if (offset < size) {
      logger.log('warn', 'journal: cutting off a torn or corrupt tail', { path, validBytes: offset, fileBytes: size });
      await file.truncate(offset);
      await file.sync();
    }
    return { journal: new Journal(file, offset, head), replay };
  }

  get position(): JournalPosition {
    return this.head;
  }

  get sizeBytes(): number {
    return this.sizeBytesValue;
  }

  /** Appends entries and makes them durable; resolves after the fsync. */
  async append(entries: readonly SequencedOp[]): Promise<void> {
    assert(entries.length > 0, 'append of an empty batch');
    const chunks: Buffer[] = [];
    let head = this.head;
    for (const entry of entries) {
      assert(entry.opNumber === head.opNumber + 1, `journal append op ${entry.opNumber} after ${head.opNumber}`);
      const { bytes, checksum } = encodeEntry(entry, head.checksum);
      chunks.push(bytes);
      head = { opNumber: entry.opNumber, checksum };
    }
    await this.file.writev(chunks, this.sizeBytesValue);
    await this.file.sync();
    this.sizeBytesValue += chunks.reduce((total, chunk) => total + chunk.length, 0);
    this.head = head;
  }

  /** Drops every entry (all must be durably applied): log compaction. */
  async truncate(): Promise<void> {
    await this.file.truncate(0);
    await this.file.sync();
    this.sizeBytesValue = 0;
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
