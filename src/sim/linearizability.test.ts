// The linearizability checker must accept linearizable histories and, above
// all, reject broken ones: a checker that cannot fail proves nothing.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HistoryOp } from './linearizability.js';
import { checkLinearizable } from './linearizability.js';

const put = (clientId: string, key: string, value: string, invokeMs: number, returnMs: number, result: string | null | undefined): HistoryOp => ({
  clientId,
  op: { type: 'put', key, value },
  invokeMs,
  returnMs,
  result,
});
const get = (clientId: string, key: string, invokeMs: number, returnMs: number, result: string | null): HistoryOp => ({
  clientId,
  op: { type: 'get', key },
  invokeMs,
  returnMs,
  result,
});

describe('checkLinearizable', () => {
  it('accepts a sequential history', () => {
    const history = [put('a', 'k', '1', 0, 1, null), get('b', 'k', 2, 3, '1'), put('a', 'k', '2', 4, 5, '1'), get('b', 'k', 6, 7, '2')];
    assert.deepEqual(checkLinearizable(history), { status: 'ok' });
  });

  it('accepts concurrent ops in either order', () => {
    const history = [put('a', 'k', '1', 0, 10, null), get('b', 'k', 1, 9, '1'), get('c', 'k', 2, 8, '1')];
    assert.equal(checkLinearizable(history).status, 'ok');
  });

  it('rejects a stale read after an acknowledged write (a lost commit)', () => {
    const history = [put('a', 'k', '1', 0, 1, null), put('a', 'k', '2', 2, 3, '1'), get('b', 'k', 4, 5, '1')];
    assert.equal(checkLinearizable(history).status, 'violation');
  });

  it('rejects a write that was applied twice (its old value seen twice)', () => {
    const history = [put('a', 'k', '1', 0, 1, null), put('b', 'k', '2', 2, 3, '1'), put('c', 'k', '3', 4, 5, '1')];
    assert.equal(checkLinearizable(history).status, 'violation');
  });

  it('lets a pending write take effect or not', () => {
    const pending = put('a', 'k', '1', 0, Number.POSITIVE_INFINITY, undefined);
    assert.equal(checkLinearizable([pending, get('b', 'k', 5, 6, '1')]).status, 'ok');
    assert.equal(checkLinearizable([pending, get('b', 'k', 5, 6, null)]).status, 'ok');
    assert.equal(checkLinearizable([pending, get('b', 'k', 5, 6, '1'), get('b', 'k', 7, 8, null)]).status, 'violation');
  });

  it('checks keys independently', () => {
    const history = [put('a', 'x', '1', 0, 1, null), put('a', 'y', '1', 2, 3, null), get('b', 'x', 4, 5, null)];
    const verdict = checkLinearizable(history);
    assert.equal(verdict.status, 'violation');
    assert.equal(verdict.status === 'violation' && verdict.key, 'x');
  });
});
