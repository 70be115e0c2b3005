// A small replicated KV register service for the simulator: the state machine
// the replicas run, and the sequential model the linearizability checker
// replays. `put` returns the value it replaced, so a lost or doubled write
// shows up in later answers. `reconfigure` is the group's configuration op
// (the replica ends the epoch when it commits; the state machine records the
// size, so converged replicas agree on it too).

import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import type { StateMachine } from '../vsr/replica.js';

/** An op on one key: what clients issue and the linearizability checker judges. */
export type KvKeyOp =
  | { readonly type: 'put'; readonly key: string; readonly value: string }
  | { readonly type: 'get'; readonly key: string };

export type KvOp = KvKeyOp | { readonly type: 'reconfigure'; readonly replicaCount: number };

/** The replica count a configuration op asks for (the replica's `reconfiguration` hook). */
export function kvReconfiguration(op: KvOp): number | undefined {
  return op.type === 'reconfigure' ? op.replicaCount : undefined;
}

/** The value before a put, or the value read; null when absent. */
export type KvResult = string | null;

export class KvStateMachine implements StateMachine<KvOp, KvResult> {
  private readonly values = new Map<string, string>();
  appliedOpNumber = 0;
  /** The replica count of the last configuration op applied (0: none yet). */
  replicaCount = 0;

  apply(op: KvOp, opNumber: number, _timestampMs: number): KvResult {
    this.appliedOpNumber = opNumber;
    if (op.type === 'reconfigure') {
      this.replicaCount = op.replicaCount;
      return null;
    }
    const previous = this.values.get(op.key) ?? null;
    if (op.type === 'put') this.values.set(op.key, op.value);
    return previous;
  }

  /** The current value of `key` (a read served outside the log). */
  valueOf(key: string): KvResult {
    return this.values.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    return encodeRecord({ appliedOpNumber: this.appliedOpNumber, replicaCount: this.replicaCount, values: [...this.values.entries()] });
  }

  restore(snapshot: Uint8Array): void {
    const { appliedOpNumber, replicaCount, values } = decodeRecord(snapshot) as { appliedOpNumber: number; replicaCount: number; values: [string, string][] };
    this.appliedOpNumber = appliedOpNumber;
    this.replicaCount = replicaCount;
    this.values.clear();
    for (const [key, value] of values) this.values.set(key, value);
  }

  /** The whole state as one string, for convergence checks. */
  digest(): string {
    const members = this.replicaCount === 0 ? '' : `#replicas=${this.replicaCount};`;
    return members + [...this.values.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => `${key}=${value}`)
      .join(';');
  }
}

/** The sequential model of one key: next value, or undefined if `result` is impossible. */
export function stepKeyModel(value: string | null, op: KvKeyOp, result: KvResult): string | null | undefined {
  if (result !== value) return undefined;
  return op.type === 'put' ? op.value : value;
}
