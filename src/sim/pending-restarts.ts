// Restarts a fault schedule has promised (a crashed replica or node comes back
// at `atMs`): the group and cluster simulations both keep them here, wake the
// world at the earliest, and take out those due, latest scheduled first (the
// order their seeds were recorded with).

export class PendingRestarts<T extends { readonly atMs: number }> {
  private readonly pending: T[] = [];

  add(restart: T): void {
    this.pending.push(restart);
  }

  /** When the earliest pending restart is due (Infinity when none is). */
  nextMs(): number {
    return this.pending.reduce((earliest, restart) => Math.min(earliest, restart.atMs), Number.POSITIVE_INFINITY);
  }

  /** Removes and returns the restarts due by `nowMs`, latest scheduled first. */
  takeDue(nowMs: number): T[] {
    const due: T[] = [];
    for (let position = this.pending.length - 1; position >= 0; position--) {
      if (this.pending[position]!.atMs > nowMs) continue;
      due.push(this.pending[position]!);
      this.pending.splice(position, 1);
    }
    return due;
  }

  /** Drops the first pending restart that `matches` (one made moot). */
  removeFirst(matches: (restart: T) => boolean): void {
    const position = this.pending.findIndex(matches);
    if (position >= 0) this.pending.splice(position, 1);
  }

  /** Whether a pending restart `matches`. */
  some(matches: (restart: T) => boolean): boolean {
    return this.pending.some(matches);
  }

  /** Drops every pending restart (the schedule ends). */
  clear(): void {
    this.pending.length = 0;
  }

  get size(): number {
    return this.pending.length;
  }
}
