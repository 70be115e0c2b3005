// The VSR client table: client id → its latest committed request number and
// the reply, so a retried request is answered from here instead of being
// executed twice (at-most-once). Every replica builds it in op order while
// applying committed entries, so a new primary already holds it.

import { assert } from '../stdx/assert.js';

export interface ClientRecord<Result> {
  readonly requestNumber: number;
  readonly opNumber: number;
  readonly result: Result;
}

/** One row of the table, as a checkpoint carries it. */
export interface ClientEntry<Result> extends ClientRecord<Result> {
  readonly clientId: string;
}

export class ClientTable<Result> {
  private readonly records = new Map<string, ClientRecord<Result>>();

  constructor(private readonly clientsMax: number) {
    assert(clientsMax > 0, 'client table needs room for one client');
  }

  get(clientId: string): ClientRecord<Result> | undefined {
    return this.records.get(clientId);
  }

  /**
   * Records a committed request; request numbers of one client only grow.
   * When the table is full, a new client evicts the client whose latest
   * request committed earliest (every replica applies the same ops in the same
   * order, so every replica evicts the same one). An evicted client's retry
   * of an old request would run again: clients are sessions that live far
   * shorter than it takes `clientsMax` newer clients to push them out.
   * Returns the evicted client id, if any.
   */
  record(clientId: string, record: ClientRecord<Result>): string | undefined {
    const previous = this.records.get(clientId);
    assert(
      previous === undefined || previous.requestNumber < record.requestNumber,
      `client ${clientId}: request ${record.requestNumber} committed after ${previous?.requestNumber}`,
    );
    let evicted: string | undefined;
    if (previous === undefined && this.records.size >= this.clientsMax) {
      // Map order is insertion order; re-inserting on every record keeps it
      // ordered by the op of each client's latest request.
      evicted = this.records.keys().next().value;
      assert(evicted !== undefined);
      this.records.delete(evicted);
    }
    this.records.delete(clientId);
    this.records.set(clientId, record);
    return evicted;
  }

  /** Every row, in client id order (a checkpoint's copy). */
  entries(): ClientEntry<Result>[] {
    return [...this.records.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([clientId, record]) => ({ clientId, ...record }));
  }

  /** Replaces the table with a checkpoint's rows. */
  load(entries: readonly ClientEntry<Result>[]): void {
    assert(entries.length <= this.clientsMax, `checkpoint holds ${entries.length} clients, the table ${this.clientsMax}`);
    this.records.clear();
    // Oldest first, so eviction order survives a restart or a state transfer.
    const byOp = [...entries].sort((a, b) => a.opNumber - b.opNumber);
    for (const { clientId, requestNumber, opNumber, result } of byOp) this.records.set(clientId, { requestNumber, opNumber, result });
  }

  get size(): number {
    return this.records.size;
  }
}
