// KvStore contract: the same tests run against MemoryKvStore and LmdbStore, so
// the simulator's store cannot drift from production's. Covers point ops,
// [start, end) scans forwards and backwards, limits, unsigned byte order of
// keys, transaction isolation of a throwing body, and a fast-check property
// that drives both stores and a plain model with the same random operations.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { KvEntry, KvReader, KvStore, ScanOptions } from './kv-store.js';
import { MemoryKvStore } from './memory-kv-store.js';
import { LmdbStore } from './node/lmdb-store.js';

const mapSizeBytes = 64 * 1024 * 1024;

interface OpenedStore {
  readonly store: KvStore;
  /** Closes the store and opens it again on the same data (undefined: not persistent). */
  readonly reopen?: () => Promise<KvStore>;
  cleanup(): Promise<void>;
}

interface StoreFactory {
  readonly name: string;
  open(): Promise<OpenedStore>;
}

async function openLmdb(): Promise<OpenedStore> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'tessera-kv-'));
  let store = new LmdbStore({ path: directory, mapSizeBytes });
  let closed = false;
  return {
    get store() {
      return store;
    },
    reopen: async () => {
      await store.close();
      store = new LmdbStore({ path: directory, mapSizeBytes });
      return store;
    },
    cleanup: async () => {
      if (!closed) await store.close();
      closed = true;
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

const factories: readonly StoreFactory[] = [
  {
    name: 'MemoryKvStore',
    open: () => {
      const store = new MemoryKvStore();
      return Promise.resolve({ store, cleanup: () => store.close() });
    },
  },
  { name: 'LmdbStore', open: openLmdb },
];

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function text(value: string): Uint8Array {
  return Buffer.from(value, 'utf8');
}

function hex(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
}

function scanKeys(reader: KvReader, options: ScanOptions): string[] {
  return [...reader.scan(options)].map((entry) => hex(entry.key));
}

function scanPairs(reader: KvReader, options: ScanOptions): [string, string][] {
  return [...reader.scan(options)].map((entry) => [hex(entry.key), hex(entry.value)]);
}

async function putAll(store: KvStore, keys: readonly Uint8Array[]): Promise<void> {
  await store.transact((transaction) => {
    for (const key of keys) transaction.put(key, Uint8Array.from([...key, 0xaa]));
  });
}

/** Keys in unsigned byte order, with prefixes before their extensions. */
const orderedKeys: readonly Uint8Array[] = [
  bytes(0x00),
  bytes(0x00, 0x00),
  bytes(0x00, 0xff),
  bytes(0x01),
  text('a'),
  text('ab'),
  text('abc'),
  text('b'),
  bytes(0x7f),
  bytes(0x80),
  bytes(0x80, 0x00),
  bytes(0xfe, 0xff, 0xff),
  bytes(0xff),
  bytes(0xff, 0x00),
  bytes(0xff, 0xff),
  bytes(0xff, 0xff, 0xff),
];

for (const factory of factories) {
  describe(`KvStore contract: ${factory.name}`, () => {
    let opened: OpenedStore;
    let store: KvStore;

    before(async () => {
      opened = await factory.open();
      store = opened.store;
    });

    after(async () => {
      await opened.cleanup();
    });

    async function clear(): Promise<void> {
      await store.transact((transaction) => {
        for (const entry of [...transaction.scan({})]) transaction.delete(entry.key);
      });
      assert.deepEqual(scanKeys(store, {}), []);
    }

    it('get of a missing key is undefined; put, overwrite and delete', async () => {
      await clear();
      assert.equal(store.get(text('k')), undefined);
      await store.transact((transaction) => {
        transaction.put(text('k'), text('v1'));
      });
      assert.deepEqual(Buffer.from(store.get(text('k'))!), Buffer.from('v1'));
      await store.transact((transaction) => {
        transaction.put(text('k'), text('v2'));
      });
      assert.deepEqual(Buffer.from(store.get(text('k'))!), Buffer.from('v2'));
      await store.transact((transaction) => {
        transaction.delete(text('k'));
      });
      assert.equal(store.get(text('k')), undefined);
      // Deleting a missing key is a no-op, not an error.
      await store.transact((transaction) => {
        transaction.delete(text('k'));
        transaction.delete(text('never'));
      });
      assert.equal(store.get(text('k')), undefined);
    });

    it('stores an empty value and binary values with every byte', async () => {
      await clear();
      const every = Uint8Array.from({ length: 256 }, (_, index) => index);
      await store.transact((transaction) => {
        transaction.put(text('empty'), new Uint8Array(0));
        transaction.put(text('every'), every);
      });
      assert.equal(store.get(text('empty'))?.length, 0);
      assert.deepEqual(Buffer.from(store.get(text('every'))!), Buffer.from(every));
    });

    it('keeps its own copy of keys and values given to put', async () => {
      await clear();
      const key = text('key-1');
      const value = text('value');
      await store.transact((transaction) => {
        transaction.put(key, value);
      });
      key[0] = 0x7a;
      value.fill(0);
      assert.deepEqual(Buffer.from(store.get(text('key-1'))!), Buffer.from('value'));
      assert.equal(store.get(key), undefined);
    });

    it('accepts keys and values that are views into a larger buffer', async () => {
      await clear();
      const backing = Buffer.from('xxKEYyyVALUEzz');
      const key = new Uint8Array(backing.buffer, backing.byteOffset + 2, 3);
      const value = new Uint8Array(backing.buffer, backing.byteOffset + 7, 5);
      await store.transact((transaction) => {
        transaction.put(key, value);
      });
      assert.deepEqual(scanPairs(store, {}), [[hex(text('KEY')), hex(text('VALUE'))]]);
    });

    it('scans in unsigned byte order, prefixes before their extensions', async () => {
      await clear();
      const shuffled = [...orderedKeys].reverse();
      await putAll(store, shuffled);
      assert.deepEqual(scanKeys(store, {}), orderedKeys.map(hex));
      assert.deepEqual(scanKeys(store, { reverse: true }), orderedKeys.map(hex).reverse());
      for (const entry of store.scan({})) {
        assert.deepEqual(Buffer.from(entry.value), Buffer.from([...entry.key, 0xaa]));
      }
    });

    it('scan range is [start, end): start included, end excluded', async () => {
      await clear();
      await putAll(store, orderedKeys);
      const all = orderedKeys.map(hex);
      const range = (start: number, end: number): string[] => all.slice(start, end);
      // Both bounds present in the store.
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('b') }), range(4, 7));
      // Bounds that are not keys.
      assert.deepEqual(scanKeys(store, { start: text('aa'), end: text('abd') }), range(5, 7));
      // Only a start, only an end.
      assert.deepEqual(scanKeys(store, { start: bytes(0xff) }), range(12, 16));
      assert.deepEqual(scanKeys(store, { end: bytes(0x01) }), range(0, 3));
      // A prefix scan: every key starting with 0xff 0xff has no upper bound.
      assert.deepEqual(scanKeys(store, { start: bytes(0xff, 0xff) }), range(14, 16));
      // The prefix range of "a" is ["a", "b").
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('b') }), [hex(text('a')), hex(text('ab')), hex(text('abc'))]);
      // Empty ranges.
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('a') }), []);
      assert.deepEqual(scanKeys(store, { start: text('b'), end: text('a') }), []);
      assert.deepEqual(scanKeys(store, { start: bytes(0xff, 0xff, 0xff, 0x00) }), []);
      assert.deepEqual(scanKeys(store, { end: bytes(0x00) }), []);
    });

    it('reverse scan walks [start, end) backwards', async () => {
      await clear();
      await putAll(store, orderedKeys);
      const all = orderedKeys.map(hex);
      const backwards = (start: number, end: number): string[] => all.slice(start, end).reverse();
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('b'), reverse: true }), backwards(4, 7));
      assert.deepEqual(scanKeys(store, { start: text('aa'), end: text('abd'), reverse: true }), backwards(5, 7));
      assert.deepEqual(scanKeys(store, { start: text('ab'), end: text('abc'), reverse: true }), backwards(5, 6));
      assert.deepEqual(scanKeys(store, { start: bytes(0xff), reverse: true }), backwards(12, 16));
      assert.deepEqual(scanKeys(store, { end: bytes(0x01), reverse: true }), backwards(0, 3));
      assert.deepEqual(scanKeys(store, { start: bytes(0x00), end: bytes(0x00, 0x00), reverse: true }), backwards(0, 1));
      // Empty ranges stay empty backwards, even when `start` is a key.
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('a'), reverse: true }), []);
      assert.deepEqual(scanKeys(store, { start: text('b'), end: text('a'), reverse: true }), []);
      assert.deepEqual(scanKeys(store, { start: bytes(0xff, 0xff, 0xff, 0x00), reverse: true }), []);
      assert.deepEqual(scanKeys(store, { end: bytes(0x00), reverse: true }), []);
    });

    it('limit takes the first entries in scan direction', async () => {
      await clear();
      await putAll(store, orderedKeys);
      const all = orderedKeys.map(hex);
      assert.deepEqual(scanKeys(store, { limit: 3 }), all.slice(0, 3));
      assert.deepEqual(scanKeys(store, { limit: 3, reverse: true }), all.slice(-3).reverse());
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('b'), limit: 2 }), all.slice(4, 6));
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('b'), limit: 2, reverse: true }), [all[6]!, all[5]!]);
      // `start` is the last entry of a reverse scan: the limit must still hold.
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('ab'), limit: 1, reverse: true }), [all[4]!]);
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('abc'), limit: 1, reverse: true }), [all[5]!]);
      assert.deepEqual(scanKeys(store, { limit: 0 }), []);
      assert.deepEqual(scanKeys(store, { limit: 0, reverse: true }), []);
      assert.deepEqual(scanKeys(store, { start: text('a'), end: text('b'), limit: 0, reverse: true }), []);
      assert.deepEqual(scanKeys(store, { limit: 1000 }), all);
    });

    it('the transaction resolves to the value its body returns', async () => {
      await clear();
      const result = await store.transact((transaction) => {
        transaction.put(text('x'), text('1'));
        return { answer: 42 };
      });
      assert.deepEqual(result, { answer: 42 });
    });

    it('reads inside a transaction see its own writes', async () => {
      await clear();
      await putAll(store, [text('a'), text('b'), text('c')]);
      const seen = await store.transact((transaction) => {
        transaction.put(text('b'), text('new-b'));
        transaction.put(text('d'), text('new-d'));
        transaction.delete(text('a'));
        return {
          a: transaction.get(text('a')),
          b: transaction.get(text('b')),
          d: transaction.get(text('d')),
          forward: scanKeys(transaction, {}),
          backward: scanKeys(transaction, { reverse: true, start: text('b') }),
        };
      });
      assert.equal(seen.a, undefined);
      assert.deepEqual(Buffer.from(seen.b!), Buffer.from('new-b'));
      assert.deepEqual(Buffer.from(seen.d!), Buffer.from('new-d'));
      assert.deepEqual(seen.forward, ['b', 'c', 'd'].map((key) => hex(text(key))));
      assert.deepEqual(seen.backward, ['d', 'c', 'b'].map((key) => hex(text(key))));
      // And the writes are in the store afterwards.
      assert.deepEqual(scanKeys(store, {}), ['b', 'c', 'd'].map((key) => hex(text(key))));
    });

    it('a throwing body writes nothing and the promise rejects with its error', async () => {
      await clear();
      await putAll(store, [text('keep'), text('change'), text('drop')]);
      const before = scanPairs(store, {});
      const failure = new Error('body failed on purpose');
      let sawOwnWrites = false;
      await assert.rejects(
        store.transact((transaction) => {
          transaction.put(text('new'), text('1'));
          transaction.put(text('change'), text('2'));
          transaction.delete(text('drop'));
          sawOwnWrites = transaction.get(text('new')) !== undefined && transaction.get(text('drop')) === undefined;
          throw failure;
        }),
        (error: unknown) => error === failure,
      );
      assert.equal(sawOwnWrites, true);
      assert.deepEqual(scanPairs(store, {}), before);
      // The store is usable after a rollback.
      await store.transact((transaction) => {
        transaction.put(text('after'), text('3'));
      });
      assert.deepEqual(Buffer.from(store.get(text('after'))!), Buffer.from('3'));
    });

    it('a throwing transaction does not undo a concurrent one', async () => {
      await clear();
      const results = await Promise.allSettled([
        store.transact((transaction) => {
          transaction.put(text('first'), text('1'));
        }),
        store.transact((transaction) => {
          transaction.put(text('second'), text('2'));
          throw new Error('second fails');
        }),
        store.transact((transaction) => {
          transaction.put(text('third'), text('3'));
          return transaction.get(text('second'));
        }),
      ]);
      assert.deepEqual(
        results.map((result) => result.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      const third = results[2];
      assert.ok(third?.status === 'fulfilled');
      assert.equal(third.value, undefined);
      assert.deepEqual(scanKeys(store, {}), [hex(text('first')), hex(text('third'))]);
    });

    it('transactions apply in the order they were started', async () => {
      await clear();
      await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          store.transact((transaction) => {
            transaction.put(text('counter'), Uint8Array.of(index));
          }),
        ),
      );
      assert.deepEqual(Buffer.from(store.get(text('counter'))!), Buffer.of(19));
    });

    it('a synchronous transaction returns its value and sees its own writes', async () => {
      await clear();
      await putAll(store, [text('a'), text('b')]);
      await store.transact((transaction) => {
        transaction.put(text('c'), text('from-async'));
      });
      const seen = store.transactSync((transaction) => {
        transaction.put(text('b'), text('new-b'));
        transaction.delete(text('a'));
        transaction.put(text('c'), text('from-sync'));
        return { a: transaction.get(text('a')), b: transaction.get(text('b')), keys: scanKeys(transaction, {}) };
      });
      assert.equal(seen.a, undefined);
      assert.deepEqual(Buffer.from(seen.b!), Buffer.from('new-b'));
      assert.deepEqual(seen.keys, ['b', 'c'].map((key) => hex(text(key))));
      // Returned means committed: the writes are in the store.
      assert.deepEqual(scanKeys(store, {}), ['b', 'c'].map((key) => hex(text(key))));
      assert.deepEqual(Buffer.from(store.get(text('c'))!), Buffer.from('from-sync'));
    });

    it('a throwing synchronous transaction writes nothing and throws its error', () => {
      const before = scanPairs(store, {});
      const failure = new Error('sync body failed on purpose');
      assert.throws(
        () =>
          store.transactSync((transaction) => {
            transaction.put(text('new'), text('1'));
            transaction.delete(text('b'));
            throw failure;
          }),
        (error: unknown) => error === failure,
      );
      assert.deepEqual(scanPairs(store, {}), before);
      store.transactSync((transaction) => {
        transaction.put(text('after'), text('2'));
      });
      assert.deepEqual(Buffer.from(store.get(text('after'))!), Buffer.from('2'));
    });

    if (factory.name === 'LmdbStore') {
      it('committed transactions survive close and reopen', async () => {
        await clear();
        await putAll(store, orderedKeys);
        const expected = scanPairs(store, {});
        assert.ok(opened.reopen !== undefined);
        store = await opened.reopen();
        assert.deepEqual(scanPairs(store, {}), expected);
        store.transactSync((transaction) => {
          transaction.put(text('sync'), text('durable'));
        });
        store = await opened.reopen();
        assert.deepEqual(Buffer.from(store.get(text('sync'))!), Buffer.from('durable'));
      });
    }
  });
}

