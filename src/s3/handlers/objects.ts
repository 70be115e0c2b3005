// Object operations: PutObject, GetObject, HeadObject, DeleteObject.
// CopyObject lives in copy-object.ts, DeleteObjects in delete-objects.ts.

import type { PutObjectOutcome } from '../../gateway/gateway.js';
import { s3VersionId } from '../../meta/records.js';
import type { VersionRecord, WriteConditions } from '../../meta/records.js';
import { newVersionId } from '../../gateway/ids.js';
import { httpDate } from '../http-dates.js';
import { assert } from '../../stdx/assert.js';
import { checksumHeaderName, parseChecksumAlgorithm } from '../checksums.js';
import { checkReadConditions } from '../conditions.js';
import type { RequestContext } from '../context.js';
import { header, objectKeyOf, requireBucket, requireObjectPermission } from '../context.js';
import { S3Error } from '../errors.js';
import type { S3Response } from '../http.js';
import { metadataFromHeaders, objectResponseHeaders } from '../object-headers.js';
import { parseRange } from '../range.js';
import { aclFromHeaders, isAllowed } from '../access.js';
import { tagsFromHeader } from '../tags.js';
import type { ByteRange } from '../range.js';
import { prepareBody } from '../request-body.js';
import { emptyResponse } from '../response.js';

export function contentMd5(context: RequestContext): Uint8Array | undefined {
  const value = header(context, 'content-md5');
  if (value === undefined) return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== 16 || bytes.toString('base64') !== value.trim()) throw new S3Error('InvalidDigest');
  return bytes;
}

/** If-None-Match: * and If-Match on writes, checked atomically by the metadata service. */
export function writeConditions(context: RequestContext): WriteConditions | undefined {
  const ifNoneMatch = header(context, 'if-none-match');
  const ifMatch = header(context, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  return { ...(ifNoneMatch === undefined ? {} : { ifNoneMatch: ifNoneMatch.trim() }), ...(ifMatch === undefined ? {} : { ifMatch: ifMatch.trim() }) };
}

export function checkPutOutcome(outcome: PutObjectOutcome, bucket: string): VersionRecord {
  switch (outcome.status) {
    case 'ok':
      return outcome.version;
    case 'no_such_bucket':
      throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
    case 'precondition_failed':
      throw new S3Error('PreconditionFailed');
    case 'no_such_key':
      throw new S3Error('NoSuchKey');
    case 'bad_digest':
      throw new S3Error('BadDigest');
    case 'too_large':
      throw new S3Error('EntityTooLarge');
  }
}

export function versionHeaders(version: Pick<VersionRecord, 'etag' | 'checksums'>): Record<string, string> {
  const headers: Record<string, string> = { etag: version.etag };
  for (const [name, value] of Object.entries(version.checksums)) {
    const algorithm = parseChecksumAlgorithm(name);
    if (algorithm !== undefined) headers[checksumHeaderName(algorithm)] = value;
  }
  return headers;
}

export async function putObject(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'WRITE');
  const key = objectKeyOf(context);
  const isChunked = context.auth.payload.kind.startsWith('streaming');
  if (!isChunked && header(context, 'content-length') === undefined && header(context, 'transfer-encoding') === undefined) {
    throw new S3Error('MissingContentLength');
  }
  const metadata = metadataFromHeaders(context.request.headers);
  const md5 = contentMd5(context);
  const conditions = writeConditions(context);
  const acl = aclFromHeaders(context.request.headers, bucket.owner);
  const tags = tagsFromHeader(header(context, 'x-amz-tagging'));
  const body = prepareBody(context, context.services.objectBytesMax);
  const outcome = await context.services.gateway.putObject({
    bucket: bucket.name,
    key,
    owner: context.user.canonicalId,
    ...metadata,
    ...(acl === undefined ? {} : { acl }),
    ...(tags === undefined ? {} : { tags }),
    body: body.data,
    ...(conditions === undefined ? {} : { conditions }),
    ...(md5 === undefined ? {} : { contentMd5: md5 }),
    checksums: () => body.checksums(),
  });
  const version = checkPutOutcome(outcome, bucket.name);
  return emptyResponse(200, { ...versionHeaders(version), ...versionIdHeader(version, { forWrite: true }) });
}

