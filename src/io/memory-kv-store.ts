// In-memory KvStore: a sorted array with binary search, same contract as the
// LMDB store. Used by tests and the simulator. A transaction writes in place
// and keeps an undo log, so its reads see its own writes and a throw rolls
// everything back.

import { assert } from '../stdx/assert.js';
import { compareBytes } from '../stdx/bytes.js';
import type { KvEntry, KvStore, KvTransaction, ScanOptions } from './kv-store.js';

type Undo = { key: Uint8Array; previous: Uint8Array | undefined };

export class MemoryKvStore implements KvStore {
  private readonly keys: Uint8Array[] = [];
  private readonly values: Uint8Array[] = [];
  private inTransaction = false;
  private closed = false;

  get(key: Uint8Array): Uint8Array | undefined {
    const index = this.search(key);
    return index.found ? this.values[index.at] : undefined;
  }

  *scan(options: ScanOptions): Iterable<KvEntry> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const lower = options.start === undefined ? 0 : this.search(options.start).at;
    const upper = options.end === undefined ? this.keys.length : this.search(options.end).at;
    let yielded = 0;
    if (options.reverse === true) {
      for (let i = upper - 1; i >= lower && yielded < limit; i--, yielded++) {
        yield { key: this.keys[i]!, value: this.values[i]! };
      }
      return;
    }
    for (let i = lower; i < upper && yielded < limit; i++, yielded++) {
      yield { key: this.keys[i]!, value: this.values[i]! };
    }
  }

  transact<T>(body: (transaction: KvTransaction) => T): Promise<T> {
    try {
      return Promise.resolve(this.runTransaction(body));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  transactSync<T>(body: (transaction: KvTransaction) => T): T {
    return this.runTransaction(body);
  }

  /** Both kinds of transaction: writes in place, undone if `body` throws. */
  private runTransaction<T>(body: (transaction: KvTransaction) => T): T {
    assert(!this.closed, 'MemoryKvStore: transact after close');
    assert(!this.inTransaction, 'MemoryKvStore: nested transaction');
    const undo: Undo[] = [];
    const transaction: KvTransaction = {
      get: (key) => this.get(key),
      scan: (options) => this.scan(options),
      put: (key, value) => {
        undo.push({ key, previous: this.get(key) });
        this.set(Uint8Array.from(key), Uint8Array.from(value));
      },
      delete: (key) => {
        undo.push({ key, previous: this.get(key) });
        this.remove(key);
      },
    };
    this.inTransaction = true;
    try {
      return body(transaction);
    } catch (error) {
      for (let i = undo.length - 1; i >= 0; i--) {
        const entry = undo[i]!;
        if (entry.previous === undefined) this.remove(entry.key);
        else this.set(entry.key, entry.previous);
      }
      throw error;
    } finally {
      this.inTransaction = false;
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Number of keys: for tests and assertions. */
  size(): number {
    return this.keys.length;
  }

  private set(key: Uint8Array, value: Uint8Array): void {
    const index = this.search(key);
    if (index.found) {
      this.values[index.at] = value;
      return;
    }
    this.keys.splice(index.at, 0, key);
    this.values.splice(index.at, 0, value);
  }

  private remove(key: Uint8Array): void {
    const index = this.search(key);
    if (!index.found) return;
    this.keys.splice(index.at, 1);
    this.values.splice(index.at, 1);
  }

  /** Position of `key`, or where it would be inserted. */
  private search(key: Uint8Array): { found: boolean; at: number } {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const order = compareBytes(this.keys[middle]!, key);
      if (order === 0) return { found: true, at: middle };
      if (order < 0) low = middle + 1;
      else high = middle;
    }
    return { found: false, at: low };
  }
}
