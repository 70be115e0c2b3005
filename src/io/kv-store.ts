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
  close(): Promise<void>;
}
