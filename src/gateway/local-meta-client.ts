// MetaClient bound to an in-process MetaService: the embedded node's binding.
// Ops go through the service's client sessions; every read is a MetaQuery run
// against the service's own store by runMetaQuery, the same function a
// cluster's primary runs for gateway/remote-meta-client.ts. The store holds
// every acknowledged op, so a read after an acknowledged op sees it.

import { runMetaQuery } from '../meta/meta-queries.js';
import type { MetaQueryOf, MetaQueryResults, MetaQueryType } from '../meta/meta-queries.js';
import type { MetaService } from '../meta/meta-service.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import { QueryMetaClient } from './query-meta-client.js';

export class LocalMetaClient extends QueryMetaClient {
  constructor(private readonly service: MetaService) {
    super();
  }

  submit(op: MetaOp): Promise<MetaResult> {
    return this.service.submit(op);
  }

  protected query<T extends MetaQueryType>(query: MetaQueryOf<T>): Promise<MetaQueryResults[T]> {
    try {
      return Promise.resolve(runMetaQuery(this.service.reader, query));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