// Property: random operations on both stores and on a plain model.

type KvOp =
  | { readonly kind: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly kind: 'delete'; readonly key: Uint8Array };

interface Batch {
  readonly ops: readonly KvOp[];
  readonly throws: boolean;
}

/** A few byte values near the edges, so keys collide, share prefixes and hit 0x00 / 0xff. */
const keyArbitrary = fc.uint8Array({ minLength: 1, maxLength: 4 }).map((raw) =>
  Uint8Array.from(raw, (value) => [0x00, 0x01, 0x61, 0x7f, 0x80, 0xfe, 0xff][value % 7]!),
);

const opArbitrary: fc.Arbitrary<KvOp> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: keyArbitrary, value: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), key: keyArbitrary }),
);

const batchArbitrary: fc.Arbitrary<Batch> = fc.record({
  ops: fc.array(opArbitrary, { minLength: 1, maxLength: 8 }),
  throws: fc.nat({ max: 3 }).map((value) => value === 0),
});

const scanArbitrary: fc.Arbitrary<ScanOptions> = fc.record(
  {
    start: keyArbitrary,
    end: keyArbitrary,
    reverse: fc.boolean(),
    limit: fc.nat({ max: 6 }),
  },
  { requiredKeys: [] },
);

class ModelStore {
  private readonly entries = new Map<string, KvEntry>();