/** The version id of a `versionId` query parameter, checked for shape ("null" or one of ours). */
export function requestedVersionId(context: RequestContext): string | undefined {
  const versionId = context.target.query.get('versionId');
  if (versionId === undefined) return undefined;
  if (versionId !== 'null' && !/^[0-9a-f]{28}$/.test(versionId)) {
    throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: versionId });
  }
  return versionId;
}

/**
 * x-amz-version-id for a version of a versioned bucket (none for unversioned
 * buckets). Writes that made a null version (suspended bucket) answer none.
 */
export function versionIdHeader(version: VersionRecord, options: { forWrite?: boolean } = {}): Record<string, string> {
  if (version.sequence === undefined) return {};
  if (options.forWrite === true && version.isNullVersion === true) return {};
  return { 'x-amz-version-id': s3VersionId(version) };
}

/** Loads what GET/HEAD read: the current version, or the one named by versionId. */
async function loadForRead(context: RequestContext): Promise<VersionRecord> {
  const bucket = await requireBucket(context, 'exists');
  const key = objectKeyOf(context);
  const versionId = requestedVersionId(context);
  const meta = context.services.meta;
  const version = versionId === undefined ? await meta.getObject(bucket.name, key) : await meta.getVersion(bucket.name, key, versionId);
  if (version === undefined) {
    // Without list rights a missing key looks like a forbidden one: no probing key names.
    if (!isAllowed(context.principal, bucket.owner, bucket.acl, 'READ')) throw new S3Error('AccessDenied');
    if (versionId !== undefined) throw new S3Error('NoSuchVersion', undefined, { Key: key, VersionId: versionId });
    const latest = bucket.versioning === undefined ? undefined : await meta.getLatestVersion(bucket.name, key);
    const markerHeaders = latest?.state === 'DELETE_MARKER' ? { 'x-amz-delete-marker': 'true', ...versionIdHeader(latest) } : { 'x-amz-delete-marker': 'false' };
    throw new S3Error('NoSuchKey', undefined, { Key: key }, { headers: markerHeaders });
  }
  if (version.state === 'DELETE_MARKER') {
    throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', {}, {
      headers: { 'x-amz-delete-marker': 'true', ...versionIdHeader(version), 'last-modified': httpDate(version.createdMs) },
    });
  }
  assert(version.state === 'COMMITTED', 'readers only see committed versions');
  requireObjectPermission(context, version, 'READ');
  checkReadConditions(version, {
    ifMatch: header(context, 'if-match'),
    ifNoneMatch: header(context, 'if-none-match'),
    ifModifiedSince: header(context, 'if-modified-since'),
    ifUnmodifiedSince: header(context, 'if-unmodified-since'),
  });
  return version;
}

/** GET/HEAD `partNumber`: the byte range of one part (a non-multipart object has only part 1). */
function requestedRange(
  context: RequestContext,
  version: VersionRecord,
): { range: ByteRange | undefined; headers: Record<string, string>; emptyPart?: boolean } {
  const partText = context.target.query.get('partNumber');
  if (partText === undefined) return { range: parseRange(header(context, 'range'), version.sizeBytes), headers: {} };
  const partNumber = Number(partText);
  if (!/^\d{1,5}$/.test(partText) || partNumber < 1) throw new S3Error('InvalidArgument', 'Part number must be a positive integer', { ArgumentName: 'partNumber' });
  const isMultipart = version.etag.includes('-');
  const count = isMultipart ? version.parts.length : 1;
  if (partNumber > count) throw new S3Error('InvalidPart', 'The requested partnumber is not satisfiable', { PartNumberRequested: partText, ActualPartCount: String(count) });
  const headers: Record<string, string> = isMultipart ? { 'x-amz-mp-parts-count': String(count) } : {};
  if (!isMultipart || version.sizeBytes === 0) return { range: undefined, headers };
  // A part read carries the part's own checksum: it describes exactly these bytes.
  for (const [name, value] of Object.entries(version.parts[partNumber - 1]!.checksums ?? {})) {
    const algorithm = parseChecksumAlgorithm(name);
    if (algorithm !== undefined) headers[checksumHeaderName(algorithm)] = value;
  }
  let first = 0;
  for (const part of version.parts.slice(0, partNumber - 1)) first += part.sizeBytes;
  const size = version.parts[partNumber - 1]!.sizeBytes;
  if (size === 0) return { range: undefined, headers, emptyPart: true };
  return { range: { first, last: first + size - 1 }, headers };
}

