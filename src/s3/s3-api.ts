// The S3 API: one request in, one response out. Parses the target, checks the
// signature, routes to a handler by method, bucket/key and subresource, and
// turns every failure into an S3 error document with a request id. Nothing
// here knows about sockets (io/node/http-server.ts does).

import type { Logger } from '../io/logger.js';
import { MetaUnavailableError } from '../gateway/remote-meta-client.js';
import { MetaBusyError } from '../meta/meta-service.js';
import { AssertionError } from '../stdx/assert.js';
import { bytesToHex } from '../stdx/bytes.js';
import { authenticate } from './auth/sigv4.js';
import type { AuthResult } from './auth/sigv4.js';
import { authenticatePresignedV2, isPresignedV2 } from './auth/sigv2.js';
import type { RequestContext, S3Services } from './context.js';
import { S3Error, isS3Error } from './errors.js';
import { httpDate } from './http-dates.js';
import type { S3Request, S3Response } from './http.js';
import { createBucket, deleteBucket, getBucketLocation, headBucket, listBuckets } from './handlers/buckets.js';
import { getBucketVersioning, listObjectVersions, putBucketVersioning } from './handlers/versioning.js';
import { copyObject } from './handlers/copy-object.js';
import { getObjectAttributes } from './handlers/object-attributes.js';
import {
  deleteBucketTagging,
  deleteObjectTagging,
  getBucketAcl,
  getBucketTagging,
  getObjectAcl,
  getObjectTagging,
  putBucketAcl,
  putBucketTagging,
  putObjectAcl,
  putObjectTagging,
} from './handlers/acl-tagging.js';
import { deleteObjects } from './handlers/delete-objects.js';
import { listObjectsV1, listObjectsV2 } from './handlers/list-objects.js';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  listMultipartUploads,
  listParts,
  uploadPart,
} from './handlers/multipart.js';
import { deleteObject, getObject, headObject, putObject } from './handlers/objects.js';
import { parseRequestTarget } from './request-target.js';
import type { Principal } from './access.js';
import { makeUser } from './users.js';
import type { S3User } from './users.js';
import { adminPathPrefix, handleAdmin } from './admin-api.js';
import type { RequestTarget } from './request-target.js';
import { errorResponse } from './response.js';

export interface S3ApiOptions {
  /** Domains under which the first DNS label is the bucket (virtual-host style). */
  readonly virtualHostSuffixes: readonly string[];
}

type Handler = (context: RequestContext) => Promise<S3Response>;

/** Subresources we know of but do not serve yet: a clear 501, never a wrong answer. */
const unsupportedBucketSubresources = [
  'policy', 'cors', 'lifecycle', 'website', 'logging', 'notification', 'replication', 'encryption',
  'object-lock', 'ownershipControls', 'publicAccessBlock', 'accelerate', 'requestPayment', 'analytics', 'metrics',
  'inventory', 'intelligent-tiering', 'policyStatus',
] as const;
const unsupportedObjectSubresources = ['retention', 'legal-hold', 'restore', 'torrent', 'select'] as const;

function unsupported(query: ReadonlyMap<string, string>, names: readonly string[]): string | undefined {
  return names.find((name) => query.has(name));
}

function notImplemented(what: string): Handler {
  return () => Promise.reject(new S3Error('NotImplemented', `${what} is not implemented yet`));
}

function route(method: string, target: RequestTarget, headers: S3Request['headers']): Handler {
  const query = target.query;
  if (method === 'OPTIONS') {
    // CORS preflight: there is no CORS configuration yet, so no origin is allowed.
    if (headers.origin === undefined) throw new S3Error('InvalidRequest', 'Insufficient information. Origin request header needed.');
    throw new S3Error('AccessDenied', 'CORSResponse: This CORS request is not allowed.');
  }
  if (target.bucket === undefined) {
    if (method === 'GET') return listBuckets;
    throw new S3Error('MethodNotAllowed');
  }
  if (target.key === undefined) {
    if (method === 'POST' && query.has('delete')) return deleteObjects;
    const subresource = unsupported(query, unsupportedBucketSubresources);
    if (method === 'GET' && query.has('location')) return getBucketLocation;
    if (method === 'GET' && query.has('versioning')) return getBucketVersioning;
    if (method === 'PUT' && query.has('versioning')) return putBucketVersioning;
    if (method === 'GET' && query.has('versions')) return listObjectVersions;
    if (method === 'GET' && query.has('uploads')) return listMultipartUploads;
    const bucketAttribute = routeAttributes(method, query, { acl: [getBucketAcl, putBucketAcl], tagging: [getBucketTagging, putBucketTagging, deleteBucketTagging] });
    if (bucketAttribute !== undefined) return bucketAttribute;
    if (subresource !== undefined || query.has('versioning')) return notImplemented(`Bucket subresource "${subresource ?? 'versioning'}"`);
    switch (method) {
      case 'PUT':
        return createBucket;
      case 'HEAD':
        return headBucket;
      case 'DELETE':
        return deleteBucket;
      case 'GET':
        return query.get('list-type') === '2' ? listObjectsV2 : listObjectsV1;
      default:
        throw new S3Error('MethodNotAllowed');
    }
  }
  const subresource = unsupported(query, unsupportedObjectSubresources);
  if (subresource !== undefined) return notImplemented(`Object subresource "${subresource}"`);
  if (method === 'GET' && query.has('attributes')) return getObjectAttributes;
  const objectAttribute = routeAttributes(method, query, { acl: [getObjectAcl, putObjectAcl], tagging: [getObjectTagging, putObjectTagging, deleteObjectTagging] });
  if (objectAttribute !== undefined) return objectAttribute;
  const multipart = routeMultipart(method, query);
  if (multipart !== undefined) return multipart;
  switch (method) {
    case 'PUT':
      return headers['x-amz-copy-source'] === undefined ? putObject : copyObject;
    case 'GET':
      return getObject;
    case 'HEAD':
      return headObject;
    case 'DELETE':
      return deleteObject;
    default:
      throw new S3Error('MethodNotAllowed');
  }
}

