// Janitor: aborts PREPARING versions whose writer is gone. A version older than
// the timeout is abandoned; at start-up of the embedded node every PREPARING
// version is (its gateway was this very process). Aborting hands the version's
// fragments to GC.

import type { Env } from '../io/env.js';
import type { MetaClient } from '../gateway/clients.js';

export class Janitor {
  constructor(
    private readonly env: Env,
    private readonly meta: MetaClient,
    private readonly preparingTimeoutMs: number,
  ) {}

  /** Aborts PREPARING versions older than the timeout (all of them with `all`). */
  async runPass(options: { all?: boolean } = {}): Promise<number> {
    const now = this.env.clock.nowMs();
    const stale = (await this.meta.listPreparing()).filter(
      (version) => options.all === true || version.createdMs + this.preparingTimeoutMs <= now,
    );
    for (const version of stale) {
      await this.meta.submit({ type: 'abort_version', versionId: version.versionId });
    }
    if (stale.length > 0) this.env.logger.log('info', 'janitor aborted stale PREPARING versions', { count: stale.length });
    return stale.length;
  }
}
