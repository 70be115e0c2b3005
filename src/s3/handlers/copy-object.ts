// CopyObject: PUT with x-amz-copy-source. The source is streamed through the
// gateway into a new version (same or another bucket); metadata is copied or
// replaced per x-amz-metadata-directive; x-amz-copy-source-if-* preconditions
// fail with 412.

import { checkReadConditions } from '../conditions.js';
import type { RequestContext } from '../context.js';
import { header, objectKeyOf, requireBucket, requireObjectPermission } from '../context.js';
import { S3Error } from '../errors.js';
import { isoDate } from '../http-dates.js';
import type { S3Response } from '../http.js';
import { metadataFromHeaders } from '../object-headers.js';
import { xmlResponse } from '../response.js';
import { aclFromHeaders } from '../access.js';
import { tagsFromHeader } from '../tags.js';
import type { VersionRecord } from '../../meta/records.js';
import { checkPutOutcome, versionHeaders, versionIdHeader, writeConditions } from './objects.js';
import { s3VersionId } from '../../meta/records.js';

export const copySourceBytesMax = 5 * 1024 * 1024 * 1024;

function parseCopySource(value: string): { bucket: string; key: string; versionId?: string } {
  let source = value;
  let versionId: string | undefined;
  const queryAt = source.indexOf('?');
  if (queryAt >= 0) {
    const query = source.slice(queryAt + 1);
    const match = /^versionId=([^&]*)$/.exec(query);
    if (query !== '' && match === null) throw new S3Error('InvalidArgument', 'Unsupported copy source parameter');
    if (match !== null && match[1] !== '') versionId = match[1];
    if (versionId !== undefined && versionId !== 'null' && !/^[0-9a-f]{28}$/.test(versionId)) {
      throw new S3Error('InvalidArgument', 'Invalid version id specified');
    }
    source = source.slice(0, queryAt);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(source);
  } catch (error) {
    throw new S3Error('InvalidArgument', 'Invalid copy source encoding', {}, { cause: error });
  }
  if (decoded.startsWith('/')) decoded = decoded.slice(1);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), ...(versionId === undefined ? {} : { versionId }) };
}

/** Resolves x-amz-copy-source to the source version, checking access and x-amz-copy-source-if-*. */
export async function loadCopySource(context: RequestContext, copySource: string): Promise<VersionRecord> {
  const source = parseCopySource(copySource);
  const sourceBucket = await requireBucket(context, 'exists', source.bucket);
  const meta = context.services.meta;
  const version =
    source.versionId === undefined ? await meta.getObject(sourceBucket.name, source.key) : await meta.getVersion(sourceBucket.name, source.key, source.versionId);
  if (version === undefined) {
    if (source.versionId !== undefined) throw new S3Error('NoSuchVersion', undefined, { Key: source.key, VersionId: source.versionId });
    throw new S3Error('NoSuchKey', undefined, { Key: source.key });
  }
  if (version.state === 'DELETE_MARKER') throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.');
  requireObjectPermission(context, version, 'READ');
  checkReadConditions(
    version,
    {
      ifMatch: header(context, 'x-amz-copy-source-if-match'),
      ifNoneMatch: header(context, 'x-amz-copy-source-if-none-match'),
      ifModifiedSince: header(context, 'x-amz-copy-source-if-modified-since'),
      ifUnmodifiedSince: header(context, 'x-amz-copy-source-if-unmodified-since'),
    },
    'copy',
  );
  if (version.sizeBytes > copySourceBytesMax) {
    throw new S3Error('InvalidRequest', 'The specified copy source is larger than the maximum allowable size for a copy source: 5368709120');
  }
  return version;
}

export async function copyObject(context: RequestContext): Promise<S3Response> {
  const destination = await requireBucket(context, 'WRITE');
  const key = objectKeyOf(context);
  const copySource = header(context, 'x-amz-copy-source')!;
  const version = await loadCopySource(context, copySource);
  const source = parseCopySource(copySource);
  const directive = (header(context, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.');
  if (directive === 'COPY' && source.bucket === destination.name && source.key === key && source.versionId === undefined) {
    throw new S3Error(
      'InvalidRequest',
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const metadata =
    directive === 'REPLACE'
      ? metadataFromHeaders(context.request.headers)
      : { contentType: version.contentType, headers: { ...version.headers }, userMetadata: { ...version.userMetadata } };
  const conditions = writeConditions(context);
  const acl = aclFromHeaders(context.request.headers, destination.owner);
  const taggingDirective = (header(context, 'x-amz-tagging-directive') ?? 'COPY').toUpperCase();
  if (taggingDirective !== 'COPY' && taggingDirective !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown tagging directive.');
  const tags = taggingDirective === 'REPLACE' ? tagsFromHeader(header(context, 'x-amz-tagging')) : version.tags;
  const outcome = await context.services.gateway.putObject({
    bucket: destination.name,
    key,
    owner: context.user.canonicalId,
    ...metadata,
    ...(acl === undefined ? {} : { acl }),
    ...(tags === undefined ? {} : { tags }),
    body: context.services.gateway.readObject(version),
    ...(conditions === undefined ? {} : { conditions }),
    checksums: () => ({ ...version.checksums }),
  });
  const copied = checkPutOutcome(outcome, destination.name);
  const response = xmlResponse('CopyObjectResult', { LastModified: isoDate(copied.createdMs), ETag: copied.etag });
  const { etag: _etag, ...checksumHeaders } = versionHeaders(copied);
  return {
    ...response,
    headers: {
      ...response.headers,
      ...checksumHeaders,
      ...versionIdHeader(copied, { forWrite: true }),
      ...(version.sequence === undefined ? {} : { 'x-amz-copy-source-version-id': s3VersionId(version) }),
    },
  };
}
