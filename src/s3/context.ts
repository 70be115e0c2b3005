// What every S3 handler receives: the parsed request, who is asking, and the
// services behind the API. Built once per request by S3Api.

import type { Env } from '../io/env.js';
import type { Gateway } from '../gateway/gateway.js';
import type { MetaClient } from '../gateway/clients.js';
import type { AclPermission, BucketRecord, VersionRecord } from '../meta/records.js';
import { isAllowed } from './access.js';
import type { Principal } from './access.js';
import type { AuthResult } from './auth/sigv4.js';
import { S3Error } from './errors.js';
import { checkKey } from './request-target.js';
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
  /** The root user's access key: the only one the admin API accepts. */
  readonly rootAccessKeyId: string;
}

export interface RequestContext {
  readonly services: S3Services;
  readonly request: S3Request;
  readonly target: RequestTarget;
  readonly requestId: string;
  readonly auth: AuthResult;
  /** The account acting (for anonymous callers: a placeholder that owns nothing). */
  readonly user: S3User;
  readonly principal: Principal;
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
  checkKey(key);
  return key;
}

/**
 * Loads the bucket and checks the caller holds `permission` on it: 'owner'
 * for what only the owner may do, 'exists' where the object's own ACL decides.
 */
export async function requireBucket(
  context: RequestContext,
  permission: AclPermission | 'owner' | 'exists',
  bucket = bucketName(context),
): Promise<BucketRecord> {
  const record = await context.services.meta.getBucket(bucket);
  if (record === undefined) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
  if (permission === 'exists') return record;
  const isOwner = context.principal.kind === 'user' && context.principal.id === record.owner;
  if (permission === 'owner' ? !isOwner : !isAllowed(context.principal, record.owner, record.acl, permission)) throw new S3Error('AccessDenied');
  return record;
}

/** Checks the caller may act on an object (its ACL; its owner always may). */
export function requireObjectPermission(context: RequestContext, version: VersionRecord, permission: AclPermission): void {
  if (!isAllowed(context.principal, version.owner, version.acl, permission)) throw new S3Error('AccessDenied');
}

/** Refuses anonymous callers (operations that need an account). */
export function requireAccount(context: RequestContext): void {
  if (context.principal.kind === 'anonymous') throw new S3Error('AccessDenied', 'Anonymous access is not allowed for this operation');
}
