// A linearizability checker for the KV register history (Wing and Gong's
// search with Lowe's memo of visited (linearized set, state) pairs, as in
// Porcupine). Keys are independent (linearizability is compositional), so each
// key's history is checked alone. The search is bounded: past `stepsMax` it
// answers "unknown" rather than running forever. No recursion: an explicit stack.

import { assert } from '../stdx/assert.js';
import type { KvKeyOp, KvResult } from './kv-model.js';
import { stepKeyModel } from './kv-model.js';

export interface HistoryOp {
  readonly clientId: string;
  readonly op: KvKeyOp;
  readonly invokeMs: number;
  /** Infinity while no answer came: the op may or may not have taken effect. */
  readonly returnMs: number;
  /** undefined while pending. */
  readonly result: KvResult | undefined;
}

export type LinearizabilityVerdict =
  | { readonly status: 'ok' }
  | { readonly status: 'violation'; readonly key: string; readonly ops: readonly HistoryOp[] }
  | { readonly status: 'unknown'; readonly key: string };

interface Frame {
  readonly mask: bigint;
  readonly value: string | null;
  readonly candidates: readonly number[];
  next: number;
}

export function checkLinearizable(history: readonly HistoryOp[], stepsMax = 200_000): LinearizabilityVerdict {
  const byKey = new Map<string, HistoryOp[]>();
  for (const entry of history) {
    if (entry.result === undefined && entry.op.type === 'get') continue; // A pending read changes nothing.
    const ops = byKey.get(entry.op.key) ?? [];
    ops.push(entry);
    byKey.set(entry.op.key, ops);
  }
  for (const key of [...byKey.keys()].sort()) {
    const verdict = checkKey(byKey.get(key)!, stepsMax);
    if (verdict === 'violation') return { status: 'violation', key, ops: byKey.get(key)! };
    if (verdict === 'unknown') return { status: 'unknown', key };
  }
  return { status: 'ok' };
}

function checkKey(unsorted: readonly HistoryOp[], stepsMax: number): 'ok' | 'violation' | 'unknown' {
  const ops = [...unsorted].sort((a, b) => a.invokeMs - b.invokeMs);
  assert(ops.length < 4096, `history of ${ops.length} ops on one key is past the checker's bound`);
  let completedMask = 0n;
  ops.forEach((entry, index) => {
    if (entry.result !== undefined) completedMask |= 1n << BigInt(index);
  });
  const candidatesOf = (mask: bigint): number[] => {
    let minReturnMs = Number.POSITIVE_INFINITY;
    for (let index = 0; index < ops.length; index++) {
      if ((mask & (1n << BigInt(index))) === 0n) minReturnMs = Math.min(minReturnMs, ops[index]!.returnMs);
    }
    const out: number[] = [];
    for (let index = 0; index < ops.length; index++) {
      if ((mask & (1n << BigInt(index))) === 0n && ops[index]!.invokeMs <= minReturnMs) out.push(index);
    }
    return out;
  };
  const seen = new Set<string>();
  const stack: Frame[] = [{ mask: 0n, value: null, candidates: candidatesOf(0n), next: 0 }];
  let steps = 0;
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    if ((top.mask & completedMask) === completedMask) return 'ok';
    if (top.next >= top.candidates.length) {
      stack.pop();
      continue;
    }
    const index = top.candidates[top.next++]!;
    const entry = ops[index]!;
    const value = entry.result === undefined ? (entry.op.type === 'put' ? entry.op.value : top.value) : stepKeyModel(top.value, entry.op, entry.result);
    if (value === undefined) continue;
    const mask = top.mask | (1n << BigInt(index));
    const memo = `${mask.toString(36)}|${value}`;
    if (seen.has(memo)) continue;
    seen.add(memo);
    if (++steps > stepsMax) return 'unknown';
    stack.push({ mask, value, candidates: candidatesOf(mask), next: 0 });
  }
  return 'violation';
}
