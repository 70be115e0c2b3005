// KvStore on LMDB (the `lmdb` package). Sync stays on and overlapping sync off:
// a transaction's promise resolves only once LMDB has fsynced it (Garage lost
// LMDB files to unclean shutdowns with sync relaxed).

import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { toBuffer } from '../../stdx/bytes.js';
import type { KvEntry, KvStore, KvTransaction, ScanOptions } from '../kv-store.js';

const lowestKey = Uint8Array.of(0);

export interface LmdbStoreOptions {
  readonly path: string;
  readonly mapSizeBytes?: number;
}

export class LmdbStore implements KvStore {
  private readonly root: RootDatabase<Buffer, Buffer>;
  private readonly db: Database<Buffer, Buffer>;
  /** Writes of the transaction running on this store (lmdb keeps one write transaction at a time, so one object serves all). */
  private readonly transaction: KvTransaction = {
    get: (key) => this.get(key),
    scan: (options) => this.scan(options),
    put: (key, value) => {
      this.db.putSync(toBuffer(key), toBuffer(value));
    },
    delete: (key) => {
      this.db.removeSync(toBuffer(key));
    },
  };

  constructor(options: LmdbStoreOptions) {
    this.root = open<Buffer, Buffer>({
      path: options.path,
      keyEncoding: 'binary',
      encoding: 'binary',
      compression: false,
      noSync: false,
      overlappingSync: false,
      mapSize: options.mapSizeBytes ?? 64 * 1024 * 1024 * 1024,
    });
    this.db = this.root;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.db.get(toBuffer(key));
  }

  *scan(options: ScanOptions): Iterable<KvEntry> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    let yielded = 0;
    if (options.reverse === true) {
      // LMDB keys are never empty, so [0x00] is the lowest key there can be;
      // lmdb's own default low end for a reverse range excludes it.
      const start = options.start ?? lowestKey;
      // [start, end) is empty when start >= end; the read of `start` below
      // must not bring it back.
      if (options.end !== undefined && Buffer.compare(start, options.end) >= 0) return;
      // lmdb's reverse range runs from `start` (inclusive, the high end) down to
      // `end` (exclusive, the low end); ours is [start, end) walked backwards,
      // so our `start` is read on its own at the end.
      const range = this.db.getRange({
        ...(options.end === undefined ? {} : { start: toBuffer(options.end) }),
        end: toBuffer(start),
        reverse: true,
      });
      for (const { key, value } of range) {
        if (yielded >= limit) return;
        if (options.end !== undefined && Buffer.compare(key, options.end) >= 0) continue;
        yielded++;
        yield { key, value };
      }
      if (yielded < limit) {
        const value = this.db.get(toBuffer(start));
        if (value !== undefined) yield { key: Buffer.from(start), value };
      }
      return;
    }
    const range = this.db.getRange({
      ...(options.start === undefined ? {} : { start: toBuffer(options.start) }),
      ...(options.end === undefined ? {} : { end: toBuffer(options.end) }),
    });
    for (const { key, value } of range) {
      if (yielded >= limit) return;
      yielded++;
      yield { key, value };
    }
  }

  transact<T>(body: (transaction: KvTransaction) => T): Promise<T> {
    // A child transaction, not `transaction`: lmdb commits whatever a throwing
    // `transaction` callback already wrote; a child transaction is aborted.
    return this.db.childTransaction(() => body(this.transaction));
  }

  transactSync<T>(body: (transaction: KvTransaction) => T): T {
    // lmdb's synchronous transaction aborts when its callback throws, and its
    // commit writes the pages and syncs on this thread (the data file with
    // fdatasync, then the meta page through a file opened O_DSYNC).
    return this.db.transactionSync(() => body(this.transaction));
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
