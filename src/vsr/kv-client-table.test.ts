// The persisted client table (kv-client-table.ts): a turn's rows go in one
// delta, deltas fold into rows, evicted clients stay gone, a checkpoint
// replaces everything, and a reader (a restart) always sees the latest row of
// every client: checked by hand and against a model under random turns,
// evictions, checkpoints and reopens.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryKvStore } from '../io/memory-kv-store.js';
import { keysUnder } from '../../test/helpers/kv.js';
import type { ClientEntry } from './client-table.js';
import { PersistedClientTable, readClientRows } from './kv-client-table.js';

type Row = ClientEntry<string | null>;

function sorted(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
}

function row(clientId: string, requestNumber: number, opNumber: number): Row {
  return { clientId, requestNumber, opNumber, result: `${clientId}@${opNumber}` };
}

/** One driver turn's writes to the table: its committed rows, then the clients it evicted. */
function turn(kv: MemoryKvStore, table: PersistedClientTable<string | null>, rows: readonly Row[], dropped: readonly string[] = []): void {
  kv.transactSync((transaction) => {
    table.commit(transaction, rows);
    table.drop(transaction, dropped);
  });
}

describe('PersistedClientTable', () => {
  it('a turn is one delta however many rows; readers see the latest row of each client', () => {
    const kv = new MemoryKvStore();
    const table = new PersistedClientTable<string | null>(kv, 8);
    turn(kv, table, [row('a', 1, 1), row('b', 1, 2), row('a', 2, 3)]);
    turn(kv, table, [row('c', 1, 4), row('b', 2, 5)]);
    assert.equal(keysUnder(kv, 'r/d/'), 2);
    assert.equal(keysUnder(kv, 'r/c/'), 0);
    assert.deepEqual(sorted(readClientRows(kv)), [row('a', 2, 3), row('b', 2, 5), row('c', 1, 4)]);
  });

  it('every foldEvery deltas the rows are folded: one row per client, no deltas left', () => {
    const kv = new MemoryKvStore();
    const table = new PersistedClientTable<string | null>(kv, 3);
    let op = 0;
    for (let round = 0; round < 3; round++) {
      turn(kv, table, ['a', 'b'].map((clientId) => row(clientId, ++op, op)));
    }
    assert.equal(keysUnder(kv, 'r/d/'), 0);
    assert.equal(keysUnder(kv, 'r/c/'), 2);
    assert.equal(table.unfoldedDeltas, 0);
    assert.deepEqual(sorted(readClientRows(kv)), [row('a', 5, 5), row('b', 6, 6)]);
  });

  it('an evicted client stays gone, whether its row was folded or only in a delta', () => {
    const kv = new MemoryKvStore();
    const table = new PersistedClientTable<string | null>(kv, 2);
    turn(kv, table, [row('old', 1, 1), row('a', 1, 2)]);
    turn(kv, table, [row('b', 1, 3)]); // folds: 'old' is a row now
    turn(kv, table, [row('fresh', 1, 4)]); // 'fresh' only in a delta
    turn(kv, table, [row('c', 1, 5)], ['old', 'fresh']);
    assert.deepEqual(sorted(readClientRows(kv)).map((entry) => entry.clientId), ['a', 'b', 'c']);
    assert.equal(keysUnder(kv, 'r/d/'), 0, 'dropping folds first, so no delta holds a dropped client');
  });

  it('an installed checkpoint replaces rows and deltas', async () => {
    const kv = new MemoryKvStore();
    const table = new PersistedClientTable<string | null>(kv, 2);
    turn(kv, table, [row('a', 1, 1), row('b', 1, 2)]);
    turn(kv, table, [row('c', 1, 3)]);
    turn(kv, table, [row('d', 1, 4)]);
    await kv.transact((transaction) => {
      table.replace(transaction, [row('x', 7, 9)]);
    });
    assert.deepEqual(readClientRows(kv), [row('x', 7, 9)]);
    assert.equal(keysUnder(kv, 'r/d/'), 0);
  });

  it('a reopened table folds the deltas the last run left: no row is lost', () => {
    const kv = new MemoryKvStore();
    const first = new PersistedClientTable<string | null>(kv, 4);
    turn(kv, first, [row('a', 1, 1)]);
    turn(kv, first, [row('b', 1, 2)]);
    const second = new PersistedClientTable<string | null>(kv, 4);
    assert.equal(second.unfoldedDeltas, 2);
    turn(kv, second, [row('c', 1, 3)]);
    turn(kv, second, [row('d', 1, 4)]); // the 4th delta: folds
    assert.equal(keysUnder(kv, 'r/d/'), 0);
    assert.deepEqual(sorted(readClientRows(kv)).map((entry) => entry.clientId), ['a', 'b', 'c', 'd']);
  });

  it('random turns, evictions, checkpoints and reopens: readers always see the model', () => {
    type Step =
      | { readonly kind: 'turn'; readonly clients: readonly number[]; readonly dropped: readonly number[] }
      | { readonly kind: 'checkpoint'; readonly clients: readonly number[] }
      | { readonly kind: 'reopen' };
    const client = fc.integer({ min: 0, max: 7 });
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('turn' as const), clients: fc.array(client, { maxLength: 5 }), dropped: fc.array(client, { maxLength: 2 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('checkpoint' as const), clients: fc.uniqueArray(client, { maxLength: 4 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 40 }), (foldEvery, steps) => {
        const kv = new MemoryKvStore();
        let table = new PersistedClientTable<string | null>(kv, foldEvery);
        const model = new Map<string, Row>();
        let op = 0;
        for (const current of steps) {
          if (current.kind === 'reopen') {
            table = new PersistedClientTable<string | null>(kv, foldEvery);
          } else if (current.kind === 'checkpoint') {
            const rows = current.clients.map((id) => row(`c${id}`, ++op, op));
            kv.transactSync((transaction) => {
              table.replace(transaction, rows);
            });
            model.clear();
            for (const entry of rows) model.set(entry.clientId, entry);
          } else {
            const rows = current.clients.map((id) => row(`c${id}`, ++op, op));
            // A client may be committed and then evicted in one turn (a tiny table): it ends dropped.
            const dropped = [...new Set(current.dropped.map((id) => `c${id}`))];
            turn(kv, table, rows, dropped);
            for (const entry of rows) model.set(entry.clientId, entry);
            for (const id of dropped) model.delete(id);
          }
          assert.deepEqual(sorted(readClientRows(kv)), sorted([...model.values()]));
          assert.ok(keysUnder(kv, 'r/d/') < foldEvery, 'deltas are folded before there are foldEvery of them');
        }
      }),
      { numRuns: 300 },
    );
  });
});