/** ?acl and ?tagging: [GET, PUT, DELETE] handlers (ACLs cannot be deleted). */
function routeAttributes(
  method: string,
  query: ReadonlyMap<string, string>,
  handlers: { acl: [Handler, Handler]; tagging: [Handler, Handler, Handler] },
): Handler | undefined {
  const name = query.has('acl') ? 'acl' : query.has('tagging') ? 'tagging' : undefined;
  if (name === undefined) return undefined;
  const [get, put, remove] = handlers[name];
  if (method === 'GET') return get;
  if (method === 'PUT') return put;
  if (method === 'DELETE' && remove !== undefined) return remove;
  throw new S3Error('MethodNotAllowed');
}

function routeMultipart(method: string, query: ReadonlyMap<string, string>): Handler | undefined {
  if (method === 'POST' && query.has('uploads')) return createMultipartUpload;
  if (!query.has('uploadId')) return undefined;
  switch (method) {
    case 'PUT':
      return uploadPart;
    case 'POST':
      return completeMultipartUpload;
    case 'DELETE':
      return abortMultipartUpload;
    case 'GET':
      return listParts;
    default:
      throw new S3Error('MethodNotAllowed');
  }
}

/** A SigV2 presigned request: signed, with an unsigned payload (no chunked bodies). */
function presignedV2Result(accessKeyId: string): AuthResult {
  return { anonymous: false, accessKeyId, signingKey: Buffer.alloc(0), seedSignature: '', amzDate: '', scope: '', region: '', presigned: true, payload: { kind: 'unsigned' } };
}

/** Stands in for the account of an unsigned request; owns nothing, holds no keys. */
const anonymousUser = makeUser('', '', 'anonymous');

export class S3Api {
  private readonly logger: Logger;

  constructor(
    private readonly services: S3Services,
    private readonly options: S3ApiOptions,
  ) {
    this.logger = services.env.logger;
  }

  async handle(request: S3Request): Promise<S3Response> {
    const requestId = bytesToHex(this.services.env.random.bytes(8)).toUpperCase();
    const nowMs = this.services.env.clock.nowMs();
    let resource = request.rawUrl.split('?')[0] ?? '/';
    let response: S3Response;
    try {
      if (request.rawUrl.startsWith(adminPathPrefix)) {
        response = await handleAdmin(this.services, request, nowMs);
        return this.withRequestIds(response, requestId, nowMs);
      }
      const target = parseRequestTarget(request.rawUrl, request.headers.host, this.options.virtualHostSuffixes);
      resource = decodeResource(target);
      const handler = route(request.method, target, request.headers);
      const lookup = (accessKeyId: string): S3User | undefined => this.services.users.byKey(accessKeyId);
      const auth: AuthResult =
        request.headers.authorization === undefined && isPresignedV2(target.query)
          ? presignedV2Result(authenticatePresignedV2(request, lookup, nowMs))
          : authenticate(request, lookup, nowMs, { region: this.services.region });
      // Anonymous callers get only what ACLs grant to AllUsers.
      const user = auth.anonymous ? anonymousUser : this.services.users.byKey(auth.accessKeyId);
      if (user === undefined) throw new S3Error('InvalidAccessKeyId');
      const principal: Principal = auth.anonymous ? { kind: 'anonymous' } : { kind: 'user', id: user.canonicalId };
      response = await handler({ services: this.services, request, target, requestId, auth, user, principal, nowMs });
    } catch (error) {
      response = errorResponse(this.toS3Error(error, requestId, request), resource, requestId, request.method);
    }
    return this.withRequestIds(response, requestId, nowMs);
  }

  private withRequestIds(response: S3Response, requestId: string, nowMs: number): S3Response {
    return {
      ...response,
      headers: { ...response.headers, 'x-amz-request-id': requestId, 'x-amz-id-2': requestId, date: httpDate(nowMs), server: 'Tessera' },
    };
  }

  private toS3Error(error: unknown, requestId: string, request: S3Request): S3Error {
    if (isS3Error(error)) return error;
    // A broken invariant is a bug: let it crash the process (STYLE.md "Errors").
    if (error instanceof AssertionError) throw error;
    if (error instanceof MetaBusyError) return new S3Error('SlowDown', undefined, {}, { cause: error });
    // No metadata primary reachable (a cluster gateway during a failover): the client should come back soon.
    if (error instanceof MetaUnavailableError) return new S3Error('SlowDown', undefined, {}, { cause: error, headers: { 'retry-after': '1' } });
    this.logger.log('error', 'internal error', {
      requestId,
      method: request.method,
      url: request.rawUrl,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    return new S3Error('InternalError', undefined, {}, { cause: error });
  }
}

function decodeResource(target: RequestTarget): string {
  if (target.bucket === undefined) return '/';
  return target.key === undefined ? `/${target.bucket}` : `/${target.bucket}/${target.key}`;
}
