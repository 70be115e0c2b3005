// What every S3 handler receives: the parsed request, who is asking, and the
// services behind the API. Built once per request by S3Api.

import type { Env } from '../io/env.js';
import type { Gateway } from '../gateway/gateway.js';
import type { MetaClient } from '../gateway/clients.js';
import type { BucketRecord } from '../meta/records.js';
import type { AuthResult } from './auth/sigv4.js';
import { S3Error } from './errors.js';
import type { S3Request } from './http.js';
import type { RequestTarget } from './request-target.js';
import type { S3User, UserDirectory } from './users.js';

export interface S3Services {
  readonly env: Env;
  readonly meta: MetaClient;
  readonly gateway: Gateway;
  readonly users: UserDirectory;
  readonly region: string;
  /** Largest single PUT body. */
  readonly objectBytesMax: number;
  /** Smallest multipart part but the last (S3: 5 MiB). */
  readonly partBytesMin: number;
}

export interface RequestContext {
  readonly services: S3Services;
  readonly request: S3Request;
  readonly target: RequestTarget;
  readonly requestId: string;
  readonly auth: AuthResult;
  readonly user: S3User;
  readonly nowMs: number;
}

export function header(context: RequestContext, name: string): string | undefined {
  return context.request.headers[name];
}

/** The bucket this request names; InvalidRequest when there is none. */
export function bucketName(context: RequestContext): string {
  const bucket = context.target.bucket;
  if (bucket === undefined) throw new S3Error('InvalidRequest', 'A bucket name is required');
  return bucket;
}

export function objectKeyOf(context: RequestContext): string {
  const key = context.target.key;
  if (key === undefined) throw new S3Error('InvalidRequest', 'An object key is required');
  return key;
}

/** Loads the bucket and checks the caller may use it (owner only, for now). */
export async function requireBucket(context: RequestContext, bucket = bucketName(context)): Promise<BucketRecord> {
  const record = await context.services.meta.getBucket(bucket);
  if (record === undefined) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
  if (record.owner !== context.user.canonicalId) throw new S3Error('AccessDenied');
  return record;
}
