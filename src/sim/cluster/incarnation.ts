// One life of a simulated node, from a start to its crash. Everything the
// node waits on (a timer, a reply, a disk operation) is tied to the life that
// asked for it, and is dropped instead of run once that life has ended: a
// crashed node's code never runs again, and its restart is a new life with
// fresh objects built from what its disk kept.

export class Incarnation {
  private aliveValue = true;

  constructor(
    /** The node's name, as the fault log and the trace print it. */
    readonly node: string,
    /** 1 for the first start, then one more per restart. */
    readonly number: number,
  ) {}

  get alive(): boolean {
    return this.aliveValue;
  }

  /** Ends this life: whatever it waits on is dropped from now on. */
  end(): void {
    this.aliveValue = false;
  }
}
