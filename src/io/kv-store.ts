// KvStore seam: an ordered key-value store with byte-order keys and atomic,
// durable write transactions. LMDB in production (io/node/lmdb-store.ts), a
// sorted in-memory map in tests and simulation (io/memory-kv-store.ts). Both
// pass the same contract test.
//
// The write callback runs synchronously and must not await: the metadata state
// machine applies ops synchronously, and LMDB runs them inside one write txn.

export interface KvEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface ScanOptions {
  /** Inclusive lower bound (reverse: exclusive upper bound is `end`). */
  readonly start?: Uint8Array;
  /** Exclusive upper bound. */
  readonly end?: Uint8Array;
  readonly reverse?: boolean;
  readonly limit?: number;
}

export interface KvReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /** Entries in byte order of keys (reverse order when `reverse`), within [start, end). */
  scan(options: ScanOptions): Iterable<KvEntry>;
}

export interface KvTransaction extends KvReader {
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): void;
}

export interface KvStore extends KvReader {
  /**
   * Runs `body` synchronously in one write transaction; reads inside see the
   * transaction's own writes. The promise resolves once the transaction is
   * durable; if `body` throws, nothing is written and the promise rejects.
   */
  transact<T>(body: (transaction: KvTransaction) => T): Promise<T>;
  /**
   * The same, committed on the calling thread: returns once the transaction
   * is durable, and throws (having written nothing) if `body` throws. The
   * thread, the event loop with it, waits for the commit's fsync; what it
   * saves is the hand-offs to a write thread and back (LMDB: ~130 µs of CPU a
   * commit). For a caller that has nothing to do until its write is durable
   * and the process to itself (a VSR backup's turn; see
   * ReplicaDriverOptions.syncBackupTurns). It does not wait for transactions
   * still pending from `transact`: LMDB may run their bodies after it, so a
   * caller that needs an order waits for those first.
   */
  transactSync<T>(body: (transaction: KvTransaction) => T): T;
  close(): Promise<void>;
}
