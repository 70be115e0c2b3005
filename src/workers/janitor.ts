// Janitor: aborts PREPARING versions whose writer is gone, and multipart
// uploads left unfinished longer than the upload timeout. A version older than
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
    private readonly uploadTimeoutMs: number = 7 * 24 * 60 * 60 * 1000,
  ) {}

  /** Aborts multipart uploads older than the upload timeout; returns how many. */
  async abortStaleUploads(): Promise<number> {
    const now = this.env.clock.nowMs();
    let aborted = 0;
    for (const bucket of await this.meta.listBuckets()) {
      let after: { key: string; uploadId: string } | undefined;
      for (;;) {
        const uploads = await this.meta.listUploads(bucket.name, { prefix: '', ...(after === undefined ? {} : { after }), limit: 1000 });
        if (uploads.length === 0) break;
        for (const upload of uploads) {
          after = { key: upload.key, uploadId: upload.uploadId };
          if (upload.createdMs + this.uploadTimeoutMs > now) continue;
          const result = await this.meta.submit({ type: 'abort_upload', bucket: upload.bucket, key: upload.key, uploadId: upload.uploadId });
          if (result.status === 'ok') aborted++;
        }
      }
    }
    if (aborted > 0) this.env.logger.log('info', 'janitor aborted stale multipart uploads', { count: aborted });
    return aborted;
  }

  /** Aborts PREPARING versions older than the timeout (all of them with `all`). */
  async runPass(options: { all?: boolean } = {}): Promise<number> {
    const now = this.env.clock.nowMs();
    const stale = (await this.meta.listPreparing()).filter(
      (version) => options.all === true || version.createdMs + this.preparingTimeoutMs <= now,
    );
    for (const version of stale) {
      await this.meta.submit({ type: 'abort_version', bucket: version.bucket, versionId: version.versionId });
    }
    if (stale.length > 0) this.env.logger.log('info', 'janitor aborted stale PREPARING versions', { count: stale.length });
    return stale.length;
  }
}
