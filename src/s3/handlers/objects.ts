// Object operations: PutObject, GetObject, HeadObject, DeleteObject.
// CopyObject lives in copy-object.ts, DeleteObjects in delete-objects.ts.

import type { PutObjectOutcome } from '../../gateway/gateway.js';
import type { VersionRecord, WriteConditions } from '../../meta/records.js';
import { assert } from '../../stdx/assert.js';
import { checksumHeaderName, parseChecksumAlgorithm } from '../checksums.js';
import { checkReadConditions } from '../conditions.js';
import type { RequestContext } from '../context.js';
import { header, objectKeyOf, requireBucket } from '../context.js';
import { S3Error } from '../errors.js';
import type { S3Response } from '../http.js';
import { metadataFromHeaders, objectResponseHeaders } from '../object-headers.js';
import { parseRange } from '../range.js';
import type { ByteRange } from '../range.js';
import { checkKey } from '../request-target.js';
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
  const bucket = await requireBucket(context);
  const key = objectKeyOf(context);
  checkKey(key);
  const isChunked = context.auth.payload.kind.startsWith('streaming');
  if (!isChunked && header(context, 'content-length') === undefined && header(context, 'transfer-encoding') === undefined) {
    throw new S3Error('MissingContentLength');
  }
  const metadata = metadataFromHeaders(context.request.headers);
  const md5 = contentMd5(context);
  const conditions = writeConditions(context);
  const body = prepareBody(context, context.services.objectBytesMax);
  const outcome = await context.services.gateway.putObject({
    bucket: bucket.name,
    key,
    owner: context.user.canonicalId,
    ...metadata,
    body: body.data,
    ...(conditions === undefined ? {} : { conditions }),
    ...(md5 === undefined ? {} : { contentMd5: md5 }),
    checksums: () => body.checksums(),
  });
  const version = checkPutOutcome(outcome, bucket.name);
  return emptyResponse(200, versionHeaders(version));
}

async function loadForRead(context: RequestContext): Promise<VersionRecord> {
  const bucket = await requireBucket(context);
  const key = objectKeyOf(context);
  const version = await context.services.meta.getObject(bucket.name, key);
  if (version === undefined) throw new S3Error('NoSuchKey', undefined, { Key: key });
  assert(version.state === 'COMMITTED', 'readers only see committed versions');
  checkReadConditions(version, {
    ifMatch: header(context, 'if-match'),
    ifNoneMatch: header(context, 'if-none-match'),
    ifModifiedSince: header(context, 'if-modified-since'),
    ifUnmodifiedSince: header(context, 'if-unmodified-since'),
  });
  return version;
}

/** GET/HEAD `partNumber`: the byte range of one part (a non-multipart object has only part 1). */
function requestedRange(context: RequestContext, version: VersionRecord): { range: ByteRange | undefined; headers: Record<string, string> } {
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
  return { range: size === 0 ? undefined : { first, last: first + size - 1 }, headers };
}

function rangeHeaders(version: VersionRecord, range: ByteRange | undefined): { status: number; headers: Record<string, string> } {
  if (range === undefined) return { status: 200, headers: { 'content-length': String(version.sizeBytes) } };
  return {
    status: 206,
    headers: { 'content-length': String(range.last - range.first + 1), 'content-range': `bytes ${range.first}-${range.last}/${version.sizeBytes}` },
  };
}

export async function headObject(context: RequestContext): Promise<S3Response> {
  const version = await loadForRead(context);
  const { range, headers: partHeaders } = requestedRange(context, version);
  const headers = objectResponseHeaders(version, context.target.query, context.request.headers, range !== undefined);
  const answer = rangeHeaders(version, range);
  return { status: answer.status, headers: { ...headers, ...partHeaders, ...answer.headers } };
}

export async function getObject(context: RequestContext): Promise<S3Response> {
  const version = await loadForRead(context);
  const { range, headers: partHeaders } = requestedRange(context, version);
  const headers = objectResponseHeaders(version, context.target.query, context.request.headers, range !== undefined);
  const stream = context.services.gateway.readObject(version, range);
  // Read the first piece before answering, so a failure to read becomes an
  // error response instead of a truncated 200.
  const first = await stream.next();
  async function* body(): AsyncGenerator<Uint8Array> {
    if (first.done === true) return;
    yield first.value;
    yield* stream;
  }
  const answer = rangeHeaders(version, range);
  return { status: answer.status, headers: { ...headers, ...partHeaders, ...answer.headers }, body: body() };
}

export async function deleteObject(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context);
  const key = objectKeyOf(context);
  const conditions = header(context, 'if-match') === undefined ? undefined : { ifMatch: header(context, 'if-match')!.trim() };
  const result = await context.services.meta.submit({
    type: 'delete_object',
    bucket: bucket.name,
    key,
    ...(conditions === undefined ? {} : { conditions }),
  });
  if (result.status === 'no_such_bucket') throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name });
  if (result.status === 'precondition_failed') throw new S3Error('PreconditionFailed');
  if (result.status === 'no_such_key') throw new S3Error('NoSuchKey', undefined, { Key: key });
  assert(result.status === 'object_deleted', `delete_object answered ${result.status}`);
  if (result.deletedVersionId !== undefined) context.services.gateway.notifyGarbage();
  return emptyResponse(204);
}