  apply(ops: readonly KvOp[]): void {
    for (const op of ops) {
      if (op.kind === 'put') this.entries.set(hex(op.key), { key: op.key, value: op.value });
      else this.entries.delete(hex(op.key));
    }
  }

  copy(): ModelStore {
    const model = new ModelStore();
    for (const [name, entry] of this.entries) model.entries.set(name, entry);
    return model;
  }

  scan(options: ScanOptions): [string, string][] {
    const { start, end } = options;
    const sorted = [...this.entries.values()]
      .filter((entry) => start === undefined || Buffer.compare(entry.key, start) >= 0)
      .filter((entry) => end === undefined || Buffer.compare(entry.key, end) < 0)
      .sort((a, b) => Buffer.compare(a.key, b.key));
    if (options.reverse === true) sorted.reverse();
    return sorted.slice(0, options.limit ?? sorted.length).map((entry) => [hex(entry.key), hex(entry.value)]);
  }
}

describe('KvStore contract: property', () => {
  it('random batches give identical scans on MemoryKvStore, LmdbStore and a model', async () => {
    const lmdb = await openLmdb();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(batchArbitrary, { minLength: 1, maxLength: 16, size: 'max' }),
          fc.array(scanArbitrary, { minLength: 1, maxLength: 10 }),
          async (batches, scans) => {
            const memory = new MemoryKvStore();
            const stores: KvStore[] = [memory, lmdb.store];
            await lmdb.store.transact((transaction) => {
              for (const entry of [...transaction.scan({})]) transaction.delete(entry.key);
            });
            let model = new ModelStore();
            for (const batch of batches) {
              const inside = model.copy();
              inside.apply(batch.ops);
              for (const store of stores) {
                const run = store.transact((transaction) => {
                  for (const op of batch.ops) {
                    if (op.kind === 'put') transaction.put(op.key, op.value);
                    else transaction.delete(op.key);
                  }
                  // Own writes are visible inside the transaction.
                  assert.deepEqual(scanPairs(transaction, {}), inside.scan({}));
                  if (batch.throws) throw new Error('rolled back on purpose');
                });
                if (batch.throws) await assert.rejects(run, /rolled back on purpose/);
                else await run;
              }
              if (!batch.throws) model = inside;
            }
            for (const options of [{}, { reverse: true }, ...scans]) {
              const expected = model.scan(options);
              for (const store of stores) assert.deepEqual(scanPairs(store, options), expected, JSON.stringify(options));
            }
            for (const [key, value] of model.scan({})) {
              for (const store of stores) assert.equal(hex(store.get(Buffer.from(key, 'hex'))!), value);
            }
            await memory.close();
          },
        ),
        { numRuns: 150 },
      );
    } finally {
      await lmdb.cleanup();
    }
  });
});