function rangeHeaders(version: VersionRecord, range: ByteRange | undefined, emptyPart = false): { status: number; headers: Record<string, string> } {
  if (emptyPart) return { status: 200, headers: { 'content-length': '0' } };
  if (range === undefined) return { status: 200, headers: { 'content-length': String(version.sizeBytes) } };
  return {
    status: 206,
    headers: { 'content-length': String(range.last - range.first + 1), 'content-range': `bytes ${range.first}-${range.last}/${version.sizeBytes}` },
  };
}

export async function headObject(context: RequestContext): Promise<S3Response> {
  const version = await loadForRead(context);
  const { range, headers: partHeaders, emptyPart } = requestedRange(context, version);
  const headers = objectResponseHeaders(version, context.target.query, context.request.headers, range !== undefined || emptyPart === true);
  const answer = rangeHeaders(version, range, emptyPart);
  return { status: answer.status, headers: { ...headers, ...partHeaders, ...answer.headers, ...versionIdHeader(version) } };
}

export async function getObject(context: RequestContext): Promise<S3Response> {
  const version = await loadForRead(context);
  const { range, headers: partHeaders, emptyPart } = requestedRange(context, version);
  const headers = objectResponseHeaders(version, context.target.query, context.request.headers, range !== undefined || emptyPart === true);
  const stream = context.services.gateway.readObject(version, emptyPart === true ? { first: 1, last: 0 } : range);
  // Read the first piece before answering, so a failure to read becomes an
  // error response instead of a truncated 200.
  const first = await stream.next();
  async function* body(): AsyncGenerator<Uint8Array> {
    if (first.done === true) return;
    yield first.value;
    yield* stream;
  }
  const answer = rangeHeaders(version, range, emptyPart);
  return { status: answer.status, headers: { ...headers, ...partHeaders, ...answer.headers, ...versionIdHeader(version) }, body: body() };
}

export async function deleteObject(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'WRITE');
  const key = objectKeyOf(context);
  const versionId = requestedVersionId(context);
  const conditions = header(context, 'if-match') === undefined ? undefined : { ifMatch: header(context, 'if-match')!.trim() };
  const result = await context.services.meta.submit({
    type: 'delete_object',
    bucket: bucket.name,
    key,
    ...(conditions === undefined ? {} : { conditions }),
    ...(versionId === undefined ? {} : { s3VersionId: versionId }),
    markerVersionId: newVersionId(context.services.env.clock, context.services.env.random),
  });
  if (result.status === 'no_such_bucket') throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name });
  if (result.status === 'precondition_failed') throw new S3Error('PreconditionFailed');
  if (result.status === 'no_such_key') throw new S3Error('NoSuchKey', undefined, { Key: key });
  assert(result.status === 'object_deleted', `delete_object answered ${result.status}`);
  if (result.deletedVersionId !== undefined) context.services.gateway.notifyGarbage();
  return emptyResponse(204, {
    ...(result.deleteMarker === true ? { 'x-amz-delete-marker': 'true' } : {}),
    ...(result.s3VersionId === undefined ? {} : { 'x-amz-version-id': result.s3VersionId }),
  });
}
