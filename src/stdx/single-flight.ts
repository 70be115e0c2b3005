// One run at a time: a background pass (GC, healer reports, rebalancer,
// orphan sweep) called while it is already running joins that run instead of
// starting a second one over the same work.

export class SingleFlight<T> {
  private running: Promise<T> | undefined;

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /** Runs `body`, or returns the promise of the run in progress. */
  async run(body: () => Promise<T>): Promise<T> {
    if (this.running !== undefined) return this.running;
    this.running = body();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }
}
